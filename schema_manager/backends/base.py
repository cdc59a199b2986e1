"""What differs between target engines: the ledger's DDL and how appliers exclude each other."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from ..exceptions import LockTimeoutError
from ..sql import Statement

LEDGER_TABLE = "_prisma_migrations"


@dataclass(frozen=True)
class Timeouts:
    """Seconds, or None for the server's default. See SCHEMA_MANAGER['TIMEOUTS']."""

    lock_timeout: float | None = None
    statement_timeout: float | None = None


class TargetBackend:
    """Per-vendor behaviour for one target connection. Subclasses set ``vendor`` and the DDL."""

    vendor: str = ""
    ledger_ddl: str = ""
    # True when migration_lock() is held by the session for the whole run, so that an
    # unfinished ledger row seen under it belongs to a process that died.
    has_session_lock: bool = False
    # Whether roles and table privileges exist (a role may be refused writing the ledger).
    has_privileges: bool = True

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection

    @property
    def alias(self) -> str:
        return self.connection.alias

    @property
    def can_rollback_ddl(self) -> bool:
        return bool(self.connection.features.can_rollback_ddl)

    def read_for_analysis(self) -> None:
        """Read now, on the connection's own thread, whatever analysing a script asks of the
        connection (``can_rollback_ddl``, ``refuses_transaction``), so that scripts can then
        be analysed on another thread without touching it."""
        self.can_rollback_ddl  # noqa: B018 - read for its side effect (features are cached)

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

    def ledger_exists(self) -> bool:
        with self.connection.cursor() as cursor:
            return LEDGER_TABLE in self.connection.introspection.table_names(cursor)

    @contextmanager
    def migration_lock(self, wait: float) -> Iterator[None]:
        """Hold the target's migration lock for the block (session level, outside transactions)."""
        yield

    def lock_in_transaction(self, cursor: Any) -> None:
        """Take whatever lock must be taken inside the migration's transaction."""

    def now_param(self, value: Any) -> Any:
        """A datetime as this engine's driver wants it for a timestamp column."""
        return self.connection.ops.adapt_datetimefield_value(value)

    def refuses_transaction(self, statement: Statement) -> str | None:
        """Why ``statement`` cannot run inside a transaction on this engine (None: it can)."""
        return None

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
