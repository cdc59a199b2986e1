"""The admin: the migration catalogue with its actions, and the read-only version history."""

from django.contrib import admin

from ..models import Migration, VersionRecord
from .history import VersionRecordAdmin
from .migrations import MigrationAdmin

admin.site.register(Migration, MigrationAdmin)
admin.site.register(VersionRecord, VersionRecordAdmin)

__all__ = ["MigrationAdmin", "VersionRecordAdmin"]
