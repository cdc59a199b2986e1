"""Rehearsal: validate_migration(..., rehearse=True) runs the migration on the real target in
a transaction that is always rolled back (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from schema_manager import Migration, SchemaManager
from schema_manager.rehearsal import rehearse
from tests.conftest import TRANSACTIONAL_ENGINES

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

# Rehearsal needs DDL that rolls back; MySQL/MariaDB is refused (see the test below).
transactional_engines = pytest.mark.parametrize("engine", TRANSACTIONAL_ENGINES, indirect=True)


def _migration(sql: str, rollback_sql: str = "", migration_id: str = "002_rehearse") -> Migration:
    return Migration(id=migration_id, name="rehearse", sql=sql, rollback_sql=rollback_sql)


@transactional_engines
def test_a_sound_migration_rehearses_and_leaves_nothing(targets):
    before = targets.schema_snapshot()
    migration = _migration("CREATE TABLE rehearsed (id INT);\nCREATE INDEX r_id ON rehearsed (id);")

    result = SchemaManager().validate_migration_sync(migration, rehearse=True)

    assert result.is_valid, result.errors
    assert result.rehearsed
    assert result.rehearsal_error is None
    assert result.rehearsal_time is not None
    assert result.rehearsal_time > 0
    assert targets.schema_snapshot() == before
    assert targets.ledger() == []


@transactional_engines
def test_the_database_reports_what_no_parser_sees(targets):
    before = targets.schema_snapshot()
    sql = "CREATE TABLE a (id INT);\nALTER TABLE missing_table ADD COLUMN x INT;"

    result = SchemaManager().validate_migration_sync(_migration(sql), rehearse=True)

    assert not result.is_valid
    (error,) = [e for e in result.errors if e.startswith("Rehearsal on development:")]
    assert "statement 2 (ALTER TABLE missing_table ADD COLUMN x INT) failed:" in error
    assert "missing_table" in error  # the database's own message
    assert result.rehearsal_error is not None
    assert targets.schema_snapshot() == before  # statement 1 was rolled back too


@transactional_engines
def test_the_rollback_script_is_rehearsed_after_the_migration(targets):
    migration = _migration("CREATE TABLE b (id INT);", rollback_sql="DROP TABLE not_b;")

    result = SchemaManager().validate_migration_sync(migration, rehearse=True)

    assert result.is_valid  # the migration itself is fine
    assert [w for w in result.warnings if "Rollback: statement 1 (DROP TABLE not_b) failed" in w]


def test_without_rehearse_nothing_runs(targets):
    result = SchemaManager().validate_migration_sync(
        _migration("ALTER TABLE missing_table ADD COLUMN x INT;")
    )

    assert result.is_valid
    assert not result.rehearsed
    assert result.rehearsal_time is None


def test_invalid_sql_is_not_rehearsed(targets):
    result = SchemaManager().validate_migration_sync(_migration("SELECT 'open;"), rehearse=True)

    assert not result.is_valid
    assert not result.rehearsed


@transactional_engines
def test_async_validate_migration_rehearses(targets):
    migration = _migration("ALTER TABLE missing_table ADD COLUMN x INT;")

    result = asyncio.run(SchemaManager().validate_migration(migration, rehearse=True))

    assert result.rehearsed
    assert not result.is_valid


def test_postgresql_type_errors_and_no_transaction_statements(postgres_targets):
    targets = postgres_targets
    targets.execute("development", "CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('x');")
    sql = (
        "-- schema-manager: no-transaction\n"
        "CREATE INDEX CONCURRENTLY t_a ON t (a);\n"
        "ALTER TABLE t ALTER COLUMN a TYPE integer USING a::integer;"
    )

    result = SchemaManager().validate_migration_sync(_migration(sql), rehearse=True)

    assert [e for e in result.errors if 'invalid input syntax for type integer: "x"' in e]
    assert [w for w in result.warnings if "statement 1" in w.lower() and "not rehearsed" in w]
    assert targets.fetch("development", "SELECT a FROM t") == [("x",)]


def test_a_script_that_runs_outside_a_transaction_is_rehearsed_without_what_refuses_one(
    postgres_targets,
):
    # No directive: made only of statements refused in a transaction, it runs outside one
    # (``atomicity``), so the rehearsal leaves them out as it does for a declared script.
    postgres_targets.execute("development", "CREATE TABLE t (a TEXT)")
    sql = "CREATE INDEX CONCURRENTLY t_a ON t (a);\nDROP INDEX CONCURRENTLY IF EXISTS t_b;\n"

    result = rehearse(postgres_targets.alias("development"), sql)

    assert result.ran
    assert result.error is None
    assert result.statements_run == 0
    assert [note[:13] for note in result.notes] == ["Statement 1 (", "Statement 2 ("]
    assert all("runs outside a transaction and was not rehearsed" in n for n in result.notes)
    # A statement that merely names CONCURRENTLY, and may run in a transaction, is rehearsed.
    refresh = rehearse(
        postgres_targets.alias("development"),
        "-- schema-manager: no-transaction\nCREATE MATERIALIZED VIEW v AS SELECT 1 AS x;\n"
        "CREATE UNIQUE INDEX v_x ON v (x);\nREFRESH MATERIALIZED VIEW CONCURRENTLY v;\n",
    )
    assert refresh.error is None
    assert refresh.statements_run == 3
    assert refresh.notes == []


def test_engines_without_transactional_ddl_are_not_rehearsed(targets, monkeypatch):
    connection = targets.connection()
    monkeypatch.setattr(connection.features, "can_rollback_ddl", False)

    result = rehearse(connection.alias, "CREATE TABLE c (id INT);")

    assert not result.ran
    assert "cannot roll back DDL" in result.notes[0]
    assert "c" not in targets.tables()


@transactional_engines
def test_dry_run_rehearse_flag(targets):
    Migration.objects.create(
        id="003_bad", name="bad", sql="ALTER TABLE missing_table ADD COLUMN x INT;"
    )
    Migration.objects.create(id="004_good", name="good", sql="CREATE TABLE d (id INT);")
    out = StringIO()

    # The plan is printed whole, then the dry run fails: 003_bad would be refused.
    with pytest.raises(CommandError, match="1 of 2 migration"):
        call_command(
            "apply_schema_migration", "004_good", "003_bad", "--dry-run", "--rehearse",
            stdout=out, no_color=True,
        )  # fmt: skip

    text = out.getvalue()
    assert "rehearsed: no error (" in text
    assert "error: Rehearsal on development: statement 1 (ALTER TABLE missing_table" in text
    assert "d" not in targets.tables()


def test_dry_run_shows_acknowledged_rules(targets):
    Migration.objects.create(
        id="005_drop",
        name="drop",
        sql="-- schema-manager: allow drop-table\nDROP TABLE IF EXISTS old_things;",
        rollback_sql="CREATE TABLE old_things (id INT);",
    )
    out = StringIO()

    call_command("apply_schema_migration", "005_drop", "--dry-run", stdout=out, no_color=True)

    assert "  acknowledged: Statement 1 (DROP TABLE IF EXISTS old_things) drops a table" in (
        out.getvalue()
    )
    assert "warning: Statement 1" not in out.getvalue()
