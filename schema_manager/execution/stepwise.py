"""Scripts that run statement by statement outside a transaction: the run, and its
compensation when a statement fails (the recovery of an attempt whose process died is
``recovery``'s).

Where the engine cannot roll DDL back (MySQL/MariaDB), where the script declares
``no-transaction``, or where a statement refuses a transaction (decided once, by
``sql.transactional.atomicity``), each statement commits on its own with its progress count
in the ledger row; the row is committed (its journal holding what the first statement found)
before the first statement runs.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from functools import partial

from ..ledger_rows import COMPENSATION_INCOMPLETE, utc_now
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
from .footprints import probe, targets_of
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
        # What the first statement finds is journaled with the row (one write less); read
        # again in its step, where a failure is recorded, if it cannot be read here, and there
        # for an archived statement (MariaDB), whose capture is read in its step.
        entries: journal.Entries = {}
        first = None
        if statements and archive is None:
            with suppress(Exception):
                first = self._read_step(statements[0], 1, entries, None)
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
            logs=journal.encode(entries),
        ):
            return
        self.run(migration_id, statements, outcome, archive, (entries, first))

    def run(
        self,
        migration_id: str,
        statements: list[Statement],
        outcome: Outcome,
        archive: Archive | None = None,
        journaled: tuple[journal.Entries, Step | None] | None = None,
    ) -> None:
        """Run the attempt whose ledger row ``outcome.ledger_id`` is committed; finish the row,
        or on a failure compensate what ran and close it. ``archive`` (MariaDB): each
        statement's capture in its step (``archive_capture.StepCapture``). ``journaled``: the
        row's journal as committed, and the first step if it was read for it."""
        entries, first = journaled or ({}, None)
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
                archived, row_id = capture.restore if capture else None, outcome.ledger_id
                if count == 1 and first is not None:
                    step = first
                else:
                    step = self._read_step(statement, count, entries, row_id, archived)
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
        row_id: str | None,
        archived: tuple[str, ...] | None = None,
    ) -> Step:
        """Read from the catalogue what ``statement`` would create or drop, or what it alters
        in place and how to put that back, and journal it (before it runs) where a crash could
        otherwise leave its effect unknown (in ``entries`` only, without ``row_id``: the row is
        inserted with them). ``archived``: what puts back what it removes from its archive,
        journaled instead."""
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
        elif footprint is not None or not commits_with_its_progress(statement, self.backend):
            entries[count] = footprint.existed if footprint is not None else None
        else:
            return Step(statement, footprint, restore)
        if row_id is not None:
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


def still_in_effect(done: list[Statement]) -> str:
    """What a failed stepwise rollback left in effect, for an operator."""
    ran = "; ".join(f"statement {s.index + 1} ({s.summary})" for s in done)
    return f"the rollback's {ran} ran and stay in effect"
