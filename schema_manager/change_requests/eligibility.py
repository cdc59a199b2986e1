"""Who may decide on a change request and whose decisions count: one place for the admin's
buttons, the service's decisions and the gate's count before a run."""

from __future__ import annotations

from typing import Any

from .models import Approval, ChangeRequest
from .policy import ApprovalPolicy

DECIDE_PERMISSION = "schema_manager.approve_changerequest"


def decision_problem(
    request: ChangeRequest, user: Any, policy: ApprovalPolicy | None
) -> str | None:
    """Why ``user`` may not approve, reject or send back ``request`` (None if they may)."""
    name = user.get_username()
    if not user.is_active:
        return f"{name} is not an active user"
    if user.pk == request.author_id and (policy is None or policy.forbid_author):
        return f"{name} is the author of {request.label} and cannot decide on it"
    if not user.has_perm(DECIDE_PERMISSION):
        return f"{name} lacks the permission to decide on change requests ({DECIDE_PERMISSION})"
    if policy is None:
        return None
    if policy.groups and not user.groups.filter(name__in=policy.groups).exists():
        return f"{name} is in none of the groups {', '.join(policy.groups)} that approve in " + (
            request.environment
        )
    if policy.forbid_last_editor:
        edited = sorted(pin.migration_id for pin in request.pins.all() if pin.last_editor == name)
        if edited:
            return f"{name} last edited {', '.join(edited)} and cannot approve it"
    return None


def counted(request: ChangeRequest, policy: ApprovalPolicy | None) -> list[Approval]:
    """The approvals that count now: not voided, of the scripts pinned, one per user, from
    users still allowed to decide."""
    pinned = pin_list(request)
    seen_users: set[int] = set()
    valid = []
    for approval in request.approvals.filter(voided_at__isnull=True).select_related("user"):
        if approval.decision != Approval.Decision.APPROVE or approval.user_id in seen_users:
            continue
        if approval.checksums_seen != pinned:
            continue
        if decision_problem(request, approval.user, policy) is not None:
            continue
        seen_users.add(approval.user_id)
        valid.append(approval)
    return valid


def pin_list(request: ChangeRequest) -> list[list[str]]:
    """[[migration id, SQL checksum, rollback checksum], ...]: what an approval binds to."""
    return [
        [pin.migration_id, pin.sql_checksum, pin.rollback_checksum] for pin in request.pins.all()
    ]
