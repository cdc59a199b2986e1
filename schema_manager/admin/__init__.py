"""The admin: the migration catalogue with its actions, and the read-only version history."""

from django.contrib import admin

from ..models import ArchiveRecord, ChangeRequest, Migration, Rollout, VersionRecord
from .archives import ArchiveRecordAdmin
from .change_requests import ChangeRequestAdmin
from .history import VersionRecordAdmin
from .migrations import MigrationAdmin
from .rollouts import RolloutAdmin

admin.site.register(Migration, MigrationAdmin)
admin.site.register(VersionRecord, VersionRecordAdmin)
admin.site.register(ArchiveRecord, ArchiveRecordAdmin)
admin.site.register(ChangeRequest, ChangeRequestAdmin)
admin.site.register(Rollout, RolloutAdmin)

__all__ = [
    "ArchiveRecordAdmin",
    "ChangeRequestAdmin",
    "MigrationAdmin",
    "RolloutAdmin",
    "VersionRecordAdmin",
]
