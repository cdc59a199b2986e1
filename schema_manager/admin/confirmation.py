"""The page shown before an apply or rollback from the admin runs, like ``delete_selected``'s,
and what its form sends back: the checksums of the scripts it showed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

import django
from django.contrib import messages
from django.contrib.admin import AdminSite, helpers
from django.db.models.options import Options
from django.forms import Media
from django.http import HttpRequest, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..change_requests import gate as change_gate
from ..change_requests.service import approved_for
from ..confirmations import Shown
from ..models import Migration
from ..targets import Target
from . import plans
from .actions import ACTION_LABELS, action_name
from .consequences import vendor_name
from .states import disk

# The confirmation form's fields carrying, per migration, the checksums of what it showed.
SHOWN_FIELDS = ("sql_checksum:{}", "rollback_checksum:{}")


class ConfirmingAdmin(Protocol):
    """What the page needs of the model admin that shows it."""

    admin_site: AdminSite
    opts: Options
    operation_confirmation_template: str | None

    @property
    def media(self) -> Media: ...

    def message_user(self, request: HttpRequest, message: str, level: int) -> None: ...


def page(
    modeladmin: ConfirmingAdmin,
    request: HttpRequest,
    migrations: list[Migration],
    operation: str,
    target: Target,
    changed: Collection[str] = (),
) -> TemplateResponse:
    """The page shown before an apply or rollback runs, like delete_selected's; ``changed``:
    the ids of migrations shown again because they changed since an earlier page."""
    build = plans.apply_plan if operation == "apply" else plans.rollback_plan
    items = build(migrations, target, disk(request))
    for item in items:
        item.changed = item.migration.id in changed
    runnable = [item for item in items if item.will_run]
    blocked = [item for item in items if item.blocked_destructive]
    out_of_order = [item for item in items if item.out_of_order]
    # Runnable once allowed (a blocked item with other errors never is).
    allowable = [item for item in items if item.blocked_destructive or item.out_of_order]
    context = {
        **modeladmin.admin_site.each_context(request),
        # What confirming may run: the title counts what the page says will run.
        "title": _title(operation, len(runnable) or len(allowable), target),
        "subtitle": None,
        "opts": modeladmin.opts,
        "operation": operation,
        "operation_label": ACTION_LABELS[operation] % target.environment,
        "action_name": action_name(operation, target.environment),
        "target": target,
        "vendor": vendor_name(target),
        "items": items,
        "runnable": runnable,
        "blocked_destructive": blocked,
        "skipped": [item for item in items if item.skipped],
        "blocked_out_of_order": out_of_order,
        "refused": [i for i in items if not (i.will_run or i.skipped or i in allowable)],
        # Django 6.1 marks breadcrumbs up as a list; earlier versions as a div.
        "breadcrumbs_as_list": django.VERSION >= (6, 1),
        "offer_allow_destructive": operation == "apply" and bool(blocked),
        "offer_allow_out_of_order": operation == "apply" and bool(out_of_order),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "shown_fields": _shown_fields(items),
        "media": modeladmin.media,
        **_change_request_context(operation, target, migrations),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(
        request,
        modeladmin.operation_confirmation_template
        or "admin/schema_manager/migration/confirm_operation.html",
        context,
    )


def _change_request_context(
    operation: str, target: Target, migrations: list[Migration]
) -> dict[str, Any]:
    """Under an approval policy: the approved request this confirmation runs, or a link to
    open one for exactly these migrations."""
    if not change_gate.guards(target.environment):
        return {}
    ids = [migration.id for migration in migrations]
    approved = approved_for(operation, target.environment, ids)
    query = QueryDict(mutable=True)
    query.update({"environment": target.environment, "operation": operation})
    query["migration_ids"] = "\n".join(ids)
    return {
        "change_request": approved,
        "change_request_required": True,
        "open_change_request_url": reverse("admin:schema_manager_changerequest_add")
        + "?"
        + query.urlencode(),
    }


def _title(operation: str, count: int, target: Target) -> str:
    values = {"count": count, "env": target.environment}
    if not count:
        if operation == "apply":
            return _("Nothing to apply in %(env)s") % values
        return _("Nothing to roll back in %(env)s") % values
    if operation == "apply":
        title = ngettext(
            "Apply %(count)d migration to %(env)s?", "Apply %(count)d migrations to %(env)s?", count
        )
    else:
        title = ngettext(
            "Roll back %(count)d migration in %(env)s?",
            "Roll back %(count)d migrations in %(env)s?",
            count,
        )
    return title % values


def _shown_fields(items: list[plans.PlanItem]) -> list[tuple[str, str]]:
    """The form's hidden fields that bind confirming to what the page shows."""
    sql_field, rollback_field = SHOWN_FIELDS
    fields = []
    for item in items:
        shown = item.shown
        fields.append((sql_field.format(item.migration.pk), shown.sql))
        fields.append((rollback_field.format(item.migration.pk), shown.rollback))
    return fields


def shown_scripts(
    data: QueryDict, migrations: list[Migration]
) -> tuple[dict[str, Shown], list[str]]:
    """What the confirmation page showed of each migration, as its form sent it back; and
    the ids of those it sent nothing for (a POST not made from the page)."""
    shown: dict[str, Shown] = {}
    for migration in migrations:
        sql, rollback = (data.get(name.format(migration.pk), "") for name in SHOWN_FIELDS)
        if sql and rollback:
            shown[migration.id] = Shown(sql, rollback)
    return shown, [migration.id for migration in migrations if migration.id not in shown]


def refuse_unbound(modeladmin: ConfirmingAdmin, request: HttpRequest, ids: list[str]) -> None:
    modeladmin.message_user(
        request,
        ngettext(
            "Nothing ran: the confirmation did not say which SQL and rollback script it showed "
            "for %(ids)s. Review them below and confirm again.",
            "Nothing ran: the confirmation did not say which SQL and rollback scripts it showed "
            "for %(ids)s. Review them below and confirm again.",
            len(ids),
        )
        % {"ids": ", ".join(ids)},
        messages.ERROR,
    )
