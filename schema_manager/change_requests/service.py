"""The change-request workflow: create, submit (pin), decide, cancel, review a break-glass
run. Every rule is checked here, never only in a page, so the admin, a forged POST, the API
and the commands meet the same refusals."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction

from ..exceptions import ChangeRequestError
from ..fleets.specs import get_fleet
from ..targets import resolve
from . import eligibility, outbox, pins
from .clock import now
from .models import Approval, ChangeRequest, PinnedMigration, find
from .policy import fleet_scope, policy_for

OPEN_STATES = (
    ChangeRequest.State.DRAFT,
    ChangeRequest.State.SUBMITTED,
    ChangeRequest.State.APPROVED,
    ChangeRequest.State.SCHEDULED,
)
# Requests whose decisions an edit voids: those not yet running or finished.
VOIDABLE = (
    ChangeRequest.State.SUBMITTED,
    ChangeRequest.State.APPROVED,
    ChangeRequest.State.SCHEDULED,
)
REVIEW_PERMISSION = "schema_manager.review_break_glass"


def get(request_id: int | str | ChangeRequest) -> ChangeRequest:
    return find(request_id)


def create(
    environment: str | None,
    migration_ids: list[str],
    *,
    author: Any,
    title: str,
    reason: str = "",
    operation: str = ChangeRequest.Operation.APPLY,
    submit_now: bool = False,
) -> ChangeRequest:
    """A draft request for ``migration_ids`` in order (submitted at once with
    ``submit_now``)."""
    if operation not in ChangeRequest.Operation.values:
        raise ChangeRequestError(f"Unknown operation {operation!r}: apply or rollback.")
    fleet = fleet_scope(environment or "")
    if fleet is not None:
        get_fleet(fleet)  # an unknown fleet is refused here
        if operation != ChangeRequest.Operation.APPLY:
            raise ChangeRequestError(
                f"A request for {environment} applies (a fleet rolls out applies only)."
            )
    name = resolve(environment).environment if fleet is None else str(environment)
    if not migration_ids:
        raise ChangeRequestError("A change request needs at least one migration.")
    if not title.strip():
        raise ChangeRequestError("A change request needs a title.")
    pins.catalogue(migration_ids)
    with transaction.atomic():
        request = ChangeRequest.objects.create(
            environment=name,
            operation=operation,
            title=title.strip(),
            reason=reason,
            author=author,
        )
        PinnedMigration.objects.bulk_create(
            PinnedMigration(request=request, position=i, migration_id=mid)
            for i, mid in enumerate(migration_ids)
        )
    return submit(request, author) if submit_now else request


def submit(request_id: int | str | ChangeRequest, user: Any) -> ChangeRequest:
    """Pin the scripts that would run now and take the reviewers' snapshot (validation, a
    rehearsal where the policy requires one); refused if validation finds errors."""
    request = get(request_id)
    if user.pk != request.author_id:
        raise ChangeRequestError(f"Only the author of {request.label} can submit it.")
    if request.state != ChangeRequest.State.DRAFT:
        raise ChangeRequestError(f"{request.label} is {request.state}; only a draft is submitted.")
    policy = policy_for(request.environment)
    ids = request.pinned_ids()
    rehearse = bool(policy and policy.require_rehearsal)
    with pins.target_of(request.environment) as target:
        if request.operation == ChangeRequest.Operation.APPLY:
            pinned, snapshot = pins.pin_apply(target, ids, rehearse=rehearse)
        else:
            rehearse = False
            pinned, snapshot = pins.pin_rollback(target, ids)
    if target.environment != request.environment:
        snapshot["pinned_on"] = target.environment
    errors = [f"{m['id']}: {e}" for m in snapshot["migrations"] for e in m["errors"]]
    if errors:
        raise ChangeRequestError(f"{request.label} cannot be submitted: {errors[0]}")
    if rehearse:
        unrehearsed = [
            m["id"] for m in snapshot["migrations"] if not (m["rehearsal"] or {}).get("ran")
        ]
        if unrehearsed:
            raise ChangeRequestError(
                f"{request.label} cannot be submitted: {request.environment} requires a rehearsal "
                f"and {', '.join(unrehearsed)} could not be rehearsed on its engine."
            )
    with transaction.atomic():
        locked = ChangeRequest.objects.select_for_update().get(pk=request.pk)
        if locked.state != ChangeRequest.State.DRAFT:
            raise ChangeRequestError(f"{request.label} is {locked.state} now.")
        for pin in pinned:
            PinnedMigration.objects.filter(request=request, migration_id=pin.migration_id).update(
                sql_checksum=pin.sql_checksum,
                rollback_checksum=pin.rollback_checksum,
                sql=pin.sql,
                rollback_script=pin.rollback_script,
                last_editor=pin.last_editor,
            )
        request.snapshot = snapshot
        request.state = ChangeRequest.State.SUBMITTED
        request.submitted_at = now()
        request.void_reason = ""
        request.save(update_fields=["snapshot", "state", "submitted_at", "void_reason"])
        outbox.notify(request, "submitted", f"{user.get_username()} submitted it for review")
    return request


def decide(
    request_id: int | str | ChangeRequest,
    user: Any,
    decision: str,
    comment: str = "",
    *,
    checksums_seen: list[list[str]] | None = None,
) -> Approval:
    """Record ``user``'s decision (approve, reject, request_changes) on a submitted request.

    ``checksums_seen`` are those the reviewer's page showed; by default, those pinned. The
    rules (author, groups, last editor, permission) are ``eligibility``'s."""
    if decision not in Approval.Decision.values:
        raise ChangeRequestError(
            f"Unknown decision {decision!r}: approve, reject or request_changes."
        )
    with transaction.atomic():
        request = ChangeRequest.objects.select_for_update().get(pk=get(request_id).pk)
        policy = policy_for(request.environment)
        problem = eligibility.decision_problem(request, user, policy)
        if problem:
            raise ChangeRequestError(f"Refused on {request.label}: {problem}.")
        if request.state not in (ChangeRequest.State.SUBMITTED, ChangeRequest.State.APPROVED):
            raise ChangeRequestError(
                f"{request.label} is {request.state}; only a submitted request is decided on."
            )
        pinned = eligibility.pin_list(request)
        if checksums_seen is not None and checksums_seen != pinned:
            raise ChangeRequestError(
                f"Refused on {request.label}: the scripts you reviewed are not those pinned now "
                "(it was submitted again since); review it again."
            )
        approval = Approval.objects.create(
            request=request,
            user=user,
            decision=decision,
            comment=comment,
            checksums_seen=pinned,
            decided_at=now(),
        )
        _after_decision(request, policy, approval)
    return approval


def _after_decision(request: ChangeRequest, policy: Any, approval: Approval) -> None:
    who = approval.user.get_username()
    if approval.decision == Approval.Decision.REJECT:
        request.state = ChangeRequest.State.REJECTED
        request.save(update_fields=["state"])
        outbox.notify(request, "rejected", f"{who} rejected it: {approval.comment}")
        return
    if approval.decision == Approval.Decision.REQUEST_CHANGES:
        void(request, f"{who} requested changes: {approval.comment}")
        outbox.notify(request, "changes_requested", f"{who} requested changes: {approval.comment}")
        return
    required = policy.required if policy else 1
    if request.state == ChangeRequest.State.SUBMITTED and (
        len(eligibility.counted(request, policy)) >= required
    ):
        request.state = ChangeRequest.State.APPROVED
        request.approved_at = now()
        hours = policy.expire_after_hours if policy else None
        request.expires_at = (
            request.approved_at + datetime.timedelta(hours=hours) if hours else None
        )
        request.save(update_fields=["state", "approved_at", "expires_at"])
        outbox.notify(request, "approved", f"{who} gave the approval it needed")
    else:
        outbox.notify(request, "approval", f"{who} approved it")


def void(request: ChangeRequest, why: str) -> bool:
    """Void the request's decisions and send it back to draft (to be pinned again), in the
    caller's transaction; whether it was voided. A request that started running meanwhile is
    left as it is (a conditional write: an edit that read it approved, then waited for its
    row, must not void the approvals a run went ahead under)."""
    moment = now()
    voided = ChangeRequest.objects.filter(pk=request.pk, state__in=VOIDABLE).update(
        state=ChangeRequest.State.DRAFT, void_reason=why, approved_at=None, expires_at=None
    )
    if not voided:
        return False
    request.approvals.filter(voided_at__isnull=True).update(voided_at=moment, void_reason=why)
    request.state, request.void_reason = ChangeRequest.State.DRAFT, why
    request.approved_at = request.expires_at = None
    return True


def cancel(request_id: int | str | ChangeRequest, user: Any) -> ChangeRequest:
    request = get(request_id)
    if user.pk != request.author_id and not user.is_superuser:
        raise ChangeRequestError(f"Only the author of {request.label} can cancel it.")
    updated = ChangeRequest.objects.filter(pk=request.pk, state__in=OPEN_STATES).update(
        state=ChangeRequest.State.CANCELLED
    )
    if not updated:
        raise ChangeRequestError(f"{request.label} is {request.state}; it cannot be cancelled.")
    request.refresh_from_db()
    outbox.notify(request, "cancelled", f"{user.get_username()} cancelled it")
    return request


def review(request_id: int | str | ChangeRequest, user: Any, comment: str) -> ChangeRequest:
    """Close the review a break-glass run owes: by someone else than who ran it."""
    request = get(request_id)
    if not request.break_glass:
        raise ChangeRequestError(f"{request.label} was not a break-glass run; nothing to review.")
    if request.reviewed_at is not None:
        raise ChangeRequestError(f"{request.label} was reviewed already.")
    if not user.has_perm(REVIEW_PERMISSION):
        raise ChangeRequestError(
            f"{user.get_username()} lacks the permission to review emergency changes "
            f"({REVIEW_PERMISSION})."
        )
    if user.get_username() == request.executed_by or user.pk == request.author_id:
        raise ChangeRequestError(f"{user.get_username()} ran {request.label} and cannot review it.")
    if not comment.strip():
        raise ChangeRequestError("A review needs a written comment.")
    request.reviewed_at, request.reviewed_by, request.review_comment = now(), user, comment
    request.save(update_fields=["reviewed_at", "reviewed_by", "review_comment"])
    outbox.notify(request, "reviewed", f"{user.get_username()} reviewed the emergency change")
    return request


def overdue_reviews(environment: str | None = None) -> list[ChangeRequest]:
    """Break-glass runs whose review is past due."""
    found = ChangeRequest.objects.filter(
        break_glass=True, reviewed_at__isnull=True, review_due_at__lt=now()
    )
    if environment is not None:
        found = found.filter(environment=environment)
    return list(found.order_by("review_due_at"))


def approved_for(operation: str, environment: str, ids: list[str]) -> ChangeRequest | None:
    """The newest approved (or scheduled) request to run exactly ``ids`` in ``environment``:
    what the admin's confirmation page names and runs."""
    candidates = ChangeRequest.objects.filter(
        environment=environment,
        operation=operation,
        state__in=[ChangeRequest.State.APPROVED, ChangeRequest.State.SCHEDULED],
    ).order_by("-approved_at", "-pk")
    return next((r for r in candidates if r.pinned_ids() == list(ids)), None)
