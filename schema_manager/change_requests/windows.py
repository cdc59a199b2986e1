"""Scheduled requests run when their environment's maintenance window opens, and overdue
break-glass reviews are announced: what ``run_scheduled_change_requests`` (from cron or a
worker) does each time it runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import services
from ..exceptions import SchemaManagerError
from ..fleets import planner
from ..models import Migration
from ..results import MigrationResult
from . import outbox
from .clock import now
from .models import ChangeRequest, Notification
from .policy import fleet_scope, policy_for
from .service import overdue_reviews


@dataclass
class ScheduledRun:
    request: ChangeRequest
    results: list[MigrationResult] = field(default_factory=list)
    error: str = ""


def due() -> list[ChangeRequest]:
    """Scheduled requests whose environment's window is open now, oldest approval first."""
    moment = now()
    found = ChangeRequest.objects.filter(state=ChangeRequest.State.SCHEDULED).order_by(
        "approved_at", "pk"
    )
    return [
        r
        for r in found
        if (policy := policy_for(r.environment)) is None or policy.in_window(moment)
    ]


def run_due(executor: str) -> list[ScheduledRun]:
    """Run each due request as ``executor``; a refusal or failure is reported, not raised."""
    runs = []
    for request in due():
        run = ScheduledRun(request)
        ids = request.pinned_ids()
        fleet = fleet_scope(request.environment)
        try:
            if fleet is not None:  # a fleet's request: its rollout, planned and started
                found = Migration.objects.in_bulk(ids)
                rollout = planner.plan_rollout(
                    fleet,
                    [found[mid] for mid in ids if mid in found],
                    started_by=executor,
                    change_request=str(request.pk),
                )
                planner.start(rollout)
            elif request.operation == ChangeRequest.Operation.APPLY:
                found = Migration.objects.in_bulk(ids)
                run.results = services.apply(
                    [found[mid] for mid in ids if mid in found],
                    request.environment,
                    applied_by=executor,
                    change_request=request,
                )
            else:
                run.results = services.rollback(
                    ids, request.environment, applied_by=executor, change_request=request
                )
        except SchemaManagerError as exc:
            run.error = str(exc)
        request.refresh_from_db()
        runs.append(run)
    return runs


def announce_overdue_reviews() -> list[ChangeRequest]:
    """Queue one "review_overdue" notification per overdue break-glass run."""
    overdue = overdue_reviews()
    for request in overdue:
        if not Notification.objects.filter(request=request, event="review_overdue").exists():
            outbox.notify(
                request,
                "review_overdue",
                f"its review was due {request.review_due_at:%Y-%m-%d %H:%M} UTC",
            )
    return overdue
