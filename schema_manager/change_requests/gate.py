"""What the service layer asks before an apply or rollback: in an environment with an
approval policy, only an approved, unexpired change request whose pinned checksums are the
scripts about to run (or a break-glass run by someone allowed to) gets through.

The pinned checksums travel as the run's ``confirmed`` scripts, so they are compared again
under the migration lock just before each migration runs (``confirmations``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import transaction

from ..checksums import migration_checksum
from ..confirmations import Confirmed, Shown
from ..exceptions import ChangeRequestError, ChangeScheduled
from ..models import Migration
from ..results import MigrationResult
from ..security import get_logger
from . import eligibility, outbox
from .clock import now
from .models import ChangeRequest, PinnedMigration, find
from .policy import ApprovalPolicy, covers, fleet_scope, policy_for, sharing_database

logger = get_logger("schema_manager.change_requests")

BREAK_GLASS_PERMISSION = "schema_manager.break_glass"
RUNNABLE = (ChangeRequest.State.APPROVED, ChangeRequest.State.SCHEDULED)
T = TypeVar("T")


@dataclass(frozen=True)
class BreakGlass:
    """An emergency run without approvals: who asks for it and why (written)."""

    user: Any
    reason: str


@dataclass
class Admission:
    request: ChangeRequest | None
    confirmed: Confirmed


def admit(
    operation: str,
    environment: str,
    ids: Sequence[str],
    *,
    migrations: Sequence[Migration] = (),
    change_request: int | str | ChangeRequest | None = None,
    break_glass: BreakGlass | None = None,
    executor: str = "",
    confirmed: Confirmed = None,
) -> Admission:
    """Let the run through (marking its request executing) or raise ``ChangeRequestError``
    saying why; ``migrations`` (an apply's) have their SQL checked before anything runs."""
    policy = policy_for(environment)
    if break_glass is not None:
        return Admission(_break_glass(operation, environment, ids, break_glass), confirmed)
    if change_request is None:
        if policy is None:
            shared = sharing_database(environment)
            if shared is not None:
                raise ChangeRequestError(
                    f"{environment} is on the database of {shared}, which requires approved "
                    f"change requests; nothing ran. Give its fleet a policy of its own "
                    f"(SCHEMA_MANAGER['APPROVALS']['{environment.split(':', 1)[0]}:*'])."
                )
            return Admission(None, confirmed)
        scope = policy.environment
        raise ChangeRequestError(
            f"{scope} requires an approved change request to {operation} "
            f"{', '.join(ids) or 'migrations'}: open one (schema_change_request create, or "
            "the admin's Change requests) and pass its number (--change-request)"
            + (", or run a break-glass change." if fleet_scope(scope) is None else ".")
        )
    request = find(change_request)
    # A target of a fleet whose rollout runs under the request (started when it was planned).
    target_run = request.environment != environment and covers(request.environment, environment)
    _check_request(request, policy, operation, environment, list(ids), executor, target_run)
    pinned = {pin.migration_id: pin for pin in request.pins.all()}
    for migration in migrations:
        now_checksum = migration_checksum(migration.sql)
        if now_checksum != pinned[migration.id].sql_checksum:
            raise ChangeRequestError(
                f"Migration {migration.id}: its SQL has checksum {now_checksum}, but "
                f"{request.label} approved {pinned[migration.id].sql_checksum}; nothing ran."
            )
    shown = {
        mid: Shown(pin.sql_checksum, pin.rollback_checksum, pinned_in=request.label)
        for mid, pin in pinned.items()
    }
    for mid, seen in (confirmed or {}).items():
        if (seen.sql, seen.rollback) != (shown[mid].sql, shown[mid].rollback):
            raise ChangeRequestError(
                f"Migration {mid}: the page confirmed shows SQL {seen.sql} and rollback "
                f"{seen.rollback}, but {request.label} approved SQL {shown[mid].sql} and "
                f"rollback {shown[mid].rollback}; nothing ran."
            )
    if target_run:
        return Admission(None, shown)  # the rollout's end finishes the request
    _start(request, executor)
    return Admission(request, shown)


def guarded(
    admission: Admission, run: Callable[[], list[MigrationResult]]
) -> list[MigrationResult]:
    """Run, then record on the request what happened (even if the run raised)."""
    if admission.request is None:
        return run()
    try:
        results = run()
    except BaseException as exc:
        finish(admission.request, [], error=f"{type(exc).__name__}: {exc}")
        raise
    finish(admission.request, results)
    return results


def finish(request: ChangeRequest, results: list[MigrationResult], error: str = "") -> None:
    """Done if every pinned migration succeeded, else failed; the outcome names each
    migration's ledger row and history record (the evidence)."""
    outcome = [
        {
            "migration_id": result.migration_id,
            "success": result.success,
            "skipped": result.skipped,
            "message": result.message,
            "ledger_id": result.record.ledger_id if result.record is not None else "",
            "version_record_id": result.record.pk if result.record is not None else None,
        }
        for result in results
    ]
    if error:
        outcome.append({"error": error})
    done = not error and len(results) == request.pins.count() and all(r.success for r in results)
    with transaction.atomic():
        request.outcome = outcome
        request.state = ChangeRequest.State.DONE if done else ChangeRequest.State.FAILED
        request.finished_at = now()
        request.save(update_fields=["outcome", "state", "finished_at"])
        if request.break_glass:
            for result in results:
                if result.rollback_script:
                    PinnedMigration.objects.filter(
                        request=request, migration_id=result.migration_id
                    ).update(
                        rollback_script=result.rollback_script,
                        rollback_checksum=migration_checksum(result.rollback_script),
                    )
        failed = next((r for r in results if not r.success), None)
        text = (
            f"{request.operation} done by {request.executed_by}"
            if done
            else f"failed: {failed.message if failed else error or 'not every migration ran'}"
        )
        outbox.notify(request, "executed" if done else "failed", text)


def _check_request(
    request: ChangeRequest,
    policy: ApprovalPolicy | None,
    operation: str,
    environment: str,
    ids: list[str],
    executor: str,
    target_run: bool = False,
) -> None:
    label = request.label
    if not covers(request.environment, environment) or request.operation != operation:
        raise ChangeRequestError(
            f"{label} is to {request.operation} in {request.environment}, not to {operation} "
            f"in {environment}."
        )
    pinned = request.pinned_ids()
    # A fleet's target runs what it lacks of the plan: the pinned ids, in order, less some.
    if ids != pinned and not (target_run and ids and _in_order(ids, pinned)):
        raise ChangeRequestError(
            f"{label} covers {', '.join(pinned)} in that order; this run has "
            f"{', '.join(ids) or 'nothing'}."
        )
    if target_run and request.state != ChangeRequest.State.EXECUTING:
        raise ChangeRequestError(
            f"{label} is {request.state}, not running a rollout; {environment} was not changed."
        )
    if not target_run and request.state not in RUNNABLE:
        why = f" ({request.void_reason})" if request.void_reason else ""
        raise ChangeRequestError(f"{label} is {request.state}{why}, not approved; nothing ran.")
    moment = now()
    # A rollout's targets run under the approval it started with (expiry checked then).
    if not target_run and request.expires_at is not None and moment >= request.expires_at:
        ChangeRequest.objects.filter(pk=request.pk).update(state=ChangeRequest.State.EXPIRED)
        raise ChangeRequestError(
            f"{label}'s approval expired at {request.expires_at:%Y-%m-%d %H:%M} UTC; submit a "
            "new request."
        )
    approvals = eligibility.counted(request, policy)
    required = policy.required if policy else 1
    if len(approvals) < required:
        raise ChangeRequestError(
            f"{label} has {len(approvals)} valid approval(s) of the {required} required in "
            f"{environment}; nothing ran."
        )
    approvers = {approval.user.get_username() for approval in approvals}
    if (policy is None or policy.forbid_executor_approval) and executor in approvers:
        raise ChangeRequestError(
            f"{executor} approved {label} and cannot also run it; someone else must."
        )
    if policy is not None and not policy.in_window(moment):
        opening = policy.next_opening(moment)
        if target_run:
            raise ChangeRequestError(
                f"{environment} was not changed: the maintenance window of {label} closed; "
                f"resume the rollout when it opens ({opening:%Y-%m-%d %H:%M} UTC)."
            )
        ChangeRequest.objects.filter(pk=request.pk, state=ChangeRequest.State.APPROVED).update(
            state=ChangeRequest.State.SCHEDULED
        )
        raise ChangeScheduled(
            f"{label} is approved, but {environment}'s maintenance window is closed: it is "
            f"scheduled and runs when the window opens ({opening:%Y-%m-%d %H:%M} UTC) with "
            "run_scheduled_change_requests."
        )


def _in_order(ids: list[str], pinned: list[str]) -> bool:
    """Whether ``ids`` are some of ``pinned``, in the same order."""
    rest = iter(pinned)
    return all(mid in rest for mid in ids)


def _start(request: ChangeRequest, executor: str) -> None:
    started = ChangeRequest.objects.filter(pk=request.pk, state__in=RUNNABLE).update(
        state=ChangeRequest.State.EXECUTING, executed_by=executor, started_at=now()
    )
    if not started:
        raise ChangeRequestError(f"{request.label} is already being run by someone else.")
    request.refresh_from_db()


def _break_glass(
    operation: str, environment: str, ids: Sequence[str], emergency: BreakGlass
) -> ChangeRequest:
    user, reason = emergency.user, emergency.reason.strip()
    name = user.get_username()
    if not user.is_active or not user.has_perm(BREAK_GLASS_PERMISSION):
        raise ChangeRequestError(
            f"{name} lacks the permission for break-glass changes ({BREAK_GLASS_PERMISSION})."
        )
    if not reason:
        raise ChangeRequestError("A break-glass change needs a written reason.")
    policy = policy_for(environment)
    hours = policy.break_glass_review_hours if policy else 24.0
    moment = now()
    sql = dict(Migration.objects.filter(pk__in=list(ids)).values_list("id", "sql"))
    with transaction.atomic():
        request = ChangeRequest.objects.create(
            environment=environment,
            operation=operation,
            title=f"Break-glass {operation}: {', '.join(ids)}"[:200],
            reason=reason,
            author=user,
            state=ChangeRequest.State.EXECUTING,
            break_glass=True,
            executed_by=name,
            started_at=moment,
            submitted_at=moment,
            review_due_at=moment + datetime.timedelta(hours=hours),
        )
        PinnedMigration.objects.bulk_create(
            PinnedMigration(
                request=request,
                position=i,
                migration_id=mid,
                sql=sql.get(mid, ""),
                sql_checksum=migration_checksum(sql[mid]) if mid in sql else "",
            )
            for i, mid in enumerate(ids)
        )
        outbox.notify(request, "break_glass", f"{name} ran it without approvals: {reason}")
    logger.warning("Break-glass %s in %s by %s: %s", operation, environment, name, reason)
    return request


def guards(environment: str) -> bool:
    """Whether ``environment`` has an approval policy."""
    return policy_for(environment) is not None
