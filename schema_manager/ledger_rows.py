"""A row of ``_prisma_migrations`` as read: its columns, and the markers a failed row's logs carry.

An apply appends a row; a failed attempt that left nothing has ``rolled_back_at`` set; a
rollback deletes the migration's rows (see ``ledger``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypedDict

from django.utils.dateparse import parse_datetime

# Markers the executor writes into a failed row's ``logs``; history reads them back.
COMPENSATED = "Compensated:"
COMPENSATION_INCOMPLETE = "Compensation incomplete"
INTERRUPTED = "Interrupted:"

# Every column, in the order Prisma creates them (and ``from_values`` reads them).
COLUMNS = (
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

    @classmethod
    def from_values(cls, values: tuple) -> LedgerRow:
        """A row from the values of a SELECT of ``COLUMNS``."""
        row_id, checksum, finished, name, logs, rolled_back, started, steps = values
        return cls(
            id=str(row_id),
            checksum=checksum,
            finished_at=_as_datetime(finished),
            migration_name=name,
            logs=logs,
            rolled_back_at=_as_datetime(rolled_back),
            started_at=_as_datetime(started) or utc_now(),
            applied_steps_count=int(steps or 0),
        )


class RowChanges(TypedDict, total=False):
    """The columns an UPDATE of a ledger row changes."""

    finished_at: datetime | None
    logs: str | None
    rolled_back_at: datetime | None
    applied_steps_count: int


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
