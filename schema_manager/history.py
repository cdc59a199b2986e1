"""The human history: one ``VersionRecord`` per attempt, written just after the target commits.

The ledger on the target commits with the migration; this history lives in the app's own
database and is written just after. If a process dies in between, ``reconciliation`` rebuilds
the missing rows from the ledger, so history converges on the truth at the next operation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import DatabaseError

from .exceptions import HistoryNotWritten
from .history_writes import RecordWriter
from .models import Migration, VersionRecord
from .security import get_logger

if TYPE_CHECKING:
    from .execution.outcome import Outcome
    from .targets import Target

logger = get_logger("schema_manager.history")

Status = VersionRecord.Status
Operation = VersionRecord.Operation
Recovery = VersionRecord.Recovery


def record_apply(
    target: Target,
    migration: Migration,
    outcome: Outcome,
    rollback_script: str,
    *,
    rollback_generated: bool,
    applied_by: str,
    faked: bool = False,
    writer: RecordWriter | None = None,
) -> VersionRecord:
    """Append the history row of one apply attempt (and of the stale attempts it recovered).

    ``writer`` is the batch's (see ``VersionRecord.objects.record``); by default the row is
    written now."""
    interrupted = [
        VersionRecord(
            migration_id=row.migration_name,
            name=migration.name,
            environment=target.environment,
            database=target.alias,
            operation=Operation.APPLY,
            status=Status.FAILED,
            recovery=Recovery.INTERRUPTED,
            recorded_at=row.rolled_back_at or row.started_at,
            checksum=row.checksum,
            rollback_script=rollback_script,
            error=row.logs or "",
            ledger_id=row.id,
        )
        for row in outcome.recovered
    ]
    key = {
        "environment": target.environment,
        "ledger_id": outcome.ledger_id or "",  # none: a failure that left nothing
        "operation": Operation.APPLY,
    }
    fields = {
        "migration_id": migration.id,
        "name": migration.name,
        "database": target.alias,
        "status": Status.APPLIED if outcome.success else Status.FAILED,
        "recovery": _recovery(outcome),
        "applied_at": outcome.finished_at if outcome.success else None,
        "execution_time": outcome.elapsed,
        "checksum": migration.checksum,
        "rollback_script": rollback_script,
        "rollback_generated": rollback_generated,
        "error": outcome.error or "",
        "applied_by": applied_by,
        "faked": faked and outcome.success,
    }
    if interrupted:
        try:
            VersionRecord.objects.record_many(interrupted)
        except DatabaseError as exc:  # the ledger has them: the next reconcile writes them
            raise HistoryNotWritten(key, fields, " ".join(str(exc).split())) from exc
    return VersionRecord.objects.record(key, fields, writer=writer)


def record_rollback(
    target: Target,
    migration_id: str,
    outcome: Outcome,
    script: str,
    *,
    applied_by: str,
    name: str | None = None,
    writer: RecordWriter | None = None,
) -> VersionRecord:
    """Append the history row of one rollback attempt (``outcome.applied_row`` is the live row).

    ``name`` is the migration's name in the catalogue (looked up when not given)."""
    live = outcome.applied_row
    if name is None:
        name = Migration.objects.filter(pk=migration_id).values_list("name", flat=True).first()
    fields = {
        "migration_id": migration_id,
        "name": name or migration_id,
        "database": target.alias,
        "applied_at": live.finished_at if live else None,
        "rolled_back_at": outcome.finished_at if outcome.success else None,
        "execution_time": outcome.elapsed,
        "checksum": live.checksum if live else "",
        "rollback_script": script,
        "error": outcome.error or "",
        "applied_by": applied_by,
    }
    key = {
        "environment": target.environment,
        "operation": Operation.ROLLBACK,
        "ledger_id": live.id if live else "",
    }
    if not outcome.success:  # failed rollbacks may repeat: one record each, written now
        return VersionRecord.objects.record({**key, "status": Status.FAILED}, fields)
    return VersionRecord.objects.record(
        {**key, "status": Status.ROLLED_BACK}, fields, writer=writer
    )


def fingerprint_after(
    before: tuple[int, int, int], operation: str, outcome: Outcome
) -> tuple[int, int, int]:
    """The ledger fingerprint (rows, finished, rolled back) once ``outcome`` has been written.

    A wrong guess only costs a full reconcile at the next operation, never a missed one.
    """
    rows, finished, rolled_back = before
    if outcome.already_applied:
        return before
    if operation == Operation.APPLY:
        # An apply appends a finished row; a failure leaves a row only if something of it
        # remains (unresolved), none if nothing does.
        return rows + bool(outcome.ledger_id), finished + outcome.success, rolled_back
    # A rollback removes the live row (and any rows of the name already rolled back).
    return rows - outcome.success, finished - outcome.success, rolled_back


def _recovery(outcome: Outcome) -> str:
    if outcome.success:
        return Recovery.NONE
    if outcome.remaining:
        return Recovery.INCOMPLETE
    return Recovery.COMPENSATED if outcome.stepwise else Recovery.ROLLED_BACK
