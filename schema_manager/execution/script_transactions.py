"""Scripts that control their own transactions (``BEGIN`` … ``COMMIT``, ``ROLLBACK``): run as
written, as ``prisma migrate deploy`` and psql run them.

Such a script cannot run inside the tool's transaction (its ``COMMIT`` would end it). Its
attempt's ledger row is committed first, unfinished, as Prisma writes it; the script then runs
on the target's session in autocommit mode: on PostgreSQL as one query, as Prisma's engine
sends it (statements outside the script's own blocks form one implicit transaction with the
block they precede or follow; see PostgreSQL's "multiple statements in a simple query"); on
SQLite and MariaDB/MySQL statement by statement, as Prisma runs it there. What its own blocks
commit is committed: a failure after a ``COMMIT`` cannot take that back, so a failed attempt
keeps its row unfinished with the error in ``logs`` (``prisma migrate deploy`` then refuses
to continue until someone resolves it), exactly as Prisma records it. A transaction the
script leaves open (``BEGIN`` without ``COMMIT``) is rolled back and fails the attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import DatabaseError

from ..ledger_rows import utc_now
from ..security import get_logger, scrub
from ..sql import Statement
from .attempts import commit_unfinished_row
from .outcome import Outcome, StatementError, record_failure
from .session import ExecutionSession

logger = get_logger("schema_manager.executor")

# What a failed attempt's logs add to the error: the row stays unfinished, as Prisma's.
PART_COMMITTED = (
    "The script controls its own transactions: what its COMMITs committed before the failure "
    "stays applied. Check the database, then resolve the migration (`prisma migrate resolve "
    "--applied` or `--rolled-back`) before applying again."
)
# The running attempt's logs: not a journal, so a later apply leaves it to an operator.
RUNNING = (
    "Running: the script controls its own transactions; if this row stays unfinished, what "
    "its COMMITs committed stays applied: check the database and resolve the migration."
)
LEFT_OPEN = "the script left a transaction open (BEGIN without COMMIT); it was rolled back"


class ScriptTransactionsRun:
    """Runs one such script in the session's target, after its unfinished row is committed."""

    def __init__(self, session: ExecutionSession) -> None:
        self.session = session
        self.connection = session.connection
        self.ledger = session.ledger

    def apply(
        self,
        migration_id: str,
        checksum: str,
        sql: str,
        statements: list[Statement],
        outcome: Outcome,
        begin_locked: Callable[..., None],
    ) -> None:
        """Commit the attempt's unfinished row, as Prisma writes it (with a note in ``logs``,
        so that no later apply takes it for a step-by-step attempt to recover), then run the
        script as written. ``begin_locked`` opens the executor's ledger transaction."""
        if not commit_unfinished_row(
            self.ledger,
            self.connection.alias,
            migration_id,
            checksum,
            outcome,
            begin_locked=begin_locked,
            before_commit=self.session.before_commit,
            logs=RUNNING,
        ):
            return
        self.run(migration_id, sql, statements, outcome)

    def run(
        self, migration_id: str, sql: str, statements: list[Statement], outcome: Outcome
    ) -> None:
        """Run the script; finish the row, or record the failure on it (left unfinished)."""
        try:
            self._run(sql, statements, outcome)
            if self._left_open():
                self._roll_back_open()
                raise DatabaseError(LEFT_OPEN)
            outcome.finished_at = utc_now()
            self.ledger.finish(outcome.ledger_id, outcome.finished_at, 1)  # logs become NULL
            outcome.success = True
        except Exception as exc:  # recorded, logged and returned
            if self._left_open():
                self._roll_back_open()  # the failed block's, so that the row can be written
            record_failure(outcome, exc, migration_id, self.session.alias)
            logs = f"{outcome.error}\n{PART_COMMITTED}"
            self.ledger.close_failed(outcome.ledger_id, logs, rolled_back_at=None)
            outcome.remaining = (
                "what the script's own transactions committed before the failure stays applied"
            )

    def _run(self, sql: str, statements: list[Statement], outcome: Outcome) -> None:
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                cursor.execute(sql)  # one query, as Prisma sends it: PostgreSQL's own semantics
                outcome.statements_run = len(statements)
                return
            for statement in statements:
                try:
                    cursor.execute(statement.text)
                except Exception as exc:
                    raise StatementError(statement, exc) from exc
                outcome.statements_run += 1

    def _left_open(self) -> bool:
        """Whether the script's session is inside a transaction block now."""
        raw: Any = self.connection.connection
        vendor = self.connection.vendor
        if vendor == "postgresql":  # IDLE is 0 (psycopg 3, and psycopg2's status)
            info = getattr(raw, "info", None)
            status = info.transaction_status if info else raw.get_transaction_status()
            return int(status) != 0
        if vendor == "sqlite":
            return bool(raw.in_transaction)
        try:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT @@in_transaction")  # MariaDB's
                return bool(cursor.fetchone()[0])
        except DatabaseError:  # MySQL has no such variable: nothing to tell
            return False

    def _roll_back_open(self) -> None:
        try:
            with self.connection.cursor() as cursor:
                cursor.execute("ROLLBACK")
        except DatabaseError as exc:
            logger.warning("Could not roll back the script's open transaction: %s", scrub(str(exc)))
