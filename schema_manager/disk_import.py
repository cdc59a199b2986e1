"""Migration folders on disk brought into the catalogue: new ones added, changed ones updated
unless applied somewhere (drift), and those that cannot be read named."""

from __future__ import annotations

from . import large_scripts
from .checksums import migration_checksum
from .exceptions import MigrationFileError
from .files import (
    MIGRATION_FILE,
    ROLLBACK_FILE,
    FolderChecksum,
    Listing,
    MigrationDirectory,
    UnreadableFolder,
)
from .models import Migration, VersionRecord
from .results import FolderImport
from .security import get_logger
from .sql.migration_order import migration_order_key

logger = get_logger("schema_manager.manager")


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
    new = sorted([*new, *streamed_in], key=lambda migration: migration_order_key(migration.id))
    for migration in new:
        logger.info("Imported migration %s from %s", migration.id, directory.path)
    bad = {folder.id for folder in unreadable}
    return FolderImport(
        new,
        sorted(unreadable, key=lambda folder: migration_order_key(folder.id)),
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
