"""The migration changelist: the import from disk that opening it does, and its
per-environment columns and filters.

Each page reads each target's ledger once (``states.ledgers``), never once per row.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db import DatabaseError
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ..disk_import import import_folders
from ..exceptions import SchemaManagerError
from ..models import Migration
from ..security import get_logger, scrub
from ..state import State
from ..workspace import Workspace
from .display import state_badge
from .states import disk, ledgers, remember_disk, state_in, states_of

logger = get_logger("schema_manager.admin")


def import_from_disk(request: HttpRequest) -> None:
    """Import the migration folders the catalogue lacks (or that changed), as every command
    does first, and say so; a folder that cannot be read is named with why, never an error
    page. Unchanged files are not read again (``file_reads`` remembers their checksums)."""
    folders = Workspace().directory
    directory = folders.path
    try:
        done = import_folders(folders)
    except (OSError, SchemaManagerError, DatabaseError) as exc:
        logger.warning("Could not import from %s: %s", directory, exc)
        messages.error(
            request,
            _("Could not import from %(path)s: %(error)s")
            % {"path": directory, "error": scrub(str(exc))},
        )
        return
    remember_disk(request, done)
    if done.imported:
        ids = ", ".join(migration.id for migration in done.imported)
        count = len(done.imported)
        messages.info(
            request,
            ngettext(
                "Imported %(count)d migration from %(path)s: %(ids)s.",
                "Imported %(count)d migrations from %(path)s: %(ids)s.",
                count,
            )
            % {"count": count, "path": directory, "ids": ids},
        )
    for folder in done.unreadable:
        messages.error(
            request,
            _("Migration folder %(id)s cannot be used: %(error)s")
            % {"id": folder.id, "error": folder.error},
        )


class MigrationChangeList(ChangeList):
    """Attaches each page row's state per environment: one ledger read per target."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        snapshots, on_disk = ledgers(request), disk(request)
        for migration in self.result_list:
            migration.environment_states = states_of(migration, snapshots, on_disk)
        for snapshot in snapshots:
            if snapshot.error:
                messages.warning(
                    request,
                    format_html(
                        "Could not read the ledger of {} ({}): {}",
                        snapshot.target.environment,
                        snapshot.target.alias,
                        snapshot.error,
                    ),
                )


def state_filter(environment: str) -> type[admin.SimpleListFilter]:
    class EnvironmentStateFilter(admin.SimpleListFilter):
        title = format_lazy(gettext_lazy("state in {}"), environment)
        parameter_name = f"state_{environment}"

        def lookups(self, request, model_admin):
            # Every state a catalogue entry can be in (never MISSING: that is no entry).
            return [
                (state.value, state.label)
                for state in State
                if state not in {State.MISSING, State.UNKNOWN}
            ]

        def queryset(self, request, queryset):
            if not self.value():
                return None
            snapshot = next(s for s in ledgers(request) if s.target.environment == environment)
            on_disk = disk(request)
            matching = [
                migration.pk
                for migration in Migration.objects.only("id", "sql", "checksum")
                if state_in(migration, snapshot, on_disk).state == self.value()
            ]
            return queryset.filter(pk__in=matching)

    return EnvironmentStateFilter


def state_column(environment: str) -> Callable:
    def column(migration: Migration):
        state = getattr(migration, "environment_states", {}).get(environment)
        return state_badge(state) if state else "—"

    column.__name__ = f"state_{environment}"
    return admin.display(description=environment)(column)
