"""Rollouts of one plan over a fleet: the rollout, its waves, and one run per target.

A fleet is not atomic: each target applies the plan on its own (each migration atomic there,
as always), and the rollout records where each one stands.
"""

from __future__ import annotations

from typing import Any, cast

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Rollout(models.Model):
    class State(models.TextChoices):
        PLANNED = "planned", _("planned")
        RUNNING = "running", _("running")
        PAUSED = "paused", _("paused")
        SUCCEEDED = "succeeded", _("succeeded")
        PARTIALLY_FAILED = "partially_failed", _("partially failed")
        CANCELLED = "cancelled", _("cancelled")

    fleet = models.CharField(_("fleet"), max_length=15)
    # [[migration id, checksum], ...] in order: what every target applies, pinned when planned.
    plan = models.JSONField(_("plan"), default=list)
    strategy = models.CharField(_("strategy"), max_length=32, default="waves")
    state = models.CharField(
        _("state"), max_length=20, choices=State.choices, default=State.PLANNED
    )
    started_by = models.CharField(_("started by"), max_length=150, blank=True, default="")
    # The approval (change request) it runs under, where approvals apply: a reference only.
    change_request = models.CharField(_("change request"), max_length=64, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        app_label = "schema_manager"
        ordering = ["-created_at", "-pk"]
        verbose_name = _("rollout")
        verbose_name_plural = _("rollouts")
        permissions = [("control_rollout", _("Can pause, resume, retry and cancel rollouts"))]

    def __str__(self) -> str:
        return f"Rollout {self.pk} of {self.fleet} ({self.get_state_display()})"

    @property
    def migration_ids(self) -> list[str]:
        return [migration_id for migration_id, _checksum in self.plan]


class Wave(models.Model):
    class OnError(models.TextChoices):
        STOP = "stop", _("stop")
        CONTINUE = "continue", _("continue")

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        STOPPED = "stopped", _("stopped")
        DONE = "done", _("done")

    rollout = models.ForeignKey(Rollout, models.CASCADE, related_name="waves")
    position = models.PositiveIntegerField(_("position"))
    name = models.CharField(_("name"), max_length=64)
    selector = models.JSONField(_("label selector"), default=dict, blank=True)
    max_parallel = models.PositiveIntegerField(_("max parallel"), default=4)
    on_error = models.CharField(
        _("on error"), max_length=8, choices=OnError.choices, default=OnError.STOP
    )
    max_failures = models.PositiveIntegerField(_("max failures"), default=1)
    # Failures before the last resume: a resumed wave has max_failures again.
    failures_forgiven = models.PositiveIntegerField(default=0, editable=False)
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default="pending")

    class Meta:
        app_label = "schema_manager"
        ordering = ["rollout", "position"]
        constraints = [
            models.UniqueConstraint(fields=["rollout", "position"], name="sm_wave_position")
        ]

    def __str__(self) -> str:
        return self.name


class TargetRun(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        CLAIMED = "claimed", _("claimed")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        SKIPPED = "skipped", _("skipped")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    rollout = models.ForeignKey(Rollout, models.CASCADE, related_name="runs")
    wave = models.ForeignKey(Wave, models.CASCADE, related_name="runs")
    position = models.PositiveIntegerField(_("position"))
    target_key = models.CharField(_("target"), max_length=48)
    environment = models.CharField(_("environment"), max_length=64)  # its history's
    schema = models.CharField(_("schema"), max_length=63, blank=True, default="")
    labels = models.JSONField(_("labels"), default=dict, blank=True)
    server = models.CharField(_("server"), max_length=255, blank=True, default="")
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default="queued")
    attempt = models.PositiveIntegerField(_("attempt"), default=0)
    lease_token = models.CharField(max_length=32, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(_("worker"), max_length=255, blank=True, default="")
    # When its task was last handed to the task engine (None: not yet, or to be again).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(_("error"), blank=True, default="")
    # Migration ids this run applied (the rest of the plan was there already).
    applied = models.JSONField(_("applied"), default=list, blank=True)

    class Meta:
        app_label = "schema_manager"
        ordering = ["rollout", "position"]
        constraints = [
            models.UniqueConstraint(fields=["rollout", "target_key"], name="sm_run_target")
        ]
        indexes = [models.Index(fields=["rollout", "wave", "state"], name="sm_run_state")]

    def __str__(self) -> str:
        return f"{self.target_key} ({self.get_state_display()})"

    ACTIVE = (State.CLAIMED, State.RUNNING)
    CLOSED = (State.SUCCEEDED, State.SKIPPED, State.FAILED, State.CANCELLED)

    @classmethod
    def quoted_names(cls, connection: Any, *fields: str) -> list[str]:
        """The table, then the columns of ``fields``, quoted for ``connection`` (for the
        statements the ORM cannot write, such as PostgreSQL's ``UPDATE … RETURNING``)."""
        columns = [
            cast("models.Field[Any, Any]", cls._meta.get_field(name)).column for name in fields
        ]
        return [connection.ops.quote_name(name) for name in (cls._meta.db_table, *columns)]
