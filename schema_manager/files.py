"""The ``prisma/migrations`` directory: one folder per migration, as Prisma Migrate lays it out.

``<id>/migration.sql`` is the migration and ``<id>/down.sql`` its rollback script. Files are
read as bytes and decoded without newline translation, so the checksum of the text is the
checksum of the file (what Prisma stores).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .exceptions import SchemaManagerError

MIGRATION_FILE = "migration.sql"
ROLLBACK_FILE = "down.sql"


@dataclass(frozen=True)
class DiskMigration:
    id: str
    sql: str
    rollback_sql: str
    path: Path

    @property
    def name(self) -> str:
        """The id without its leading number: ``20240101120000_add_users`` -> ``add_users``."""
        return self.id.split("_", 1)[1] if "_" in self.id else self.id


class MigrationDirectory:
    """Reads the migration folders beside a Prisma schema."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def beside(cls, prisma_schema_path: Path) -> MigrationDirectory:
        return cls(Path(prisma_schema_path).parent / "migrations")

    def read(self) -> list[DiskMigration]:
        """Every migration folder, sorted by name as Prisma sorts them."""
        if not self.path.is_dir():
            return []
        return [self._read_folder(folder) for folder in sorted(self._folders())]

    def _folders(self) -> list[Path]:
        return [entry for entry in self.path.iterdir() if entry.is_dir()]

    def _read_folder(self, folder: Path) -> DiskMigration:
        sql_file = folder / MIGRATION_FILE
        if not sql_file.is_file():
            raise SchemaManagerError(
                f"Migration folder {str(folder)!r} has no {MIGRATION_FILE}; Prisma requires one "
                "in every folder under migrations/."
            )
        down_file = folder / ROLLBACK_FILE
        return DiskMigration(
            id=folder.name,
            sql=_read_text(sql_file),
            rollback_sql=_read_text(down_file) if down_file.is_file() else "",
            path=folder,
        )


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaManagerError(f"{str(path)!r} is not valid UTF-8 ({exc.reason}).") from exc
