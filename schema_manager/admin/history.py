"""The version history in the admin: read-only, newest first, no per-row queries."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import VersionRecord
from .display import badge, code_block, when


class VersionRecordAdmin(admin.ModelAdmin):
    # Narrow enough for a 1440 px screen with the admin's navigation and filters open: the
    # operation is in the outcome's label, the time in one compact column.
    list_display = (
        "recorded",
        "migration_id",
        "environment",
        "outcome",
        "applied_by",
        "seconds",
    )
    list_display_links = ("recorded", "migration_id")
    list_filter = ("environment", "status", "operation", "reconciled")
    date_hierarchy = "recorded_at"
    search_fields = ("migration_id",)
    ordering = ("-recorded_at", "-id")
    list_per_page = 100
    # No relations: every column comes from the row itself, so the page costs the same
    # number of queries however long the history grows.
    list_select_related = False
    fieldsets = (
        (None, {"fields": ("migration_id", "name", "environment", "database", "operation")}),
        (
            gettext_lazy("Outcome"),
            {
                "fields": (
                    "status_badge",
                    "recorded_at",
                    "applied_at",
                    "rolled_back_at",
                    "seconds",
                    "applied_by",
                    "error_text",
                )
            },
        ),
        (
            gettext_lazy("Rollback and ledger"),
            {
                "fields": (
                    "rollback_text",
                    "rollback_generated",
                    "checksum",
                    "ledger_id",
                    "reconciled",
                )
            },
        ),
    )
    readonly_fields = ("status_badge", "seconds", "error_text", "rollback_text")

    class Media:
        css = {"all": ["schema_manager/admin.css"]}

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_badge(self, record: VersionRecord):
        return badge(VersionRecord.Status(record.status), record.error)

    @admin.display(description=gettext_lazy("recorded at"), ordering="recorded_at")
    def recorded(self, record: VersionRecord):
        return format_html(
            '<time datetime="{}" title="{}">{}</time>',
            record.recorded_at.isoformat(),
            when(record.recorded_at),
            localtime(record.recorded_at).strftime("%Y-%m-%d %H:%M:%S"),
        )

    @admin.display(description=gettext_lazy("outcome"), ordering="status")
    def outcome(self, record: VersionRecord):
        """The status; a failure says of what (applied and rolled back say it themselves)."""
        if record.status != VersionRecord.Status.FAILED:
            return badge(VersionRecord.Status(record.status), record.error)
        label = _("%(operation)s failed") % {"operation": record.get_operation_display()}
        return badge(VersionRecord.Status(record.status), record.error, label=label)

    @admin.display(description=gettext_lazy("time (s)"), ordering="execution_time")
    def seconds(self, record: VersionRecord) -> str:
        return f"{record.execution_time:.3f}"

    @admin.display(description=gettext_lazy("error"))
    def error_text(self, record: VersionRecord):
        return code_block(record.error) if record.error else "—"

    @admin.display(description=gettext_lazy("rollback script"))
    def rollback_text(self, record: VersionRecord):
        return code_block(record.rollback_script) if record.rollback_script else "—"

    # History is append-only: written by SchemaManager, never by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: VersionRecord | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: VersionRecord | None = None) -> bool:
        return False
