"""How to apply or roll back one migration on one target: statements and ledger row together.

Given a target connection, the executor takes the migration lock, runs the statements in
``transaction.atomic(using=target)`` and writes the ``_prisma_migrations`` row inside the same
transaction, so "applied" commits with the SQL or not at all. It never touches the app's own
tables: the caller records history from the ``Outcome`` it returns.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections, transaction

from . import journal
from .backends import LEDGER_TABLE, TargetBackend, Timeouts, get_backend
from .compensation import (
    Step,
    commits_with_its_progress,
    compensate,
    execute_quietly,
    undo_uncertain,
)
from .exceptions import (
    CommitWithheld,
    LedgerGuardError,
    LockTimeoutError,
    MigrationStateError,
    NotAppliedError,
    SchemaManagerError,
)
from .footprints import Footprint, probe, targets_of
from .ledger import (
    COMPENSATED,
    COMPENSATION_INCOMPLETE,
    INTERRUPTED,
    Ledger,
    LedgerRow,
    utc_now,
)
from .security import get_logger, scrub
from .sql import Statement, parse_statements
from .sql.directives import parse_directives
from .sql.statements import MAX_STREAMED_CHARS, check_input, is_streamed, iter_statements

if TYPE_CHECKING:
    from .analyses import Analysis

logger = get_logger("schema_manager.executor")

Progress = Callable[[str, Statement], None]

# Tests kill the process at a named point to prove crash safety
# (see tests/engine/test_compensation.py).
CRASH_ENV = "SCHEMA_MANAGER_TEST_CRASH_AT"
RETRY_DELAY = 0.5  # seconds before the first retry after a lock timeout; doubles each time
# Characters of SQL per round trip where statements can be sent together.
GROUP_CHARS = 256 * 1024
_GROUP_SAVEPOINT = "schema_manager_statements"


def runs_stepwise(
    backend: TargetBackend, sql: str, statements: list[Statement] | None = None
) -> bool:
    """Whether ``sql`` runs statement by statement outside a transaction on ``backend``."""
    if not backend.can_rollback_ddl or parse_directives(sql).no_transaction:
        return True
    if statements is None:
        if is_streamed(sql):
            # A large script is not held in memory: its first statement decides, since
            # validation refuses a script that mixes statements the engine refuses in a
            # transaction with others (and the engine would refuse such a mix anyway).
            first = next(iter_statements(sql, backend.vendor), None)
            return first is not None and bool(backend.refuses_transaction(first))
        statements = parse_statements(sql, backend.vendor)
    return any(backend.refuses_transaction(s) for s in statements)


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
    # Ran statement by statement outside a transaction (MySQL DDL, or no-transaction SQL).
    stepwise: bool = False
    # A stepwise failure whose completed statements were all undone by their inverses.
    compensated: bool = False
    # What a failed stepwise run left applied, for an operator (empty: nothing).
    remaining: str = ""
    attempts: int = 1
    # Stale attempts of this migration, left by a process that died, recovered before this run.
    recovered: list[LedgerRow] = field(default_factory=list)


class MigrationExecutor:
    """Applies and rolls back migrations on the connection of one DATABASES alias."""

    def __init__(
        self,
        alias: str,
        lock_wait: float,
        progress: Progress | None = None,
        *,
        timeouts: Timeouts | None = None,
        lock_retries: int = 0,
    ) -> None:
        self.alias = alias
        self.connection = connections[alias]
        self.backend: TargetBackend = get_backend(self.connection)
        self.ledger = Ledger(self.backend)
        self.lock_wait = lock_wait
        self.progress = progress
        self.timeouts = timeouts or Timeouts()
        self.lock_retries = lock_retries
        self._in_session = False
        # Called before each commit that writes the ledger on the target (a batch settles its
        # previous history record there); if it raises, the migration is rolled back.
        self.before_commit: Callable[[], None] | None = None

    @contextmanager
    def session(self, migration_names: Collection[str] | None) -> Iterator[None]:
        """Hold the migration lock, and a copy of these migrations' ledger rows (None: of
        the whole ledger), across several operations on them.

        Each apply or rollback inside the block skips taking the lock and reads the ledger
        from the copy (see ``Ledger.held``), so a batch pays for both once.
        """
        if self._in_session:
            yield
            return
        self._refuse_open_transaction()
        with self._lock(), self.ledger.held(migration_names):
            self._in_session = True
            try:
                yield
            finally:
                self._in_session = False

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Hold the migration lock, every ledger write checked against it (``guarded``)."""
        with self.backend.migration_lock(self.lock_wait) as lock, self.ledger.guarded(lock):
            yield

    def _locked(self) -> AbstractContextManager[object]:
        """The migration lock for one operation, unless a session already holds it."""
        return nullcontext() if self._in_session else self._lock()

    def runs_stepwise(self, sql: str, statements: list[Statement] | None = None) -> bool:
        """Whether ``sql`` runs statement by statement outside a transaction here."""
        return runs_stepwise(self.backend, sql, statements)

    def apply(
        self,
        migration_id: str,
        sql: str,
        checksum: str,
        *,
        fake: bool = False,
        analysis: Analysis | None = None,
    ) -> Outcome:
        """Run ``sql`` and record ``migration_id`` as applied, atomically where possible.

        ``fake`` records the row without running the SQL (baselining an existing database).
        In a transaction the statements are read one at a time, so a large data migration
        never has all its statements in memory. ``analysis``, the script's analysis for this
        target, spares reading the script to know how it runs.
        """
        vendor = self.connection.vendor
        check_input(sql, MAX_STREAMED_CHARS)
        self._refuse_open_transaction()
        outcome = Outcome(success=False, started_at=utc_now())
        # A fake runs nothing, so it is one atomic ledger insert on every engine.
        if fake:
            outcome.stepwise = False
        elif analysis is not None:
            outcome.stepwise = analysis.stepwise
        else:
            outcome.stepwise = self.runs_stepwise(sql)

        def every_statement() -> list[Statement]:
            return list(iter_statements(sql, vendor))

        clock = time.perf_counter()
        with self._locked():
            self.ledger.ensure_table()
            if self._recover_interrupted(migration_id, checksum, every_statement, outcome):
                pass  # a dead process had run every statement: its attempt is now finished
            elif outcome.stepwise:
                try:
                    self._apply_stepwise(migration_id, checksum, every_statement(), outcome)
                finally:  # its timeouts were set for the session
                    with self.connection.cursor() as cursor:
                        self.backend.reset_timeouts(cursor)
            else:
                self._apply_atomic(
                    migration_id, checksum, sql, outcome, fake=fake, analysis=analysis
                )
        outcome.elapsed = time.perf_counter() - clock
        return outcome

    def _apply_atomic(
        self,
        migration_id: str,
        checksum: str,
        sql: str,
        outcome: Outcome,
        *,
        fake: bool = False,
        analysis: Analysis | None = None,
    ) -> None:
        for attempt in range(self.lock_retries + 1):
            outcome.attempts, outcome.statements_run = attempt + 1, 0
            try:
                with transaction.atomic(using=self.alias):
                    self._begin_locked(local_timeouts=True)
                    live = self._check_can_apply(migration_id, checksum)
                    if live is not None:
                        outcome.already_applied, outcome.applied_row = True, live
                    elif fake:
                        # The row `prisma migrate resolve --applied` writes: one instant,
                        # empty logs, no steps.
                        outcome.started_at = outcome.finished_at = utc_now()
                        outcome.ledger_id = self.ledger.insert(
                            migration_id,
                            checksum,
                            outcome.started_at,
                            finished_at=outcome.finished_at,
                            logs="",
                            applied_steps_count=0,
                        )
                    else:
                        self._run_and_record(migration_id, checksum, sql, outcome, analysis)
                        crash_point("before-commit")
                    self._settle_before_commit()
                outcome.success = True
                return
            except LedgerGuardError as exc:
                raise LedgerGuardError(
                    f"Migration {migration_id} was not applied (its transaction was rolled "
                    f"back): {exc}."
                ) from exc
            except (MigrationStateError, CommitWithheld, LockTimeoutError):
                raise
            except Exception as exc:  # recorded, logged and returned; see _fail
                if self._retry_after(exc, attempt):
                    continue
                self._fail(outcome, exc, migration_id)
                try:
                    self._settle_before_commit()
                finally:  # the failed attempt is recorded in the ledger all the same
                    self._record_failed_attempt(migration_id, checksum, outcome)
                return

    def _record_failed_attempt(self, migration_id: str, checksum: str, outcome: Outcome) -> None:
        """The rolled-back attempt's ledger row; if the ledger refuses it too, its error joins
        the migration's own (neither hides the other) and history keeps the attempt."""
        try:
            outcome.ledger_id = self.ledger.insert(
                migration_id,
                checksum,
                outcome.started_at,
                finished_at=None,
                rolled_back_at=utc_now(),
                logs=outcome.error,
            )
        except DatabaseError as exc:
            refused = scrub(" ".join(str(exc).split())) or type(exc).__name__
            outcome.error = (
                f"{outcome.error}; and the failed attempt could not be recorded in "
                f"{LEDGER_TABLE} either: {refused}"
            )
            logger.warning("Migration %s: %s", migration_id, outcome.error)

    def _run_and_record(
        self,
        migration_id: str,
        checksum: str,
        sql: str,
        outcome: Outcome,
        analysis: Analysis | None,
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
        slices = self._slices(sql, analysis)
        if slices:
            returned = self._run_slices(sql, slices, outcome, then=record)
        else:  # a fresh reading of the script for each attempt
            statements = iter_statements(sql, self.connection.vendor)
            returned = self._run(statements, outcome, then=record)
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

    def _apply_stepwise(
        self, migration_id: str, checksum: str, statements: list[Statement], outcome: Outcome
    ) -> None:
        with transaction.atomic(using=self.alias):
            self._begin_locked(local_timeouts=False)
            live = self._check_can_apply(migration_id, checksum)
            if live is not None:
                outcome.already_applied, outcome.applied_row = True, live
                outcome.success = True
                return
            # Committed before the first statement: whoever comes next (after a crash, too)
            # sees the attempt, how far it got and, in its journal, what each step found.
            self._settle_before_commit()
            outcome.ledger_id = self.ledger.insert(
                migration_id,
                checksum,
                outcome.started_at,
                finished_at=None,
                logs=journal.encode({}),
            )
        entries: journal.Entries = {}
        completed: list[Step] = []
        step: Step | None = None
        try:
            for count, statement in enumerate(statements, start=1):
                step = self._read_step(statement, count, entries, outcome.ledger_id)
                record = partial(self.ledger.set_progress, outcome.ledger_id, count)
                self._run_one(statement, outcome, then=record, step=step)
                completed.append(step)
                step = None
                crash_point(f"after-step-{len(completed)}")
            outcome.finished_at = utc_now()
            crash_point("before-commit")
            self.ledger.finish(outcome.ledger_id, outcome.finished_at, len(completed))
            outcome.success = True
        except Exception as exc:  # compensated, recorded, logged and returned
            self._fail(outcome, exc, migration_id)
            self._compensate(outcome, completed, self._may_have_acted(step))

    def _read_step(
        self, statement: Statement, count: int, entries: journal.Entries, row_id: str
    ) -> Step:
        """Read from the catalogue what ``statement`` would create or drop, and journal it
        (before it runs) where a crash could otherwise leave its effect unknown."""
        footprint = None
        if targets_of(statement, self.backend.vendor) is not None:
            with self.connection.cursor() as cursor:
                footprint = probe(cursor, statement, self.backend.vendor)
        if footprint is not None or not commits_with_its_progress(statement, self.backend):
            entries[count] = footprint.existed if footprint is not None else None
            self.ledger.set_logs(row_id, journal.encode(entries))
        return Step(statement, footprint)

    def _may_have_acted(self, step: Step | None) -> Step | None:
        """The failed step, if it may have left something behind although it failed: one
        that commits apart from its progress (a failed CREATE INDEX CONCURRENTLY leaves an
        INVALID index) and whose footprint says what to look for. A failing statement
        otherwise leaves nothing (its transaction, or the engine's atomic DDL, undoes it)."""
        if step is None or step.footprint is None:
            return None
        return None if commits_with_its_progress(step.statement, self.backend) else step

    def _compensate(self, outcome: Outcome, completed: list[Step], last: Step | None) -> None:
        result = compensate(self.connection, completed, last)
        outcome.finished_at = None
        if result.complete:
            outcome.compensated = True
            logs = f"{outcome.error}\n{COMPENSATED} {len(result.undone)} statement(s) undone."
            self.ledger.close_failed(outcome.ledger_id, logs, rolled_back_at=utc_now())
            return
        outcome.remaining = result.describe_remaining()
        # finished_at and rolled_back_at stay NULL: Prisma (rightly) refuses to deploy until an
        # operator has undone what remains and resolved the row.
        logs = f"{outcome.error}\n{COMPENSATION_INCOMPLETE}; {outcome.remaining}"
        self.ledger.close_failed(outcome.ledger_id, logs, rolled_back_at=None)

    def _recover_interrupted(
        self,
        migration_id: str,
        checksum: str,
        every_statement: Callable[[], list[Statement]],
        outcome: Outcome,
    ) -> bool:
        """Settle what a dead process's step-by-step attempt of this migration left behind.

        Under the session lock, an unfinished row whose ``logs`` are still its journal (or
        empty, from an older version) can only belong to a process that died mid-run (a live
        one would hold the lock; a failed one writes its error). ``applied_steps_count`` says
        how far it got. If every statement had run, the attempt is finished (rolled forward)
        and True is returned. Otherwise what its statements created is compensated: the
        journal says what each found before it ran, and the catalogue, read now, whether the
        statement after the recorded ones (which may have committed just before the process
        died) created anything. Where that cannot be known, nothing is undone and the row
        says what an operator must check.
        """
        if not self.backend.has_session_lock:
            return False
        statements: list[Statement] | None = None  # read only if there is something to recover
        for row in self.ledger.rows(migration_id):
            interrupted = row.logs is None or journal.is_journal(row.logs)
            if not row.is_unresolved_failure or not interrupted or row.checksum != checksum:
                continue
            if statements is None:
                statements = every_statement()
                self._settle_before_commit()
            summary = (
                f"{INTERRUPTED} the process applying this migration died after "
                f"{row.applied_steps_count} of {len(statements)} statement(s)"
            )
            if row.applied_steps_count >= len(statements):
                outcome.finished_at = utc_now()
                self.ledger.finish(row.id, outcome.finished_at, row.applied_steps_count)
                self.ledger.set_logs(row.id, f"{summary}; the next apply recorded it as applied.")
                outcome.success, outcome.ledger_id = True, row.id
                logger.warning("Recovered %s on %r: %s", migration_id, self.alias, summary)
                return True
            self._compensate_interrupted(row, statements, summary, outcome)
        return False

    def _compensate_interrupted(
        self, row: LedgerRow, statements: list[Statement], summary: str, outcome: Outcome
    ) -> None:
        entries = journal.decode(row.logs)
        count = row.applied_steps_count
        done = [self._journaled_step(s, entries) for s in statements[:count]]
        result = compensate(self.connection, done, self._in_flight(statements[count], entries))
        if result.complete:
            logs = f"{summary}; {COMPENSATED} its changes were undone by the next apply."
            when = utc_now()
            self.ledger.close_failed(row.id, logs, rolled_back_at=when)
            outcome.recovered.append(
                LedgerRow(**{**row.__dict__, "logs": logs, "rolled_back_at": when})
            )
            logger.warning("Recovered %s on %r: %s", row.migration_name, self.alias, logs)
            return
        logs = f"{summary}; {COMPENSATION_INCOMPLETE}; {result.describe_remaining()}"
        self.ledger.close_failed(row.id, logs, rolled_back_at=None)
        logger.error("Could not recover %s on %r: %s", row.migration_name, self.alias, logs)

    def _journaled_step(self, statement: Statement, entries: journal.Entries | None) -> Step:
        """A completed statement with the footprint its journal recorded (if any)."""
        found = (entries or {}).get(statement.index + 1)
        targets = targets_of(statement, self.backend.vendor)
        if found is None or targets is None or len(targets) != len(found):
            return Step(statement)
        return Step(statement, Footprint(targets, found))

    def _in_flight(self, statement: Statement, entries: journal.Entries | None) -> Step | None:
        """The statement that was running when the process died, if it may have acted."""
        if commits_with_its_progress(statement, self.backend):
            return None  # it committed with its count, which says it did not
        if entries is not None and statement.index + 1 not in entries:
            return None  # its journal entry, written before it ran, was never written
        return self._journaled_step(statement, entries)

    def rollback(self, migration_id: str, rollback_sql: str) -> Outcome:
        """Run ``rollback_sql`` and mark the applied ledger row rolled back, atomically."""
        statements = parse_statements(rollback_sql, self.connection.vendor)
        self._refuse_open_transaction()
        outcome = Outcome(success=False, started_at=utc_now())
        outcome.stepwise = self.runs_stepwise(rollback_sql, statements)
        clock = time.perf_counter()
        with self._locked():
            try:
                with transaction.atomic(using=self.alias):
                    self._begin_locked(local_timeouts=not outcome.stepwise)
                    live = self.live_row(migration_id)
                    if live is None:
                        raise NotAppliedError(
                            f"Migration {migration_id!r} is not applied on {self.alias!r}."
                        )
                    outcome.applied_row = live
                    if not outcome.stepwise:
                        # The ledger row changes in the statements' own transaction (with
                        # their last round trip, where statements go together).
                        self._run_and_mark(statements, live, outcome)
                    self._settle_before_commit()
                if outcome.stepwise:
                    for statement in statements:
                        self._run_one(statement, outcome)
                    self._mark_rolled_back(live, outcome)
                outcome.success = True
            except LedgerGuardError as exc:
                raise LedgerGuardError(
                    f"Migration {migration_id} was not rolled back (the rollback's transaction "
                    f"was rolled back): {exc}."
                ) from exc
            except (MigrationStateError, CommitWithheld, LockTimeoutError):
                raise
            except Exception as exc:  # recorded, logged and returned; see _fail
                self._fail(outcome, exc, migration_id)
                if outcome.stepwise and outcome.statements_run:
                    done = statements[: outcome.statements_run]
                    outcome.remaining = (
                        "the rollback's "
                        + "; ".join(f"statement {s.index + 1} ({s.summary})" for s in done)
                        + " ran and stay in effect"
                    )
            finally:
                if outcome.stepwise:
                    with self.connection.cursor() as cursor:
                        self.backend.reset_timeouts(cursor)
        outcome.elapsed = time.perf_counter() - clock
        return outcome

    def _run_and_mark(self, statements: list[Statement], live: LedgerRow, outcome: Outcome) -> None:
        mark = ""
        if self.backend.sends_statements_together:
            with self.connection.cursor() as cursor:
                mark = self.ledger.mark_rolled_back_sql(cursor, live.id)
        returned = self._run(statements, outcome, then=mark)
        if returned is None:  # the mark did not go with the statements
            self._mark_rolled_back(live, outcome)
            return
        when = self.ledger.confirm(returned)
        outcome.finished_at, outcome.ledger_id = when, live.id
        self.ledger.marked_rolled_back(live.id, when)

    def _mark_rolled_back(self, live: LedgerRow, outcome: Outcome) -> None:
        outcome.finished_at = utc_now()
        self.ledger.mark_rolled_back(live.id, outcome.finished_at)
        outcome.ledger_id = live.id

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
            detail = f": {row.logs.strip().rstrip('.')}" if row.logs else ""
            raise MigrationStateError(
                f"Migration {migration_id!r} has an unfinished attempt on {self.alias!r} "
                f"(ledger row {row.id}, started {row.started_at:%Y-%m-%d %H:%M:%S}){detail}; "
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

    def _settle_before_commit(self) -> None:
        if self.before_commit is None:
            return
        try:
            self.before_commit()
        except Exception as exc:
            raise CommitWithheld(
                f"Stopped before committing on {self.alias!r}, and rolled back: {exc}"
            ) from exc

    def _begin_locked(self, *, local_timeouts: bool) -> None:
        """First statements of the migration's (or ledger check's) transaction."""
        with self.connection.cursor() as cursor:
            self.ledger.lock_in_transaction(cursor)
            self.backend.set_timeouts(cursor, self.timeouts, local=local_timeouts)

    def _retry_after(self, exc: Exception, attempt: int) -> bool:
        """Sleep and say yes if ``exc`` is a lock timeout and retries remain."""
        if attempt >= self.lock_retries or not self.backend.is_lock_timeout(exc):
            return False
        delay = RETRY_DELAY * 2**attempt
        logger.warning(
            "Lock timeout on %r (attempt %d of %d); retrying in %gs: %s",
            self.alias,
            attempt + 1,
            self.lock_retries + 1,
            delay,
            exc,
        )
        time.sleep(delay)
        return True

    def _run_one(
        self,
        statement: Statement,
        outcome: Outcome,
        then: Callable[[], None] | None = None,
        step: Step | None = None,
    ) -> None:
        """One statement outside the migration's transaction, retried after a lock timeout.

        ``then`` (recording progress) commits with the statement wherever the engine lets it
        (DML on MySQL; all but CONCURRENTLY & co on PostgreSQL), so a crash cannot leave
        such a statement run but not counted.
        """
        if self.progress:
            self.progress("statement", statement)
        wrap = self.backend.refuses_transaction(statement) is None
        for attempt in range(self.lock_retries + 1):
            outcome.attempts = max(outcome.attempts, attempt + 1)
            try:
                with transaction.atomic(using=self.alias) if wrap else nullcontext():
                    with self.connection.cursor() as cursor:
                        cursor.execute(statement.text)
                    crash_point(f"in-step-{statement.index + 1}")
                    if then is not None:
                        then()
                break
            except Exception as exc:
                if not self._retry_after(exc, attempt):
                    raise StatementError(statement, exc) from exc
                self._clean_up_before_retry(self._may_have_acted(step))
        outcome.statements_run += 1

    def _clean_up_before_retry(self, step: Step | None) -> None:
        """Drop what the failed try created (an INVALID index of CREATE INDEX CONCURRENTLY
        that did not exist before it), so that the retry starts afresh."""
        if step is None:
            return
        try:
            lines = undo_uncertain(self.connection, step)
        except Exception:  # nothing known to clean up: the retry will say if it cannot run
            return
        for line in lines if isinstance(lines, list) else []:
            execute_quietly(self.connection, line)

    def _run(self, statements: Iterable[Statement], outcome: Outcome, then: str = "") -> Any:
        """Run ``statements`` in the open transaction; where the engine allows, several per
        round trip (see ``_run_together``), the last round trip followed by the statement
        ``then`` (a ledger write), whose returned row is returned (None if not sent)."""
        together = self.backend.sends_statements_together
        with self.connection.cursor() as cursor:
            group: list[Statement] = []
            size = 0
            for statement in statements:
                if self.progress:
                    self.progress("statement", statement)
                if not together:
                    self._execute(cursor, statement)
                    outcome.statements_run += 1
                    continue
                group.append(statement)
                size += len(statement.text)
                if size >= GROUP_CHARS:
                    self._run_together(cursor, group, outcome)
                    group, size = [], 0
            if group:
                return self._run_together(cursor, group, outcome, then)
        return None

    def _run_together(
        self, cursor: Any, group: list[Statement], outcome: Outcome, then: str = ""
    ) -> Any:
        """Send ``group`` (and ``then``) as one query string, inside a savepoint.

        A migration of a few statements then costs one round trip, and a data migration of
        thousands a few hundred, where psql pays one per statement.
        """
        if len(group) == 1 and not then:
            self._execute(cursor, group[0])
            outcome.statements_run += 1
            return None
        # Each text ends at its ``;`` or at a comment on that line: the newline ends such a
        # comment, and an empty statement between two ``;`` is no statement at all.
        body = "\n;\n".join(statement.text for statement in group)
        returned = self._send_in_savepoint(cursor, body, lambda: group, outcome, then)
        outcome.statements_run += len(group)
        return returned

    def _slices(self, sql: str, analysis: Analysis | None) -> tuple[tuple[int, int], ...]:
        """Where the script, analysed before, goes to the server as written, one slice of whole
        statements per round trip, as (end offset, statements up to it): the whole of a script
        up to GROUP_CHARS, the analysis's cuts of a larger one. Empty (it is split as it runs)
        when the engine takes one statement per query, when someone follows statement by
        statement, or for a lone statement, which needs no savepoint around it."""
        if analysis is None or not self.backend.sends_statements_together or self.progress:
            return ()
        if analysis.statements > 1 and len(sql) <= GROUP_CHARS:
            return ((len(sql), analysis.statements),)
        # The analysis is of this very text (same checksum): its last cut is its end.
        if analysis.cuts and analysis.cuts[-1][0] == len(sql):
            return analysis.cuts
        return ()

    def _run_slices(
        self, sql: str, slices: tuple[tuple[int, int], ...], outcome: Outcome, then: str = ""
    ) -> Any:
        """The script one slice per round trip, each as written, the last followed by ``then``
        (as in ``_run``). A slice that fails is split then, to say which statement (counted
        from the script's start) failed."""
        vendor = self.connection.vendor
        returned = None
        start, before = 0, 0
        with self.connection.cursor() as cursor:
            for number, (end, upto) in enumerate(slices, start=1):
                body = sql[start:end]

                def statements(body: str = body, before: int = before) -> Iterator[Statement]:
                    for statement in iter_statements(body, vendor):
                        yield replace(statement, index=before + statement.index)

                last = number == len(slices)
                returned = self._send_in_savepoint(
                    cursor, body, statements, outcome, then if last else ""
                )
                outcome.statements_run += upto - before
                start, before = end, upto
        return returned

    def _send_in_savepoint(
        self,
        cursor: Any,
        body: str,
        statements: Callable[[], Iterable[Statement]],
        outcome: Outcome,
        then: str = "",
    ) -> Any:
        """Send ``body``, then the statement ``then`` (if any), in one query inside a
        savepoint; return the row ``then`` returns.

        If the query fails, the savepoint undoes it and ``statements()`` are run again one by
        one, so the error names the statement that failed (and counts those before it); if
        they all succeed, ``then`` runs on its own and raises its own error.
        """
        savepoint = _GROUP_SAVEPOINT
        # The newline ends a comment on the body's last line; ``;`` a last statement without.
        then = f"{then}\n;\n" if then else ""
        try:
            cursor.execute(
                f"SAVEPOINT {savepoint};\n{body}\n;\n{then}RELEASE SAVEPOINT {savepoint}"
            )
        except Exception:
            cursor.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
            ran = outcome.statements_run
            for statement in statements():
                self._execute(cursor, statement)
                outcome.statements_run += 1
            # All ran this time: the caller counts them, as when the query succeeds.
            outcome.statements_run = ran
            returned = None
            if then:  # its own error, if it fails on its own
                cursor.execute(then)
                returned = cursor.fetchone()
            cursor.execute(f"RELEASE SAVEPOINT {savepoint}")
            return returned
        if not then:
            return None
        # ``then`` is the last statement that returns rows (RELEASE returns none). Its value is
        # looked for on the driver's own cursor: the query succeeded, so stepping through its
        # results raises nothing for Django's wrapper to translate, and through the wrapper
        # each result's two calls cost more than the driver's work for them.
        results = getattr(cursor, "cursor", cursor)
        row = None
        while True:
            if results.description is not None:
                row = results.fetchone()
            if not results.nextset():
                return row

    @staticmethod
    def _execute(cursor: Any, statement: Statement) -> None:
        try:
            cursor.execute(statement.text)
        except Exception as exc:
            raise StatementError(statement, exc) from exc

    def _fail(self, outcome: Outcome, exc: Exception, migration_id: str) -> None:
        # Scrubbed once here: the error goes on to the ledger, history, results and logs.
        outcome.error = scrub(str(exc).strip()) or exc.__class__.__name__
        outcome.finished_at = None
        # A failing statement, or any error the database reports (the ledger row refused, a
        # savepoint gone), is an expected outcome (WARNING); anything else is a bug (ERROR),
        # logged with its traceback, scrubbed too (driver errors may quote a DSN).
        expected = isinstance(exc, (StatementError, DatabaseError))
        logger.log(
            logging.WARNING if expected else logging.ERROR,
            "Migration %s failed on %r%s: %s%s",
            migration_id,
            self.alias,
            "" if outcome.stepwise else " and was rolled back",
            outcome.error,
            "" if expected else "\n" + scrub(traceback.format_exc()),
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


def crash_point(name: str) -> None:
    """Die here, as ``kill -9`` would, when a test asks for it through the environment."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
