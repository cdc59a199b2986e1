"""The target's own record of what is applied: Prisma's ``_prisma_migrations`` table.

Answers one question, "what is applied here?", on the target connection it is given. An
apply appends a row; a rollback deletes the migration's rows, because ``prisma migrate
status`` counts a migration as applied while any row of its name is left, whatever its
``rolled_back_at`` (``prisma migrate deploy`` would re-apply it all the same). History keeps
every attempt. The table itself is ``ledger_table``'s, a row's shape ``ledger_rows``'; a
plan's held copy is ``ledger_copy``, the check before each write ``ledger_guard``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .backends import TargetBackend
from .backends.base import HeldLock
from .ledger_copy import Fingerprint, HeldLedger
from .ledger_guard import LedgerGuard
from .ledger_rows import COLUMNS, LedgerRow, RowChanges
from .ledger_table import LedgerTable

if TYPE_CHECKING:  # typing.Unpack is Python >= 3.11
    from typing import Unpack

# Up to this many migrations, a held copy reads their rows by name; more, the whole table.
_NAMES_PER_READ = 500
# A row's values in COLUMNS' order as a SELECT list, typed where a parameter's type would not
# say (PostgreSQL, the engine whose inserts carry the guard: see ``Ledger.insert``).
_TYPED_ROW = "%s, %s, %s::timestamptz, %s, %s, %s::timestamptz, %s::timestamptz, %s::integer"
_PLAIN_ROW = ", ".join(["%s"] * len(COLUMNS.split(",")))


class Ledger:
    """Reads and writes ``_prisma_migrations`` through one target's connection."""

    def __init__(self, backend: TargetBackend) -> None:
        self.backend = backend
        self.connection = backend.connection
        self.table = LedgerTable(backend)
        self._held: HeldLedger | None = None  # see held()
        self._lock_guard: LedgerGuard | None = None  # see guarded()

    def ensure_table(self) -> None:
        """Create the table as Prisma would if it is missing, else check this role writes it."""
        self.table.ensure()

    @contextmanager
    def guarded(self, lock: HeldLock) -> Iterator[None]:
        """Check before each write of the block that ``lock`` (a session's: PostgreSQL, MySQL)
        is still held and that the ledger holds what this run wrote (``ledger_guard``). SQLite's
        lock is each migration's own transaction, and a script there cannot reach the ledger
        without naming it (the rules refuse that)."""
        if not self.backend.has_session_lock:
            yield
            return
        with self.table.locked():
            in_the_write = self.backend.guards_in_the_write
            self._lock_guard = LedgerGuard(
                self.connection, self.table.name, lock, self._count(), in_the_write=in_the_write
            )
            try:
                yield
            finally:
                self._lock_guard = None

    @contextmanager
    def held(self, migration_names: Collection[str] | None) -> Iterator[None]:
        """Read the rows of ``migration_names`` (None: every row) once and answer from that
        copy (``ledger_copy``) until the block ends.

        Only for a caller holding the session-level migration lock, on which the copy's
        invariant rests. Engines without such a lock (SQLite) keep reading the table.
        """
        if not self.backend.has_session_lock:
            yield
            return
        names = set(migration_names or ())
        alias = self.connection.alias
        if migration_names is None or len(names) > _NAMES_PER_READ:  # one scan, kept whole
            self._held = HeldLedger(self._read(), None, alias)
        else:
            self._held = HeldLedger(self._read(names=names), names, alias)
        try:
            yield
        finally:
            self._held = None

    def rows(self, migration_name: str | None = None) -> list[LedgerRow]:
        """Rows oldest first, all or for one migration; none if the table does not exist."""
        if self._held is not None and self._held.covers(migration_name):
            return self._held.rows(migration_name)
        return self._read(migration_name)

    def _read(
        self, migration_name: str | None = None, *, names: Collection[str] = ()
    ) -> list[LedgerRow]:
        if not self.table.exists():
            return []
        sql = f"SELECT {COLUMNS} FROM {self.table.name}"
        params: list[str] = []
        if migration_name is not None:
            names = [migration_name]
        if names:
            sql += f" WHERE migration_name IN ({', '.join(['%s'] * len(names))})"
            params.extend(sorted(names))
        with self.table.reading(), self.connection.cursor() as cursor:
            self.backend.for_many_rows(cursor)
            cursor.execute(sql + " ORDER BY started_at, id", params)
            return [LedgerRow.from_values(values) for values in cursor.fetchall()]

    def fingerprint(self) -> Fingerprint:
        """(rows, finished, rolled back): one constant-size read that any ledger write changes."""
        if self._lock_guard is not None:  # read when the lock was taken, kept up to date since
            return self._lock_guard.expected()
        if self._held is not None and self._held.covers(None):
            return self._held.fingerprint()
        return self._count()

    def _count(self) -> Fingerprint:
        if not self.table.exists():
            return (0, 0, 0)
        with self.table.reading(), self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*), COUNT(finished_at), COUNT(rolled_back_at) FROM {self.table.name}"
            )
            rows, finished, rolled_back = cursor.fetchone()
        return int(rows), int(finished), int(rolled_back)

    @property
    def writes_carry_the_guard(self) -> bool:
        """Whether each write is one statement with its guard in it (``LedgerGuard.write``)."""
        return self._lock_guard is not None and self._lock_guard.in_the_write

    def _write(self, sql: str, params: list[Any], *, rows: int = 1) -> None:
        """Run ``sql``, a write of ``rows`` ledger row(s), through the guard if there is one
        (``sql`` then ends in its WHERE clause where writes carry it)."""
        with self.connection.cursor() as cursor:
            if self._lock_guard is None:
                cursor.execute(sql, params)
            else:
                self._lock_guard.write(cursor, sql, params, rows=rows)

    def _returning(self, cursor: Any) -> str:
        """What a write sent with the migration's statements returns after its own value: the
        guard's reading, taken as the statement starts (see ``confirm``)."""
        guard = self._lock_guard
        return f", {guard.reading_sql(cursor)}" if guard is not None else ""

    def confirm(self, returned: tuple) -> Any:
        """The value a write of ``insert_finished_sql`` or ``remove_sql`` returned,
        once the guard's reading returned with it is checked (LedgerGuardError if not)."""
        value, *reading = returned
        if self._lock_guard is not None:
            self._lock_guard.confirm(reading)
        return value

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
        row_id: str | None = None,
    ) -> str:
        row = LedgerRow(
            row_id or str(uuid.uuid4()),
            checksum,
            finished_at,
            migration_name,
            logs,
            rolled_back_at,
            started_at,
            applied_steps_count,
        )
        param = self.backend.now_param
        values = [getattr(row, column.name) for column in fields(row)]  # in COLUMNS' order
        values = [param(v) if isinstance(v, datetime) else v for v in values]
        # A SELECT's values carry no column types: the timestamps and count say theirs.
        typed = self.writes_carry_the_guard
        values_sql = f"SELECT {_TYPED_ROW} WHERE TRUE" if typed else f"VALUES ({_PLAIN_ROW})"
        self._write(f"INSERT INTO {self.table.name} ({COLUMNS}) {values_sql}", values)
        self._fold(row)
        return row.id

    def insert_finished_sql(
        self, cursor: Any, row_id: str, migration_name: str, checksum: str, started_at: datetime
    ) -> str:
        """The INSERT of the finished row ``row_id``, as one statement of literal SQL to send
        after the migration's statements in the same query (engines that send statements
        together). Its ``finished_at`` is the server's clock as it runs, which the statement
        returns; ``inserted`` then records the row."""
        values = cursor.mogrify(
            f"%s, %s, {self.backend.clock_sql}, %s, NULL, NULL, %s, 1",
            [row_id, checksum, migration_name, self.backend.now_param(started_at)],
        )
        return (
            f"INSERT INTO {self.table.name} ({COLUMNS}) VALUES ({values}) "
            f"RETURNING finished_at{self._returning(cursor)}"
        )

    def inserted(self, row: LedgerRow) -> None:
        """``row`` was written by a statement of ``insert_finished_sql``."""
        self._fold(row)

    def remove_sql(self, cursor: Any, rows: Collection[LedgerRow]) -> str:
        """``remove`` as one statement of literal SQL to send after the rollback's statements
        (see ``insert_finished_sql``); it returns the server's clock as it runs."""
        ids = cursor.mogrify(", ".join(["%s"] * len(rows)), [row.id for row in rows])
        return (
            f"WITH removed AS (DELETE FROM {self.table.name} WHERE id IN ({ids})) "
            f"SELECT {self.backend.clock_sql}{self._returning(cursor)}"
        )

    def removed(self, rows: Collection[LedgerRow]) -> None:
        """``rows`` were deleted by a statement of ``remove_sql``."""
        self._fold_removal(rows)

    def set_progress(self, row_id: str, applied_steps_count: int) -> None:
        """Record how many statements of a step-by-step migration have run (committed)."""
        self._write(
            f"UPDATE {self.table.name} SET applied_steps_count = %s WHERE id = %s",
            [applied_steps_count, row_id],
        )
        self._fold_change(row_id, applied_steps_count=applied_steps_count)

    def finish(self, row_id: str, when: datetime, applied_steps_count: int) -> None:
        """Mark a step-by-step attempt finished; its journal in ``logs`` gives way to NULL."""
        self._write(
            f"UPDATE {self.table.name} SET finished_at = %s, applied_steps_count = %s, "
            "logs = NULL WHERE id = %s",
            [self.backend.now_param(when), applied_steps_count, row_id],
        )
        self._fold_change(
            row_id, finished_at=when, applied_steps_count=applied_steps_count, logs=None
        )

    def set_logs(self, row_id: str, logs: str) -> None:
        self._write(f"UPDATE {self.table.name} SET logs = %s WHERE id = %s", [logs, row_id])
        self._fold_change(row_id, logs=logs)

    def close_failed(self, row_id: str, logs: str, rolled_back_at: datetime | None) -> None:
        """Store the failure; ``rolled_back_at`` only when nothing of the attempt remains."""
        self._write(
            f"UPDATE {self.table.name} SET logs = %s, rolled_back_at = %s WHERE id = %s",
            [logs, self.backend.now_param(rolled_back_at), row_id],
        )
        self._fold_change(row_id, logs=logs, rolled_back_at=rolled_back_at)

    def remove(self, rows: Collection[LedgerRow]) -> None:
        """Delete ``rows``: a rolled-back migration's, or a failed attempt's that left nothing,
        so that Prisma's status and deploy both see it pending (status matches rows by name,
        whatever their ``rolled_back_at``). History keeps the attempts."""
        self._write(
            f"DELETE FROM {self.table.name} WHERE id IN ({', '.join(['%s'] * len(rows))})",
            [row.id for row in rows],
            rows=len(rows),
        )
        self._fold_removal(rows)

    def _followers(self) -> list[LedgerGuard | HeldLedger]:
        """The guard (counts each write at once) and the held copy (takes it at commit)."""
        return [f for f in (self._lock_guard, self._held) if f is not None]

    def _fold(self, row: LedgerRow) -> None:
        for follower in self._followers():
            follower.inserted(row)

    def _fold_change(self, row_id: str, **changes: Unpack[RowChanges]) -> None:
        for follower in self._followers():
            follower.changed(row_id, changes)

    def _fold_removal(self, rows: Collection[LedgerRow]) -> None:
        for follower in self._followers():
            follower.removed(rows)
