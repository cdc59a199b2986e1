"""The migration catalogue in the admin: state per environment, validate, apply, roll back.

Apply and roll back are admin actions, one per environment, offered only to users with the
permission (a protected environment also needs ``operate_production``). Like Django's
``delete_selected`` they show a confirmation page first; its second POST runs the operation
through ``SchemaManager`` and reports each outcome with the messages framework.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import connections, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
)
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import services
from ..checksums import canonical_sql
from ..exceptions import SchemaManagerError
from ..models import Migration, VersionRecord
from ..targets import all_targets, resolve
from . import actions as admin_actions
from . import plans
from .changelist import MigrationChangeList, import_from_disk, state_column, state_filter
from .display import rollback_blocks, state_badge, when
from .states import disk, ledgers, live_environments, states_of
from .widgets import RollbackTextarea, SQLTextarea


class MigrationForm(forms.ModelForm):
    class Meta:
        model = Migration
        fields = ("id", "name", "sql", "rollback_sql")

    def clean_sql(self) -> str:
        # Browsers send CRLF; store the canonical text, as migrations built in code are.
        return canonical_sql(self.cleaned_data["sql"])

    def clean_rollback_sql(self) -> str:
        return self.cleaned_data["rollback_sql"].replace("\r\n", "\n")


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
        columns = [state_column(target.environment) for target in all_targets()]
        return ("migration", *columns, "last_change")

    def get_list_filter(self, request: HttpRequest):
        return [state_filter(target.environment) for target in all_targets()]

    @admin.display(description=gettext_lazy("migration"), ordering="id")
    def migration(self, migration: Migration):
        # Id and name in one cell keeps room for a column per environment.
        return format_html('{}<br><span class="sm-quiet">{}</span>', migration.id, migration.name)

    @admin.display(description=gettext_lazy("last change"), ordering="last_change_at")
    def last_change(self, migration: Migration):
        at = getattr(migration, "last_change_at", None)
        if at is None:
            return "—"
        # Annotated by get_queryset() together with last_change_at.
        status, environment, by = (
            getattr(migration, f"last_change_{part}") for part in ("status", "environment", "by")
        )
        return format_html(
            '{} in {}<br><span class="sm-quiet" title="{}">{}{}</span>',
            str(VersionRecord.Status(status).label).capitalize(),
            environment,
            when(at),
            _ago(at),
            f" · {by}" if by else "",
        )

    # -- actions ------------------------------------------------------------------------------

    def get_actions(self, request: HttpRequest, action_location=None) -> dict[str, Any]:
        if action_location is None:
            actions = super().get_actions(request)
        else:
            # Django >= 6.1 only, which needs Python >= 3.12: django-stubs describe
            # Django 5's signature for the Python 3.10 the package is checked against.
            actions = super().get_actions(
                request,
                action_location=action_location,  # type: ignore[call-arg]
            )
        # Deleting applied migrations from the catalogue would hide them: one by one only.
        actions.pop("delete_selected", None)
        if self.actions is None or IS_POPUP_VAR in request.GET:
            return actions
        if (
            action_location is not None
            and action_location != admin_actions.ActionLocation.CHANGE_LIST
        ):
            return actions
        for operation in admin_actions.OPERATIONS:
            for target in all_targets():
                if admin_actions.may_operate(request.user, operation, target):
                    name = admin_actions.action_name(operation, target.environment)
                    function = admin_actions.operation_action(operation, target.environment)
                    actions[name] = admin_actions.action_entry(
                        function, name, admin_actions.ACTION_LABELS[operation] % target.environment
                    )
        return actions

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if request.method == "POST":
            known = {"validate_selected"} | {
                admin_actions.action_name(operation, target.environment)
                for operation in admin_actions.OPERATIONS
                for target in all_targets()
            }
            requested = set(request.POST.getlist("action")) & known
            if requested - set(self.get_actions(request)):
                # A forged POST for an action this user is not offered.
                raise PermissionDenied
        else:
            # What the commands see: never an empty page while migrations wait on disk. Not
            # on POST, so that an action runs on the catalogue its confirmation showed.
            import_from_disk(request)
        return super().changelist_view(request, extra_context)

    @admin.action(description=gettext_lazy("Validate selected migrations"), permissions=["view"])
    def validate_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        targets = all_targets()
        for migration in queryset.order_by("id"):
            admin_actions.report_validation(self, request, migration, targets)

    def operate(
        self, request: HttpRequest, queryset: QuerySet, operation: str, environment: str
    ) -> HttpResponse | None:
        """The apply/rollback action: confirmation page, then (``post=yes``) the operation."""
        target = resolve(environment)
        if not admin_actions.may_operate(request.user, operation, target):
            raise PermissionDenied
        # Apply in id order; roll back newest first.
        migrations = list(queryset.order_by("-id" if operation == "rollback" else "id"))
        if request.POST.get("post") != "yes":
            return admin_actions.confirmation(self, request, migrations, operation, target)
        # Confirming runs exactly what the page showed, or nothing: the page again instead.
        shown, unbound = admin_actions.shown_scripts(request.POST, migrations)
        if unbound:
            admin_actions.refuse_unbound(self, request, unbound)
            return admin_actions.confirmation(self, request, migrations, operation, target)
        allowed = admin_actions.Allowed.ticked(request.POST)
        done = admin_actions.run(self, request, migrations, operation, target, allowed, shown)
        changed = [result.migration_id for result in done if result.not_as_confirmed]
        if changed:  # as they are now (the plan's objects hold what was read before)
            migrations = list(queryset.order_by("-id" if operation == "rollback" else "id"))
            return admin_actions.confirmation(
                self, request, migrations, operation, target, changed=changed
            )
        return None

    # -- change form --------------------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: Migration | None = None):
        # Once applied, the rollback that matters is the one a rollback would run (recorded
        # when it was applied, perhaps generated), not the catalogue's empty field.
        live = obj is not None and bool(live_environments(request, obj))
        rollback = "rollback_in_force" if live else "rollback_sql"
        fieldsets: list[tuple[str | None, dict[str, tuple[str, ...]]]] = [
            (None, {"fields": ("id", "name")}),
            (_("SQL"), {"fields": ("sql", rollback)}),
        ]
        if obj is not None:
            state = ("checksum", "environments", "created_at", "updated_at")
            fieldsets.append((_("State"), {"fields": state}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Migration | None = None):
        if obj is None:
            return ()
        # The id is the primary key: changing it would create another migration.
        return (
            "id",
            "checksum",
            "environments",
            "rollback_in_force",
            "created_at",
            "updated_at",
        )

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "sql":
            kwargs["widget"] = SQLTextarea()
        elif db_field.name == "rollback_sql":
            url = reverse("admin:schema_manager_migration_generate_rollback")
            kwargs["widget"] = RollbackTextarea(url)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=gettext_lazy("state per environment"))
    def environments(self, migration: Migration):
        states = getattr(migration, "environment_states", None) or states_of(
            migration, ledgers(), disk()
        )
        return format_html_join(
            "",
            '<span class="sm-env-state"><span class="sm-env-name">{}</span> {}</span>',
            ((environment, state_badge(state)) for environment, state in states.items()),
        )

    @admin.display(description=gettext_lazy("rollback in force"))
    def rollback_in_force(self, migration: Migration):
        states = getattr(migration, "environment_states", None) or states_of(
            migration, ledgers(), disk()
        )
        return rollback_blocks(plans.rollbacks_in_force(migration, states, disk()))

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
            obj.environment_states = states_of(obj, ledgers(request), disk(request))
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
        script = services.generate_rollback_script(Migration(sql=sql), target.environment)
        return JsonResponse(
            {"rollback_sql": script, "environment": target.environment, "vendor": target.vendor}
        )


def _ago(moment: datetime) -> str:
    if timezone.now() - moment < timedelta(minutes=1):
        return _("just now")
    return _("%(time)s ago") % {"time": timesince(moment, depth=1)}
