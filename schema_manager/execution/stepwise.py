"""Scripts that run statement by statement outside a transaction: the run, its compensation
when a statement fails, and the recovery of an attempt whose process died.

Where the engine cannot roll DDL back (MySQL/MariaDB), where the script declares
``no-transaction``, or where a statement refuses a transaction (decided once, by
``sql.transactional.atomicity``), each statement commits on its own with its progress count
in the ledger row; the executor has committed the row (its journal empty) before the first
statement runs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from ..ledger_rows import COMPENSATED, COMPENSATION_INCOMPLETE, INTERRUPTED, LedgerRow, utc_now
from ..security import get_logger
from ..sql import Statement
from . import journal
from .archive_capture import Archive, StepCapture
from .attempts import commit_unfinished_row
from .compensation import (
    Step,
    commits_with_its_progress,
    compensate,
    execute_quietly,
    undo_uncertain,
)
from .crash import crash_point
from .footprints import Footprint, probe, targets_of
from .outcome import Outcome, record_failure
from .restores import alters_in_place, read_restore
from .session import ExecutionSession
from .transport import Transport

logger = get_logger("schema_manager.executor")


class StepwiseRun:
    """Runs, compensates and recovers step-by-step attempts in one session."""

    def __init__(self, session: ExecutionSession, transport: Transport) -> None:
        self.session = session
        self.transport = transport
        self.connection = session.connection
        self.backend = session.backend
        self.ledger = session.ledger

    def apply(
        self,
        migration_id: str,
        checksum: str,
        statements: list[Statement],
        outcome: Outcome,
        begin_locked: Callable[..., None],
        archive: Archive | None = None,
    ) -> None:
        """Commit the attempt's ledger row (unless the migration is applied already), then
        ``run`` it; ``begin_locked`` starts the row's transaction as the executor's do."""
        # Committed before the first statement: whoever comes next (after a crash, too) sees
        # the attempt, how far it got and, in its journal, what each step found.
        if not commit_unfinished_row(
            self.ledger,
            self.connection.alias,
            migration_id,
            checksum,
            outcome,
            begin_locked=begin_locked,
            before_commit=self.session.before_commit,
            logs=journal.encode({}),
        ):
            return
        self.run(migration_id, statements, outcome, archive)

    def run(
        self,
        migration_id: str,
        statements: list[Statement],
        outcome: Outcome,
        archive: Archive | None = None,
    ) -> None:
        """Run the attempt whose ledger row ``outcome.ledger_id`` is committed; finish the row,
        or on a failure compensate what ran and close it. ``archive`` (MariaDB): each
        statement's capture in its step (``archive_capture.StepCapture``)."""
        entries: journal.Entries = {}
        completed: list[Step] = []
        step: Step | None = None
        capture: StepCapture | None = None

        def finish(count: int) -> None:
            outcome.finished_at = utc_now()
            crash_point("before-commit")
            self.ledger.finish(outcome.ledger_id, outcome.finished_at, count)

        try:
            for count, statement in enumerate(statements, start=1):
                vendor = self.backend.vendor
                capture = StepCapture.of(archive, statement, vendor) if archive else None
                if capture is not None:
                    capture.prepare(self.connection)
                step = self._read_step(
                    statement,
                    count,
                    entries,
                    outcome.ledger_id,
                    capture.restore if capture else None,
                )
                record = partial(self.ledger.set_progress, outcome.ledger_id, count)
                if capture is None:
                    # After a last statement that cannot commit with its count, the count goes
                    # with the finish: one write less, the same count left by a crash.
                    alone = not commits_with_its_progress(statement, self.backend)
                    last = alone and count == len(statements)
                    self.transport.run_one(
                        statement,
                        outcome,
                        then=partial(finish, count) if last else record,
                        before_retry=partial(self._clean_up, step),
                    )
                else:
                    with capture.transaction(self.connection):
                        for position, sent in enumerate(capture.run, start=1):
                            if sent is not statement:  # a dropped table's move
                                crash_point(f"archive-{sent.index + 1}")
                            final = position == len(capture.run)  # counted with the last one
                            self.transport.run_one(sent, outcome, then=record if final else None)
                completed.append(step)
                step, capture = None, None
                crash_point(f"after-step-{len(completed)}")
            if outcome.finished_at is None:  # no statement, or the last one was archived
                finish(len(completed))
            outcome.success = True
        except Exception as exc:  # compensated, recorded, logged and returned
            record_failure(outcome, exc, migration_id, self.session.alias)
            failed = self._may_have_acted(step)
            if capture is not None:  # the failed statement's archive table goes too
                failed = Step(statements[len(completed)], restore=capture.cleanup)
            self._compensate(migration_id, outcome, completed, failed)

    def _read_step(
        self,
        statement: Statement,
        count: int,
        entries: journal.Entries,
        row_id: str,
        archived: tuple[str, ...] | None = None,
    ) -> Step:
        """Read from the catalogue what ``statement`` would create or drop, or what it alters
        in place and how to put that back, and journal it (before it runs) where a crash could
        otherwise leave its effect unknown. ``archived``: what puts back what it removes from
        its archive, journaled instead."""
        footprint, restore, vendor = None, archived, self.backend.vendor
        if restore is not None:
            pass
        elif targets_of(statement, vendor) is not None:
            with self.connection.cursor() as cursor:
                footprint = probe(cursor, statement, vendor)
        elif alters_in_place(statement):
            with self.connection.cursor() as cursor:
                restore = read_restore(cursor, statement, vendor)
        if restore is not None:
            entries[count] = journal.Restore(restore)
            self.ledger.set_logs(row_id, journal.encode(entries))
        elif footprint is not None or not commits_with_its_progress(statement, self.backend):
            entries[count] = footprint.existed if footprint is not None else None
            self.ledger.set_logs(row_id, journal.encode(entries))
        return Step(statement, footprint, restore)

    def _may_have_acted(self, step: Step | None) -> Step | None:
        """The failed step, if it may have left something behind although it failed: one
        that commits apart from its progress (a failed CREATE INDEX CONCURRENTLY leaves an
        INVALID index) and whose footprint says what to look for. A failing statement
        otherwise leaves nothing (its transaction, or the engine's atomic DDL, undoes it)."""
        if step is None or step.footprint is None:
            return None
        return None if commits_with_its_progress(step.statement, self.backend) else step

    def _clean_up(self, step: Step) -> None:
        """Before a retry, drop what the failed try created (an INVALID index of CREATE INDEX
        CONCURRENTLY that did not exist before it), so that the retry starts afresh."""
        acted = self._may_have_acted(step)
        if acted is None:
            return
        try:
            lines = undo_uncertain(self.connection, acted)
        except Exception:  # nothing known to clean up: the retry will say if it cannot run
            return
        for line in lines if isinstance(lines, list) else []:
            execute_quietly(self.connection, line)

    def _compensate(
        self, migration_id: str, outcome: Outcome, completed: list[Step], last: Step | None
    ) -> None:
        result = compensate(self.connection, completed, last)
        outcome.finished_at = None
        if result.complete:
            outcome.compensated = True
            row = next(r for r in self.ledger.rows(migration_id) if r.id == outcome.ledger_id)
            self.ledger.remove([row])  # nothing of it remains: history keeps the attempt
            outcome.ledger_id = ""
            return
        outcome.remaining = result.describe_remaining()
        # finished_at and rolled_back_at stay NULL: Prisma (rightly) refuses to deploy until an
        # operator has undone what remains and resolved the row.
        logs = f"{outcome.error}\n{COMPENSATION_INCOMPLETE}; {outcome.remaining}"
        self.ledger.close_failed(outcome.ledger_id, logs, rolled_back_at=None)

    def recover_interrupted(
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
                self.session.before_commit()
            summary = (
                f"{INTERRUPTED} the process applying this migration died after "
                f"{row.applied_steps_count} of {len(statements)} statement(s)"
            )
            if row.applied_steps_count >= len(statements):
                outcome.finished_at = utc_now()
                self.ledger.finish(row.id, outcome.finished_at, row.applied_steps_count)
                self.ledger.set_logs(row.id, f"{summary}; the next apply recorded it as applied.")
                outcome.success, outcome.ledger_id = True, row.id
                logger.warning("Recovered %s on %r: %s", migration_id, self.session.alias, summary)
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
        alias = self.session.alias
        if result.complete:
            logs = f"{summary}; {COMPENSATED} its changes were undone by the next apply."
            when = utc_now()
            self.ledger.remove([row])  # nothing of it remains: history keeps the attempt
            outcome.recovered.append(
                LedgerRow(**{**row.__dict__, "logs": logs, "rolled_back_at": when})
            )
            logger.warning("Recovered %s on %r: %s", row.migration_name, alias, logs)
            return
        logs = f"{summary}; {COMPENSATION_INCOMPLETE}; {result.describe_remaining()}"
        self.ledger.close_failed(row.id, logs, rolled_back_at=None)
        logger.error("Could not recover %s on %r: %s", row.migration_name, alias, logs)

    def _journaled_step(self, statement: Statement, entries: journal.Entries | None) -> Step:
        """A completed statement with the footprint (or the restore) its journal recorded."""
        found = (entries or {}).get(statement.index + 1)
        if isinstance(found, journal.Restore):
            return Step(statement, restore=found.statements)
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


def still_in_effect(done: list[Statement]) -> str:
    """What a failed stepwise rollback left in effect, for an operator."""
    ran = "; ".join(f"statement {s.index + 1} ({s.summary})" for s in done)
    return f"the rollback's {ran} ran and stay in effect"
