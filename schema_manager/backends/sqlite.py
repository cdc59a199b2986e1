from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from django.db import OperationalError

from ..exceptions import LockTimeoutError
from .base import LEDGER_TABLE, HeldLock, LedgerLocation, TargetBackend

_SQLITE_BUSY = 5  # the primary result code of "database is locked"


class SQLiteBackend(TargetBackend):
    vendor = "sqlite"
    has_privileges = False  # whoever may open the file may write it
    ledger_ddl = """
CREATE TABLE IF NOT EXISTS {table} (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)"""

    def locate_ledger(self) -> LedgerLocation:
        # "main": a TEMP table or an attached database's table of the same name cannot stand in.
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM main.sqlite_master WHERE type = 'table' "
                "AND name = %s)",
                [LEDGER_TABLE],
            )
            exists = bool(cursor.fetchone()[0])
        return LedgerLocation(self.qualified("main"), exists)

    @contextmanager
    def migration_lock(self, wait: float) -> Iterator[HeldLock]:
        # The lock is each migration's write transaction (see lock_in_transaction). While the
        # block runs, waiting for it is bounded by LOCK_WAIT, not by the driver's busy
        # timeout (5 s unless OPTIONS say otherwise).
        with self.connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            driver_timeout = int(cursor.fetchone()[0])
            cursor.execute(f"PRAGMA busy_timeout = {max(int(wait * 1000), 0)}")
        try:
            yield HeldLock()
        finally:
            with self.connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {driver_timeout}")

    def lock_in_transaction(self, cursor: Any, table: str) -> None:
        # A write statement takes SQLite's RESERVED lock at once, so a second applier waits
        # here (busy timeout) before reading the ledger, instead of both reading it unlocked.
        # Being the transaction's first statement, it waits without holding a read lock.
        try:
            cursor.execute(f"UPDATE {table} SET id = id WHERE 0")
        except OperationalError as exc:
            timeout = self.lock_timeout(exc)
            if timeout is None:
                raise
            raise timeout from exc

    def lock_timeout(self, exc: BaseException) -> LockTimeoutError | None:
        if not _is_busy(exc):
            return None
        with self.connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            waited = int(cursor.fetchone()[0]) / 1000
        return LockTimeoutError(
            f"Another apply is running on {self.alias!r} (it holds the database's write "
            f"lock); waited {waited:g}s for it. Retry when it has finished, or raise "
            "SCHEMA_MANAGER['LOCK_WAIT']."
        )

    def now_param(self, value: datetime | None) -> str | None:
        # Text in UTC, the form of SQLite's current_timestamp, whatever USE_TZ says.
        if value is None:
            return None
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLITE_BUSY: another connection holds the lock asked for."""
    cause = exc.__cause__ or exc
    code = getattr(cause, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int):
        return code & 0xFF == _SQLITE_BUSY
    return "database is locked" in str(cause)
