"""The status of every migration in one environment: each on disk, in the catalogue or in the
ledger, with where it stands there (``state.standing``) and what history adds (who applied it,
how long it took).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef

from .files import FolderChecksum, UnreadableFolder
from .ledger_rows import LedgerRow
from .models import Migration, VersionRecord, id_chunks
from .reconciliation import rolled_back_rows
from .sql.migration_order import sorted_ids
from .state import Facts, State, standing


@dataclass(frozen=True)
class MigrationState:
    migration_id: str
    name: str
    state: State
    in_catalogue: bool
    applied_at: datetime | None = None
    applied_by: str = ""
    execution_time: float | None = None
    rolled_back_at: datetime | None = None
    error: str = ""
    on_disk: bool = False
    # The checksum it was applied with, and that of its SQL now (on disk, else catalogue).
    applied_checksum: str = ""
    current_checksum: str = ""
    faked: bool = False

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["state"] = self.state.value
        for key in ("applied_at", "rolled_back_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def migration_states(
    environment: str,
    rows: list[LedgerRow],
    disk: dict[str, FolderChecksum] | None = None,
    unreadable: dict[str, UnreadableFolder] | None = None,
    gone: set[str] | None = None,
) -> list[MigrationState]:
    """Every migration on ``disk`` (readable or ``unreadable``), in the catalogue or in
    ``rows`` (the ledger), sorted by id.

    ``gone`` are the catalogue entries whose folder was deleted before they were applied
    anywhere (``planning.missing_on_disk``)."""
    disk, unreadable, gone = disk or {}, unreadable or {}, gone or set()
    catalogue = {m.id: m for m in Migration.objects.only("id", "name", "checksum")}
    latest: dict[str, LedgerRow] = {}
    for row in [*rolled_back_rows(environment, rows), *rows]:  # oldest first: the last wins
        latest[row.migration_name] = row
    attempts = {
        record.ledger_id: record
        for record in VersionRecord.objects.filter(
            environment=environment, operation=VersionRecord.Operation.APPLY
        ).only("ledger_id", "applied_by", "execution_time", "faked")
    }
    states = []
    for migration_id in sorted_ids({*catalogue, *latest, *disk, *unreadable}):
        last = latest.get(migration_id)
        record = attempts.get(last.id) if last else None
        stored = catalogue.get(migration_id)
        bad_folder = unreadable.get(migration_id)
        facts = Facts(last, stored, disk.get(migration_id), bad_folder, migration_id in gone)
        where = standing(facts)
        states.append(
            MigrationState(
                migration_id=migration_id,
                name=stored.name if stored else migration_id.split("_", 1)[-1],
                state=where.state,
                in_catalogue=stored is not None,
                applied_at=last.finished_at if last else None,
                applied_by=record.applied_by if record else "",
                execution_time=record.execution_time if record else None,
                rolled_back_at=last.rolled_back_at if last else None,
                error=bad_folder.error if bad_folder else ((last.logs or "") if last else ""),
                on_disk=facts.folder is not None or bad_folder is not None,
                applied_checksum=where.applied_checksum,
                current_checksum=where.current_checksum,
                faked=bool(record and record.faked),
            )
        )
    return states


def catalogue_pending(environment: str) -> tuple[set[str], set[str], set[str]]:
    """(the catalogue entries history leaves not applied in ``environment``, every catalogue
    entry, the pending ones kept on disk): history matches the ledger once an operation has
    reconciled them.

    In one query, whatever the catalogue's size (a fleet task asks it of each target): each
    entry with whether ``environment`` ever recorded it applied, or rolled back; then, of
    those rolled back here at some time (few), the ones whose latest event is a rollback."""
    records = VersionRecord.objects.filter(environment=environment, migration_id=OuterRef("pk"))
    entries = Migration.objects.annotate(
        applied_here=Exists(records.filter(status=VersionRecord.Status.APPLIED)),
        rolled_back_here=Exists(records.filter(status=VersionRecord.Status.ROLLED_BACK)),
    ).values_list("id", "kept_on_disk", "applied_here", "rolled_back_here")
    catalogue, pending, kept, rolled_back = set(), set(), set(), set()
    for migration_id, kept_on_disk, applied_here, rolled_back_here in entries.order_by():
        catalogue.add(migration_id)
        if not applied_here:
            pending.add(migration_id)
        elif rolled_back_here:
            rolled_back.add(migration_id)
        if kept_on_disk:
            kept.add(migration_id)
    for chunk in id_chunks(rolled_back):
        latest: dict[str, str] = {}
        events = (
            VersionRecord.objects.filter(
                environment=environment,
                migration_id__in=chunk,
                status__in=[VersionRecord.Status.APPLIED, VersionRecord.Status.ROLLED_BACK],
            )
            .order_by("-recorded_at", "-id")
            .values_list("migration_id", "status")
        )
        for migration_id, status in events:
            latest.setdefault(migration_id, status)
        pending.update(
            i for i, status in latest.items() if status == VersionRecord.Status.ROLLED_BACK
        )
    return pending, catalogue, kept & pending
