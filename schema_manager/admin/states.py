"""Where each migration stands in each environment, read for a whole page at once.

``state.standing`` decides; this module gathers its facts for a page. Each target's
``_prisma_migrations`` ledger is read once per request (cached on the request), whatever the
number of migrations shown: the changelist, its filters and the permission checks all share
that one read; the migrations directory is listed once per request too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import DatabaseError, connections
from django.http import HttpRequest
from django.utils.translation import gettext as _

from .. import planning
from ..backends import get_backend
from ..exceptions import SchemaManagerError
from ..files import FolderChecksum, UnreadableFolder
from ..ledger import Ledger
from ..ledger_rows import LedgerRow
from ..models import Migration
from ..reconciliation import rolled_back_rows
from ..results import FolderImport
from ..security import scrub
from ..state import Facts, Standing, State, standing
from ..targets import Target, all_targets
from ..workspace import Workspace

_CACHE_ATTRIBUTE = "_schema_manager_ledgers"
_DISK_ATTRIBUTE = "_schema_manager_disk"


@dataclass(frozen=True)
class LedgerSnapshot:
    """One target's ledger as read now: the latest row per migration, or why it is unreadable."""

    target: Target
    latest: dict[str, LedgerRow] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class DiskSnapshot:
    """The migrations directory as listed now: its folders by checksum, those that cannot be
    read, and the catalogue entries whose folder was deleted before they were applied."""

    folders: dict[str, FolderChecksum] = field(default_factory=dict)
    unreadable: dict[str, UnreadableFolder] = field(default_factory=dict)
    gone: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EnvironmentState:
    environment: str
    standing: Standing
    row: LedgerRow | None = None
    detail: str = ""  # why, in one sentence: shown as the badge's tooltip

    @property
    def state(self) -> State:
        return self.standing.state

    @property
    def label(self) -> str:
        return str(self.state.label)

    @property
    def is_live(self) -> bool:
        return self.standing.is_live

    @property
    def is_applied(self) -> bool:
        return self.standing.is_applied


def read_ledger(target: Target) -> LedgerSnapshot:
    try:
        rows = Ledger(get_backend(connections[target.alias])).rows()
    except (DatabaseError, SchemaManagerError) as exc:
        return LedgerSnapshot(target, error=scrub(f"{type(exc).__name__}: {exc}"))
    latest: dict[str, LedgerRow] = {}
    # Rows our rollbacks removed first, as history has them; then the ledger's, oldest first,
    # so the last row per migration wins.
    for row in [*rolled_back_rows(target.environment, rows), *rows]:
        latest[row.migration_name] = row
    return LedgerSnapshot(target, latest)


def ledgers(request: HttpRequest | None = None) -> list[LedgerSnapshot]:
    """Every environment's ledger, read once per request."""
    if request is not None and hasattr(request, _CACHE_ATTRIBUTE):
        return getattr(request, _CACHE_ATTRIBUTE)
    snapshots = [read_ledger(target) for target in all_targets()]
    if request is not None:
        setattr(request, _CACHE_ATTRIBUTE, snapshots)
    return snapshots


def forget(request: HttpRequest) -> None:
    """Drop the request's cached ledgers and listing (after an operation changed them: a
    development apply writes its folder)."""
    for attribute in (_CACHE_ATTRIBUTE, _DISK_ATTRIBUTE):
        if hasattr(request, attribute):
            delattr(request, attribute)


def read_disk() -> DiskSnapshot:
    """The migrations directory now (file checksums are remembered: unchanged files are not
    read again)."""
    try:
        listing = Workspace().directory.listing()
    except OSError:  # the catalogue alone is shown
        return DiskSnapshot()
    return _snapshot(listing.folders, listing.unreadable)


def _snapshot(
    folders: Iterable[FolderChecksum], unreadable: Iterable[UnreadableFolder]
) -> DiskSnapshot:
    readable = {folder.id: folder for folder in folders}
    bad = {folder.id: folder for folder in unreadable}
    gone = planning.missing_on_disk(Workspace().directory, {*readable, *bad})
    return DiskSnapshot(readable, bad, frozenset(gone))


def disk(request: HttpRequest | None = None) -> DiskSnapshot:
    """The migrations directory, listed once per request."""
    if request is not None and hasattr(request, _DISK_ATTRIBUTE):
        return getattr(request, _DISK_ATTRIBUTE)
    snapshot = read_disk()
    if request is not None:
        setattr(request, _DISK_ATTRIBUTE, snapshot)
    return snapshot


def remember_disk(request: HttpRequest, done: FolderImport) -> None:
    """What the request's import from disk listed is the request's ``disk``: the directory
    is not listed twice for one page."""
    setattr(request, _DISK_ATTRIBUTE, _snapshot(done.folders, done.unreadable))


def state_in(
    migration: Migration, snapshot: LedgerSnapshot, on_disk: DiskSnapshot
) -> EnvironmentState:
    """The state of ``migration`` in the snapshot's environment."""
    row = None if snapshot.error else snapshot.latest.get(migration.id)
    facts = Facts(
        row=row,
        catalogue=migration,
        folder=on_disk.folders.get(migration.id),
        unreadable=on_disk.unreadable.get(migration.id),
        gone=migration.id in on_disk.gone,
        ledger_error=snapshot.error,
    )
    where = standing(facts)
    return EnvironmentState(snapshot.target.environment, where, row, _detail(where, facts))


def _detail(where: Standing, facts: Facts) -> str:
    if where.state is State.UNREADABLE and facts.unreadable is not None:
        return facts.unreadable.error
    if where.state is State.UNKNOWN:
        return facts.ledger_error
    if where.state is State.MODIFIED:
        return _(
            "Applied with checksum %(applied)s…, but its SQL now has checksum %(current)s…."
        ) % {"applied": where.applied_checksum[:12], "current": where.current_checksum[:12]}
    if where.state is State.MISSING_ON_DISK:
        return _(
            "Its folder was deleted before it was applied anywhere: it is never planned, and "
            "apply_schema_migration --prune removes it."
        )
    if where.state in {State.FAILED, State.UNRESOLVED} and facts.row is not None:
        return facts.row.logs or ""
    return ""


def states_of(
    migration: Migration, snapshots: Iterable[LedgerSnapshot], on_disk: DiskSnapshot
) -> dict[str, EnvironmentState]:
    """Environment -> state of ``migration``, in the order of ``ENVIRONMENTS``."""
    return {
        snapshot.target.environment: state_in(migration, snapshot, on_disk)
        for snapshot in snapshots
    }


def live_environments(request: HttpRequest | None, migration: Migration) -> list[str]:
    """Environments whose target holds ``migration`` (or cannot be read, so might)."""
    return [
        environment
        for environment, state in states_of(migration, ledgers(request), disk(request)).items()
        if state.is_live
    ]
