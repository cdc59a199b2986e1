"""Change requests in the admin: the changelist ("needs my review", protected environments in
red), the request page with what reviewers must see, and its buttons. Every button calls the
workflow in ``change_requests.service`` (or ``services`` to execute), which decides; every
decision and every refusal is written to ``LogEntry``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import services
from ..change_requests import eligibility, service
from ..change_requests.gate import guards
from ..change_requests.models import ChangeRequest
from ..change_requests.policy import fleet_scope, policy_for
from ..conf import app_settings
from ..exceptions import SchemaManagerError
from ..models import Migration
from ..security import scrub
from ..targets import resolve
from .actions import may_operate

BUTTONS = ("submit", "approve", "reject", "request_changes", "cancel", "review", "execute")


class ChangeRequestForm(forms.ModelForm):
    """Opening a request: the environment, the operation, and the plan in order."""

    environment = forms.ChoiceField(label=_("environment"))
    migration_ids = forms.CharField(
        label=_("migrations"),
        widget=forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField"}),
        help_text=_("Migration ids, one per line, in the order they run."),
    )

    class Meta:
        model = ChangeRequest
        fields = ["environment", "operation", "title", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["environment"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(e, e) for e in sorted(app_settings.ENVIRONMENTS)]

    def clean_migration_ids(self) -> list[str]:
        ids = [line.strip() for line in self.cleaned_data["migration_ids"].split() if line.strip()]
        known = set(Migration.objects.filter(pk__in=ids).values_list("pk", flat=True))
        unknown = [mid for mid in ids if mid not in known]
        if unknown:
            raise forms.ValidationError(_("Unknown migration(s): %s") % ", ".join(unknown))
        if len(set(ids)) != len(ids):
            raise forms.ValidationError(_("Name each migration once."))
        return ids


class NeedsMyReview(admin.SimpleListFilter):
    title = _("review")
    parameter_name = "review"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("mine", _("Needs my review")), ("overdue", _("Break-glass review overdue"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "mine":
            submitted = queryset.filter(state=ChangeRequest.State.SUBMITTED)
            ids = [r.pk for r in submitted if needs_review(r, request.user)]
            return queryset.filter(pk__in=ids)
        if self.value() == "overdue":
            return queryset.filter(pk__in=[r.pk for r in service.overdue_reviews()])
        return queryset


def needs_review(request: ChangeRequest, user: Any) -> bool:
    if eligibility.decision_problem(request, user, policy_for(request.environment)):
        return False
    return not request.approvals.filter(user=user, voided_at__isnull=True).exists()


class ChangeRequestAdmin(admin.ModelAdmin):
    form = ChangeRequestForm
    list_display = ["number", "title", "environment_badge", "operation", "state", "author"]
    list_display += ["created_at", "review_note"]
    list_filter = [NeedsMyReview, "state", "environment", "break_glass"]
    search_fields = ["title", "reason", "pins__migration_id"]
    change_form_template = "admin/schema_manager/changerequest/change_form.html"

    class Media:
        css = {"all": ["schema_manager/admin.css"]}

    @admin.display(description="#", ordering="pk")
    def number(self, obj: ChangeRequest) -> str:
        return f"#{obj.pk}"

    @admin.display(description=_("environment"), ordering="environment")
    def environment_badge(self, obj: ChangeRequest) -> str:
        protected = (
            guards(obj.environment) or obj.environment in app_settings.PROTECTED_ENVIRONMENTS
        )
        css = "sm-env-protected" if protected else "sm-env"
        style = "color:#ba2121;font-weight:bold" if protected else ""
        return format_html('<span class="{}" style="{}">{}</span>', css, style, obj.environment)

    @admin.display(description=_("review"))
    def review_note(self, obj: ChangeRequest) -> str:
        if not obj.break_glass:
            return ""
        if obj.reviewed_at:
            return format_html("{}", _("reviewed"))
        overdue = obj in service.overdue_reviews()
        return format_html(
            '<span class="{}" style="color:{}">{}</span>',
            "sm-review-overdue" if overdue else "sm-review-due",
            "#ba2121" if overdue else "inherit",
            _("review overdue") if overdue else _("review due"),
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return super().has_view_permission(request, obj) or user.has_perm(
            eligibility.DECIDE_PERMISSION
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # evidence is never deleted from the admin

    def save_model(self, request: HttpRequest, obj: ChangeRequest, form: Any, change: bool) -> None:
        created = service.create(
            form.cleaned_data["environment"],
            form.cleaned_data["migration_ids"],
            author=request.user,
            title=obj.title,
            reason=obj.reason,
            operation=obj.operation,
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def get_urls(self) -> list[Any]:
        act = self.admin_site.admin_view(self.act_view)
        name = "schema_manager_changerequest_act"
        return [path("<int:object_id>/act/", act, name=name), *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ):
        obj = get_object_or_404(ChangeRequest, pk=object_id)
        context = {**(extra_context or {}), **self.page_context(request, obj)}
        return super().change_view(request, object_id, form_url, context)

    def page_context(self, request: HttpRequest, obj: ChangeRequest) -> dict[str, Any]:
        user = request.user
        policy = policy_for(obj.environment)
        problem = eligibility.decision_problem(obj, user, policy)
        deciding = obj.state in (ChangeRequest.State.SUBMITTED, ChangeRequest.State.APPROVED)
        # A fleet's request (every target of it) runs as a rollout, not from this page.
        target = None if fleet_scope(obj.environment) else resolve(obj.environment)
        runnable = obj.state in (ChangeRequest.State.APPROVED, ChangeRequest.State.SCHEDULED)
        context: dict[str, Any] = {
            "cr": obj,
            "pins": list(obj.pins.all()),
            "snapshot": obj.snapshot.get("migrations", []),
            "decisions": list(obj.approvals.select_related("user")),
            "policy": policy,
            "protected": policy is not None or (target is not None and target.is_protected),
            "counted": len(eligibility.counted(obj, policy)),
            "required": policy.required if policy else 1,
            "may_submit": obj.state == ChangeRequest.State.DRAFT and user.pk == obj.author_id,
            "may_decide": deciding and problem is None,
            "why_not_decide": problem if deciding else "",
            "may_cancel": obj.state in service.OPEN_STATES
            and (user.pk == obj.author_id or user.is_superuser),
            "may_review": obj.break_glass
            and obj.reviewed_at is None
            and user.has_perm(service.REVIEW_PERMISSION),
            "may_execute": runnable
            and target is not None
            and may_operate(user, obj.operation, target),
            "act_url": reverse("admin:schema_manager_changerequest_act", args=[obj.pk]),
            "overdue": obj.break_glass and obj in service.overdue_reviews(),
        }
        buttons = ("may_submit", "may_decide", "may_cancel", "may_review", "may_execute")
        context["any_button"] = any(context[name] for name in buttons)
        return context

    def act_view(self, request: HttpRequest, object_id: int) -> HttpResponseRedirect:
        """One POST per button; the service decides, the admin reports and logs."""
        if request.method != "POST":
            raise PermissionDenied
        obj = get_object_or_404(ChangeRequest, pk=object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        action = request.POST.get("action", "")
        comment = request.POST.get("comment", "")
        page = reverse("admin:schema_manager_changerequest_change", args=[obj.pk])
        try:
            if action not in BUTTONS:
                raise SchemaManagerError(f"Unknown action {action!r}.")
            done = self._act(request, obj, action, comment)
        except (SchemaManagerError, DatabaseError) as exc:
            text = scrub(str(exc))
            self.log_change(request, obj, f"Refused {action}: {text}")
            self.message_user(request, text, messages.ERROR)
            return HttpResponseRedirect(page)
        self.log_change(request, obj, done)
        self.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(page)

    def _act(self, request: HttpRequest, obj: ChangeRequest, action: str, comment: str) -> str:
        user = request.user
        if action == "submit":
            service.submit(obj, user)
            return f"Submitted {obj.label} for review."
        if action in ("approve", "reject", "request_changes"):
            seen = request.POST.getlist("seen")
            checksums = [item.rsplit(":", 2) for item in seen] if seen else None
            service.decide(obj, user, action, comment, checksums_seen=checksums)
            return f"{action.replace('_', ' ').capitalize()}: {obj.label}. {comment}".strip()
        if action == "cancel":
            service.cancel(obj, user)
            return f"Cancelled {obj.label}."
        if action == "review":
            service.review(obj, user, comment)
            return f"Reviewed break-glass {obj.label}: {comment}"
        return self._execute(request, obj)

    def _execute(self, request: HttpRequest, obj: ChangeRequest) -> str:
        user = request.user
        fleet = fleet_scope(obj.environment)
        if fleet is not None:
            raise SchemaManagerError(
                f"{obj.label} is for every target of fleet {fleet!r}: roll it out with "
                f"apply_schema_migration --fleet {fleet} --change-request {obj.pk}."
            )
        target = resolve(obj.environment)
        if not may_operate(user, obj.operation, target):
            raise SchemaManagerError(
                f"{user.get_username()} may not {obj.operation} in {obj.environment}."
            )
        ids = obj.pinned_ids()
        who = user.get_username()
        if obj.operation == ChangeRequest.Operation.APPLY:
            found = Migration.objects.in_bulk(ids)
            plan = [found[mid] for mid in ids if mid in found]
            results = services.apply(plan, obj.environment, applied_by=who, change_request=obj)
        else:
            results = services.rollback(ids, obj.environment, applied_by=who, change_request=obj)
        failed = next((r for r in results if not r.success), None)
        if failed is not None:
            raise SchemaManagerError(failed.message)
        return f"Executed {obj.label}: {len(results)} migration(s) in {obj.environment}."
