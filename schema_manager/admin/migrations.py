"""The migration catalogue in the admin: state per environment, validate, apply, roll back.

Apply and roll back are admin actions, one per environment, offered only to users with the
permission (a protected environment also needs ``operate_production``). Like Django's
``delete_selected`` they show a confirmation page first; its second POST runs the operation
through ``SchemaManager`` and reports each outcome with the messages framework.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import django
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connections, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import format_lazy
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from .. import results
from ..checksums import canonical_sql
from ..exceptions import SchemaManagerError
from ..manager import SchemaManager
from ..models import Migration, VersionRecord
from ..results import MigrationResult
from ..targets import Target, all_targets, resolve
from . import plans
from .display import state_badge, when
from .states import STATE_LABELS, forget_ledgers, ledgers, live_environments, state_in, states_of
from .widgets import RollbackTextarea, SQLTextarea

try:  # Django >= 6.1 describes actions with a dataclass and says where they are offered.
    from django.contrib.admin.options import Action, ActionLocation
except ImportError:  # Earlier versions: (function, name, description) tuples.
    Action = ActionLocation = None

logger = logging.getLogger("schema_manager.admin")

OPERATIONS = ("apply", "rollback")
ACTION_NAMES = {"apply": "apply_to_{}", "rollback": "rollback_in_{}"}
ACTION_LABELS = {"apply": gettext_lazy("Apply to %s"), "rollback": gettext_lazy("Roll back in %s")}


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


def _operation_action(operation: str, environment: str) -> Callable:
    def action(modeladmin: MigrationAdmin, request: HttpRequest, queryset: QuerySet):
        return modeladmin.operate(request, queryset, operation, environment)

    action.__name__ = action_name(operation, environment)
    return action


class MigrationForm(forms.ModelForm):
    class Meta:
        model = Migration
        fields = ("id", "name", "sql", "rollback_sql")

    def clean_sql(self) -> str:
        # Browsers send CRLF; store the canonical text, as migrations built in code are.
        return canonical_sql(self.cleaned_data["sql"])

    def clean_rollback_sql(self) -> str:
        return self.cleaned_data["rollback_sql"].replace("\r\n", "\n")


class MigrationChangeList(ChangeList):
    """Attaches each page row's state per environment: one ledger read per target."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        snapshots = ledgers(request)
        for migration in self.result_list:
            migration.environment_states = states_of(migration, snapshots)
        for snapshot in snapshots:
            if snapshot.error:
                messages.warning(
                    request,
                    format_html(
                        "Could not read the ledger of {} ({}): {}",
                        snapshot.target.environment,
                        snapshot.target.alias,
                        snapshot.error,
                    ),
                )


def _state_filter(environment: str) -> type[admin.SimpleListFilter]:
    class EnvironmentStateFilter(admin.SimpleListFilter):
        title = format_lazy(gettext_lazy("state in {}"), environment)
        parameter_name = f"state_{environment}"

        def lookups(self, request, model_admin):
            return [(state, label) for state, label in STATE_LABELS.items() if state != "unknown"]

        def queryset(self, request, queryset):
            if not self.value():
                return None
            snapshot = next(s for s in ledgers(request) if s.target.environment == environment)
            matching = [
                migration.pk
                for migration in Migration.objects.only("id", "sql")
                if state_in(migration, snapshot).state == self.value()
            ]
            return queryset.filter(pk__in=matching)

    return EnvironmentStateFilter


def _state_column(environment: str) -> Callable:
    def column(migration: Migration):
        state = getattr(migration, "environment_states", {}).get(environment)
        return state_badge(state) if state else "—"

    column.__name__ = f"state_{environment}"
    return admin.display(description=environment)(column)


class MigrationAdmin(admin.ModelAdmin):
    form = MigrationForm
    search_fields = ("id", "name")
    ordering = ("id",)
    sortable_by = ("migration", "last_change")
    list_per_page = 50
    actions = ("validate_selected",)
    change_form_template = "admin/schema_manager/migration/change_form.html"
    operation_confirmation_template: str | None = None

    class Media:
        css = {"all": ["schema_manager/admin.css"]}
        js = ["schema_manager/admin.js"]

    # -- changelist ---------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        latest = VersionRecord.objects.filter(migration_id=OuterRef("pk")).order_by(
            "-recorded_at", "-id"
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_change_at=Subquery(latest.values("recorded_at")[:1]),
                last_change_status=Subquery(latest.values("status")[:1]),
                last_change_environment=Subquery(latest.values("environment")[:1]),
                last_change_by=Subquery(latest.values("applied_by")[:1]),
            )
        )

    def get_changelist(self, request: HttpRequest, **kwargs) -> type[ChangeList]:
        return MigrationChangeList

    def get_list_display(self, request: HttpRequest):
        columns = [_state_column(target.environment) for target in all_targets()]
        return ("migration", *columns, "last_change")

    def get_list_filter(self, request: HttpRequest):
        return [_state_filter(target.environment) for target in all_targets()]

    @admin.display(description=gettext_lazy("migration"), ordering="id")
    def migration(self, migration: Migration):
        # Id and name in one cell keeps room for a column per environment.
        return format_html('{}<br><span class="sm-quiet">{}</span>', migration.id, migration.name)

    @admin.display(description=gettext_lazy("last change"), ordering="last_change_at")
    def last_change(self, migration: Migration):
        at = getattr(migration, "last_change_at", None)
        if at is None:
            return "—"
        status = VersionRecord.Status(migration.last_change_status).label
        return format_html(
            '{} in {}<br><span class="sm-quiet" title="{}">{}{}</span>',
            str(status).capitalize(),
            migration.last_change_environment,
            when(at),
            _("%(time)s ago") % {"time": timesince(at, depth=1)},
            f" · {migration.last_change_by}" if migration.last_change_by else "",
        )

    # -- actions ------------------------------------------------------------------------------

    def get_actions(self, request: HttpRequest, action_location=None) -> dict[str, Any]:
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)
        # Deleting applied migrations from the catalogue would hide them: one by one only.
        actions.pop("delete_selected", None)
        if self.actions is None or IS_POPUP_VAR in request.GET:
            return actions
        if action_location is not None and action_location != ActionLocation.CHANGE_LIST:
            return actions
        for operation in OPERATIONS:
            for target in all_targets():
                if may_operate(request.user, operation, target):
                    name = action_name(operation, target.environment)
                    function = _operation_action(operation, target.environment)
                    actions[name] = _action_entry(
                        function, name, ACTION_LABELS[operation] % target.environment
                    )
        return actions

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if request.method == "POST":
            known = {"validate_selected"} | {
                action_name(operation, target.environment)
                for operation in OPERATIONS
                for target in all_targets()
            }
            requested = set(request.POST.getlist("action")) & known
            if requested - set(self.get_actions(request)):
                # A forged POST for an action this user is not offered.
                raise PermissionDenied
        return super().changelist_view(request, extra_context)

    @admin.action(description=gettext_lazy("Validate selected migrations"), permissions=["view"])
    def validate_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        manager = SchemaManager()
        targets = all_targets()
        for migration in queryset.order_by("id"):
            self._report_validation(request, manager, migration, targets)

    def _report_validation(
        self, request: HttpRequest, manager: SchemaManager, migration: Migration, targets
    ) -> None:
        found: dict[tuple[str, str], list[str]] = {}
        for target in targets:
            try:
                result = manager.validate_migration_sync(migration, target.environment)
                problems = [("error", e) for e in result.errors]
                problems += [("warning", w) for w in result.warnings]
            except (DatabaseError, SchemaManagerError) as exc:
                problems = [("error", str(exc))]
            for problem in problems:
                found.setdefault(problem, []).append(target.environment)
        everywhere = [target.environment for target in targets]
        if not found:
            self.message_user(
                request,
                _("%(id)s is valid in %(envs)s.")
                % {"id": migration.id, "envs": ", ".join(everywhere)},
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
        self.message_user(
            request,
            format_html(
                '{}: {}<ul class="sm-findings">{}</ul>',
                migration.id,
                _("invalid") if has_errors else _("valid, with warnings"),
                format_html_join("", "<li>{}: {} <em>({})</em></li>", rows),
            ),
            messages.ERROR if has_errors else messages.WARNING,
        )

    def operate(
        self, request: HttpRequest, queryset: QuerySet, operation: str, environment: str
    ) -> HttpResponse | None:
        """The apply/rollback action: confirmation page, then (``post=yes``) the operation."""
        target = resolve(environment)
        if not may_operate(request.user, operation, target):
            raise PermissionDenied
        # Apply in id order; roll back newest first.
        migrations = list(queryset.order_by("-id" if operation == "rollback" else "id"))
        if request.POST.get("post") == "yes":
            allow_destructive = request.POST.get("allow_destructive") == "yes"
            self._run(request, migrations, operation, target, allow_destructive)
            return None
        return self._confirmation(request, migrations, operation, target)

    def _confirmation(
        self, request: HttpRequest, migrations: list[Migration], operation: str, target: Target
    ) -> TemplateResponse:
        if operation == "apply":
            items = plans.apply_plan(migrations, target)
            title = ngettext(
                "Apply %(count)d migration to %(env)s?",
                "Apply %(count)d migrations to %(env)s?",
                len(items),
            )
        else:
            items = plans.rollback_plan(migrations, target)
            title = ngettext(
                "Roll back %(count)d migration in %(env)s?",
                "Roll back %(count)d migrations in %(env)s?",
                len(items),
            )
        allow_destructive = operation == "apply" and any(i.blocked_destructive for i in items)
        context = {
            **self.admin_site.each_context(request),
            "title": title % {"count": len(items), "env": target.environment},
            "subtitle": None,
            "opts": self.opts,
            "operation": operation,
            "operation_label": ACTION_LABELS[operation] % target.environment,
            "action_name": action_name(operation, target.environment),
            "target": target,
            "vendor": plans.vendor_name(target),
            "items": items,
            "runnable": [item for item in items if item.will_run],
            # Django 6.1 marks breadcrumbs up as a list; earlier versions as a div.
            "breadcrumbs_as_list": django.VERSION >= (6, 1),
            "offer_allow_destructive": allow_destructive,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            self.operation_confirmation_template
            or "admin/schema_manager/migration/confirm_operation.html",
            context,
        )

    def _run(
        self,
        request: HttpRequest,
        migrations: list[Migration],
        operation: str,
        target: Target,
        allow_destructive: bool,
    ) -> None:
        manager = SchemaManager()
        who = request.user.get_username()
        for index, migration in enumerate(migrations):
            try:
                if operation == "apply":
                    result = manager.apply_migration_sync(
                        migration,
                        target.environment,
                        allow_destructive=allow_destructive,
                        applied_by=who,
                    )
                else:
                    result = manager.rollback_migration_sync(
                        migration.id, target.environment, applied_by=who
                    )
            except (DatabaseError, SchemaManagerError) as exc:
                logger.exception("%s of %s in %s", operation, migration.id, target.environment)
                result = results.not_run(
                    migration.id, target.environment, operation, f"{type(exc).__name__}: {exc}"
                )
            self.log_change(request, migration, _log_message(result))
            self.message_user(request, _outcome_message(result), _outcome_level(result))
            rest = migrations[index + 1 :]
            if not result.success and rest:
                self.message_user(
                    request,
                    _("Stopped at the first failure; not attempted: %(ids)s.")
                    % {"ids": ", ".join(m.id for m in rest)},
                    messages.WARNING,
                )
            if not result.success:
                break
        forget_ledgers(request)

    # -- change form --------------------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: Migration | None = None):
        fieldsets = [
            (None, {"fields": ("id", "name")}),
            (_("SQL"), {"fields": ("sql", "rollback_sql")}),
        ]
        if obj is not None:
            state = ("checksum", "environments", "created_at", "updated_at")
            fieldsets.append((_("State"), {"fields": state}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Migration | None = None):
        if obj is None:
            return ()
        # The id is the primary key: changing it would create another migration.
        return ("id", "checksum", "environments", "created_at", "updated_at")

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "sql":
            kwargs["widget"] = SQLTextarea()
        elif db_field.name == "rollback_sql":
            url = reverse("admin:schema_manager_migration_generate_rollback")
            kwargs["widget"] = RollbackTextarea(url)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=gettext_lazy("state per environment"))
    def environments(self, migration: Migration):
        states = getattr(migration, "environment_states", None) or states_of(migration, ledgers())
        return format_html_join(
            "",
            '<span class="sm-env-state"><span class="sm-env-name">{}</span> {}</span>',
            ((environment, state_badge(state)) for environment, state in states.items()),
        )

    def has_change_permission(self, request: HttpRequest, obj: Migration | None = None) -> bool:
        # A migration live in any environment is read-only: editing it would be drift.
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or not live_environments(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Migration | None = None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        return obj is None or not live_environments(request, obj)

    def render_change_form(
        self, request: HttpRequest, context, add=False, change=False, form_url="", obj=None
    ):
        if obj is not None:
            obj.environment_states = states_of(obj, ledgers(request))
            live = live_environments(request, obj)
            if live:
                context["readonly_reason"] = _(
                    "Applied in %(envs)s, so read-only: editing it would be drift. Roll it back "
                    "there to change it, or add a new migration."
                ) % {"envs": ", ".join(live)}
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- extra views --------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        changelist = self.admin_site.admin_view(self.changelist_view)
        # Actions run migrations, which must commit on their own: never inside a transaction
        # that ATOMIC_REQUESTS opened on a target (or on the app's database) for the request.
        for alias in connections:
            changelist = transaction.non_atomic_requests(using=alias)(changelist)
        generate = self.admin_site.admin_view(self.generate_rollback_view)
        return [
            path("", changelist, name="{}_{}_changelist".format(*info)),
            path("generate-rollback/", generate, name="{}_{}_generate_rollback".format(*info)),
            *super().get_urls(),
        ]

    def generate_rollback_view(self, request: HttpRequest) -> HttpResponse:
        """POST ``sql`` (and optionally ``environment``): the generated rollback, as JSON."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        sql = request.POST.get("sql", "")
        if not sql.strip():
            return JsonResponse({"error": _("Write the SQL first.")}, status=400)
        try:
            target = resolve(request.POST.get("environment") or None)
        except SchemaManagerError as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        script = SchemaManager().generate_rollback_script(Migration(sql=sql), target.environment)
        return JsonResponse(
            {"rollback_sql": script, "environment": target.environment, "vendor": target.vendor}
        )


def _action_entry(function: Callable, name: str, description: str) -> Any:
    if Action is None:
        return (function, name, description)
    return Action(function, name, description, description, [ActionLocation.CHANGE_LIST])


def _outcome_level(result: MigrationResult) -> int:
    if not result.success:
        return messages.ERROR
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
