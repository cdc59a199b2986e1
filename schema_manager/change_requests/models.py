"""The tables of the change-request workflow: requests, their pinned plan, decisions, and the
outbox of notifications. Fields and small helpers only; the workflow is in ``service``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..exceptions import ChangeRequestError
from ..sql.migration_ids import MIGRATION_ID_MAX_LENGTH


class ChangeRequest(models.Model):
    """A proposal to apply (or roll back) an ordered plan of migrations in one environment."""

    class Operation(models.TextChoices):
        APPLY = "apply", _("apply")
        ROLLBACK = "rollback", _("roll back")

    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        SUBMITTED = "submitted", _("submitted")
        APPROVED = "approved", _("approved")
        SCHEDULED = "scheduled", _("scheduled")
        EXECUTING = "executing", _("executing")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        REJECTED = "rejected", _("rejected")
        CANCELLED = "cancelled", _("cancelled")
        EXPIRED = "expired", _("expired")

    environment = models.CharField(_("environment"), max_length=64)
    operation = models.CharField(
        _("operation"), max_length=16, choices=Operation.choices, default=Operation.APPLY
    )
    title = models.CharField(_("title"), max_length=200)
    reason = models.TextField(_("reason"), blank=True, default="")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="schema_change_requests",
        verbose_name=_("author"),
    )
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.DRAFT, db_index=True
    )
    # What reviewers saw when it was submitted: findings, rehearsal, rollback scripts, impact,
    # the SQL diff against what is applied (see ``service.submit``).
    snapshot = models.JSONField(_("what reviewers saw"), default=dict, blank=True)
    # Why approvals were voided (a pinned script was edited), shown until it is submitted again.
    void_reason = models.TextField(_("why approvals were voided"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("approval expires at"), null=True, blank=True)
    executed_by = models.CharField(_("executed by"), max_length=150, blank=True, default="")
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Per migration run: id, success, message, the ledger row and VersionRecord ids.
    outcome = models.JSONField(_("outcome"), default=list, blank=True)
    # An emergency run without approvals: its reason, and the review it owes afterwards.
    break_glass = models.BooleanField(_("break-glass"), default=False)
    review_due_at = models.DateTimeField(_("review due at"), null=True, blank=True)
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    review_comment = models.TextField(_("review comment"), blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("change request")
        verbose_name_plural = _("change requests")
        permissions = [
            ("approve_changerequest", _("Can approve, reject or send back change requests")),
            ("break_glass", _("Can run an emergency change without approvals")),
            ("review_break_glass", _("Can review emergency changes afterwards")),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def label(self) -> str:
        return f"change request #{self.pk}"

    def pinned_ids(self) -> list[str]:
        return [pin.migration_id for pin in self.pins.all()]


class PinnedMigration(models.Model):
    """One migration of a request's plan, pinned by the checksums of the scripts that will run."""

    request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="pins")
    position = models.PositiveIntegerField(_("position"))
    migration_id = models.CharField(_("migration id"), max_length=MIGRATION_ID_MAX_LENGTH)
    sql_checksum = models.CharField(_("SQL checksum"), max_length=64, blank=True, default="")
    rollback_checksum = models.CharField(
        _("rollback checksum"), max_length=64, blank=True, default=""
    )
    # The scripts as pinned, so that the evidence needs nothing else.
    sql = models.TextField(_("SQL"), blank=True, default="")
    rollback_script = models.TextField(_("rollback script"), blank=True, default="")
    # Who last edited the migration in the admin when it was pinned ("" if nobody did).
    last_editor = models.CharField(_("last editor"), max_length=150, blank=True, default="")

    class Meta:
        ordering = ["request", "position"]
        verbose_name = _("pinned migration")
        verbose_name_plural = _("pinned migrations")
        constraints = [
            models.UniqueConstraint(fields=["request", "position"], name="sm_pin_position"),
            models.UniqueConstraint(fields=["request", "migration_id"], name="sm_pin_migration"),
        ]

    def __str__(self) -> str:
        return self.migration_id


class Approval(models.Model):
    """One reviewer's decision on a request, bound to the checksums they saw."""

    class Decision(models.TextChoices):
        APPROVE = "approve", _("approve")
        REJECT = "reject", _("reject")
        REQUEST_CHANGES = "request_changes", _("request changes")

    request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="schema_change_decisions",
        verbose_name=_("user"),
    )
    decision = models.CharField(_("decision"), max_length=16, choices=Decision.choices)
    comment = models.TextField(_("comment"), blank=True, default="")
    # [[migration id, SQL checksum, rollback checksum], ...] as the reviewer saw them.
    checksums_seen = models.JSONField(_("checksums seen"), default=list)
    decided_at = models.DateTimeField(_("decided at"), default=timezone.now)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    void_reason = models.TextField(_("why voided"), blank=True, default="")

    class Meta:
        ordering = ["request", "decided_at", "id"]
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.user}"


class Notification(models.Model):
    """The outbox: a message to send after the transaction that wrote it commits."""

    class Channel(models.TextChoices):
        WEBHOOK = "webhook", _("webhook")
        EMAIL = "email", _("e-mail")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        GAVE_UP = "gave_up", _("gave up")

    request = models.ForeignKey(
        ChangeRequest,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
    )
    event = models.CharField(_("event"), max_length=32)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    destination = models.CharField(_("destination"), max_length=500)
    payload = models.JSONField(_("payload"), default=dict)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    last_error = models.TextField(_("last error"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")

    def __str__(self) -> str:
        return f"{self.event} → {self.destination}"


def find(request_id: int | str | ChangeRequest) -> ChangeRequest:
    """The request numbered ``request_id`` ("7" or "#7"), read now; an error if none is."""
    number = request_id.pk if isinstance(request_id, ChangeRequest) else request_id
    try:
        number = int(str(number).lstrip("#"))
    except ValueError:
        raise ChangeRequestError(f"{request_id!r} is not a change request number.") from None
    found = ChangeRequest.objects.filter(pk=number).first()
    if found is None:
        raise ChangeRequestError(f"There is no change request #{number}.")
    return found
