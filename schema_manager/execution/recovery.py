"""Recovery of a step-by-step attempt whose process died: under the migration lock, an
unfinished row whose ``logs`` are still its journal can only be a dead process's, and what it
left is rolled forward (every statement ran) or compensated from its journal."""

from __future__ import annotations

from collections.abc import Callable

from ..ledger_rows import COMPENSATED, COMPENSATION_INCOMPLETE, INTERRUPTED, LedgerRow, utc_now
from ..security import get_logger
from ..sql import Statement
from . import journal
from .compensation import Step, commits_with_its_progress, compensate
from .footprints import Footprint, targets_of
from .outcome import Outcome
from .session import ExecutionSession

logger = get_logger("schema_manager.executor")


class InterruptedAttempts:
    """Settles, in one session, what dead processes' step-by-step attempts left behind."""

    def __init__(self, session: ExecutionSession) -> None:
        self.session = session
        self.connection = session.connection
        self.backend = session.backend
        self.ledger = session.ledger

    def recover(
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
