"""The migration catalogue in the admin: state per environment, validate, apply, roll back.

Apply and roll back are admin actions, one per environment, offered only to users with the
permission (a protected environment also needs ``operate_production``). Like Django's
``delete_selected`` they show a confirmation page first (``confirmation``); its second POST
runs the operation through the service layer (``actions``) and reports each outcome with the
messages framework. The change form is ``change_form``'s.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import connections, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import Migration, VersionRecord
from ..sql.migration_order import migration_order_key
from ..targets import all_targets, resolve
from . import actions as admin_actions
from . import confirmation
from .change_form import MigrationChangeForm
from .changelist import MigrationChangeList, import_from_disk, state_column, state_filter
from .display import when


class MigrationAdmin(MigrationChangeForm):
    search_fields = ("id", "name")
    ordering = ("id",)
    sortable_by = ("migration", "last_change")
    list_per_page = 50
    actions = ("validate_selected",)
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
        for migration in in_prisma_order(queryset):
            admin_actions.report_validation(self, request, migration, targets)

    def operate(
        self, request: HttpRequest, queryset: QuerySet, operation: str, environment: str
    ) -> HttpResponse | None:
        """The apply/rollback action: confirmation page, then (``post=yes``) the operation."""
        target = resolve(environment)
        if not admin_actions.may_operate(request.user, operation, target):
            raise PermissionDenied
        # Apply in Prisma's order of folders; roll back newest first.
        migrations = in_prisma_order(queryset, newest_first=operation == "rollback")
        if request.POST.get("post") != "yes":
            return confirmation.page(self, request, migrations, operation, target)
        # Confirming runs exactly what the page showed, or nothing: the page again instead.
        shown, unbound = confirmation.shown_scripts(request.POST, migrations)
        if unbound:
            confirmation.refuse_unbound(self, request, unbound)
            return confirmation.page(self, request, migrations, operation, target)
        allowed = admin_actions.Allowed.ticked(request.POST)
        done = admin_actions.run(self, request, migrations, operation, target, allowed, shown)
        changed = [result.migration_id for result in done if result.not_as_confirmed]
        if changed:  # as they are now (the plan's objects hold what was read before)
            migrations = in_prisma_order(queryset, newest_first=operation == "rollback")
            return confirmation.page(self, request, migrations, operation, target, changed=changed)
        return None

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


def _ago(moment: datetime) -> str:
    if timezone.now() - moment < timedelta(minutes=1):
        return _("just now")
    return _("%(time)s ago") % {"time": timesince(moment, depth=1)}


def in_prisma_order(queryset: QuerySet, *, newest_first: bool = False) -> list[Migration]:
    """The migrations of ``queryset`` in the order Prisma lists their folders."""
    return sorted(
        queryset, key=lambda migration: migration_order_key(migration.id), reverse=newest_first
    )
