"""Apply, roll back and validate from the admin: which actions exist, who may run them, and
what running them does (the operation, its messages and its audit; the page shown before is
``confirmation``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.db import DatabaseError
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import results, services
from ..change_requests import gate as change_gate
from ..change_requests.service import approved_for
from ..confirmations import Shown
from ..exceptions import SchemaManagerError
from ..models import Migration
from ..results import MigrationResult
from ..security import get_logger, scrub
from ..targets import Target
from .states import forget

try:  # Django >= 6.1 describes actions with a dataclass and says where they are offered.
    from django.contrib.admin.options import Action, ActionLocation

    ACTIONS_ARE_DATACLASSES = True
except ImportError:  # Earlier versions: (function, name, description) tuples.
    ACTIONS_ARE_DATACLASSES = False


logger = get_logger("schema_manager.admin")

OPERATIONS = ("apply", "rollback")
ACTION_NAMES = {"apply": "apply_to_{}", "rollback": "rollback_in_{}"}
ACTION_LABELS = {"apply": gettext_lazy("Apply to %s"), "rollback": gettext_lazy("Roll back in %s")}


@dataclass(frozen=True)
class Allowed:
    """What the confirmation's checkboxes allowed in a protected environment."""

    destructive: bool = False
    out_of_order: bool = False

    @classmethod
    def ticked(cls, data: QueryDict) -> Allowed:
        return cls(
            destructive=data.get("allow_destructive") == "yes",
            out_of_order=data.get("allow_out_of_order") == "yes",
        )


def action_name(operation: str, environment: str) -> str:
    return ACTION_NAMES[operation].format(environment)


def may_operate(user: Any, operation: str, target: Target) -> bool:
    """Apply needs ``apply_migration``, roll back ``rollback_migration``; a protected
    environment (``PROTECTED_ENVIRONMENTS``, production by default) also ``operate_production``.
    """
    perms = [f"schema_manager.{operation}_migration"]
    if target.is_protected:
        perms.append("schema_manager.operate_production")
    return user.has_perms(perms)


def operation_action(operation: str, environment: str) -> Callable:
    def action(modeladmin: Any, request: HttpRequest, queryset: QuerySet):
        return modeladmin.operate(request, queryset, operation, environment)

    action.__name__ = action_name(operation, environment)
    return action


def action_entry(function: Callable, name: str, description: str) -> Any:
    """An entry of ``ModelAdmin.get_actions()`` in the form this Django version uses."""
    if not ACTIONS_ARE_DATACLASSES:
        return (function, name, description)
    return Action(function, name, description, description, [ActionLocation.CHANGE_LIST])


def report_validation(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    migration: Migration,
    targets: list[Target],
) -> None:
    """One message per migration: valid everywhere, or its findings and where they occur."""
    found: dict[tuple[str, str], list[str]] = {}
    for target in targets:
        try:
            [result] = services.validate([migration], target.environment)
            problems = [("error", e) for e in result.errors]
            problems += [("warning", w) for w in result.warnings]
        except (DatabaseError, SchemaManagerError) as exc:
            problems = [("error", scrub(str(exc)))]
        for problem in problems:
            found.setdefault(problem, []).append(target.environment)
    everywhere = [target.environment for target in targets]
    if not found:
        modeladmin.message_user(
            request,
            _("%(id)s is valid in %(envs)s.") % {"id": migration.id, "envs": ", ".join(everywhere)},
            messages.SUCCESS,
        )
        return
    has_errors = any(severity == "error" for severity, _message in found)
    rows = [
        (
            _("Error") if severity == "error" else _("Warning"),
            message,
            _("all environments") if envs == everywhere else ", ".join(envs),
        )
        for (severity, message), envs in sorted(found.items())
    ]
    modeladmin.message_user(
        request,
        format_html(
            '{}: {}<ul class="sm-findings">{}</ul>',
            migration.id,
            _("invalid") if has_errors else _("valid, with warnings"),
            format_html_join("", "<li>{}: {} <em>({})</em></li>", rows),
        ),
        messages.ERROR if has_errors else messages.WARNING,
    )


def run(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    migrations: list[Migration],
    operation: str,
    target: Target,
    allowed: Allowed,
    shown: dict[str, Shown],
) -> list[MigrationResult]:
    """Run the operation on the migrations as one batch, stopping at the first failure; each
    runs only if its scripts are those ``shown`` (compared under the migration lock)."""
    who = request.user.get_username()
    by_id = {migration.id: migration for migration in migrations}
    done: list[MigrationResult] = []
    # With an approval policy, the approved request for exactly this plan (the service
    # refuses the run without one, naming why).
    approved = (
        approved_for(operation, target.environment, list(by_id))
        if change_gate.guards(target.environment)
        else None
    )

    def report(result: MigrationResult) -> None:
        done.append(result)
        modeladmin.log_change(request, by_id[result.migration_id], _log_message(result))
        modeladmin.message_user(request, _outcome_message(result), _outcome_level(result))

    try:
        if operation == "apply":
            services.apply(
                migrations,
                target.environment,
                allow_destructive=allowed.destructive,
                allow_out_of_order=allowed.out_of_order,
                applied_by=who,
                after_apply=report,
                confirmed=shown,
                change_request=approved,
            )
        else:
            services.rollback(
                list(by_id),
                target.environment,
                applied_by=who,
                after_rollback=report,
                confirmed=shown,
                change_request=approved,
            )
    except (DatabaseError, SchemaManagerError) as exc:
        migration = migrations[len(done)] if len(done) < len(migrations) else migrations[-1]
        logger.exception("%s of %s in %s", operation, migration.id, target.environment)
        report(
            results.not_run(
                migration.id, target.environment, operation, scrub(f"{type(exc).__name__}: {exc}")
            )
        )
    rest = migrations[len(done) :]
    if done and not done[-1].success and rest:
        modeladmin.message_user(
            request,
            _("Stopped at the first failure; not attempted: %(ids)s.")
            % {"ids": ", ".join(m.id for m in rest)},
            messages.WARNING,
        )
    forget(request)
    return done


def _outcome_level(result: MigrationResult) -> int:
    if not result.success:
        return messages.ERROR
    if result.history_error:  # done, but its history record is still to be rebuilt
        return messages.WARNING
    return messages.INFO if result.skipped else messages.SUCCESS


def _outcome_message(result: MigrationResult):
    if result.success or not result.error or result.error == result.message:
        return result.message
    return format_html('{}<pre class="sm-code sm-error">{}</pre>', result.message, result.error)


def _log_message(result: MigrationResult) -> str:
    verb = {"apply": "Apply to", "rollback": "Rollback in"}[result.operation]
    if result.skipped:
        return f"{verb} {result.environment}: already applied, nothing ran."
    if result.success:
        return (
            f"{verb} {result.environment} succeeded ({result.statements_run} statement(s), "
            f"{result.execution_time:.3f} s)."
        )
    return f"{verb} {result.environment} failed: {result.error or result.message}"
