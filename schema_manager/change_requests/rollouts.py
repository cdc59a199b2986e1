"""A fleet rollout under a change request: the gate admits it once when it is planned (the
request approved, unexpired, in its window, not approved by who starts it, pinning the plan's
SQL: the request goes to ``executing``), each target again when it runs (``gate.admit`` with
the target's environment: SQL before, SQL and rollback under the target's lock), and the
request ends with the rollout: done when every target succeeded or was skipped, failed when
the rollout is cancelled. A rollout stopped by failures keeps its request running, so that it
can be resumed or its failed targets retried under the same approval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from ..models import Migration, VersionRecord
from ..security import get_logger
from . import gate, outbox
from .clock import now
from .models import ChangeRequest
from .policy import FLEET_SCOPE

logger = get_logger("schema_manager.change_requests")

# Rollout states (``fleets.models.Rollout.State``) as the request reads them.
SUCCEEDED, PARTIALLY_FAILED, CANCELLED = "succeeded", "partially_failed", "cancelled"


def admit(fleet: str, migrations: Sequence[Migration], change_request: str, started_by: str) -> str:
    """Admit a rollout of ``migrations`` over ``fleet``'s targets; the request's reference
    the rollout records ("" where the fleet has no policy and none was given)."""
    admission = gate.admit(
        "apply",
        fleet + FLEET_SCOPE,
        [migration.id for migration in migrations],
        migrations=migrations,
        change_request=change_request or None,
        executor=started_by,
    )
    return str(admission.request.pk) if admission.request is not None else change_request


def ended(change_request: str, rollout: int, state: str, runs: list[dict[str, Any]]) -> None:
    """Record on the request how rollout ``rollout`` ended, with each target's run (in the
    caller's transaction)."""
    request = _executing(change_request)
    if request is None:
        return
    records = _records(request, runs)
    outcome = [
        {
            "rollout": rollout,
            "target": run["target_key"],
            "environment": run["environment"],
            "state": run["state"],
            "applied": run["applied"],
            "error": run["error"],
            # The history records (and so the ledger rows) of what this run applied.
            "version_record_ids": [
                records[run["environment"], mid]
                for mid in run["applied"]
                if (run["environment"], mid) in records
            ],
        }
        for run in runs
    ]
    failed = [run["target_key"] for run in runs if run["state"] == "failed"]
    with transaction.atomic():
        request.outcome = outcome
        fields = ["outcome"]
        if state in (SUCCEEDED, CANCELLED):
            request.state = (
                ChangeRequest.State.DONE if state == SUCCEEDED else ChangeRequest.State.FAILED
            )
            request.finished_at = now()
            fields += ["state", "finished_at"]
        request.save(update_fields=fields)
        if state == SUCCEEDED:
            text = f"rollout {rollout} done by {request.executed_by} on {len(runs)} target(s)"
            outbox.notify(request, "executed", text)
        else:
            what = "cancelled" if state == CANCELLED else "stopped by failures (resume or retry it)"
            shown = ", ".join(failed[:5]) + (" …" if len(failed) > 5 else "")
            outbox.notify(request, "failed", f"rollout {rollout} {what}; failed: {shown or '-'}")
    logger.info("%s: rollout %s %s.", request.label, rollout, state)


def _records(request: ChangeRequest, runs: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """(environment, migration) -> the id of the newest history record of its apply (the
    run's, as the rollout ends), for the runs' targets, in one query."""
    found = VersionRecord.objects.filter(
        environment__in=[run["environment"] for run in runs],
        migration_id__in=request.pinned_ids(),
        operation=VersionRecord.Operation.APPLY,
        status=VersionRecord.Status.APPLIED,
    )
    records: dict[tuple[str, str], int] = {}
    for pk, environment, migration_id in found.order_by("recorded_at", "pk").values_list(
        "pk", "environment", "migration_id"
    ):
        records[environment, migration_id] = pk
    return records


def abandoned(change_request: str, error: str) -> None:
    """The rollout admitted under ``change_request`` could not be created: the request ends
    failed (it was marked executing)."""
    request = _executing(change_request)
    if request is not None:
        gate.finish(request, [], error=error)


def _executing(change_request: str) -> ChangeRequest | None:
    if not change_request.isdigit():
        return None
    running = ChangeRequest.objects.filter(state=ChangeRequest.State.EXECUTING)
    return running.filter(pk=int(change_request)).first()
