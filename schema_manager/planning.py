"""What to run: migrations imported from disk, what is pending, what a rollback undoes, and the
sentences that refuse a plan (drift, migration order)."""

from __future__ import annotations

from . import large_scripts, policy
from .checksums import migration_checksum
from .exceptions import MigrationFileError, MigrationStateError
from .files import (
    MIGRATION_FILE,
    ROLLBACK_FILE,
    FolderChecksum,
    Listing,
    MigrationDirectory,
    UnreadableFolder,
)
from .ledger import LedgerRow
from .models import Migration, VersionRecord
from .results import FolderImport
from .security import get_logger
from .status import catalogue_pending
from .targets import Target
from .workspace import executor_for

logger = get_logger("schema_manager.manager")


# -- import from disk ------------------------------------------------------------------------


def import_folders(directory: MigrationDirectory, listing: Listing | None = None) -> FolderImport:
    """Add migration folders on disk that the catalogue lacks; return the new entries and the
    folders that could not be read.

    A folder whose migration.sql changed since it was imported updates the catalogue, unless
    the migration is applied somewhere: that is drift, reported and never applied. Only new
    and changed folders are read in full: the others are known by checksum.
    """
    listing = directory.listing() if listing is None else listing
    # Tuples, not models: the admin imports on every view of its changelist.
    entries = Migration.objects.values_list("id", "checksum", "kept_on_disk")
    known = {migration_id: checksum for migration_id, checksum, _ in entries}
    kept = {migration_id for migration_id, _, kept_on_disk in entries if kept_on_disk}
    new: list[Migration] = []
    streamed_in: list[Migration] = []
    unreadable = list(listing.unreadable)
    # Entries stored before their folder appeared (written by hand, or by an export).
    _mark_kept_on_disk([f.id for f in listing.folders if f.id in known and f.id not in kept])
    for folder in listing.folders:
        try:
            _import_folder(folder, known.get(folder.id), new, streamed_in)
        except MigrationFileError as exc:  # changed since it was listed
            unreadable.append(UnreadableFolder(folder.id, folder.path, str(exc)))
    # One transaction for the whole import; a folder a concurrent process imported a
    # moment ago is skipped, not an error.
    Migration.objects.bulk_create(new, batch_size=100, ignore_conflicts=True)
    new = sorted([*new, *streamed_in], key=lambda migration: migration.id)
    for migration in new:
        logger.info("Imported migration %s from %s", migration.id, directory.path)
    bad = {folder.id for folder in unreadable}
    return FolderImport(
        new,
        sorted(unreadable, key=lambda folder: folder.id),
        [folder for folder in listing.folders if folder.id not in bad],
    )


def _import_folder(
    folder: FolderChecksum, stored: str | None, new: list[Migration], streamed_in: list[Migration]
) -> None:
    """Add ``folder`` to ``new`` (or stream it in), or update its entry whose checksum is
    ``stored`` if its file changed."""
    if stored is None and large_scripts.streams(folder):
        if (streamed := large_scripts.stream_in(folder)) is not None:
            streamed_in.append(streamed)
    elif stored is None:
        sql = folder.read(MIGRATION_FILE)
        new.append(
            Migration(
                id=folder.id,
                name=folder.id.split("_", 1)[1] if "_" in folder.id else folder.id,
                sql=sql,
                rollback_sql=folder.read(ROLLBACK_FILE),
                # bulk_create skips save(); hashed from the text read, not the listing's
                # (the file may have changed in between).
                checksum=migration_checksum(sql),
                kept_on_disk=True,
            )
        )
    elif stored != folder.checksum:
        _update_from_disk(Migration.objects.get(pk=folder.id), folder)


def _update_from_disk(stored: Migration, folder: FolderChecksum) -> None:
    applied = VersionRecord.objects.applied_environments(stored.id)
    if applied:
        logger.warning(
            "Migration %s changed on disk after it was applied in %s (applied checksum %s, "
            "file checksum %s); it will not be applied until the file is restored.",
            stored.id,
            ", ".join(sorted(applied)),
            stored.checksum,
            folder.checksum,
        )
        return
    stored.sql = folder.read(MIGRATION_FILE)
    stored.rollback_sql = folder.read(ROLLBACK_FILE) or stored.rollback_sql
    stored.save(update_fields=["sql", "rollback_sql", "updated_at"])
    logger.info("Updated migration %s from %s", stored.id, folder.path)


def _mark_kept_on_disk(migration_ids: list[str]) -> None:
    if migration_ids:
        Migration.objects.filter(pk__in=migration_ids).update(kept_on_disk=True)


# -- what is pending -------------------------------------------------------------------------


def pending(directory: MigrationDirectory, target: Target) -> list[Migration]:
    """Catalogue entries (after importing from disk) not applied on ``target``, by id; not
    those whose folder was deleted before they were applied anywhere."""
    # What was imported just now is in memory already (unless streamed in, deferred).
    imported = {
        m.id: m for m in import_folders(directory).imported if "sql" not in m.get_deferred_fields()
    }
    applied = executor_for(target).ledger.applied()
    gone = missing_on_disk(directory)
    planned = [
        m
        for m in Migration.objects.order_by("id").defer("sql")
        if m.id not in applied and m.id not in gone
    ]
    unread = []
    for migration in planned:
        known = imported.get(migration.id)
        if known is not None and known.checksum == migration.checksum:
            migration.sql = known.sql
        else:
            unread.append(migration)
    large_scripts.load_sql(unread)
    return planned


def missing_on_disk(directory: MigrationDirectory, folders: set[str] | None = None) -> set[str]:
    """Catalogue entries whose folder was deleted from disk before they were applied
    anywhere: never planned, and removed by ``prune_missing``. ``folders`` are the folder
    names on disk (listed when not given)."""
    if folders is None:
        folders = directory.folder_names()
    kept = Migration.objects.filter(kept_on_disk=True).values_list("id", flat=True)
    candidates = set(kept) - folders
    if not candidates:
        return set()
    ever_applied = VersionRecord.objects.filter(
        migration_id__in=candidates, status=VersionRecord.Status.APPLIED
    ).values_list("migration_id", flat=True)
    return candidates - set(ever_applied)


def prune_missing(directory: MigrationDirectory) -> list[str]:
    """Delete the catalogue entries ``missing_on_disk`` names (their history stays), as
    ``migrate --prune`` forgets migrations whose files are gone; return their ids."""
    gone = sorted(missing_on_disk(directory))
    if gone:
        Migration.objects.filter(pk__in=gone, kept_on_disk=True).delete()
        for migration_id in gone:
            logger.info("Removed %s: its folder is gone and it was never applied", migration_id)
    return gone


def order_gate(target: Target, directory: MigrationDirectory) -> policy.OrderGate:
    """The migration-order gate of ``target`` (see ``policy.OrderGate``)."""

    def read() -> tuple[set[str], set[str]]:
        # From history, reconciled with the ledger when the operation began: reading
        # the whole ledger for each apply would grow with it.
        pending, catalogue = catalogue_pending(target.environment)
        return pending - missing_on_disk(directory), catalogue - pending

    return policy.OrderGate(target, read)


def applied_after(to_id: str, target: Target, rows: list[LedgerRow]) -> list[str]:
    """The migrations applied after ``to_id`` in the ledger ``rows``, newest first."""
    names = [row.migration_name for row in rows if row.is_applied]
    if to_id not in names:
        raise MigrationStateError(
            f"Migration {to_id!r} is not applied in {target.environment}, so there is no "
            "point to roll back to."
        )
    return list(reversed(names[names.index(to_id) + 1 :]))


# -- drift -----------------------------------------------------------------------------------


def drift(migration_id: str, checksum: str, disk: FolderChecksum | None) -> str | None:
    """Why the migration whose SQL has ``checksum`` must not be applied (its folder differs)."""
    if disk is None or disk.same_script(checksum):
        return None
    applied = VersionRecord.objects.applied_environments(migration_id)
    how = f"applied in {', '.join(sorted(applied))}" if applied else "stored"
    return (
        f"Migration {migration_id!r} was modified: it was {how} with checksum {checksum}, "
        f"but {str(disk.path / 'migration.sql')!r} now has checksum {disk.checksum}; "
        "restore the file or put the change in a new migration."
    )


def drift_problem(directory: MigrationDirectory, migration: Migration) -> str | None:
    """Why ``migration`` must not be applied: its SQL differs from its migration.sql."""
    folder = directory.checksum_of(migration.id) if migration.id else None
    return drift(migration.id, migration_checksum(migration.sql), folder)


def plan_drift(directory: MigrationDirectory, plan: list[Migration], target: Target) -> list[str]:
    """Every problem a plan of all pending migrations must not start with: a folder that
    cannot be read (it may be pending, and its place in the order is unknown), a migration
    applied here and changed on disk since, or one in the plan different from its folder.
    One read of the folders."""
    applied = executor_for(target).ledger.applied()
    listing = directory.listing()
    on_disk = {folder.id: folder for folder in listing.folders}
    return [
        *(folder.error for folder in listing.unreadable),
        *(
            modified(folder, applied[folder.id], target)
            for folder in on_disk.values()
            if folder.id in applied and not folder.same_script(applied[folder.id].checksum)
        ),
        *(
            problem
            for m in plan
            if (problem := drift(m.id, migration_checksum(m.sql), on_disk.get(m.id)))
        ),
    ]


def modified(disk: FolderChecksum, live: LedgerRow, target: Target) -> str:
    """The sentence for a migration applied on ``target`` whose migration.sql changed since."""
    return (
        f"Migration {disk.id!r} is applied in {target.environment} with checksum "
        f"{live.checksum}, but {str(disk.path / 'migration.sql')!r} now has "
        f"checksum {disk.checksum}; restore the file or put the change in a new migration."
    )
