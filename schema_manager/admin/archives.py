"""Archives in the admin: what destructive statements kept on each target, until when; purge
(expired only) and restore (rolls back their migration) under permissions of their own."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import services
from ..archive.models import ArchiveRecord
from ..archive.retention import purge
from ..security import scrub
from ..targets import resolve
from .actions import may_operate

TEMPLATE = "admin/schema_manager/archiverecord/confirm_archive_action.html"


class ArchiveRecordAdmin(admin.ModelAdmin):
    # Narrow enough for a 1440 px screen with the navigation and the filters open.
    list_display = (
        "migration_id",
        "environment",
        "statement",
        "what",
        "rows",
        "size",
        "expires",
        "state",
    )
    list_filter = ("environment", "kind")
    search_fields = ("migration_id", "table", "archive")
    ordering = ("-created_at", "migration_id", "statement")
    actions = ("purge_archives", "restore_archives")

    @admin.display(description=gettext_lazy("size"), ordering="bytes")
    def size(self, record: ArchiveRecord) -> str:
        return "—" if record.bytes is None else f"{record.bytes / 1_000_000:,.1f}\u00a0MB"

    @admin.display(description=gettext_lazy("what"), ordering="table")
    def what(self, record: ArchiveRecord) -> str:
        return _("%(kind)s of %(table)s") % {"kind": record.kind, "table": record.table}

    @admin.display(description=gettext_lazy("kept until"), ordering="expires_at")
    def expires(self, record: ArchiveRecord) -> str:
        return localtime(record.expires_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description=gettext_lazy("state"))
    def state(self, record: ArchiveRecord) -> str:
        if record.purged_at:
            return _("purged")
        if record.restored_at:
            return _("restored")
        if record.expires_at <= timezone.now():
            return _("expired")
        return _("kept")

    def has_purge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("schema_manager.purge_archive")

    def has_restore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("schema_manager.restore_archive")

    @admin.action(permissions=["purge"], description=gettext_lazy("Purge selected archives"))
    def purge_archives(self, request: HttpRequest, queryset: QuerySet):
        now = timezone.now()
        records = list(queryset)
        expired = [r for r in records if r.is_held and r.expires_at <= now]
        if request.POST.get("post") != "yes":
            preview = purge(expired, dry_run=True)
            why = {record.pk: reason for record, reason in preview.kept}
            items = [
                (
                    r,
                    why.get(r.pk)
                    or (
                        _("dropped from the target")
                        if r in preview.purged
                        else _("not expired (or already gone): kept")
                    ),
                )
                for r in records
            ]
            return self._confirm(
                request,
                queryset,
                "purge_archives",
                items,
                bool(preview.purged),
                _("Purge archives"),
                _("Yes, purge them"),
                _("Expired archives are dropped from their target; the data is gone for good."),
            )
        done = purge(expired)
        for record, reason in done.kept:
            self.message_user(request, f"{record.archive}: {reason}", messages.WARNING)
        self.message_user(request, _("%(n)d archive(s) purged.") % {"n": len(done.purged)})
        return None

    @admin.action(permissions=["restore"], description=gettext_lazy("Restore (roll back)"))
    def restore_archives(self, request: HttpRequest, queryset: QuerySet):
        records = [r for r in queryset if r.is_held]
        pairs = sorted({(r.environment, r.migration_id) for r in records})
        allowed = {env: may_operate(request.user, "rollback", resolve(env)) for env, _m in pairs}
        if request.POST.get("post") != "yes":
            items = [
                (
                    r,
                    _("its migration is rolled back; the rollback restores this archive")
                    if allowed[r.environment]
                    else _("you may not roll back in this environment"),
                )
                for r in records
            ]
            return self._confirm(
                request,
                queryset,
                "restore_archives",
                items,
                any(allowed.values()),
                _("Restore archives"),
                _("Yes, roll back their migrations"),
                _("Restoring runs the generated rollback of each archive's migration."),
            )
        user = request.user.get_username()
        for environment, migration_id in pairs:
            if not allowed[environment]:
                continue
            for result in services.rollback([migration_id], environment, applied_by=user):
                level = messages.SUCCESS if result.success else messages.ERROR
                self.message_user(request, scrub(result.message), level)
        return None

    def _confirm(self, request, queryset, action, items, runnable, title, submit, explanation):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "items": items,
            "queryset": queryset,
            "action": action,
            "runnable": runnable,
            "submit_label": submit,
            "explanation": explanation,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, TEMPLATE, context)

    # Records are written by applies and rollbacks, never by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
