"""What differs between target engines: the ledger's DDL and how appliers exclude each other."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from ..exceptions import LockTimeoutError
from ..sql import Statement
from ..sql.transactional import Engine

LEDGER_TABLE = "_prisma_migrations"


@dataclass(frozen=True)
class HeldLock:
    """The migration lock as this process holds it, on a server session of its own.

    ``still_held`` is an SQL boolean expression (with ``params``) that says, on the
    migration's own session, whether that session still holds the lock; empty where the lock
    is the migration's transaction itself (SQLite). ``holder`` names the session in messages.
    """

    holder: str = ""
    still_held: str = ""
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class LedgerLocation:
    """Where the ledger is (or is to be created), addressed as the SQL the ledger sends."""

    table: str  # quoted and qualified with its schema (database, on MySQL)
    exists: bool


@dataclass(frozen=True)
class Timeouts:
    """Seconds, or None for the server's default. See SCHEMA_MANAGER['TIMEOUTS']."""

    lock_timeout: float | None = None
    statement_timeout: float | None = None


# The attribute of a target connection holding the lock session its owner keeps open (see
# ``TargetBackend.lock_session``).
KEPT_LOCK_SESSION = "schema_manager_kept_lock_session"


class TargetBackend:
    """Per-vendor behaviour for one target connection. Subclasses set ``vendor`` and the DDL."""

    vendor: str = ""
    ledger_ddl: str = ""
    # True when migration_lock() is held by the session for the whole run, so that an
    # unfinished ledger row seen under it belongs to a process that died.
    has_session_lock: bool = False
    # Whether roles and table privileges exist (a role may be refused writing the ledger).
    has_privileges: bool = True
    # Whether an UPDATE or DELETE of the ledger may read the ledger in its own WHERE clause
    # (MySQL refuses it, error 1093), so that the guard's reading goes in the write itself.
    guards_in_the_write: bool = False

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection

    @property
    def alias(self) -> str:
        return self.connection.alias

    @property
    def can_rollback_ddl(self) -> bool:
        return bool(self.connection.features.can_rollback_ddl)

    @cached_property
    def engine(self) -> Engine:
        """What deciding how a script runs needs of this target (``sql.transactional``), read
        from the connection once: scripts can then be analysed on another thread."""
        return Engine(self.vendor, self.can_rollback_ddl, self.server_version())

    def server_version(self) -> int | None:
        """The server's version, where the engine's transaction rules depend on it."""
        return None

    @property
    def sends_statements_together(self) -> bool:
        """Whether several statements can go to the server in one query string (one round
        trip), in a transaction, with a savepoint around them."""
        return False

    @property
    def clock_sql(self) -> str:
        """SQL for the server's clock as a statement runs (not as its transaction began)."""
        raise NotImplementedError("only engines that send statements together need it")

    def for_many_rows(self, cursor: Any) -> None:
        """Make ``cursor`` quick to read many rows from (the whole ledger, for instance)."""

    def locate_ledger(self) -> LedgerLocation:
        """The ledger's table, qualified with the schema it is in now (or, if it does not
        exist, the schema it will be created in), so that SQL a migration runs (``SET
        search_path``, ``USE``) cannot point the ledger's reads and writes elsewhere."""
        raise NotImplementedError

    def qualified(self, schema: str) -> str:
        quote = self.connection.ops.quote_name
        return f"{quote(schema)}.{quote(LEDGER_TABLE)}"

    @contextmanager
    def migration_lock(self, wait: float) -> Iterator[HeldLock]:
        """Hold the target's migration lock for the block (session level, outside transactions)."""
        yield HeldLock()

    @contextmanager
    def lock_session(self) -> Iterator[BaseDatabaseWrapper]:
        """A server session of its own for the migration lock, closed when the block ends.

        The migration's SQL runs on the target's connection, never on this one, so nothing
        it does (``pg_advisory_unlock_all()``, ``RELEASE_ALL_LOCKS()``) can release the lock.
        A target connection may carry a lock session kept by its owner (``KEPT_LOCK_SESSION``:
        a fleet's task, for its next target of the same database), used and left open.
        """
        kept = getattr(self.connection, KEPT_LOCK_SESSION, None)
        if kept is not None:
            yield kept
            return
        holder = type(self.connection)(self.connection.settings_dict, self.connection.alias)
        try:
            yield holder
        finally:
            holder.close()

    def lock_timeout(self, exc: BaseException) -> LockTimeoutError | None:
        """The error to raise if ``exc`` is a statement giving up on the migration lock
        (SQLite: its write lock, held by another applier), else None."""
        return None

    def lock_in_transaction(self, cursor: Any, table: str) -> None:
        """Take whatever lock must be taken inside the migration's transaction (``table``: the
        ledger's, as ``locate_ledger`` named it)."""

    def now_param(self, value: Any) -> Any:
        """A datetime as this engine's driver wants it for a timestamp column."""
        return self.connection.ops.adapt_datetimefield_value(value)

    def refuses_transaction(self, statement: Statement) -> str | None:
        """Why ``statement`` cannot run inside a transaction on this engine (None: it can)."""
        return self.engine.refuses_transaction(statement)

    def set_timeouts(self, cursor: Any, timeouts: Timeouts, *, local: bool) -> None:
        """Apply ``timeouts`` for the current transaction (``local``) or the session."""

    def reset_timeouts(self, cursor: Any) -> None:
        """Undo session-level ``set_timeouts``."""

    def is_lock_timeout(self, exc: BaseException) -> bool:
        """Whether ``exc`` (or its cause) is the engine's lock-wait timeout."""
        return False

    def poll_lock(self, cursor: Any, wait: float, try_lock: Callable[[Any], bool]) -> None:
        """Call ``try_lock(cursor)`` until it succeeds; LockTimeoutError after ``wait`` seconds.

        Polling a non-blocking lock call (never blocking inside the server) keeps a waiter
        from queueing behind, and deadlocking with, a holder that waits for old transactions
        (CREATE INDEX CONCURRENTLY).
        """
        deadline = time.monotonic() + wait
        delay = 0.05
        while not try_lock(cursor):
            if time.monotonic() >= deadline:
                raise LockTimeoutError(self._holder_message(cursor, wait))
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _holder_message(self, cursor: Any, wait: float) -> str:
        return f"Another apply is running on {self.alias!r}; waited {wait:g}s for its lock."
