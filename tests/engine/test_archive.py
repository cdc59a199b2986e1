"""Archiving what destructive statements remove: apply over a table with data, roll back,
and every row is back as it was (per-row checksums), on PostgreSQL and SQLite."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from django.conf import settings
from django.test import override_settings

from schema_manager import Migration
from schema_manager.sql.archive_sql import archive_table

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

ITEMS = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, qty INTEGER,
    price NUMERIC(10, 2), note TEXT);
"""

KINDS = {
    "drop column": "ALTER TABLE items DROP COLUMN note;",
    "delete where": "DELETE FROM items WHERE qty > 5;",
    "delete all": "DELETE FROM items;",
    "update where": "UPDATE items SET note = 'changed', qty = qty + 1 WHERE id % 2 = 0;",
    "update all": "UPDATE items SET price = 0;",
    "drop table": "DROP TABLE items;",
    "several": (
        "UPDATE items SET qty = 0 WHERE id < 10;\n"
        "DELETE FROM items WHERE id > 90;\n"
        "ALTER TABLE items DROP COLUMN note;\n"
        "DELETE FROM items WHERE id BETWEEN 20 AND 25;"
    ),
}
POSTGRES_KINDS = {
    "truncate": "TRUNCATE items;",
    "alter type": "ALTER TABLE items ALTER COLUMN price TYPE integer USING price::integer;",
    "delete with alias": "DELETE FROM items AS i WHERE i.qty > 5;",
}
MARIADB_KINDS = {
    "truncate": "TRUNCATE items;",
    "drop a NOT NULL column": "ALTER TABLE items DROP COLUMN name;",
    "drop two columns": "ALTER TABLE items DROP COLUMN note, DROP COLUMN qty;",
}
EXTRA_KINDS = {"postgresql": POSTGRES_KINDS, "sqlite": {}, "mysql": MARIADB_KINDS}
CASES = [
    (engine, kind)
    for engine in ("postgresql", "sqlite", "mysql")
    for kind in [*KINDS, *EXTRA_KINDS[engine]]
]


def fill_items(targets) -> None:
    targets.execute("development", ITEMS)
    values = ", ".join(
        f"({i}, 'item {i}', {'NULL' if i % 7 == 0 else i % 11}, {i * 1.25}, "
        f"{'NULL' if i % 3 == 0 else repr(f'note {i}')})"
        for i in range(1, 101)
    )
    targets.execute("development", f"INSERT INTO items VALUES {values}")


def row_checksums(targets, table: str = "items") -> list[str]:
    """One checksum per row, over its columns by name (a column put back comes last)."""
    with targets.connection().cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} ORDER BY id")
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    return [
        hashlib.sha256(repr(sorted(zip(names, map(str, row), strict=True))).encode()).hexdigest()
        for row in rows
    ]


def archiving(environments=("development",), **more):
    return override_settings(
        SCHEMA_MANAGER={
            **settings.SCHEMA_MANAGER,
            "ARCHIVE_ENVIRONMENTS": list(environments),
            **more,
        }
    )


def unique_id(name: str) -> str:
    return f"001_{name}_{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(("engine", "kind"), CASES, indirect=["engine"])
def test_rollback_brings_back_every_row(targets, manager, kind):
    fill_items(targets)
    before = row_checksums(targets)
    sql = {**KINDS, **EXTRA_KINDS[targets.engine]}[kind]
    migration = Migration(id=unique_id("destroy"), sql=sql)
    with archiving():
        applied = manager.apply_migration_sync(migration)
        assert applied.success, applied.message
        assert "-- WARNING" not in applied.rollback_script, applied.rollback_script
        if kind == "drop table":
            assert "items" not in targets.tables()
        else:
            assert row_checksums(targets) != before
        assert archive_tables(targets, migration.id)
        rolled_back = manager.rollback_migration_sync(migration.id, environment="development")
        assert rolled_back.success, rolled_back.message
    assert row_checksums(targets) == before
    assert archive_tables(targets, migration.id) == []  # each restore drops its archive


def tables_and_rows(targets, environment: str = "development") -> list:
    """The tables but the ledger (a failed attempt is recorded), items' columns and rows."""
    tables = sorted(targets.tables(environment) - {"_prisma_migrations"})
    return [tables, targets.columns("items", environment), row_checksums_in(targets, environment)]


def row_checksums_in(targets, environment: str) -> list[tuple]:
    return targets.fetch(environment, "SELECT * FROM items ORDER BY id")


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"], indirect=["engine"])
def test_over_the_cap_the_apply_is_refused_and_nothing_changes(targets, manager):
    fill_items(targets)
    before = tables_and_rows(targets)
    migration = Migration(id=unique_id("cap"), sql="DELETE FROM items WHERE id > 10;")
    with archiving(ARCHIVE_MAX_BYTES={"development": 100}):
        refused = manager.apply_migration_sync(migration)
    assert not refused.success
    assert "over the 0.0 MB allowed in development (ARCHIVE_MAX_BYTES)" in refused.message
    assert tables_and_rows(targets) == before


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"], indirect=["engine"])
def test_the_operator_confirms_going_over_the_cap_and_the_archive_is_taken(targets, manager):
    fill_items(targets)
    before = row_checksums(targets)
    migration = Migration(id=unique_id("cap"), sql="DELETE FROM items WHERE id > 10;")
    with archiving(ARCHIVE_MAX_BYTES={"*": 100}):
        applied = manager.apply_migration_sync(migration, allow_destructive=True)
        assert applied.success, applied.message
        assert any("Archived all the same, as confirmed" in w for w in applied.warnings)
        assert manager.rollback_migration_sync(migration.id, environment="development").success
    assert row_checksums(targets) == before


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"], indirect=["engine"])
def test_a_migration_accepting_the_loss_runs_over_the_cap_without_archive(targets, manager):
    fill_items(targets)
    sql = "-- schema-manager: accept-data-loss\nDELETE FROM items WHERE id > 10;"
    migration = Migration(id=unique_id("cap"), sql=sql)
    with archiving(ARCHIVE_MAX_BYTES={"*": 100}):
        applied = manager.apply_migration_sync(migration)
    assert applied.success, applied.message
    # Nothing archived: the rollback says that the rows stay as they are.
    assert "changes rows only; the rollback leaves the data as it is." in applied.rollback_script
    assert targets.fetch("development", "SELECT count(*) FROM items") == [(10,)]


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"], indirect=["engine"])
def test_a_protected_environment_refuses_what_cannot_be_archived(targets, manager):
    targets.execute("production", "CREATE TABLE log (at TEXT, line TEXT)")
    targets.execute("production", "INSERT INTO log VALUES ('1', 'a'), ('2', 'b')")
    sql = "UPDATE log SET line = 'x' WHERE at = '1';"
    with archiving(["production"]):
        refused = manager.apply_migration_sync(
            Migration(id=unique_id("closed"), sql=sql), environment="production"
        )
        assert not refused.success
        assert "log has no primary key to put the old values back by" in refused.message
        assert targets.fetch("production", "SELECT line FROM log ORDER BY at") == [("a",), ("b",)]
        accepted = manager.apply_migration_sync(
            Migration(id=unique_id("closed"), sql="-- schema-manager: accept-data-loss\n" + sql),
            environment="production",
        )
    assert accepted.success, accepted.message
    assert targets.fetch("production", "SELECT line FROM log ORDER BY at") == [("x",), ("b",)]


@pytest.mark.parametrize("engine", ["postgresql", "sqlite", "mysql"], indirect=["engine"])
def test_a_failing_statement_leaves_no_archive_behind(targets, manager):
    """On MariaDB the statements that ran are compensated from their archives."""
    fill_items(targets)
    before = tables_and_rows(targets)
    sql = (
        "DELETE FROM items WHERE id > 50;\nALTER TABLE items DROP COLUMN note;\n"
        "INSERT INTO items (id, name) VALUES (1, 'dup');"
    )
    migration = Migration(id=unique_id("fails"), sql=sql)
    with archiving():
        failed = manager.apply_migration_sync(migration)
    assert not failed.success
    assert tables_and_rows(targets) == before
    assert archive_tables(targets, migration.id) == []


def archive_tables(targets, migration_id: str) -> list[str]:
    """The archive tables a migration left on the development target."""
    if targets.engine == "postgresql":
        [(schema,)] = targets.fetch("development", "SELECT current_schema()")
        prefix = archive_table(migration_id, 0, 0, "postgresql", schema)[0].split("_s1")[0]
        return [
            name
            for (name,) in targets.fetch(
                "development",
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = '_schema_manager_archive' AND c.relkind = 'r'",
            )
            if name.startswith(prefix)
        ]
    prefix = archive_table(migration_id, 0, 0, targets.engine)[0].split("_s1")[0]
    return [name for name in targets.tables() if name.startswith(prefix)]


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"], indirect=["engine"])
def test_the_destructive_warnings_say_the_data_is_archived(targets, manager):
    fill_items(targets)
    sql = "ALTER TABLE items DROP COLUMN note;\nDELETE FROM items;"
    with archiving():
        result = manager.validate_migration_sync(Migration(id=unique_id("said"), sql=sql))
    said = [w for w in result.warnings if "It is archived when it runs" in w]
    assert [w.split(" (")[0] for w in said] == ["Statement 1", "Statement 2"]


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"], indirect=["engine"])
def test_a_rehearsal_runs_the_captures_and_the_restores_and_keeps_nothing(targets, manager):
    fill_items(targets)
    before = row_checksums(targets)
    sql = KINDS["several"] + "\nDROP TABLE items;"
    migration = Migration(id=unique_id("rehearsed"), sql=sql)
    with archiving():
        result = manager.validate_migration_sync(migration, rehearse=True)
    assert result.rehearsed
    assert result.rehearsal_error is None, result.rehearsal_error
    assert any("will be archived" in warning for warning in result.warnings)
    assert row_checksums(targets) == before
    assert archive_tables(targets, migration.id) == []


@pytest.mark.parametrize("engine", ["mysql"], indirect=["engine"])
def test_on_mariadb_a_protected_environment_refuses_what_cannot_be_archived(targets, manager):
    targets.execute("production", "CREATE TABLE log (at VARCHAR(10), line TEXT)")
    targets.execute("production", "INSERT INTO log VALUES ('1', 'a'), ('2', 'b')")
    sql = "UPDATE log SET line = 'x' WHERE at > '0' ORDER BY at LIMIT 1;"
    with archiving(["production"]):
        refused = manager.apply_migration_sync(
            Migration(id=unique_id("maria"), sql=sql), environment="production"
        )
        assert not refused.success
        assert "its ORDER clause is not archived automatically" in refused.message
        assert targets.fetch("production", "SELECT line FROM log ORDER BY at") == [("a",), ("b",)]
        accepted = manager.apply_migration_sync(
            Migration(id=unique_id("maria"), sql="-- schema-manager: accept-data-loss\n" + sql),
            environment="production",
        )
    assert accepted.success, accepted.message
    assert targets.fetch("production", "SELECT line FROM log ORDER BY at") == [("x",), ("b",)]


@pytest.mark.parametrize("engine", ["postgresql"], indirect=["engine"])
def test_a_dropped_column_comes_back_with_its_index_and_constraint(targets, manager):
    fill_items(targets)
    targets.execute("development", "CREATE INDEX items_note ON items (note)")
    targets.execute(
        "development", "ALTER TABLE items ADD CONSTRAINT note_short CHECK (length(note) < 50)"
    )
    before = row_checksums(targets)
    migration = Migration(id=unique_id("column"), sql="ALTER TABLE items DROP COLUMN note;")
    with archiving():
        assert manager.apply_migration_sync(migration).success
        assert manager.rollback_migration_sync(migration.id, environment="development").success
    assert row_checksums(targets) == before
    assert {"items_note", "note_short"} <= targets.indexes("items")


@pytest.mark.parametrize("engine", ["mysql"], indirect=["engine"])
def test_on_mariadb_an_archived_statement_that_fails_leaves_no_archive(targets, manager):
    """The statement fails after its capture made the archive table: the table goes too."""
    fill_items(targets)
    targets.execute(
        "development",
        "CREATE TABLE child (id INTEGER PRIMARY KEY, item_id INTEGER, "
        "FOREIGN KEY (item_id) REFERENCES items (id))",
    )
    targets.execute("development", "INSERT INTO child VALUES (1, 5)")
    before = tables_and_rows(targets)
    sql = "UPDATE items SET qty = 0 WHERE id < 10;\nDELETE FROM items WHERE id < 10;"
    migration = Migration(id=unique_id("fails"), sql=sql)
    with archiving():
        failed = manager.apply_migration_sync(migration)
    assert not failed.success
    assert "foreign key constraint fails" in failed.message
    assert tables_and_rows(targets) == before
    assert archive_tables(targets, migration.id) == []


@pytest.mark.parametrize("engine", ["mysql"], indirect=["engine"])
def test_on_mariadb_the_record_says_rows_and_bytes(targets, manager):
    from schema_manager.models import ArchiveRecord

    fill_items(targets)
    migration = Migration(id=unique_id("recorded"), sql="DELETE FROM items WHERE id > 90;")
    with archiving():
        assert manager.apply_migration_sync(migration).success
    [record] = ArchiveRecord.objects.filter(migration_id=migration.id)
    assert record.rows == 10
    assert record.bytes is not None
    assert record.bytes > 0
