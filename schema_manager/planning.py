"""What to run: what is pending, where each migration stands, what a rollback undoes, and the
sentences that refuse a plan (drift, migration order)."""

from __future__ import annotations

from collections.abc import Collection

from django.db import DatabaseError

from . import large_scripts, policy, rollback_choice
from .checksums import migration_checksum
from .disk_import import import_folders
from .exceptions import MigrationStateError
from .files import FolderChecksum, Listing, MigrationDirectory
from .ledger_rows import LedgerRow
from .models import Migration, VersionRecord
from .security import get_logger
from .sql.migration_order import migration_order_key
from .status import MigrationState, catalogue_pending, migration_states
from .targets import Target, all_targets
from .workspace import executor_for, reconcile

logger = get_logger("schema_manager.manager")


# -- what is pending -------------------------------------------------------------------------


def applied_in(target: Target) -> dict[str, LedgerRow]:
    """Migration name -> its live row in ``target``'s ledger, as it is now (read once)."""
    return executor_for(target).ledger.applied()


def pending(
    directory: MigrationDirectory,
    target: Target,
    listing: Listing | None = None,
    applied: dict[str, LedgerRow] | None = None,
) -> list[Migration]:
    """Catalogue entries (after importing from disk) not applied on ``target``, by id; not
    those whose folder was deleted before they were applied anywhere. ``listing``: the
    folders as the caller read them (read here if not given); ``applied``: the ledger's live
    rows as the caller read them (``applied_in``; read here if not given)."""
    # What was imported just now is in memory already (unless streamed in, deferred).
    imported = {
        m.id: m
        for m in import_folders(directory, listing).imported
        if "sql" not in m.get_deferred_fields()
    }
    applied = applied_in(target) if applied is None else applied
    gone = missing_on_disk(directory)
    planned = sorted(
        _catalogue_entries_except(applied.keys() | gone),
        key=lambda migration: migration_order_key(migration.id),
    )
    unread = []
    for migration in planned:
        known = imported.get(migration.id)
        if known is not None and known.checksum == migration.checksum:
            migration.sql = known.sql
        else:
            unread.append(migration)
    large_scripts.load_sql(unread)
    return planned


def _catalogue_entries_except(left_out: Collection[str]) -> list[Migration]:
    """The catalogue's entries (their SQL deferred) but those of ``left_out``, in one query: read
    as rows, so that an entry left out (on a deploy with nothing pending, every one) costs no
    model instance."""
    fields = [f.attname for f in Migration._meta.concrete_fields if f.attname != "sql"]
    rows = Migration.objects.values_list(*fields)
    at = fields.index("id")
    return [Migration.from_db(rows.db, fields, row) for row in rows if row[at] not in left_out]


def missing_on_disk(
    directory: MigrationDirectory,
    folders: set[str] | None = None,
    kept: set[str] | None = None,
) -> set[str]:
    """Catalogue entries whose folder was deleted from disk before they were applied
    anywhere: never planned, and removed by ``prune_missing``. ``folders`` are the folder
    names on disk (listed when not given, and only if some entry is kept on disk); ``kept``
    the entries kept on disk to look at (all of them, read, when not given)."""
    if kept is None:
        kept = set(Migration.objects.filter(kept_on_disk=True).values_list("id", flat=True))
    if not kept:
        return set()
    candidates = kept - (directory.folder_names() if folders is None else folders)
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
        pending, catalogue, kept = catalogue_pending(target.environment)
        return pending - missing_on_disk(directory, kept=kept), catalogue - pending

    return policy.OrderGate(target, read)


def status(directory: MigrationDirectory, target: Target) -> list[MigrationState]:
    """Each migration on disk, in the catalogue or in the ledger, with its state on ``target``."""
    listing = directory.listing()
    unreadable = {folder.id: folder for folder in import_folders(directory, listing).unreadable}
    disk = {m.id: m for m in listing.folders if m.id not in unreadable}
    rows = reconcile(executor_for(target).session)
    gone = missing_on_disk(directory, {*disk, *unreadable})
    return migration_states(target.environment, rows, disk, unreadable, gone)


# -- rollback plans --------------------------------------------------------------------------


def rollback_plan(to_id: str, target: Target) -> list[str]:
    """The migrations applied after ``to_id`` on ``target``, newest first, as the ledger says
    now (``services.rollback_to`` reads it again under the lock)."""
    return applied_after(to_id, target, executor_for(target).ledger.rows())


def rollback_script_in_force(migration_id: str, target: Target) -> str:
    """The script a rollback of ``migration_id`` would run now (empty if not applied)."""
    live = executor_for(target).live_row(migration_id)
    if live is None:
        return ""
    return rollback_choice.script_in_force(target.environment, live.id, migration_id, target.vendor)


def applied_environments(migration_id: str) -> list[str]:
    """The environments whose ledger has ``migration_id`` applied, in ENVIRONMENTS order."""
    return [
        target.environment
        for target in all_targets()
        if executor_for(target).live_row(migration_id) is not None
    ]


def where_applied(
    directory: MigrationDirectory, migration_id: str
) -> tuple[str | None, str | None]:
    """(the one environment where ``migration_id`` is applied, None), or (None, why there is
    no single one)."""
    try:
        applied = applied_environments(migration_id)
    except DatabaseError as exc:
        return None, (
            f"Cannot tell where migration {migration_id!r} is applied: a ledger could not "
            f"be read ({exc}); name the environment to roll it back in."
        )
    if len(applied) == 1:
        return applied[0], None
    if applied:
        return None, (
            f"Migration {migration_id!r} is applied in {', '.join(applied)}; name the "
            "environment to roll it back in."
        )
    environments = ", ".join(target.environment for target in all_targets())
    if _is_known(directory, migration_id):
        return None, (
            f"Migration {migration_id!r} is not applied in any environment ({environments}); "
            "nothing to roll back."
        )
    return None, (
        f"Unknown migration {migration_id!r}: it is neither in the catalogue, nor in the "
        f"migrations directory, nor in the history of any environment ({environments})."
    )


def _is_known(directory: MigrationDirectory, migration_id: str) -> bool:
    return (
        Migration.objects.filter(pk=migration_id).exists()
        or (directory.path / migration_id).is_dir()
        or VersionRecord.objects.filter(migration_id=migration_id).exists()
    )


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


def plan_drift(
    directory: MigrationDirectory,
    plan: list[Migration],
    target: Target,
    listing: Listing | None = None,
    applied: dict[str, LedgerRow] | None = None,
) -> list[str]:
    """Every problem a plan of all pending migrations must not start with: a folder that
    cannot be read (it may be pending, and its place in the order is unknown), a migration
    applied here and changed on disk since, or one in the plan different from its folder.
    One read of the folders (``listing``, the one the plan was made from, if given) and of
    the ledger (``applied``, the one the plan was made from, if given)."""
    applied = applied_in(target) if applied is None else applied
    listing = directory.listing() if listing is None else listing
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
