"""Where each migration stands in one environment: read from the ledger, enriched by history.

A migration is known from three places: its folder on disk, the catalogue and the target's
ledger. Its state is the ledger's (pending, applied, failed, rolled_back, unresolved), turned
into ``modified`` when the SQL it was applied with no longer matches its SQL now, into
``missing`` when the ledger knows it but neither the disk nor the catalogue does, into
``unreadable`` when its folder cannot be read (``error`` says why, naming the file), and
into ``missing_on_disk`` when its folder was deleted before it was applied anywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from .files import FolderChecksum, UnreadableFolder
from .ledger import LedgerRow
from .models import Migration, VersionRecord, id_chunks

# States that a CI gate (schema_migration_status --check) treats as "not deployed as on disk".
NOT_DEPLOYED = frozenset(
    {"pending", "failed", "rolled_back", "unresolved", "modified", "unreadable"}
)


@dataclass(frozen=True)
class MigrationState:
    migration_id: str
    name: str
    # pending, applied, failed, rolled_back, unresolved, modified, missing, unreadable,
    # missing_on_disk
    state: str
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
    anywhere (``SchemaManager.missing_on_disk``): not pending, ``missing_on_disk``."""
    disk, unreadable, gone = disk or {}, unreadable or {}, gone or set()
    catalogue = {m.id: m for m in Migration.objects.only("id", "name", "checksum")}
    latest: dict[str, LedgerRow] = {}
    for row in rows:  # oldest first, so the last row per name wins
        latest[row.migration_name] = row
    attempts = {
        record.ledger_id: record
        for record in VersionRecord.objects.filter(
            environment=environment, operation=VersionRecord.Operation.APPLY
        ).only("ledger_id", "applied_by", "execution_time", "faked")
    }
    states = []
    for migration_id in sorted(set(catalogue) | set(latest) | set(disk) | set(unreadable)):
        last = latest.get(migration_id)
        record = attempts.get(last.id) if last else None
        stored = catalogue.get(migration_id)
        on_disk = disk.get(migration_id)
        current = on_disk.checksum if on_disk else (stored.checksum if stored else "")
        state, applied_checksum = _state(last), last.checksum if last else ""
        if on_disk and stored and state != "applied" and stored.checksum != on_disk.checksum:
            # The catalogue keeps the SQL applied elsewhere when the file changes afterwards.
            state, applied_checksum = "modified", stored.checksum
        elif state == "applied" and (on_disk or stored):
            if not _matches(last.checksum, on_disk, stored):
                state = "modified"
        elif state == "applied":
            state = "missing"
        elif migration_id in gone and state in {"pending", "failed"}:
            state = "missing_on_disk"
        bad_folder = unreadable.get(migration_id)
        if bad_folder is not None:  # its SQL on disk is unknown: nothing else can be told
            state = "unreadable"
        states.append(
            MigrationState(
                migration_id=migration_id,
                name=stored.name if stored else migration_id.split("_", 1)[-1],
                state=state,
                in_catalogue=stored is not None,
                applied_at=last.finished_at if last else None,
                applied_by=record.applied_by if record else "",
                execution_time=record.execution_time if record else None,
                rolled_back_at=last.rolled_back_at if last else None,
                error=bad_folder.error if bad_folder else ((last.logs or "") if last else ""),
                on_disk=on_disk is not None or bad_folder is not None,
                applied_checksum=applied_checksum,
                current_checksum=current,
                faked=bool(record and record.faked),
            )
        )
    return states


def _matches(checksum: str, on_disk: FolderChecksum | None, stored: Migration | None) -> bool:
    if on_disk is not None:
        return on_disk.same_script(checksum)
    return stored is None or stored.checksum == checksum


def _state(row: LedgerRow | None) -> str:
    if row is None:
        return "pending"
    if row.is_applied:
        return "applied"
    if row.is_unresolved_failure:
        return "unresolved"
    return "rolled_back" if row.finished_at else "failed"


def catalogue_pending(environment: str) -> tuple[set[str], set[str]]:
    """(the catalogue entries history leaves not applied in ``environment``, every catalogue
    entry): history matches the ledger once an operation has reconciled them.

    Without a query per entry: the entries never applied here, by one anti-join; then, of
    those rolled back here at some time (few), the ones whose latest event is a rollback."""
    records = VersionRecord.objects.filter(environment=environment)
    applied_once = records.filter(status=VersionRecord.Status.APPLIED).values("migration_id")
    catalogue = set(Migration.objects.values_list("id", flat=True))
    pending = set(Migration.objects.exclude(pk__in=applied_once).values_list("id", flat=True))
    rolled_back = records.filter(status=VersionRecord.Status.ROLLED_BACK)
    for chunk in id_chunks(set(rolled_back.values_list("migration_id", flat=True)) & catalogue):
        latest: dict[str, str] = {}
        events = (
            records.filter(
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
    return pending, catalogue
