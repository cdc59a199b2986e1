"""Where each migration stands in one environment: read from the ledger, enriched by history."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from .ledger import LedgerRow
from .models import Migration, VersionRecord


@dataclass(frozen=True)
class MigrationState:
    migration_id: str
    name: str
    state: str  # pending, applied, failed, rolled_back, unresolved
    in_catalogue: bool
    applied_at: datetime | None = None
    applied_by: str = ""
    execution_time: float | None = None
    rolled_back_at: datetime | None = None
    error: str = ""

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        for key in ("applied_at", "rolled_back_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def migration_states(environment: str, rows: list[LedgerRow]) -> list[MigrationState]:
    """Every migration in the catalogue or in ``rows`` (the target's ledger), sorted by id."""
    catalogue = {m.id: m.name for m in Migration.objects.only("id", "name")}
    latest: dict[str, LedgerRow] = {}
    for row in rows:  # oldest first, so the last row per name wins
        latest[row.migration_name] = row
    attempts = {
        record.ledger_id: record
        for record in VersionRecord.objects.filter(
            environment=environment, operation=VersionRecord.Operation.APPLY
        ).only("ledger_id", "applied_by", "execution_time")
    }
    states = []
    for migration_id in sorted(set(catalogue) | set(latest)):
        last = latest.get(migration_id)
        record = attempts.get(last.id) if last else None
        states.append(
            MigrationState(
                migration_id=migration_id,
                name=catalogue.get(migration_id, migration_id.split("_", 1)[-1]),
                state=_state(last),
                in_catalogue=migration_id in catalogue,
                applied_at=last.finished_at if last else None,
                applied_by=record.applied_by if record else "",
                execution_time=record.execution_time if record else None,
                rolled_back_at=last.rolled_back_at if last else None,
                error=(last.logs or "") if last else "",
            )
        )
    return states


def _state(row: LedgerRow | None) -> str:
    if row is None:
        return "pending"
    if row.is_applied:
        return "applied"
    if row.is_unresolved_failure:
        return "unresolved"
    return "rolled_back" if row.finished_at else "failed"
