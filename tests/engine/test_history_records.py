"""History is appended through ``VersionRecord.objects.record`` and ``record_many`` only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import schema_manager
from schema_manager import Migration, VersionRecord
from tests.utils import USERS

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

Operation, Status = VersionRecord.Operation, VersionRecord.Status

# A write of history rows other than by the manager's two methods.
WRITE = re.compile(
    r"VersionRecord\.objects(?:\.\w+\([^()]*\))*\."
    r"(?:create|bulk_create|get_or_create|update_or_create|update|delete|bulk_update)\("
)
# The manager (models.py) and its private strategies (history_writes.py) write.
WRITERS = {"models.py", "history_writes.py"}


def test_history_is_written_only_by_the_managers_record_methods():
    package = Path(schema_manager.__file__).parent
    writes = {
        str(module.relative_to(package))
        for module in package.rglob("*.py")
        if module.name not in WRITERS and WRITE.search(module.read_text())
    }
    assert not writes
    assert callable(VersionRecord.objects.record)
    assert callable(VersionRecord.objects.record_many)


KEY = {"environment": "development", "ledger_id": "l-1", "operation": Operation.APPLY}
FIELDS = {
    "migration_id": "001_step",
    "name": "step",
    "database": "x",
    "status": Status.APPLIED,
    "checksum": "c" * 64,
    "applied_by": "ops",
}


def test_an_appliers_own_record_is_never_overwritten(targets):
    first = VersionRecord.objects.record(KEY, FIELDS)
    again = VersionRecord.objects.record(KEY, {**FIELDS, "applied_by": "deploy"})

    assert again.pk == first.pk
    [stored] = VersionRecord.objects.all()
    assert (stored.applied_by, stored.reconciled) == ("ops", False)


def test_record_many_appends_only_events_not_yet_recorded(targets):
    VersionRecord.objects.record(KEY, FIELDS)
    rebuilt = [
        VersionRecord(**KEY, **{**FIELDS, "applied_by": ""}, reconciled=True),
        VersionRecord(**{**KEY, "ledger_id": "l-2"}, **FIELDS, reconciled=True),
    ]

    VersionRecord.objects.record_many(rebuilt)

    stored = VersionRecord.objects.order_by("ledger_id")
    assert [(r.ledger_id, r.reconciled) for r in stored] == [("l-1", False), ("l-2", True)]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_reconcile_racing_the_applier_leaves_one_record_per_event(targets, manager, monkeypatch):
    """Another process reconciles from the ledger between the target's commit and history."""
    from schema_manager import history
    from schema_manager.workspace import executor_for, reconcile

    def racing(real):
        def record(target, *args, **kwargs):
            reconcile(executor_for(target).session)
            return real(target, *args, **kwargs)

        return record

    monkeypatch.setattr(history, "record_apply", racing(history.record_apply))
    monkeypatch.setattr(history, "record_rollback", racing(history.record_rollback))
    migration = Migration(id="001_users", sql=USERS)
    assert manager.apply_migration_sync(migration, applied_by="ops").success
    assert manager.rollback_migration_sync("001_users", applied_by="ops").success
    records = VersionRecord.objects.order_by("id")
    assert [(r.operation, r.status, r.reconciled, r.applied_by) for r in records] == [
        ("apply", "applied", False, "ops"),
        ("rollback", "rolled_back", False, "ops"),
    ]
