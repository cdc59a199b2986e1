"""MariaDB/MySQL specifics: GET_LOCK, and compensation where DDL commits implicitly."""

from __future__ import annotations

import pytest

from schema_manager import Migration, VersionRecord
from schema_manager.backends.mysql import PRISMA_LOCK_NAME

MySQLdb = pytest.importorskip("MySQLdb", reason="mysqlclient is not installed (the mysql extra)")

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def _session(environment: str = "staging"):
    from django.db import connections

    params = connections[f"my_{environment}"].get_connection_params()
    return MySQLdb.connect(**params)


def test_a_held_get_lock_makes_apply_fail_cleanly(mysql_targets, manager, settings):
    settings.SCHEMA_MANAGER = {**settings.SCHEMA_MANAGER, "LOCK_WAIT": 0.3}
    migration = Migration(id="001_users", sql="CREATE TABLE users (id INT PRIMARY KEY);")
    holder = _session()
    try:
        cursor = holder.cursor()
        cursor.execute("SELECT GET_LOCK(%s, 0)", [PRISMA_LOCK_NAME])
        assert cursor.fetchone()[0] == 1
        result = manager.apply_migration_sync(migration, "staging")
    finally:
        holder.close()  # a session's named locks end with it
    assert not result.success
    assert "Another apply is running on 'my_staging' (connection id" in result.message
    assert "users" not in mysql_targets.tables("staging")
    assert VersionRecord.objects.count() == 0
    assert manager.apply_migration_sync(migration, "staging").success
    # Released after the apply: another session can take it at once.
    other = _session()
    try:
        cursor = other.cursor()
        cursor.execute("SELECT GET_LOCK(%s, 0)", [PRISMA_LOCK_NAME])
        assert cursor.fetchone()[0] == 1
    finally:
        other.close()


def test_each_statement_is_recorded_and_compensated_newest_first(mysql_targets, manager):
    before = mysql_targets.schema_snapshot()
    migration = Migration(
        id="002_three_steps",
        sql=(
            "CREATE TABLE a (id INT PRIMARY KEY);\n"
            "ALTER TABLE a ADD COLUMN note VARCHAR(20);\n"
            "CREATE INDEX a_note ON a (note);\n"
            "ALTER TABLE missing ADD COLUMN x INT;"
        ),
    )
    result = manager.apply_migration_sync(migration)
    assert not result.success
    assert result.compensated
    assert result.rollback_executed
    assert "compensated" in result.message
    assert result.statements_run == 3
    after = [item for item in mysql_targets.schema_snapshot() if "_prisma" not in str(item)]
    assert after == before
    # Nothing of it remains: its row, committed first, is gone (history keeps the attempt).
    assert mysql_targets.ledger() == []
    [record] = VersionRecord.objects.all()
    assert (record.status, record.recovery) == ("failed", "compensated")


def test_incomplete_compensation_names_what_remains(mysql_targets, manager):
    migration = Migration(
        id="003_data_then_fail",
        sql=(
            "CREATE TABLE a (id INT PRIMARY KEY);\n"
            "INSERT INTO a VALUES (1);\n"
            "CREATE TABLE a (id INT PRIMARY KEY);"
        ),
    )
    result = manager.apply_migration_sync(migration)
    assert not result.success
    assert not result.compensated
    assert not result.rollback_executed
    assert "could not be fully compensated" in result.message
    assert "statement 1 (CREATE TABLE a" in result.message
    assert "statement 2 (INSERT INTO a" in result.message
    assert "a" in mysql_targets.tables()
    [row] = mysql_targets.ledger()
    # Unfinished and not rolled back: Prisma refuses to deploy until someone resolves it.
    assert row["finished_at"] is None
    assert row["rolled_back_at"] is None
    assert "Compensation incomplete" in row["logs"]
    [record] = VersionRecord.objects.all()
    assert (record.status, record.recovery) == ("failed", "incomplete")
    # The next attempt is refused and says why, instead of applying on top.
    again = manager.apply_migration_sync(migration)
    assert not again.success
    assert "unfinished attempt" in again.message
    assert "statement 2 (INSERT INTO a" in again.message
