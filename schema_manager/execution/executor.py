"""The transaction protocol of one migration on one target: statements and ledger row commit
together, or not at all.

The executor runs the statements in ``transaction.atomic(using=target)`` and writes the
``_prisma_migrations`` row inside the same transaction (with the statements' last round trip,
where the transport sends them together). A script that cannot run in a transaction goes to
``stepwise`` once its attempt's row is committed. The session handed in at construction owns
the lock, the held ledger rows and the hook settled before each commit; the executor never
touches the app's own tables: the caller records history from the ``Outcome`` it returns.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from django.db import transaction

from ..exceptions import (
    CommitWithheld,
    LedgerGuardError,
    LockTimeoutError,
    MigrationStateError,
    NotAppliedError,
)
from ..ledger_rows import LedgerRow, utc_now
from ..security import get_logger
from ..sql import Statement, parse_statements
from ..sql.analysis import Analysis
from ..sql.statements import MAX_STREAMED_CHARS, check_input, is_streamed, iter_statements
from ..sql.transactional import atomicity, controls_transactions, may_control_transactions
from .archive_capture import Archive, archives_apart, refuse_after_recovery, with_archive
from .attempts import record_fake
from .crash import crash_point
from .outcome import Outcome, record_failure
from .recovery import InterruptedAttempts
from .script_transactions import ScriptTransactionsRun
from .session import ExecutionSession
from .standing import check_can_apply, live_row
from .stepwise import StepwiseRun, still_in_effect
from .transport import Progress, Transport

logger = get_logger("schema_manager.executor")

# Errors that leave the migration's transaction rolled back and go to the caller as they are.
_RAISED = (MigrationStateError, CommitWithheld, LockTimeoutError)


class MigrationExecutor:
    """Applies and rolls back migrations in the session's target, one transaction each."""

    def __init__(self, session: ExecutionSession, progress: Progress | None = None) -> None:
        self.session = session
        self.alias = session.alias
        self.connection = session.connection
        self.backend = session.backend
        self.ledger = session.ledger
        self.transport = Transport(session, progress)
        self.stepwise = StepwiseRun(session, self.transport)
        self.interrupted = InterruptedAttempts(session)

    def live_row(self, migration_id: str) -> LedgerRow | None:
        """The ledger row that makes ``migration_id`` applied here, if any."""
        return live_row(self.ledger, migration_id)

    def apply(
        self,
        migration_id: str,
        sql: str,
        checksum: str,
        *,
        fake: bool = False,
        analysis: Analysis | None = None,
        archive: Archive | None = None,
    ) -> Outcome:
        """Run ``sql`` and record ``migration_id`` as applied, atomically where possible.

        ``fake`` records the row without running the SQL (baselining an existing database).
        In a transaction the statements are read one at a time, so a large data migration
        never has all its statements in memory. ``analysis``, the script's analysis for this
        target, spares reading the script to know how it runs.
        """
        check_input(sql, MAX_STREAMED_CHARS)
        self.session.refuse_open_transaction()
        outcome = Outcome(success=False, started_at=utc_now())
        if not fake:  # a fake runs nothing: one atomic ledger insert on every engine
            how = analysis.atomicity if analysis else atomicity(sql, self.backend.engine)
            outcome.stepwise = how.stepwise or archives_apart(archive, self.backend.vendor)
            outcome.own_transactions = may_control_transactions(sql) and controls_transactions(
                self._statements(sql)
            )

        def every_statement() -> list[Statement]:
            return list(iter_statements(sql, self.connection.vendor))

        clock = time.perf_counter()
        with self.session.locked():
            self.ledger.ensure_table()
            if self.interrupted.recover(migration_id, checksum, every_statement, outcome):
                pass  # a dead process had run every statement: its attempt is now finished
            elif outcome.own_transactions:
                try:
                    ScriptTransactionsRun(self.session).apply(
                        migration_id, checksum, sql, every_statement(), outcome, self._begin_locked
                    )
                finally:  # its timeouts were set for the session
                    self._reset_timeouts()
            elif outcome.stepwise:
                refuse_after_recovery(archive, outcome, migration_id)
                try:
                    statements = every_statement()
                    self.stepwise.apply(
                        migration_id, checksum, statements, outcome, self._begin_locked, archive
                    )
                finally:  # its timeouts were set for the session
                    self._reset_timeouts()
            else:
                self._apply_atomic(migration_id, checksum, sql, outcome, fake, analysis, archive)
        outcome.elapsed = time.perf_counter() - clock
        return outcome

    def _apply_atomic(
        self,
        migration_id: str,
        checksum: str,
        sql: str,
        outcome: Outcome,
        fake: bool,
        analysis: Analysis | None,
        archive: Archive | None,
    ) -> None:
        for attempt in range(self.session.lock_retries + 1):
            outcome.attempts, outcome.statements_run = attempt + 1, 0
            try:
                with transaction.atomic(using=self.alias):
                    self._begin_locked(local_timeouts=True)
                    live = check_can_apply(self.ledger, self.alias, migration_id, checksum)
                    if live is not None:
                        outcome.already_applied, outcome.applied_row = True, live
                    elif fake:
                        record_fake(self.ledger, migration_id, checksum, outcome)
                    else:
                        self._run_and_record(
                            migration_id, checksum, sql, outcome, analysis, archive
                        )
                        crash_point("before-commit")
                    self.session.before_commit()
                outcome.success = True
                return
            except LedgerGuardError as exc:
                raise LedgerGuardError(
                    f"Migration {migration_id} was not applied (its transaction was rolled "
                    f"back): {exc}."
                ) from exc
            except _RAISED:
                raise
            except Exception as exc:  # recorded, logged and returned; see record_failure
                if self.transport.retry_after(exc, attempt):
                    continue
                # Nothing of it remains, so no ledger row and nothing to commit on the
                # target (see Ledger.remove): the attempt is history's alone.
                record_failure(outcome, exc, migration_id, self.alias)
                return

    def _run_and_record(
        self,
        migration_id: str,
        checksum: str,
        sql: str,
        outcome: Outcome,
        analysis: Analysis | None,
        archive: Archive | None = None,
    ) -> None:
        """Run the script in the open transaction, then insert its finished ledger row; where
        statements go to the server together, the row goes with the last of them."""
        row_id = str(uuid.uuid4())
        record = ""
        if self.backend.sends_statements_together:
            with self.connection.cursor() as cursor:
                record = self.ledger.insert_finished_sql(
                    cursor, row_id, migration_id, checksum, outcome.started_at
                )
        if archive is None:
            returned = self.transport.run_script(sql, analysis, outcome, then=record)
        else:
            statements = iter_statements(sql, self.connection.vendor)
            captured = with_archive(statements, archive, self.connection.vendor)
            returned = self.transport.run(captured, outcome, then=record)
        if returned is None:  # the row did not go with the statements
            outcome.finished_at = utc_now()
            outcome.ledger_id = self.ledger.insert(
                migration_id,
                checksum,
                outcome.started_at,
                finished_at=outcome.finished_at,
                applied_steps_count=1,
                row_id=row_id,
            )
            return
        finished_at = self.ledger.confirm(returned)
        outcome.finished_at, outcome.ledger_id = finished_at, row_id
        self.ledger.inserted(
            LedgerRow(
                row_id, checksum, finished_at, migration_id, None, None, outcome.started_at, 1
            )
        )

    def _statements(self, sql: str) -> Iterable[Statement]:
        """The script's statements: a small script's parse is cached; a large one is read."""
        vendor = self.connection.vendor
        return iter_statements(sql, vendor) if is_streamed(sql) else parse_statements(sql, vendor)

    def rollback(self, migration_id: str, rollback_sql: str) -> Outcome:
        """Run ``rollback_sql`` and remove the migration's ledger rows, atomically."""
        statements = parse_statements(rollback_sql, self.connection.vendor)
        if controls_transactions(statements):  # its COMMIT would end the rollback's transaction
            raise MigrationStateError(
                f"The rollback script of {migration_id} has its own BEGIN / COMMIT / ROLLBACK; "
                "remove them: a rollback runs in one transaction with its ledger change. "
                "Nothing was run."
            )
        self.session.refuse_open_transaction()
        outcome = Outcome(success=False, started_at=utc_now())
        outcome.stepwise = atomicity(rollback_sql, self.backend.engine, statements).stepwise
        clock = time.perf_counter()
        with self.session.locked():
            try:
                self._rollback(migration_id, statements, outcome)
            except LedgerGuardError as exc:
                raise LedgerGuardError(
                    f"Migration {migration_id} was not rolled back (the rollback's transaction "
                    f"was rolled back): {exc}."
                ) from exc
            except _RAISED:
                raise
            except Exception as exc:  # recorded, logged and returned; see record_failure
                record_failure(outcome, exc, migration_id, self.alias)
                if outcome.stepwise and outcome.statements_run:
                    outcome.remaining = still_in_effect(statements[: outcome.statements_run])
            finally:
                if outcome.stepwise:
                    self._reset_timeouts()
        outcome.elapsed = time.perf_counter() - clock
        return outcome

    def _rollback(self, migration_id: str, statements: list[Statement], outcome: Outcome) -> None:
        with transaction.atomic(using=self.alias):
            self._begin_locked(local_timeouts=not outcome.stepwise)
            live = self.live_row(migration_id)
            if live is None:
                raise NotAppliedError(
                    f"Migration {migration_id!r} is not applied on {self.alias!r}."
                )
            outcome.applied_row = live
            # The live row goes, and with it the attempts already rolled back: a row of the
            # name left would make `prisma migrate status` count the migration as applied.
            gone = [live, *(r for r in self.ledger.rows(migration_id) if r.rolled_back_at)]
            if not outcome.stepwise:
                # The ledger changes in the statements' own transaction (with their last
                # round trip, where statements go together).
                self._run_and_remove(statements, gone, outcome)
            self.session.before_commit()
        if outcome.stepwise:
            for statement in statements:
                self.transport.run_one(statement, outcome)
            self._remove(gone, outcome)
        outcome.success = True

    def _run_and_remove(
        self, statements: list[Statement], gone: list[LedgerRow], outcome: Outcome
    ) -> None:
        remove = ""
        if self.backend.sends_statements_together:
            with self.connection.cursor() as cursor:
                remove = self.ledger.remove_sql(cursor, gone)
        returned = self.transport.run(statements, outcome, then=remove)
        if returned is None:  # the removal did not go with the statements
            self._remove(gone, outcome)
            return
        outcome.finished_at, outcome.ledger_id = self.ledger.confirm(returned), gone[0].id
        self.ledger.removed(gone)

    def _remove(self, gone: list[LedgerRow], outcome: Outcome) -> None:
        outcome.finished_at = utc_now()
        self.ledger.remove(gone)
        outcome.ledger_id = gone[0].id

    def _begin_locked(self, *, local_timeouts: bool) -> None:
        """First statements of the migration's (or ledger check's) transaction."""
        with self.connection.cursor() as cursor:
            self.backend.lock_in_transaction(cursor, self.ledger.table.name)
            self.backend.set_timeouts(cursor, self.session.timeouts, local=local_timeouts)

    def _reset_timeouts(self) -> None:
        with self.connection.cursor() as cursor:
            self.backend.reset_timeouts(cursor)
