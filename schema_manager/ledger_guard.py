"""Whether the run still holds the migration lock and the ledger still holds what it wrote.

While a run holds the migration lock, only it writes ``_prisma_migrations``. Each of its
ledger writes is therefore preceded, in the same transaction, by one reading: whether the
session holding the lock still does, and the ledger's (rows, finished, rolled back) counts,
which must be what the run last committed plus its own writes since. SQL a migration runs
(a ``DELETE`` built at run time, ``pg_terminate_backend`` of the lock's session) cannot then
be followed by a ledger write: the write raises, and the migration's transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper

from .backends.base import HeldLock
from .exceptions import LedgerGuardError
from .ledger_rows import LedgerRow, RowChanges

Fingerprint = tuple[int, int, int]  # rows, finished, rolled back


class LedgerGuard:
    """The expected state of one ledger for the run that holds ``lock``."""

    def __init__(
        self,
        connection: BaseDatabaseWrapper,
        table: str,
        lock: HeldLock,
        committed: Fingerprint,
        *,
        in_the_write: bool = False,
    ) -> None:
        self.connection, self.table, self.lock = connection, table, lock
        self.committed = committed  # as the run left it at its last commit
        # The reading goes in each write's own statement (``write``; PostgreSQL, see
        # ``TargetBackend.guards_in_the_write``), else in a statement just before it.
        self.in_the_write = in_the_write
        self._pending: list[_Write] = []
        self._reading = ""  # reading_sql's text: the same for every write of the run

    def reading_sql(self, cursor: Any) -> str:
        """The reading as literal SQL columns (PostgreSQL): the lock (a boolean), then the
        counts as an array, from a subquery, so that it can go in a RETURNING list too."""
        if not self._reading:
            held = cursor.mogrify(self.lock.still_held, self.lock.params)
            self._reading = (
                f"{held}, (SELECT ARRAY[COUNT(*), COUNT(finished_at), COUNT(rolled_back_at)] "
                f"FROM {self.table})"
            )
        return self._reading

    def query(self) -> tuple[str, tuple[Any, ...]]:
        """The reading as a SELECT of four columns (any engine): held, rows, finished,
        rolled back."""
        return (
            f"SELECT {self.lock.still_held}, COUNT(*), COUNT(finished_at), COUNT(rolled_back_at) "
            f"FROM {self.table}",
            self.lock.params,
        )

    def condition(self) -> tuple[str, tuple[Any, ...]]:
        """The reading as one SQL condition, with its parameters: true only while the lock is
        held and the counts are what this run expects. A write whose WHERE clause ends with it
        writes nothing otherwise (``write``), in the same statement as the reading."""
        rows, finished, rolled_back = self.expected()
        return (
            f"(SELECT {self.lock.still_held} AND COUNT(*) = %s AND COUNT(finished_at) = %s "
            f"AND COUNT(rolled_back_at) = %s FROM {self.table})",
            (*self.lock.params, rows, finished, rolled_back),
        )

    def write(self, cursor: Any, sql: str, params: list[Any], *, rows: int) -> None:
        """Run ``sql``, a write of ``rows`` ledger row(s), guarded. ``in_the_write``: ``sql``
        ends in its WHERE clause, and the ``condition`` is added to it (one round trip, and
        nothing can come between the reading and the write); else the reading goes first."""
        if not self.in_the_write:
            self.check_before_write(cursor)
            cursor.execute(sql, params)
            return
        condition, condition_params = self.condition()
        try:
            cursor.execute(f"{sql} AND {condition}", [*params, *condition_params])
        except DatabaseError as exc:
            raise self.unreadable(exc) from exc
        if cursor.rowcount != rows:  # the guard did not hold, or the rows are gone
            self.check_before_write(cursor)  # raises, saying which
            raise LedgerGuardError(
                f"the ledger {self.table} on {self.connection.alias!r} no longer holds the "
                f"row(s) this applier wrote there ({rows} expected, {cursor.rowcount} found): "
                "SQL of the migration, or another tool, changed it"
            )

    def check(self, held: Any, counts: tuple[Any, ...]) -> None:
        """Raise LedgerGuardError unless the reading is what this run expects."""
        if not held:
            raise LedgerGuardError(
                f"this applier no longer holds the migration lock on {self.connection.alias!r} "
                f"(the session that held it, {self.lock.holder}, was ended), so another "
                "applier may be running"
            )
        rows, finished, rolled_back = (int(count) for count in counts)
        found = (rows, finished, rolled_back)
        expected = self.expected()
        if found != expected:
            raise LedgerGuardError(
                f"the ledger {self.table} on {self.connection.alias!r} no longer holds what "
                f"this applier wrote there (expected {_counts(expected)}, found "
                f"{_counts(found)}): SQL of the migration, or another tool, changed it"
            )

    def check_before_write(self, cursor: Any) -> None:
        """Read, in the write's transaction, and ``check``: raise LedgerGuardError if the run
        lost its lock or the ledger changed behind it."""
        sql, params = self.query()
        try:
            cursor.execute(sql, params)
            held, *counts = cursor.fetchone()
        except DatabaseError as exc:
            raise self.unreadable(exc) from exc
        self.check(held, tuple(counts))

    def confirm(self, reading: list[Any]) -> None:
        """``check`` the reading that a write sent with ``reading_sql`` returned."""
        held, counts = reading
        self.check(held, tuple(counts))

    def unreadable(self, exc: Exception) -> LedgerGuardError:
        return LedgerGuardError(
            f"the ledger {self.table} on {self.connection.alias!r} can no longer be read "
            f"({str(exc).strip()}): SQL of the migration, or another tool, changed it"
        )

    def inserted(self, row: LedgerRow) -> None:
        """This run wrote ``row``."""
        self.written(1, int(row.finished_at is not None), int(row.rolled_back_at is not None))

    def changed(self, row_id: str, changes: RowChanges) -> None:
        """This run updated a row; a timestamp set here was NULL before (an unfinished row
        is finished, a live or unfinished one rolled back)."""
        finished, rolled_back = (
            changes.get(f) is not None for f in ("finished_at", "rolled_back_at")
        )
        self.written(0, int(finished), int(rolled_back))

    def removed(self, rows: Collection[LedgerRow]) -> None:
        """This run deleted ``rows``."""
        self.written(
            -len(rows),
            -sum(row.finished_at is not None for row in rows),
            -sum(row.rolled_back_at is not None for row in rows),
        )

    def written(self, rows: int, finished: int, rolled_back: int) -> None:
        """A write of this run changed the counts by these (a deletion by negative ones); they
        count as committed once it commits."""
        write = _Write(self, (rows, finished, rolled_back))
        self._pending.append(write)
        self.connection.on_commit(write)

    def expected(self) -> Fingerprint:
        """What the last commit left, plus the writes of the open transaction. A write whose
        transaction (or savepoint) was rolled back is no longer among the connection's
        on-commit callbacks."""
        waiting = {id(entry[1]) for entry in self.connection.run_on_commit}
        self._pending = [write for write in self._pending if id(write) in waiting]
        return _add(self.committed, *(write.delta for write in self._pending))


class _Write:
    """One write's change to the counts, folded into ``committed`` when it commits."""

    def __init__(self, guard: LedgerGuard, delta: Fingerprint) -> None:
        self.guard, self.delta = guard, delta

    def __call__(self) -> None:
        self.guard.committed = _add(self.guard.committed, self.delta)
        if self in self.guard._pending:
            self.guard._pending.remove(self)


def _add(*fingerprints: Fingerprint) -> Fingerprint:
    rows, finished, rolled_back = (sum(values) for values in zip(*fingerprints, strict=True))
    return rows, finished, rolled_back


def _counts(fingerprint: Fingerprint) -> str:
    rows, finished, rolled_back = fingerprint
    return f"{rows} row(s) with {finished} finished and {rolled_back} rolled back"
