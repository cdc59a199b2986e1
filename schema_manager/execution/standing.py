"""Where a migration stands in the target's ledger, as the executor reads it before running:
applied (its live row), or unsafe to apply (an unfinished attempt, a changed checksum)."""

from __future__ import annotations

from ..exceptions import MigrationStateError
from ..ledger import Ledger
from ..ledger_rows import LedgerRow


def live_row(ledger: Ledger, migration_id: str) -> LedgerRow | None:
    """The ledger row that makes ``migration_id`` applied, if any."""
    live = [row for row in ledger.rows(migration_id) if row.is_applied]
    return live[-1] if live else None


def check_can_apply(
    ledger: Ledger, alias: str, migration_id: str, checksum: str
) -> LedgerRow | None:
    """The live row if already applied with this checksum; raise if applying is unsafe."""
    rows = ledger.rows(migration_id)
    unresolved = [row for row in rows if row.is_unresolved_failure]
    if unresolved:
        row = unresolved[-1]
        detail = f": {row.logs.strip().rstrip('.')}" if row.logs else ""
        raise MigrationStateError(
            f"Migration {migration_id!r} has an unfinished attempt on {alias!r} "
            f"(ledger row {row.id}, started {row.started_at:%Y-%m-%d %H:%M:%S}){detail}; "
            "resolve it before applying again."
        )
    live = [row for row in rows if row.is_applied]
    if live and live[-1].checksum != checksum:
        raise MigrationStateError(
            f"Migration {migration_id!r} is applied on {alias!r} with checksum "
            f"{live[-1].checksum}, but its SQL now has checksum {checksum}; "
            "an applied migration must not change."
        )
    return live[-1] if live else None
