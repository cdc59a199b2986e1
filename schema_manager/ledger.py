"""The target's own record of what is applied: Prisma's ``_prisma_migrations`` table.

Answers one question, "what is applied here?", on the target connection it is given. An
apply appends a row; a rollback deletes the migration's rows, because ``prisma migrate
status`` counts a migration as applied while any row of its name is left, whatever its
``rolled_back_at`` (``prisma migrate deploy`` would re-apply it all the same). History keeps
every attempt.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypedDict

from django.db import DatabaseError, transaction
from django.utils.dateparse import parse_datetime

from .backends import LEDGER_TABLE, TargetBackend
from .backends.base import HeldLock, LedgerLocation
from .exceptions import LedgerUnusable
from .ledger_guard import LedgerGuard

if TYPE_CHECKING:  # typing.Unpack is Python >= 3.11
    from typing import Unpack

# Markers the executor writes into a failed row's ``logs``; history reads them back.
COMPENSATED = "Compensated:"
COMPENSATION_INCOMPLETE = "Compensation incomplete"
INTERRUPTED = "Interrupted:"

# Up to this many migrations, a held copy reads their rows by name; more, the whole table.
_NAMES_PER_READ = 500

_COLUMNS = (
    "id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, "
    "applied_steps_count"
)
_NOTHING_RUN = "nothing was run"


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


class Ledger:
    """Reads and writes ``_prisma_migrations`` through one target's connection."""

    def __init__(self, backend: TargetBackend) -> None:
        self.backend = backend
        self.connection = backend.connection
        # Found once by this (short-lived) ledger, before the run's migrations can move
        # search_path; once seen to exist, not looked up again.
        self._location: LedgerLocation | None = None
        self._writable = False  # once this role is known to write it, not asked again
        self._held: _HeldRows | None = None  # see held()
        self._lock_guard: LedgerGuard | None = None  # see guarded()

    @property
    def _table(self) -> str:
        """The table, qualified with the schema it was found (or is to be created) in."""
        if self._location is None:
            self._location = self.backend.locate_ledger()
        return self._location.table

    def _exists(self) -> bool:
        if self._location is None or not self._location.exists:
            self._location = self.backend.locate_ledger()
        return self._location.exists

    def ensure_table(self) -> None:
        """Create the table exactly as Prisma would, if it is missing; if it exists, make sure
        this role may write it (before anything runs, not after the migration's statements)."""
        if self._exists():
            self._check_writable()
            return
        try:
            with self._guard(), self.connection.cursor() as cursor:
                cursor.execute(self.backend.ledger_ddl.format(table=self._table))
        except DatabaseError as exc:
            timeout = self.backend.lock_timeout(exc)  # another applier is creating it
            if timeout is not None:
                raise timeout from exc
            raise LedgerUnusable(
                f"The ledger {LEDGER_TABLE} does not exist on {self.connection.alias!r} and "
                f"could not be created ({_one_line(exc)}); create it as Prisma does, or grant "
                f"this role CREATE on the schema; {_NOTHING_RUN}."
            ) from exc
        self._location = LedgerLocation(self._table, exists=True)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """A read of the table; if it fails because the table named ``_prisma_migrations`` is
        not Prisma's ledger, say so (the check costs nothing while reads succeed)."""
        try:
            yield
        except DatabaseError as exc:
            missing = self._missing_columns()
            if not missing:
                raise
            raise self._not_prisma(missing) from exc

    def _not_prisma(self, missing: list[str]) -> LedgerUnusable:
        self._location = None
        return LedgerUnusable(
            f"The table {LEDGER_TABLE} on {self.connection.alias!r} is not Prisma's migration "
            f"ledger (it has no {', '.join(missing)} column); rename or drop it, or point the "
            f"environment at another database; {_NOTHING_RUN}."
        )

    def _missing_columns(self) -> list[str]:
        expected = [name.strip() for name in _COLUMNS.split(",")]
        try:
            with self._guard(), self.connection.cursor() as cursor:
                found = self.connection.introspection.get_table_description(cursor, LEDGER_TABLE)
        except DatabaseError:  # e.g. inside a transaction the failed read has aborted
            return []
        names = {column.name.lower() for column in found}
        return [name for name in expected if name not in names] if names else []

    def _check_writable(self) -> None:
        """Statements that write nothing but need INSERT and UPDATE on the table: a role
        without them is told so now, rather than after running a migration it cannot record."""
        if self._writable or not self.backend.has_privileges:
            return
        try:
            with self._guard(), self.connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {self._table} ({_COLUMNS}) "
                    f"SELECT {_COLUMNS} FROM {self._table} WHERE 1 = 0"
                )
                cursor.execute(f"UPDATE {self._table} SET logs = logs WHERE 1 = 0")
        except DatabaseError as exc:
            missing = self._missing_columns()
            if missing:
                raise self._not_prisma(missing) from exc
            user = self.connection.settings_dict.get("USER") or "this role"
            raise LedgerUnusable(
                f"The role {user!r} cannot write the ledger {LEDGER_TABLE} on "
                f"{self.connection.alias!r} ({_one_line(exc)}); grant it INSERT and UPDATE on "
                f"the table; {_NOTHING_RUN}."
            ) from exc
        self._writable = True

    def _guard(self):
        """A savepoint inside a transaction, so that a refused statement does not spoil it."""
        if self.connection.in_atomic_block:
            return transaction.atomic(using=self.connection.alias)
        return nullcontext()

    @contextmanager
    def guarded(self, lock: HeldLock) -> Iterator[None]:
        """Check before each write of the block that ``lock`` is still held and that the
        ledger holds what this run wrote (see ``ledger_guard``).

        For engines whose lock is a session's (PostgreSQL, MySQL): the lock is the run's for
        the whole block. SQLite's lock is each migration's own transaction, and a script
        there cannot reach the ledger without naming it (the rules refuse that).
        """
        if not self.backend.has_session_lock:
            yield
            return
        self._lock_guard = LedgerGuard(self.connection, self._table, lock, self._count())
        try:
            yield
        finally:
            self._lock_guard = None

    def lock_in_transaction(self, cursor: Any) -> None:
        """Take the lock that the migration's transaction must take first (SQLite)."""
        self.backend.lock_in_transaction(cursor, self._table)

    @contextmanager
    def held(self, migration_names: Collection[str] | None) -> Iterator[None]:
        """Read the rows of ``migration_names`` (None: every row) once and answer from that
        copy until the block ends.

        Only for a caller holding the session-level migration lock, which every writer of the
        ledger takes (this app and Prisma alike): then nothing but this process can change
        them, and its own writes are folded into the copy as they commit. A batch of applies
        thus reads the ledger once, not once per migration (each a scan that grows with
        history: Prisma's table has no index on ``migration_name``). Engines without such a
        lock (SQLite) keep reading the table.
        """
        if not self.backend.has_session_lock:
            yield
            return
        names = set(migration_names or ())
        if migration_names is None or len(names) > _NAMES_PER_READ:  # one scan, kept whole
            self._held = _HeldRows(self._read(), None)
        else:
            self._held = _HeldRows(self._read(names=names), names)
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
        if not self._exists():
            return []
        sql = f"SELECT {_COLUMNS} FROM {self._table}"
        params: list[str] = []
        if migration_name is not None:
            names = [migration_name]
        if names:
            sql += f" WHERE migration_name IN ({', '.join(['%s'] * len(names))})"
            params.extend(sorted(names))
        with self._reading(), self.connection.cursor() as cursor:
            self.backend.for_many_rows(cursor)
            cursor.execute(sql + " ORDER BY started_at, id", params)
            return [self._row(values) for values in cursor.fetchall()]

    def fingerprint(self) -> tuple[int, int, int]:
        """(rows, finished, rolled back): one constant-size read that any ledger write changes."""
        if self._lock_guard is not None:  # read when the lock was taken, kept up to date since
            return self._lock_guard.expected()
        if self._held is not None and self._held.covers(None):
            every = self._held.rows()
            return (
                len(every),
                sum(row.finished_at is not None for row in every),
                sum(row.rolled_back_at is not None for row in every),
            )
        return self._count()

    def _count(self) -> tuple[int, int, int]:
        if not self._exists():
            return (0, 0, 0)
        with self._reading(), self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*), COUNT(finished_at), COUNT(rolled_back_at) FROM {self._table}"
            )
            rows, finished, rolled_back = cursor.fetchone()
        return int(rows), int(finished), int(rolled_back)

    def _check(self, cursor: Any) -> None:
        """Before a write: raise LedgerGuardError if the run lost its lock or the ledger
        changed behind it (nothing when unguarded)."""
        if self._lock_guard is None:
            return
        sql, params = self._lock_guard.query()
        try:
            cursor.execute(sql, params)
            held, *counts = cursor.fetchone()
        except DatabaseError as exc:
            raise self._lock_guard.unreadable(exc) from exc
        self._lock_guard.check(held, tuple(counts))

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
            held, counts = reading
            self._lock_guard.check(held, tuple(counts))
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
        row_id = row_id or str(uuid.uuid4())
        param = self.backend.now_param
        with self.connection.cursor() as cursor:
            self._check(cursor)
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
        self._fold(
            LedgerRow(
                row_id,
                checksum,
                finished_at,
                migration_name,
                logs,
                rolled_back_at,
                started_at,
                applied_steps_count,
            )
        )
        return row_id

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
            f"INSERT INTO {self._table} ({_COLUMNS}) VALUES ({values}) "
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
            f"WITH removed AS (DELETE FROM {self._table} WHERE id IN ({ids})) "
            f"SELECT {self.backend.clock_sql}{self._returning(cursor)}"
        )

    def removed(self, rows: Collection[LedgerRow]) -> None:
        """``rows`` were deleted by a statement of ``remove_sql``."""
        self._fold_removal(rows)

    def set_progress(self, row_id: str, applied_steps_count: int) -> None:
        """Record how many statements of a step-by-step migration have run (committed)."""
        with self.connection.cursor() as cursor:
            self._check(cursor)
            cursor.execute(
                f"UPDATE {self._table} SET applied_steps_count = %s WHERE id = %s",
                [applied_steps_count, row_id],
            )
        self._fold_change(row_id, applied_steps_count=applied_steps_count)

    def finish(self, row_id: str, when: datetime, applied_steps_count: int) -> None:
        """Mark a step-by-step attempt finished; its journal in ``logs`` gives way to NULL."""
        with self.connection.cursor() as cursor:
            self._check(cursor)
            cursor.execute(
                f"UPDATE {self._table} SET finished_at = %s, applied_steps_count = %s, "
                "logs = NULL WHERE id = %s",
                [self.backend.now_param(when), applied_steps_count, row_id],
            )
        self._fold_change(
            row_id, finished_at=when, applied_steps_count=applied_steps_count, logs=None
        )

    def set_logs(self, row_id: str, logs: str) -> None:
        with self.connection.cursor() as cursor:
            self._check(cursor)
            cursor.execute(f"UPDATE {self._table} SET logs = %s WHERE id = %s", [logs, row_id])
        self._fold_change(row_id, logs=logs)

    def close_failed(self, row_id: str, logs: str, rolled_back_at: datetime | None) -> None:
        """Store the failure; ``rolled_back_at`` only when nothing of the attempt remains."""
        with self.connection.cursor() as cursor:
            self._check(cursor)
            cursor.execute(
                f"UPDATE {self._table} SET logs = %s, rolled_back_at = %s WHERE id = %s",
                [logs, self.backend.now_param(rolled_back_at), row_id],
            )
        self._fold_change(row_id, logs=logs, rolled_back_at=rolled_back_at)

    def remove(self, rows: Collection[LedgerRow]) -> None:
        """Delete ``rows``: a rolled-back migration's, so that Prisma's status and deploy
        both see it pending (status matches rows by name, whatever their ``rolled_back_at``)."""
        with self.connection.cursor() as cursor:
            self._check(cursor)
            cursor.execute(
                f"DELETE FROM {self._table} WHERE id IN ({', '.join(['%s'] * len(rows))})",
                [row.id for row in rows],
            )
        self._fold_removal(rows)

    def _fold(self, row: LedgerRow) -> None:
        """Add a written row to the held copy once (and only if) its transaction commits."""
        if self._lock_guard is not None:
            self._lock_guard.written(
                1, int(row.finished_at is not None), int(row.rolled_back_at is not None)
            )
        if self._held is not None:
            held = self._held
            transaction.on_commit(lambda: held.add(row), using=self.connection.alias)

    def _fold_change(self, row_id: str, **changes: Unpack[RowChanges]) -> None:
        """Apply an UPDATE of row ``row_id`` to the held copy once its transaction commits.

        A timestamp set here was NULL before (an unfinished row is finished, a live or
        unfinished one rolled back)."""
        if self._lock_guard is not None:
            self._lock_guard.written(
                0,
                int(changes.get("finished_at") is not None),
                int(changes.get("rolled_back_at") is not None),
            )
        if self._held is not None:
            held = self._held
            transaction.on_commit(lambda: held.change(row_id, changes), using=self.connection.alias)

    def _fold_removal(self, rows: Collection[LedgerRow]) -> None:
        """Take deleted rows out of the held copy once their transaction commits."""
        if self._lock_guard is not None:
            self._lock_guard.written(
                -len(rows),
                -sum(row.finished_at is not None for row in rows),
                -sum(row.rolled_back_at is not None for row in rows),
            )
        if self._held is not None:
            held, ids = self._held, {row.id for row in rows}
            transaction.on_commit(lambda: held.remove(ids), using=self.connection.alias)

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


class _HeldRows:
    """Ledger rows as read once (all, or those of ``names``), by row id and migration name."""

    def __init__(self, rows: list[LedgerRow], names: set[str] | None) -> None:
        self._names = names
        self._by_id: dict[str, LedgerRow] = {}
        self._ids_by_name: dict[str, list[str]] = {}
        for row in rows:
            self.add(row)

    def covers(self, migration_name: str | None) -> bool:
        """Whether the copy answers for this migration (None: for the whole table)."""
        if self._names is None:
            return True
        return migration_name is not None and migration_name in self._names

    def rows(self, migration_name: str | None = None) -> list[LedgerRow]:
        if migration_name is not None:
            return [self._by_id[row_id] for row_id in self._ids_by_name.get(migration_name, ())]
        return sorted(self._by_id.values(), key=lambda row: (row.started_at, row.id))

    def add(self, row: LedgerRow) -> None:
        if not self.covers(row.migration_name):
            return
        self._by_id[row.id] = row
        self._ids_by_name.setdefault(row.migration_name, []).append(row.id)

    def remove(self, row_ids: set[str]) -> None:
        for row_id in row_ids & self._by_id.keys():
            name = self._by_id.pop(row_id).migration_name
            self._ids_by_name[name].remove(row_id)

    def change(self, row_id: str, changes: RowChanges) -> None:
        if row_id in self._by_id:
            self._by_id[row_id] = replace(self._by_id[row_id], **changes)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
