"""Fleet rollouts in the admin: the list, and one rollout's page with its progress, waves,
failures and migrations-by-targets matrix, and the controls its viewer is allowed."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from ..exceptions import SchemaManagerError
from ..fleets import control
from ..fleets.models import Rollout, TargetRun
from ..fleets.status import progress, wave_counts

CONTROL_PERMISSION = "schema_manager.control_rollout"
# Which controls each state allows (the service refuses the others anyway).
CONTROLS = {
    "pause": ({Rollout.State.RUNNING}, control.pause),
    "resume": ({Rollout.State.PAUSED, Rollout.State.PARTIALLY_FAILED}, control.resume),
    "retry-failed": (
        {Rollout.State.PAUSED, Rollout.State.PARTIALLY_FAILED, Rollout.State.RUNNING},
        control.retry_failed,
    ),
    "cancel": (
        {Rollout.State.PLANNED, Rollout.State.RUNNING, Rollout.State.PAUSED},
        control.cancel,
    ),
}
# Targets shown in the matrix; the rest are counted.
MATRIX_TARGETS = 500


class RolloutAdmin(admin.ModelAdmin):
    list_display = ("__str__", "fleet", "state_label", "done", "started_by", "created_at")
    list_filter = ("fleet", "state")
    ordering = ("-created_at", "-pk")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("state"), ordering="state")
    def state_label(self, rollout: Rollout) -> str:
        return format_html(
            '<span class="sm-rollout sm-rollout-{}">{}</span>',
            rollout.state,
            rollout.get_state_display(),
        )

    @admin.display(description=_("targets done"))
    def done(self, rollout: Rollout) -> str:
        counts = progress(rollout)
        finished = sum(counts[state] for state in TargetRun.CLOSED)
        return f"{finished}/{sum(counts.values())} ({counts['failed']} failed)"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        rollout = self.get_object(request, object_id)
        if rollout is None or not self.has_view_permission(request, rollout):
            raise PermissionDenied
        if request.method == "POST":
            return self._control(request, rollout)
        allowed = request.user.has_perm(CONTROL_PERMISSION)
        context = {
            **self.admin_site.each_context(request),
            "title": str(rollout),
            "opts": self.model._meta,
            "rollout": rollout,
            "counts": progress(rollout),
            "total": rollout.runs.count(),
            "waves": wave_counts(rollout),
            "failures": rollout.runs.filter(state=TargetRun.State.FAILED).order_by("position"),
            "matrix": matrix(rollout),
            "controls": [
                name for name, (states, _call) in CONTROLS.items() if rollout.state in states
            ]
            if allowed
            else [],
        }
        return TemplateResponse(request, "admin/schema_manager/rollout/detail.html", context)

    def _control(self, request: HttpRequest, rollout: Rollout) -> HttpResponse:
        if not request.user.has_perm(CONTROL_PERMISSION):
            raise PermissionDenied
        name = request.POST.get("control", "")
        if name not in CONTROLS:
            raise PermissionDenied
        try:
            done = CONTROLS[name][1](rollout.pk)
        except SchemaManagerError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(
                request,
                _("Rollout %(id)s: %(state)s.")
                % {"id": done.pk, "state": done.get_state_display()},
            )
        return HttpResponseRedirect(request.path)


def matrix(rollout: Rollout) -> dict[str, Any]:
    """Migrations by targets, from what each target run recorded (no target is read): each
    cell "applied" (by this rollout), "present" (there before), "failed", "not run", or
    "" (the target has not run)."""
    ids = rollout.migration_ids
    rows = []
    runs = rollout.runs.order_by("position").only("target_key", "state", "applied", "error")
    for run in runs[:MATRIX_TARGETS]:
        rows.append((run, [_cell(run, ids, migration_id) for migration_id in ids]))
    return {"migrations": ids, "rows": rows, "hidden": max(runs.count() - MATRIX_TARGETS, 0)}


def _cell(run: TargetRun, ids: list[str], migration_id: str) -> str:
    state = run.state
    if state == TargetRun.State.SKIPPED:
        return "present"
    if state == TargetRun.State.SUCCEEDED:
        return "applied" if migration_id in run.applied else "present"
    if state == TargetRun.State.FAILED:
        if migration_id in run.applied:
            return "applied"
        first_missing = next((m for m in ids if m not in run.applied), None)
        return "failed" if migration_id == first_missing else "not run"
    return ""
