"""History brought up to the ledger's truth: the records the ledger proves happened but history
lacks, rebuilt (whole where the target kept what the app's database refused), and the ledger
rows that rollbacks removed, as history recorded them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from .kept_records import KeptRecords
from .ledger_rows import COMPENSATED, COMPENSATION_INCOMPLETE, INTERRUPTED, LedgerRow
from .models import VersionRecord
from .security import get_logger

logger = get_logger("schema_manager.history")

Status = VersionRecord.Status
Operation = VersionRecord.Operation
Recovery = VersionRecord.Recovery


def reconcile(
    environment: str,
    database: str,
    ledger_rows: Iterable[LedgerRow],
    catalogue_entries: Callable[[set[str]], dict[str, tuple[str, str]]],
    kept: KeptRecords | None = None,
) -> list[VersionRecord]:
    """Append the history rows that the ledger proves happened but history lacks.

    ``catalogue_entries(migration_ids)`` gives each id's (name, rollback script in force); it
    is called once, with only the ids that need a record, so the queries stay constant.
    ``kept``: the target's records that the app's database refused when they were written
    (who, how long, the rollback script of that apply); a row rebuilt from one has them.
    """
    ledger_rows = list(ledger_rows)
    rollbacks = kept.rollbacks() if kept else {}
    seen = _recorded(environment) if ledger_rows or rollbacks else set()
    events = [
        (row, operation, status, when)
        for row in ledger_rows
        for operation, status, when in _events(row)
        if (row.id, operation) not in seen
    ]
    entries = catalogue_entries({row.migration_name for row, *_ in events}) if events else {}
    details = kept.read([(row.id, operation) for row, operation, *_ in events]) if kept else {}
    missing: list[VersionRecord] = []
    for row, operation, status, when in events:
        name, rollback_script = entries.get(row.migration_name, (row.migration_name, ""))
        record = VersionRecord(
            migration_id=row.migration_name,
            name=name,
            environment=environment,
            database=database,
            operation=operation,
            status=status,
            recovery=_recovery_from_logs(row) if status == Status.FAILED else "",
            recorded_at=when,
            applied_at=row.finished_at,
            rolled_back_at=row.rolled_back_at if operation == Operation.ROLLBACK else None,
            checksum=row.checksum,
            rollback_script=rollback_script,
            error=row.logs or "",
            ledger_id=row.id,
            reconciled=True,
        )
        for field_name in _KEPT_FIELDS:
            if field_name in details.get((row.id, operation), {}):
                setattr(record, field_name, details[row.id, operation][field_name])
        missing.append(record)
    for key, fields in rollbacks.items():  # their ledger rows went with the rollback
        if key not in seen:
            missing.append(_kept_rollback(environment, key[0], fields))
            details[key] = fields
    if missing:
        # Another process may be reconciling (or recording) the same rows right now.
        VersionRecord.objects.record_many(missing)
        if details:
            _forget(kept, details)
        logger.warning(
            "Reconciled %d history record(s) in %s from the ledger of %r: %s",
            len(missing),
            environment,
            database,
            ", ".join(f"{r.migration_id} {r.status}" for r in missing),
        )
    return missing


def _kept_rollback(environment: str, ledger_id: str, fields: dict) -> VersionRecord:
    """The record of a rollback rebuilt from its kept record alone."""
    return VersionRecord(
        **{name: fields[name] for name in _ROLLBACK_FIELDS if name in fields},
        environment=environment,
        operation=Operation.ROLLBACK,
        status=Status.ROLLED_BACK,
        recorded_at=fields.get("rolled_back_at") or timezone.now(),
        ledger_id=ledger_id,
        reconciled=True,
    )


_ROLLBACK_FIELDS = (
    "migration_id",
    "name",
    "database",
    "applied_at",
    "rolled_back_at",
    "execution_time",
    "checksum",
    "rollback_script",
    "error",
    "applied_by",
)
# What a kept record adds to what the ledger says (see ``kept_records``).
_KEPT_FIELDS = (
    "name",
    "applied_by",
    "execution_time",
    "rollback_script",
    "rollback_generated",
    "faked",
    "recovery",
    "error",
)


def _forget(kept: KeptRecords | None, details: dict) -> None:
    """History has them now; if the target refuses to forget them, they are only read again
    (and ignored) by a later reconcile that finds their rows already recorded."""
    if kept is None:
        return
    try:
        kept.forget(details.keys())
    except DatabaseError as exc:
        logger.warning("Could not remove records kept on the target (%s)", exc)


def _recorded(environment: str) -> set[tuple[str, str]]:
    """(ledger id, operation) pairs that history already holds for the environment."""
    rows = VersionRecord.objects.filter(environment=environment).exclude(ledger_id="")
    return set(rows.values_list("ledger_id", "operation"))


def _events(row: LedgerRow) -> list[tuple[str, str, datetime]]:
    """The attempts a ledger row stands for, as (operation, status, when)."""
    if row.finished_at is None:
        if row.rolled_back_at is None:
            if row.logs and COMPENSATION_INCOMPLETE in row.logs:
                return [(Operation.APPLY, Status.FAILED, row.started_at)]
            # Still running, or a crashed run (recovered by the next apply): nothing yet.
            return []
        return [(Operation.APPLY, Status.FAILED, row.rolled_back_at)]
    events: list[tuple[str, str, datetime]] = [(Operation.APPLY, Status.APPLIED, row.finished_at)]
    if row.rolled_back_at is not None:
        events.append((Operation.ROLLBACK, Status.ROLLED_BACK, row.rolled_back_at))
    return events


def _recovery_from_logs(row: LedgerRow) -> str:
    logs = row.logs or ""
    if INTERRUPTED in logs:
        return Recovery.INTERRUPTED
    if COMPENSATION_INCOMPLETE in logs:
        return Recovery.INCOMPLETE
    if COMPENSATED in logs:
        return Recovery.COMPENSATED
    return Recovery.ROLLED_BACK


def rolled_back_rows(environment: str, rows: Iterable[LedgerRow]) -> list[LedgerRow]:
    """The ledger rows our rollbacks removed, and those failed attempts that left nothing never
    wrote (``Ledger.discard``), as history recorded them: for each migration without a row in
    ``rows`` whose latest event in ``environment`` is a rollback, its live row as it was, with
    ``rolled_back_at`` set, so that it stands as rolled back (not merely pending) where history
    is read beside the ledger; whose latest is a failed apply, an unfinished row rolled back
    when it failed, so that it stands as failed."""
    present = {row.migration_name for row in rows}
    latest: dict[str, VersionRecord] = {}
    records = VersionRecord.objects.filter(
        Q(status__in=[Status.APPLIED, Status.ROLLED_BACK])
        | Q(status=Status.FAILED, operation=Operation.APPLY),
        environment=environment,
    ).order_by("recorded_at", "id")
    for record in records.only(
        "migration_id", "status", "ledger_id", "checksum", "applied_at", "rolled_back_at", "error"
    ):
        latest[record.migration_id] = record
    return [
        _removed_row(migration_id, record)
        for migration_id, record in latest.items()
        if record.status != Status.APPLIED and migration_id not in present
    ]


def _removed_row(migration_id: str, record: VersionRecord) -> LedgerRow:
    failed = record.status == Status.FAILED
    return LedgerRow(
        id=record.ledger_id,
        checksum=record.checksum,
        finished_at=None if failed else record.applied_at,
        migration_name=migration_id,
        logs=record.error if failed else None,
        rolled_back_at=(None if failed else record.rolled_back_at) or record.recorded_at,
        started_at=record.applied_at or record.recorded_at,
        applied_steps_count=0 if failed else 1,
    )
