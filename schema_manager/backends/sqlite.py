from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..sql import Statement
from ..sql.transactional import refuses_transaction
from .base import LEDGER_TABLE, TargetBackend


class SQLiteBackend(TargetBackend):
    vendor = "sqlite"
    has_privileges = False  # whoever may open the file may write it
    ledger_ddl = """
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)"""

    def lock_in_transaction(self, cursor: Any) -> None:
        # A write statement takes SQLite's RESERVED lock at once, so a second applier waits
        # here (busy timeout) before reading the ledger, instead of both reading it unlocked.
        cursor.execute(f'UPDATE "{LEDGER_TABLE}" SET id = id WHERE 0')

    def refuses_transaction(self, statement: Statement) -> str | None:
        return refuses_transaction(statement, self.vendor)

    def now_param(self, value: datetime | None) -> str | None:
        # Text in UTC, the form of SQLite's current_timestamp, whatever USE_TZ says.
        if value is None:
            return None
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
