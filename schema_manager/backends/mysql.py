"""MySQL and MariaDB targets: Prisma's ledger DDL and its ``GET_LOCK('prisma_migrate')``.

DDL commits implicitly on these engines, so ``can_rollback_ddl`` is False and the executor
runs migrations step by step with compensation (see ``execution/stepwise.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError

from ..exceptions import LockTimeoutError
from .base import LEDGER_TABLE, HeldLock, LedgerLocation, TargetBackend, Timeouts

if TYPE_CHECKING:  # the module imports MySQLdb, which only a MySQL target needs
    from django.db.backends.mysql.base import DatabaseWrapper

# ER_LOCK_WAIT_TIMEOUT: raised by both lock_wait_timeout (metadata) and innodb's row locks.
_LOCK_WAIT_TIMEOUT = 1205

# Prisma Migrate's named lock: holding it excludes `prisma migrate deploy` as well.
PRISMA_LOCK_NAME = "prisma_migrate"


class MySQLBackend(TargetBackend):
    connection: DatabaseWrapper
    vendor = "mysql"
    has_session_lock = True
    ledger_ddl = """
CREATE TABLE IF NOT EXISTS {table} (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             DATETIME(3),
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          DATETIME(3),
    started_at              DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    applied_steps_count     INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"""

    def locate_ledger(self) -> LedgerLocation:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT DATABASE(), EXISTS (SELECT 1 FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name = %s)",
                [LEDGER_TABLE],
            )
            database, exists = cursor.fetchone()
        return LedgerLocation(self.qualified(database), exists=bool(exists))

    @contextmanager
    def migration_lock(self, wait: float) -> Iterator[HeldLock]:
        with self.lock_session() as holder, holder.cursor() as cursor:
            self.poll_lock(cursor, wait, self._try_get_lock)
            cursor.execute("SELECT CONNECTION_ID()")
            session = cursor.fetchone()[0]
            try:
                yield HeldLock(
                    f"connection id {session}",
                    "IS_USED_LOCK(%s) <=> %s",
                    (PRISMA_LOCK_NAME, session),
                )
            finally:
                # Closing the session releases it too, as Prisma does; a session a migration
                # ended (KILL) cannot say so.
                with suppress(DatabaseError):
                    cursor.execute("SELECT RELEASE_LOCK(%s)", [PRISMA_LOCK_NAME])

    def _try_get_lock(self, cursor: Any) -> bool:
        # GET_LOCK with timeout 0: 1 (taken), 0 (held by another session) or NULL (error).
        cursor.execute("SELECT GET_LOCK(%s, 0)", [PRISMA_LOCK_NAME])
        taken: int | None = cursor.fetchone()[0]
        if taken is None:
            raise LockTimeoutError(
                f"GET_LOCK({PRISMA_LOCK_NAME!r}) failed on {self.alias!r} (NULL result)."
            )
        return taken == 1

    def set_timeouts(self, cursor: Any, timeouts: Timeouts, *, local: bool) -> None:
        # No transaction-local settings here (DDL commits anyway): always the session.
        if timeouts.lock_timeout is not None:
            seconds = max(round(timeouts.lock_timeout), 1)
            cursor.execute(
                f"SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = {seconds}"
            )
        if timeouts.statement_timeout is not None and self.connection.mysql_is_mariadb:
            cursor.execute(f"SET SESSION max_statement_time = {float(timeouts.statement_timeout)}")

    def reset_timeouts(self, cursor: Any) -> None:
        cursor.execute(
            "SET SESSION lock_wait_timeout = DEFAULT, innodb_lock_wait_timeout = DEFAULT"
        )
        if self.connection.mysql_is_mariadb:
            cursor.execute("SET SESSION max_statement_time = DEFAULT")

    def is_lock_timeout(self, exc: BaseException) -> bool:
        error: BaseException | None = exc
        while error is not None:
            args = getattr(error, "args", ())
            if args and args[0] == _LOCK_WAIT_TIMEOUT:
                return True
            error = error.__cause__ or error.__context__
        return False

    def _holder_message(self, cursor: Any, wait: float) -> str:
        cursor.execute(
            "SELECT p.id, p.time FROM information_schema.processlist p "
            "WHERE p.id = IS_USED_LOCK(%s)",
            [PRISMA_LOCK_NAME],
        )
        row = cursor.fetchone()
        holder = f" (connection id {row[0]}, in its current state for {row[1]}s)" if row else ""
        return (
            f"Another apply is running on {self.alias!r}{holder}; waited {wait:g}s for its "
            "migration lock. Retry when it has finished, or raise SCHEMA_MANAGER['LOCK_WAIT']."
        )
