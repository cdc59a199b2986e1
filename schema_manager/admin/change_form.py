"""A migration's change form in the admin: its fields and widgets, read-only once applied
anywhere (editing it would be drift), and the "Generate rollback" view its widget calls.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import services
from ..checksums import canonical_sql
from ..exceptions import SchemaManagerError
from ..models import Migration
from ..targets import resolve
from . import plans
from .display import rollback_blocks, state_badge
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


class MigrationChangeForm(admin.ModelAdmin):
    """The change form's part of ``MigrationAdmin``."""

    form = MigrationForm
    change_form_template = "admin/schema_manager/migration/change_form.html"

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
