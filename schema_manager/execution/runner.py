"""Runs a plan of applies or rollbacks on one target, inside one session.

What every migration of the plan needs from the app's database (catalogue entries, history,
rollback scripts) and from the target (the ledger, reconciled once) is read when the run
starts, so each migration then costs its own statements, one ledger row and one history
record, however long the plan and the history. A single migration is a plan of one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import DatabaseError

from .. import results
from ..exceptions import (
    CommitWithheld,
    HistoryNotWritten,
    LedgerUnusable,
    LockTimeoutError,
    MigrationStateError,
)
from ..history_writes import RecordWriter
from ..kept_records import KeptRecords
from ..ledger import Ledger
from ..models import VersionRecord
from ..results import MigrationResult
from ..security import get_logger
from ..targets import resolve
from .executor import MigrationExecutor
from .outcome import Outcome
from .session import ExecutionSession, PlanWorkspace

logger = get_logger("schema_manager.manager")

Item = TypeVar("Item")


@dataclass(frozen=True)
class Plan(Generic[Item]):
    """What a run does: its items, read from the ledger once the lock is held; the ledger
    rows to hold for it (None: the whole ledger); the migration ids its results name if the
    lock cannot be had."""

    read: Callable[[Ledger], list[Item]]
    holds: Collection[str] | None
    ids: list[str]

    @classmethod
    def of(cls, items: list[Item], ids: list[str]) -> Plan[Item]:
        """A plan known before the lock: ``items``, whose migration ids are ``ids``."""
        return cls(lambda ledger: items, ids, ids)


class PlanRun:
    """What applies and rollbacks share: the reconcile at the start, the history records
    (one per operation), and telling a record the app's database refused."""

    operation = ""  # "apply" or "rollback": for results and the ledger's fingerprint

    def __init__(
        self, workspace: PlanWorkspace, session: ExecutionSession, plan: list[Any]
    ) -> None:
        self.workspace, self.session = workspace, session
        self.target = session.target
        self.executor = MigrationExecutor(session)
        session.catch_up()
        self.plan_length = len(plan)
        # Results by ledger row id, so that a record refused later (as it settles) is told
        # on the result of the operation it belongs to.
        self.results: dict[str, MigrationResult] = {}

    @property
    def records(self) -> RecordWriter:
        """The session's history writer: each record settles before the target's next
        commit (see history_writes)."""
        return self.session.records(self.plan_length)

    def finish(self) -> None:
        """Called once the plan has run (or stopped at a failure)."""

    def close(self) -> None:
        """Called last, whatever happened: every history record of the plan is written (or,
        refused, kept on the target and told on its result)."""
        try:
            self.session.close_records()
        except HistoryNotWritten as exc:
            self._history_refused(exc)

    def _record(
        self, result: MigrationResult, outcome: Outcome, write: Callable[[], VersionRecord]
    ) -> None:
        """``write()`` the history record of ``result``; if the app's database refuses it,
        the result says so (the target has committed: the operation stands)."""
        if outcome.ledger_id:
            self.results[outcome.ledger_id] = result
        try:
            result.record = write()
        except HistoryNotWritten as exc:
            if exc.key.get("ledger_id") in ("", outcome.ledger_id):
                self._history_refused(exc, result)
                return
            # The previous migration's record, refused as this one came (a failure that
            # left nothing commits nothing on the target, so it is settled only now):
            # told on that migration's result, and this record written all the same.
            self._history_refused(exc)
            self._record(result, outcome, write)

    def _finished(self, result: MigrationResult, outcome: Outcome) -> MigrationResult:
        """The operation's ledger row and record are written: keep the session in step."""
        self.session.advance(self.operation, outcome)
        _log(result)
        self.session.sync_after(result)
        return result

    def _history_refused(
        self, exc: HistoryNotWritten, result: MigrationResult | None = None
    ) -> str:
        """Keep the refused record on the target (for reconciliation), and tell it on the
        result of its operation; return the sentence that tells it."""
        self.session.history_failed = True
        self.session.forget()
        ledger_id = exc.key.get("ledger_id") or ""
        result = result or self.results.get(ledger_id)
        rebuilt = bool(ledger_id) and not (
            exc.key["operation"] == "rollback" and exc.fields.get("rolled_back_at") is None
        )
        kept_error = self._keep(exc) if rebuilt else None
        sentence = results.history_refused(
            exc.fields["migration_id"],
            self.target.environment,
            exc.key["operation"],
            success=result.success if result else True,
            cause=exc.cause,
            rebuilt=rebuilt,
            kept_error=kept_error,
        )
        logger.warning("%s", sentence)
        if result is not None:
            result.history_error = exc.cause
            result.message = sentence if result.success else f"{result.message} {sentence}"
        return sentence

    def _keep(self, exc: HistoryNotWritten) -> str | None:
        """Write the refused record on the target; the error if that fails too."""
        try:
            KeptRecords(self.session.connection).keep(
                exc.key["ledger_id"], exc.key["operation"], exc.fields
            )
        except DatabaseError as error:
            return " ".join(str(error).split())
        return None

    def _withheld(self, migration_id: str, exc: CommitWithheld) -> MigrationResult:
        """The migration was rolled back before its commit because the previous record was
        refused (see ``history_writes``): both are told."""
        if not isinstance(exc.__cause__, HistoryNotWritten):
            raise exc
        sentence = self._history_refused(exc.__cause__)
        done = "applied to" if self.operation == "apply" else "rolled back in"
        message = (
            f"Migration {migration_id} was not {done} {self.target.environment} (it was "
            f"rolled back before its commit, as history could not be written): {sentence}"
        )
        return results.not_run(
            migration_id, self.target.environment, self.operation, message, exc.__cause__.cause
        )

    def _not_run(
        self, migration_id: str, exc: MigrationStateError | LockTimeoutError
    ) -> MigrationResult:
        logger.warning("%s", exc)
        return results.not_run(migration_id, self.target.environment, self.operation, str(exc))

    def _not_as_confirmed(self, migration_id: str, reason: str) -> MigrationResult:
        """Refused: a script about to run is not the one its confirmation showed."""
        done = "applied to" if self.operation == "apply" else "rolled back in"
        message = (
            f"Migration {migration_id} was not {done} {self.target.environment}: {reason}; "
            "nothing ran. Review it and confirm again."
        )
        logger.warning("%s", message)
        result = results.not_run(migration_id, self.target.environment, self.operation, message)
        result.not_as_confirmed = True
        return result


Run = TypeVar("Run", bound=PlanRun)


def run_plan(
    workspace: PlanWorkspace,
    environment: str | None,
    plan: Plan[Item],
    run_class: type[Run],
    step: Callable[[Run, Item], MigrationResult],
    after: Callable[[MigrationResult], None] | None,
) -> list[MigrationResult]:
    """Run ``step(run, item)`` for each item of ``plan`` in one session on the environment's
    target, stopping at the first that does not succeed; one result per item attempted
    (``after`` is called with each as soon as it is known)."""
    if plan.holds is not None and not plan.holds:
        return []
    target = resolve(environment)
    operation = run_class.operation
    session = ExecutionSession(target, workspace)
    done: list[MigrationResult] = []
    try:
        with workspace.deferred_schema_sync(), session.hold(plan.holds):
            items = plan.read(session.ledger)
            if items:
                _run_items(run_class(workspace, session, items), items, step, after, done)
    except LockTimeoutError as exc:  # the migration lock, before the first migration
        logger.warning("%s", exc)
        done.append(results.not_run(plan.ids[len(done)], target.environment, operation, str(exc)))
    except LedgerUnusable as exc:  # found when the ledger was first read: nothing ran
        logger.warning("%s", exc)
        done.append(results.refused(plan.ids[len(done)], target.environment, operation, str(exc)))
    except BaseException:
        session.forget()  # a history record may be missing: the next operation reconciles
        raise
    return done


def _run_items(
    run: Run,
    items: list[Item],
    step: Callable[[Run, Item], MigrationResult],
    after: Callable[[MigrationResult], None] | None,
    done: list[MigrationResult],
) -> None:
    try:
        for item in items:
            result = step(run, item)
            done.append(result)
            if after is not None:
                after(result)
            if not result.success or run.session.history_failed:
                break
        run.finish()
    finally:
        run.close()


def _log(result: MigrationResult) -> None:
    """A finished apply or rollback: its message, as a warning if it failed."""
    logger.log(logging.INFO if result.success else logging.WARNING, "%s", result.message)
