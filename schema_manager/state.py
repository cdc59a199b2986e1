"""Where a migration stands in one environment: one vocabulary, decided in one place.

A migration is known from four places: its folder on disk, the catalogue, the target's
``_prisma_migrations`` ledger and the history. ``standing`` turns what each of them says
into one ``State``; the status command, its JSON output and the admin's badges, filters and
confirmation pages all ask it, so that no two faces of the app name one fact differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from django.utils.translation import gettext_lazy as _

from .checksums import same_script
from .files import FolderChecksum, UnreadableFolder
from .ledger_rows import LedgerRow
from .models import Migration


class State(str, Enum):
    """The values are those of ``schema_migration_status --format json``."""

    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    # Unfinished and not rolled back: Prisma refuses to deploy until someone resolves it.
    UNRESOLVED = "unresolved"
    # Applied with other SQL than its SQL now (on disk, else in the catalogue): drift.
    MODIFIED = "modified"
    # Applied here, but neither on disk nor in the catalogue.
    MISSING = "missing"
    # In the catalogue, its folder deleted before it was applied anywhere: never planned.
    MISSING_ON_DISK = "missing_on_disk"
    # Its folder cannot be read, so its SQL now is unknown.
    UNREADABLE = "unreadable"
    # The environment's ledger cannot be read (the admin shows it; commands fail instead).
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        """How people read it: the status's text output and the admin's badges."""
        return str(_LABELS[self])


_LABELS = {
    State.PENDING: _("pending"),
    State.APPLIED: _("applied"),
    State.FAILED: _("failed"),
    State.ROLLED_BACK: _("rolled back"),
    State.UNRESOLVED: _("unresolved"),
    State.MODIFIED: _("modified"),
    State.MISSING: _("missing"),
    State.MISSING_ON_DISK: _("missing on disk"),
    State.UNREADABLE: _("unreadable"),
    State.UNKNOWN: _("unknown"),
}

# Not deployed as on disk: what ``schema_migration_status --check`` fails on.
NOT_DEPLOYED = frozenset(
    {
        State.PENDING,
        State.FAILED,
        State.ROLLED_BACK,
        State.UNRESOLVED,
        State.MODIFIED,
        State.UNREADABLE,
    }
)


@dataclass(frozen=True)
class Facts:
    """What is known of one migration for one environment."""

    row: LedgerRow | None = None  # its latest row in the environment's ledger
    catalogue: Migration | None = None  # its catalogue entry
    folder: FolderChecksum | None = None  # its folder on disk, known by checksum
    unreadable: UnreadableFolder | None = None  # its folder, which cannot be read
    # History says its folder was deleted before it was applied anywhere.
    gone: bool = False
    ledger_error: str = ""  # why the environment's ledger cannot be read


@dataclass(frozen=True)
class Standing:
    state: State
    # What the ledger's latest row alone says (``ledger_state``).
    ledger: State = State.PENDING
    # What the ledger recorded it with (for MODIFIED without a ledger row: the catalogue's,
    # as applied in another environment), and the checksum of its SQL now.
    applied_checksum: str = ""
    current_checksum: str = ""

    @property
    def is_applied(self) -> bool:
        """The ledger counts it as applied here, whatever its SQL now: a rollback undoes it."""
        return self.ledger is State.APPLIED and self.state is not State.UNKNOWN

    @property
    def is_live(self) -> bool:
        """The target holds (or, unknown, may hold) its effects: editing it would be drift."""
        return self.state is State.UNKNOWN or self.ledger in {State.APPLIED, State.UNRESOLVED}


def standing(facts: Facts) -> Standing:
    """Where the migration of ``facts`` stands in their environment."""
    row, stored, folder = facts.row, facts.catalogue, facts.folder
    ledger = ledger_state(row)
    current = _current_checksum(facts)

    def stands(state: State, applied_checksum: str = row.checksum if row else "") -> Standing:
        return Standing(state, ledger, applied_checksum, current)

    if facts.unreadable is not None:  # its SQL on disk is unknown: nothing else can be told
        return stands(State.UNREADABLE)
    if facts.ledger_error:
        return stands(State.UNKNOWN, "")
    if row is not None and ledger is State.APPLIED:
        if folder is None and stored is None:
            return stands(State.MISSING)
        if not _same_script(row.checksum, folder, stored):
            return stands(State.MODIFIED)
        return stands(State.APPLIED)
    if folder is not None and stored is not None and stored.checksum != folder.checksum:
        # The catalogue keeps the SQL applied elsewhere when the file changes afterwards.
        return stands(State.MODIFIED, stored.checksum)
    if facts.gone and ledger in {State.PENDING, State.FAILED}:
        return stands(State.MISSING_ON_DISK)
    return stands(ledger)


def ledger_state(row: LedgerRow | None) -> State:
    """What the migration's latest ledger row alone says."""
    if row is None:
        return State.PENDING
    if row.is_applied:
        return State.APPLIED
    if row.is_unresolved_failure:
        return State.UNRESOLVED
    return State.ROLLED_BACK if row.finished_at else State.FAILED


def _same_script(checksum: str, folder: FolderChecksum | None, stored: Migration | None) -> bool:
    if folder is not None:
        return folder.same_script(checksum)
    if stored is None:
        return True
    if _has_text(stored):  # edited behind the catalogue's checksum, or CRLF converted
        return same_script(checksum, stored.sql)
    return stored.checksum == checksum


def _current_checksum(facts: Facts) -> str:
    if facts.folder is not None:
        return facts.folder.checksum
    stored = facts.catalogue
    if stored is None:
        return ""
    return stored.current_checksum if _has_text(stored) else stored.checksum


def _has_text(migration: Migration) -> bool:
    # The status reads no script (only checksums); pages showing the SQL have it at hand.
    return "sql" not in migration.get_deferred_fields()
