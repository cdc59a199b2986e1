"""Confirming runs what was shown: the service compares the confirmed checksums under the lock.

The admin's confirmation page sends back the checksums of the SQL and rollback script it
showed (tests/admin/test_admin.py drives it); here the service is called as the admin calls it.
"""

from __future__ import annotations

import pytest

from schema_manager import Migration, SchemaManager, VersionRecord, services
from schema_manager.confirmations import Shown

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

CREATE = "CREATE TABLE t (id INTEGER PRIMARY KEY);\n"
DROP = "DROP TABLE t;\n"


def stored(sql: str = CREATE, rollback_sql: str = DROP) -> Migration:
    migration = Migration(id="001_create_t", name="create_t", sql=sql, rollback_sql=rollback_sql)
    migration.save()
    return migration


def test_a_plan_runs_when_its_scripts_are_those_confirmed(targets):
    migration = stored()
    confirmed = {migration.id: Shown.of(CREATE, "DROP TABLE t;")}  # the rollback as shown

    [applied] = services.apply([migration], confirmed=confirmed)
    [rolled_back] = services.rollback([migration.id], confirmed=confirmed)

    assert applied.success, applied.message
    assert rolled_back.success, rolled_back.message


@pytest.mark.parametrize(
    ("shown_sql", "shown_rollback", "what"),
    [
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, secret TEXT);\n", "DROP TABLE t;", "SQL"),
        (CREATE, "DROP TABLE t;\nDROP TABLE u;", "rollback script"),
    ],
)
def test_an_apply_whose_scripts_are_not_those_confirmed_runs_nothing(
    targets, shown_sql, shown_rollback, what
):
    migration = stored()

    [result] = services.apply(
        [migration], confirmed={migration.id: Shown.of(shown_sql, shown_rollback)}
    )

    assert not result.success
    assert result.not_as_confirmed
    assert f"its {what} changed after it was shown for confirmation" in result.message
    assert "nothing ran" in result.message
    assert "t" not in targets.tables()
    assert targets.ledger() == []
    assert not VersionRecord.objects.exists()


def test_a_rollback_whose_script_is_not_the_one_confirmed_runs_nothing(targets):
    migration = stored()
    manager = SchemaManager()
    assert manager.apply_migration_sync(migration).success
    ledger, history = targets.ledger(), VersionRecord.objects.count()

    [result] = services.rollback(
        [migration.id], confirmed={migration.id: Shown.of(CREATE, "DROP TABLE u;")}
    )

    assert result.not_as_confirmed
    assert "its rollback script changed" in result.message
    assert "t" in targets.tables()
    assert targets.ledger() == ledger
    assert VersionRecord.objects.count() == history


def test_a_migration_left_out_of_the_confirmation_is_refused_and_stops_the_plan(targets):
    first, second = stored(), Migration(id="002_create_u", sql="CREATE TABLE u (id INTEGER);\n")
    second.save()

    results = services.apply(
        [first, second], confirmed={first.id: Shown.of(CREATE, "DROP TABLE t;")}
    )

    assert [result.success for result in results] == [True, False]
    assert results[1].not_as_confirmed
    assert "not among the migrations confirmed" in results[1].message
    assert "u" not in targets.tables()
    assert [row["migration_name"] for row in targets.ledger()] == [first.id]
