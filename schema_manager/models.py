"""The catalogue of migrations and the append-only history of every attempt.

Models hold fields and small helpers only; SQL execution lives in ``execution/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import history_writes
from .checksums import migration_checksum
from .exceptions import AppliedMigrationError
from .sql.migration_ids import MIGRATION_ID_MAX_LENGTH, id_problems

# Ids per ``__in`` query when reading for a whole plan: within SQLite's oldest limit of 999
# parameters per statement.
IDS_PER_QUERY = 500


def id_chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    """``ids``, deduplicated and sorted, in lists of at most ``IDS_PER_QUERY``."""
    unique = sorted(set(ids))
    for start in range(0, len(unique), IDS_PER_QUERY):
        yield unique[start : start + IDS_PER_QUERY]


def validate_migration_id(value: str) -> None:
    """The id can name a migration folder as Prisma lists them (see ``sql.migration_ids``)."""
    problems = id_problems(value)
    if problems:
        raise ValidationError(problems[0], code="invalid-id")


class Migration(models.Model):
    """A raw-SQL migration: the SQL that goes into ``migration.sql`` and its rollback."""

    id = models.CharField(
        _("id"),
        primary_key=True,
        max_length=MIGRATION_ID_MAX_LENGTH,
        validators=[validate_migration_id],
        help_text=_(
            "Its folder's name under migrations/, sorted by name: e.g. 001_add_users_table or "
            "20240101120000_add_users."
        ),
    )
    name = models.CharField(_("name"), max_length=255)
    sql = models.TextField(_("SQL"))
    rollback_sql = models.TextField(
        _("rollback SQL"), blank=True, default="", help_text=_("Leave empty to generate one.")
    )
    checksum = models.CharField(_("checksum"), max_length=64, editable=False)
    kept_on_disk = models.BooleanField(
        _("kept on disk"),
        default=False,
        editable=False,
        help_text=_(
            "Its folder under migrations/ was imported or written. If that folder is deleted "
            "before the migration is applied anywhere, the migration is no longer planned."
        ),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("migration")
        verbose_name_plural = _("migrations")
        permissions = [
            ("apply_migration", _("Can apply migrations")),
            ("rollback_migration", _("Can roll back migrations")),
            ("operate_production", _("Can apply and roll back in production")),
        ]

    def __str__(self) -> str:
        return self.id

    def save(self, *args, **kwargs) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "sql" in update_fields:
            problem = self.sql_change_problem()
            if problem:
                raise AppliedMigrationError(problem)
        self.checksum = migration_checksum(self.sql)
        if update_fields is not None and "sql" in update_fields:
            kwargs["update_fields"] = {*update_fields, "checksum"}
        # One transaction with what post_save does: an edit voids the decisions on change
        # requests that pin this migration (change_requests/voiding.py), or neither happens.
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        problem = self.sql_change_problem()
        if problem:
            raise ValidationError({"sql": problem})

    def sql_change_problem(self) -> str | None:
        """Why the SQL being saved may not replace the stored SQL (None if it may)."""
        # Not skipped for unsaved instances: saving one with a stored id overwrites that row.
        stored = type(self).objects.filter(pk=self.pk).values_list("checksum", flat=True).first()
        new = migration_checksum(self.sql)
        if stored is None or stored == new:
            return None
        environments = VersionRecord.objects.applied_environments(self.pk)
        if not environments:
            return None
        return (
            f"Migration {self.pk!r} is applied in {', '.join(sorted(environments))}, so its SQL "
            f"cannot change (applied checksum {stored}, new checksum {new}); put the change in "
            "a new migration."
        )

    @property
    def current_checksum(self) -> str:
        """The checksum of the SQL as it is now (``checksum`` is as of the last save)."""
        return migration_checksum(self.sql)


class VersionRecordQuerySet(models.QuerySet["VersionRecord"]):
    """Reads of history, and its only two writers: ``record`` and ``record_many``."""

    def record(
        self,
        key: dict[str, Any],
        fields: dict[str, Any],
        *,
        writer: history_writes.RecordWriter | None = None,
    ) -> VersionRecord:
        """Append the record of one attempt: ``key`` names its event (environment, ledger id,
        operation, and status where the ledger does not tell it), ``fields`` the rest.

        ``writer`` is a plan's (``history_writes.writer_for``: on PostgreSQL a long plan's
        records are sent overlapped with the next migration); by default it is written now.
        A record that another process rebuilt from the ledger meanwhile is replaced by this
        one (the only update of history). Raises ``HistoryNotWritten`` if it is refused."""
        writer = writer or history_writes.RecordWriter(self.model)
        return cast(VersionRecord, writer.write(key, fields))

    def record_many(self, records: Iterable[VersionRecord]) -> list[VersionRecord]:
        """Append records rebuilt from the ledger (or of attempts a crash interrupted),
        skipping an event already recorded: another process may be recording it right now."""
        # django-stubs' plugin leaves this queryset's model unbound here (the class is given
        # to as_manager()), although it names VersionRecord.
        return self.bulk_create(  # type: ignore[return-value]
            records,  # type: ignore[arg-type]
            ignore_conflicts=True,
        )

    def for_environment(self, environment: str) -> VersionRecordQuerySet:
        return self.filter(environment=environment)

    def applied_environments(self, migration_id: str) -> set[str]:
        """Environments whose latest apply/rollback of ``migration_id`` left it applied."""
        applied, rolled_back = VersionRecord.Status.APPLIED, VersionRecord.Status.ROLLED_BACK
        latest: dict[str, str] = {}
        records = self.filter(
            migration_id=migration_id, status__in=[applied, rolled_back]
        ).order_by("-recorded_at", "-id")
        for environment, status in records.values_list("environment", "status"):
            latest.setdefault(environment, status)
        return {environment for environment, status in latest.items() if status == applied}


class VersionRecord(models.Model):
    """One row per apply or rollback attempt in one environment, appended by
    ``objects.record`` / ``record_many`` and never deleted.

    Updated in one case only: a row rebuilt from the ledger (``reconciled``) by another
    process, between the target's commit and the applier's own record of that event, is
    replaced by the applier's record, which knows more (who, how long, the rollback script);
    the unique constraint allows one row per ledger event."""

    class Operation(models.TextChoices):
        APPLY = "apply", _("apply")
        ROLLBACK = "rollback", _("rollback")

    class Status(models.TextChoices):
        APPLIED = "applied", _("applied")
        FAILED = "failed", _("failed")
        ROLLED_BACK = "rolled_back", _("rolled back")

    class Recovery(models.TextChoices):
        """What became of a failed attempt's changes."""

        NONE = "", _("—")
        ROLLED_BACK = "rolled_back", _("transaction rolled back")
        COMPENSATED = "compensated", _("compensated")
        INCOMPLETE = "incomplete", _("compensation incomplete")
        INTERRUPTED = "interrupted", _("interrupted")

    migration_id = models.CharField(_("migration id"), max_length=MIGRATION_ID_MAX_LENGTH)
    name = models.CharField(_("name"), max_length=255)
    environment = models.CharField(_("environment"), max_length=64)
    database = models.CharField(_("database alias"), max_length=64)
    operation = models.CharField(_("operation"), max_length=16, choices=Operation.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now, editable=False)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    rolled_back_at = models.DateTimeField(_("rolled back at"), null=True, blank=True)
    execution_time = models.FloatField(_("execution time (s)"), default=0.0)
    checksum = models.CharField(_("checksum"), max_length=64)
    rollback_script = models.TextField(_("rollback script"), blank=True, default="")
    rollback_generated = models.BooleanField(_("rollback generated"), default=False)
    error = models.TextField(_("error"), blank=True, default="")
    applied_by = models.CharField(_("applied by"), max_length=150, blank=True, default="")
    ledger_id = models.CharField(
        _("ledger row"),
        max_length=36,
        blank=True,
        default="",
        help_text=_("The id of the target's _prisma_migrations row this attempt wrote."),
    )
    faked = models.BooleanField(
        _("faked"),
        default=False,
        help_text=_("Recorded as applied without running its SQL (apply --fake)."),
    )
    reconciled = models.BooleanField(
        _("reconciled"),
        default=False,
        help_text=_("Written from the target's ledger after the attempt itself went unrecorded."),
    )

    recovery = models.CharField(
        _("recovery"),
        max_length=16,
        choices=Recovery.choices,
        blank=True,
        default="",
        help_text=_(
            "For a failed attempt: rolled back by the transaction, compensated by running the "
            "inverses of its completed statements (MySQL/MariaDB, no-transaction SQL), "
            "compensation incomplete (see the error for what remains), or interrupted (the "
            "process died)."
        ),
    )

    objects = VersionRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        verbose_name = _("version history record")
        verbose_name_plural = _("version history records")
        indexes = [
            models.Index(fields=["environment", "-recorded_at"], name="sm_history_env_time"),
            models.Index(fields=["migration_id", "environment"], name="sm_history_migration"),
            models.Index(fields=["ledger_id"], name="sm_history_ledger"),
        ]
        constraints = [
            # One record per ledger row and event, however many processes record it at once
            # (the applier itself, or another one reconciling from the ledger meanwhile).
            models.UniqueConstraint(
                fields=["environment", "ledger_id", "operation"],
                condition=~models.Q(ledger_id="")
                & (models.Q(operation="apply") | models.Q(status="rolled_back")),
                name="sm_history_one_per_ledger_event",
            )
        ]

    def __str__(self) -> str:
        return f"{self.migration_id} {self.get_status_display()} in {self.environment}"


# Registered with the app: Django finds models in the app's models module.
from .archive.models import ArchiveRecord  # noqa: E402, F401
from .change_requests.models import (  # noqa: E402, F401
    Approval,
    ChangeRequest,
    Notification,
    PinnedMigration,
)
from .fleets.models import Rollout, TargetRun, Wave  # noqa: E402, F401
from .script_analysis import ScriptAnalysis  # noqa: E402, F401
