"""Where each migration stands in each environment, read for a whole page at once.

The target's ``_prisma_migrations`` ledger is the truth. Each target's ledger is read once
per request (cached on the request), whatever the number of migrations shown: the
changelist, its filters and the permission checks all share that one read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import DatabaseError, connections
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..backends import get_backend
from ..checksums import same_script
from ..exceptions import SchemaManagerError
from ..ledger import Ledger, LedgerRow
from ..models import Migration
from ..security import scrub
from ..targets import Target, all_targets

STATE_LABELS = {
    "applied": _("applied"),
    "failed": _("failed"),
    "rolled_back": _("rolled back"),
    "pending": _("pending"),
    "drifted": _("drifted"),
    "unresolved": _("unresolved"),
    "unknown": _("unknown"),
}
# States in which the target holds the migration's effects: editing it would be drift.
LIVE_STATES = frozenset({"applied", "drifted", "unresolved", "unknown"})

_CACHE_ATTRIBUTE = "_schema_manager_ledgers"


@dataclass(frozen=True)
class LedgerSnapshot:
    """One target's ledger as read now: the latest row per migration, or why it is unreadable."""

    target: Target
    latest: dict[str, LedgerRow] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class EnvironmentState:
    environment: str
    state: str
    row: LedgerRow | None = None
    detail: str = ""

    @property
    def label(self) -> str:
        return str(STATE_LABELS[self.state])

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATES


def read_ledger(target: Target) -> LedgerSnapshot:
    try:
        rows = Ledger(get_backend(connections[target.alias])).rows()
    except (DatabaseError, SchemaManagerError) as exc:
        return LedgerSnapshot(target, error=scrub(f"{type(exc).__name__}: {exc}"))
    latest: dict[str, LedgerRow] = {}
    for row in rows:  # oldest first, so the last row per migration wins
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


def forget_ledgers(request: HttpRequest) -> None:
    """Drop the request's cached ledgers (after an operation changed one)."""
    if hasattr(request, _CACHE_ATTRIBUTE):
        delattr(request, _CACHE_ATTRIBUTE)


def state_in(migration: Migration, snapshot: LedgerSnapshot) -> EnvironmentState:
    """The state of ``migration`` in the snapshot's environment."""
    environment = snapshot.target.environment
    if snapshot.error:
        return EnvironmentState(environment, "unknown", detail=snapshot.error)
    row = snapshot.latest.get(migration.id)
    if row is None:
        return EnvironmentState(environment, "pending")
    if row.is_applied:
        if same_script(row.checksum, migration.sql):
            return EnvironmentState(environment, "applied", row)
        detail = (
            f"Applied with checksum {row.checksum[:12]}…, but the SQL in the catalogue now has "
            f"checksum {migration.current_checksum[:12]}…."
        )
        return EnvironmentState(environment, "drifted", row, detail)
    if row.is_unresolved_failure:
        return EnvironmentState(environment, "unresolved", row, row.logs or "")
    if row.finished_at:
        return EnvironmentState(environment, "rolled_back", row)
    return EnvironmentState(environment, "failed", row, row.logs or "")


def states_of(
    migration: Migration, snapshots: Iterable[LedgerSnapshot]
) -> dict[str, EnvironmentState]:
    """Environment -> state of ``migration``, in the order of ``ENVIRONMENTS``."""
    return {snapshot.target.environment: state_in(migration, snapshot) for snapshot in snapshots}


def live_environments(request: HttpRequest | None, migration: Migration) -> list[str]:
    """Environments whose target holds ``migration`` (or cannot be read, so might)."""
    return [
        environment
        for environment, state in states_of(migration, ledgers(request)).items()
        if state.is_live
    ]
