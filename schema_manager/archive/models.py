"""``ArchiveRecord``: one archive an apply took on a target, until restored or purged."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ArchiveRecord(models.Model):
    """What one destructive statement of an applied migration kept on the target: where, how
    much, until when, and whether it was restored (by a rollback) or purged."""

    migration_id = models.CharField(_("migration"), max_length=255, db_index=True)
    environment = models.CharField(_("environment"), max_length=100, db_index=True)
    statement = models.PositiveIntegerField(_("statement"))  # 1-based, as messages say
    kind = models.CharField(_("kind"), max_length=20)  # table, column, old values, rows...
    table = models.CharField(_("object"), max_length=300)
    archive = models.CharField(_("archive table"), max_length=300)
    rows = models.BigIntegerField(_("rows"), null=True, blank=True)
    bytes = models.BigIntegerField(_("bytes"), null=True, blank=True)
    created_at = models.DateTimeField(_("archived at"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires at"))
    restored_at = models.DateTimeField(_("restored at"), null=True, blank=True)
    purged_at = models.DateTimeField(_("purged at"), null=True, blank=True)

    class Meta:
        app_label = "schema_manager"
        ordering = ["-created_at", "migration_id", "statement"]
        verbose_name = _("archive")
        verbose_name_plural = _("archives")
        permissions = [
            ("restore_archive", _("Can restore archives (rolls back their migration)")),
            ("purge_archive", _("Can purge archives")),
        ]

    def __str__(self) -> str:
        return f"{self.migration_id} #{self.statement} ({self.kind} of {self.table})"

    @property
    def is_held(self) -> bool:
        """Still on the target: neither restored nor purged."""
        return self.restored_at is None and self.purged_at is None
