"""The target's own record of what is applied: Prisma's ``_prisma_migrations`` table.

Answers one question, "what is applied here?", on the target connection it is given. Rows
are never deleted: an apply appends a row, a rollback sets ``rolled_back_at`` on it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from django.utils.dateparse import parse_datetime

from .backends import LEDGER_TABLE, TargetBackend

# Markers the executor writes into a failed row's ``logs``; history reads them back.
COMPENSATED = "Compensated:"
COMPENSATION_INCOMPLETE = "Compensation incomplete"
INTERRUPTED = "Interrupted:"

_COLUMNS = (
    "id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, "
    "applied_steps_count"
)


@dataclass(frozen=True)
class LedgerRow:
    id: str
    checksum: str
    finished_at: datetime | None
    migration_name: str
    logs: str | None
    rolled_back_at: datetime | None
    started_at: datetime
    applied_steps_count: int

    @property
    def is_applied(self) -> bool:
        """Finished and not rolled back: Prisma counts the migration as applied."""
        return self.finished_at is not None and self.rolled_back_at is None

    @property
    def is_unresolved_failure(self) -> bool:
        """Unfinished and not rolled back: Prisma refuses to deploy until someone resolves it."""
        return self.finished_at is None and self.rolled_back_at is None


def _as_datetime(value: object) -> datetime | None:
    """Timestamps come back as aware datetimes (PostgreSQL) or text (SQLite)."""
    if value is None:
        return None
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:  # Prisma on SQLite may store epoch milliseconds
            return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
        value = parsed
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Ledger:
    """Reads and writes ``_prisma_migrations`` through one target's connection."""

    def __init__(self, backend: TargetBackend) -> None:
        self.backend = backend
        self.connection = backend.connection
        self._table = self.connection.ops.quote_name(LEDGER_TABLE)
        self._seen_table = False  # once seen, not looked up again by this (short-lived) ledger

    def _exists(self) -> bool:
        if not self._seen_table:
            self._seen_table = self.backend.ledger_exists()
        return self._seen_table

    def ensure_table(self) -> None:
        """Create the table exactly as Prisma would, if it is missing."""
        if not self._exists():
            with self.connection.cursor() as cursor:
                cursor.execute(self.backend.ledger_ddl)
            self._seen_table = True

    def rows(self, migration_name: str | None = None) -> list[LedgerRow]:
        """Rows oldest first, all or for one migration; none if the table does not exist."""
        if not self._exists():
            return []
        sql = f"SELECT {_COLUMNS} FROM {self._table}"
        params: list[object] = []
        if migration_name is not None:
            sql += " WHERE migration_name = %s"
            params.append(migration_name)
        with self.connection.cursor() as cursor:
            cursor.execute(sql + " ORDER BY started_at, id", params)
            return [self._row(values) for values in cursor.fetchall()]

    def fingerprint(self) -> tuple[int, int, int]:
        """(rows, finished, rolled back): one constant-size read that any ledger write changes."""
        if not self._exists():
            return (0, 0, 0)
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*), COUNT(finished_at), COUNT(rolled_back_at) FROM {LEDGER_TABLE}"
            )
            rows, finished, rolled_back = cursor.fetchone()
        return int(rows), int(finished), int(rolled_back)

    def applied(self) -> dict[str, LedgerRow]:
        """Migration name -> its live (applied) row."""
        return {row.migration_name: row for row in self.rows() if row.is_applied}

    def insert(
        self,
        migration_name: str,
        checksum: str,
        started_at: datetime,
        *,
        finished_at: datetime | None,
        rolled_back_at: datetime | None = None,
        logs: str | None = None,
        applied_steps_count: int = 0,
    ) -> str:
        row_id = str(uuid.uuid4())
        param = self.backend.now_param
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self._table} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    row_id,
                    checksum,
                    param(finished_at),
                    migration_name,
                    logs,
                    param(rolled_back_at),
                    param(started_at),
                    applied_steps_count,
                ],
            )
        return row_id

    def set_progress(self, row_id: str, applied_steps_count: int) -> None:
        """Record how many statements of a step-by-step migration have run (committed)."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self._table} SET applied_steps_count = %s WHERE id = %s",
                [applied_steps_count, row_id],
            )

    def finish(self, row_id: str, when: datetime, applied_steps_count: int) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self._table} SET finished_at = %s, applied_steps_count = %s "
                "WHERE id = %s",
                [self.backend.now_param(when), applied_steps_count, row_id],
            )

    def set_logs(self, row_id: str, logs: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(f"UPDATE {self._table} SET logs = %s WHERE id = %s", [logs, row_id])

    def close_failed(self, row_id: str, logs: str, rolled_back_at: datetime | None) -> None:
        """Store the failure; ``rolled_back_at`` only when nothing of the attempt remains."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self._table} SET logs = %s, rolled_back_at = %s WHERE id = %s",
                [logs, self.backend.now_param(rolled_back_at), row_id],
            )

    def mark_rolled_back(self, row_id: str, when: datetime) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self._table} SET rolled_back_at = %s WHERE id = %s",
                [self.backend.now_param(when), row_id],
            )

    @staticmethod
    def _row(values: tuple) -> LedgerRow:
        row_id, checksum, finished, name, logs, rolled_back, started, steps = values
        return LedgerRow(
            id=str(row_id),
            checksum=checksum,
            finished_at=_as_datetime(finished),
            migration_name=name,
            logs=logs,
            rolled_back_at=_as_datetime(rolled_back),
            started_at=_as_datetime(started) or utc_now(),
            applied_steps_count=int(steps or 0),
        )
