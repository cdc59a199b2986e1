"""How to apply or roll back one migration on one target: statements and ledger row together.

Given a target connection, the executor takes the migration lock, runs the statements in
``transaction.atomic(using=target)`` and writes the ``_prisma_migrations`` row inside the same
transaction, so "applied" commits with the SQL or not at all. It never touches the app's own
tables: the caller records history from the ``Outcome`` it returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connections, transaction

from .backends import TargetBackend, get_backend
from .exceptions import MigrationStateError, SchemaManagerError
from .ledger import Ledger, LedgerRow, utc_now
from .sql import Statement, statements_of

logger = logging.getLogger("schema_manager.executor")

Progress = Callable[[str, Statement], None]


@dataclass
class Outcome:
    success: bool
    started_at: datetime
    finished_at: datetime | None = None
    ledger_id: str = ""
    error: str | None = None
    statements_run: int = 0
    elapsed: float = 0.0
    already_applied: bool = False
    applied_row: LedgerRow | None = None
    notes: list[str] = field(default_factory=list)


class MigrationExecutor:
    """Applies and rolls back migrations on the connection of one DATABASES alias."""

    def __init__(self, alias: str, lock_wait: float, progress: Progress | None = None) -> None:
        self.alias = alias
        self.connection = connections[alias]
        self.backend: TargetBackend = get_backend(self.connection)
        self.ledger = Ledger(self.backend)
        self.lock_wait = lock_wait
        self.progress = progress

    def apply(self, migration_id: str, sql: str, checksum: str) -> Outcome:
        """Run ``sql`` and record ``migration_id`` as applied, atomically."""
        statements = statements_of(sql)  # a large script is read statement by statement
        self._refuse_open_transaction()
        outcome = Outcome(success=False, started_at=utc_now())
        clock = time.perf_counter()
        with self.backend.migration_lock(self.lock_wait):
            self.ledger.ensure_table()
            try:
                with transaction.atomic(using=self.alias):
                    with self.connection.cursor() as cursor:
                        self.backend.lock_in_transaction(cursor)
                    live = self._check_can_apply(migration_id, checksum)
                    if live is not None:
                        outcome.already_applied, outcome.applied_row = True, live
                    else:
                        self._run(statements, outcome)
                        outcome.finished_at = utc_now()
                        outcome.ledger_id = self.ledger.insert(
                            migration_id,
                            checksum,
                            outcome.started_at,
                            finished_at=outcome.finished_at,
                            applied_steps_count=1,
                        )
                outcome.success = True
            except MigrationStateError:
                raise
            except Exception as exc:  # recorded, logged and returned; see _fail
                self._fail(outcome, exc, migration_id)
                outcome.ledger_id = self.ledger.insert(
                    migration_id,
                    checksum,
                    outcome.started_at,
                    finished_at=None,
                    rolled_back_at=utc_now(),
                    logs=outcome.error,
                )
        outcome.elapsed = time.perf_counter() - clock
        return outcome

    def rollback(self, migration_id: str, rollback_sql: str) -> Outcome:
        """Run ``rollback_sql`` and mark the applied ledger row rolled back, atomically."""
        statements = statements_of(rollback_sql)
        self._refuse_open_transaction()
        outcome = Outcome(success=False, started_at=utc_now())
        clock = time.perf_counter()
        with self.backend.migration_lock(self.lock_wait):
            try:
                with transaction.atomic(using=self.alias):
                    with self.connection.cursor() as cursor:
                        self.backend.lock_in_transaction(cursor)
                    live = self.live_row(migration_id)
                    if live is None:
                        raise MigrationStateError(
                            f"Migration {migration_id!r} is not applied on {self.alias!r}."
                        )
                    outcome.applied_row = live
                    self._run(statements, outcome)
                    outcome.finished_at = utc_now()
                    self.ledger.mark_rolled_back(live.id, outcome.finished_at)
                    outcome.ledger_id = live.id
                outcome.success = True
            except MigrationStateError:
                raise
            except Exception as exc:  # recorded, logged and returned; see _fail
                self._fail(outcome, exc, migration_id)
        outcome.elapsed = time.perf_counter() - clock
        return outcome

    def live_row(self, migration_id: str) -> LedgerRow | None:
        """The ledger row that makes ``migration_id`` applied here, if any."""
        live = [row for row in self.ledger.rows(migration_id) if row.is_applied]
        return live[-1] if live else None

    def _check_can_apply(self, migration_id: str, checksum: str) -> LedgerRow | None:
        """The live row if already applied with this checksum; raise if applying is unsafe."""
        rows = self.ledger.rows(migration_id)
        unresolved = [row for row in rows if row.is_unresolved_failure]
        if unresolved:
            row = unresolved[-1]
            raise MigrationStateError(
                f"Migration {migration_id!r} has an unfinished attempt on {self.alias!r} "
                f"(ledger row {row.id}, started {row.started_at:%Y-%m-%d %H:%M:%S}); "
                "resolve it before applying again."
            )
        live = [row for row in rows if row.is_applied]
        if live and live[-1].checksum != checksum:
            raise MigrationStateError(
                f"Migration {migration_id!r} is applied on {self.alias!r} with checksum "
                f"{live[-1].checksum}, but its SQL now has checksum {checksum}; "
                "an applied migration must not change."
            )
        return live[-1] if live else None

    def _run(self, statements: Iterable[Statement], outcome: Outcome) -> None:
        with self.connection.cursor() as cursor:
            for statement in statements:
                if self.progress:
                    self.progress("statement", statement)
                try:
                    cursor.execute(statement.text)
                except Exception as exc:
                    raise StatementError(statement, exc) from exc
                outcome.statements_run += 1

    def _fail(self, outcome: Outcome, exc: Exception, migration_id: str) -> None:
        outcome.error = str(exc).strip() or exc.__class__.__name__
        outcome.finished_at = None
        # A failing statement is an expected outcome (WARNING); anything else is a bug (ERROR).
        expected = isinstance(exc, StatementError)
        logger.log(
            logging.WARNING if expected else logging.ERROR,
            "Migration %s failed on %r and was rolled back: %s",
            migration_id,
            self.alias,
            outcome.error,
            exc_info=not expected,
        )

    def _refuse_open_transaction(self) -> None:
        if self.connection.in_atomic_block:
            raise SchemaManagerError(
                f"Refusing to migrate {self.alias!r} inside an open transaction on it (e.g. "
                "ATOMIC_REQUESTS): the migration must commit on its own."
            )


class StatementError(Exception):
    """A statement failed; the message names it and carries the database's own error."""

    def __init__(self, statement: Statement, cause: Exception) -> None:
        detail = str(cause).strip() or cause.__class__.__name__
        super().__init__(f"Statement {statement.index + 1} ({statement.summary}) failed: {detail}")
        self.statement = statement
