"""Archiving the statements that reach past their own table on PostgreSQL: joins (``DELETE …
USING``, ``UPDATE … FROM``), ``RETURNING``, ``TRUNCATE … CASCADE``, a dropped primary-key
column, a dropped table others depend on. Each one is archived and rolled back to identical
per-row checksums of every table, or refused with the reason."""

from __future__ import annotations

import hashlib

import pytest

from schema_manager import Migration
from tests.engine.test_archive import (
    archive_tables,
    archiving,
    fill_items,
    row_checksums,
    unique_id,
)

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

AROUND = """
CREATE TABLE picks (id INTEGER, label TEXT);
INSERT INTO picks SELECT i % 40 + 1, 'pick ' || i FROM generate_series(1, 60) AS i;
CREATE TABLE children (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL
    CONSTRAINT children_item_fk REFERENCES items (id), v TEXT);
INSERT INTO children SELECT i, i % 100 + 1, 'child ' || i FROM generate_series(1, 150) AS i;
CREATE TABLE grandchildren (id INTEGER PRIMARY KEY, child_id INTEGER REFERENCES children (id));
INSERT INTO grandchildren SELECT i, i % 150 + 1 FROM generate_series(1, 80) AS i;
CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 20;
"""
TABLES = ("items", "picks", "children", "grandchildren")

KINDS = {
    "delete using": (
        "DELETE FROM children USING picks WHERE children.id = picks.id "
        "AND children.id NOT IN (SELECT child_id FROM grandchildren);"
    ),
    "delete using, aliased": (
        "DELETE FROM grandchildren AS g USING children AS c, picks AS p "
        "WHERE g.child_id = c.id AND c.item_id = p.id AND p.label LIKE 'pick 1%';"
    ),
    "update from": (
        "UPDATE items SET note = picks.label, qty = 0 FROM picks WHERE items.id = picks.id;"
    ),
    "update from, aliased": (
        "UPDATE children AS c SET v = i.name FROM items AS i WHERE c.item_id = i.id AND i.qty > 4;"
    ),
    "delete returning": "DELETE FROM grandchildren WHERE id > 40 RETURNING id, child_id;",
    "update returning": "UPDATE items SET qty = -1 WHERE id < 20 RETURNING *;",
    "truncate cascade": "TRUNCATE items CASCADE;",
    "truncate parent and children": "TRUNCATE grandchildren, children, items;",
    "truncate parent first": "TRUNCATE items, grandchildren, children;",
    "drop a primary-key column": "ALTER TABLE grandchildren DROP COLUMN id;",
    "drop a view, then its table": (
        "DROP VIEW cheap;\nALTER TABLE children DROP CONSTRAINT children_item_fk;\n"
        "DROP TABLE items;"
    ),
    "drop the dependent tables, then the table": (
        "DROP VIEW cheap;\nDROP TABLE grandchildren;\nDROP TABLE children;\nDROP TABLE items;"
    ),
}


def fill(targets) -> None:
    fill_items(targets)
    targets.execute("development", AROUND)


def state(targets) -> dict:
    """Per-row checksums of every table (columns by name), and the views there are."""
    found = {}
    for table in TABLES:
        with targets.connection().cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
            names = [column[0] for column in cursor.description]
            found[table] = [
                hashlib.sha256(
                    repr(sorted(zip(names, map(str, row), strict=True))).encode()
                ).hexdigest()
                for row in cursor.fetchall()
            ]
    found["views"] = targets.fetch(
        "development", "SELECT viewname FROM pg_views WHERE schemaname = current_schema()"
    )
    return found


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
@pytest.mark.parametrize("kind", list(KINDS))
def test_rollback_brings_back_every_row_of_every_table(targets, manager, kind):
    fill(targets)
    if kind == "drop a primary-key column":  # another key puts the values back
        targets.execute(
            "development",
            "ALTER TABLE grandchildren ADD COLUMN code TEXT; "
            "UPDATE grandchildren SET code = 'g' || id; "
            "ALTER TABLE grandchildren ALTER COLUMN code SET NOT NULL, ADD UNIQUE (code)",
        )
    before = state(targets)
    migration = Migration(id=unique_id("reach"), sql=KINDS[kind])
    with archiving():
        applied = manager.apply_migration_sync(migration)
        assert applied.success, applied.message
        assert "Data loss" not in " ".join(applied.warnings), applied.warnings
        assert "-- WARNING" not in applied.rollback_script, applied.rollback_script
        assert archive_tables(targets, migration.id)
        rolled_back = manager.rollback_migration_sync(migration.id, environment="development")
        assert rolled_back.success, f"{rolled_back.message}\n{applied.rollback_script}"
    assert state(targets) == before
    assert archive_tables(targets, migration.id) == []


REFUSED = {
    "drop a table others depend on, CASCADE": (
        "DROP TABLE items CASCADE;",
        "items: constraint children_item_fk of children, view cheap depend(s) on it, and "
        "CASCADE would drop them (views) or their foreign keys with it",
    ),
    "drop the only key column": (
        "ALTER TABLE grandchildren DROP COLUMN id;",
        "column id is part of the primary key and grandchildren has no other unique key of "
        "NOT NULL columns to put the values back by",
    ),
}


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
@pytest.mark.parametrize("kind", list(REFUSED))
def test_what_cannot_be_archived_is_refused_with_the_reason(targets, manager, kind):
    fill(targets)
    before = state(targets)
    sql, why = REFUSED[kind]
    with archiving(["development"], PROTECTED_ENVIRONMENTS=["development"]):
        refused = manager.apply_migration_sync(
            Migration(id=unique_id("refused"), sql=sql), allow_destructive=True
        )
    assert not refused.success
    assert why in refused.message
    assert "accept-data-loss" in refused.message
    assert state(targets) == before


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_drop_that_fails_as_written_still_fails_and_nothing_is_archived(targets, manager):
    """Without CASCADE, PostgreSQL refuses to drop a table others depend on: archived, the
    statement fails the same way instead of moving the table away from under them."""
    fill(targets)
    before = state(targets)
    migration = Migration(id=unique_id("depends"), sql="DROP TABLE items;")
    with archiving():
        failed = manager.apply_migration_sync(migration)
    assert not failed.success
    assert "cannot drop table items because other objects depend on it" in failed.message
    assert state(targets) == before
    assert archive_tables(targets, migration.id) == []


SQLITE_KINDS = {
    "update from": (
        "UPDATE items SET note = picks.label, qty = 0 FROM picks WHERE items.id = picks.id;"
    ),
    "update from, aliased": (
        "UPDATE items AS i SET qty = p.id FROM picks AS p WHERE i.id = p.id + 1 AND i.qty > 3;"
    ),
    "delete returning": "DELETE FROM items WHERE qty > 5 RETURNING id, name;",
    "update returning": "UPDATE items SET qty = -1 WHERE id < 20 RETURNING *;",
}


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize("kind", list(SQLITE_KINDS))
def test_sqlite_joins_and_returning_come_back_too(targets, manager, kind):
    fill_items(targets)
    targets.execute("development", "CREATE TABLE picks (id INTEGER, label TEXT)")
    picks = ", ".join(f"({i % 40 + 1}, 'pick {i}')" for i in range(1, 61))
    targets.execute("development", f"INSERT INTO picks VALUES {picks}")
    before = row_checksums(targets)
    migration = Migration(id=unique_id("reach"), sql=SQLITE_KINDS[kind])
    with archiving():
        applied = manager.apply_migration_sync(migration)
        assert applied.success, applied.message
        assert "Data loss" not in " ".join(applied.warnings), applied.warnings
        assert row_checksums(targets) != before
        rolled_back = manager.rollback_migration_sync(migration.id, environment="development")
        assert rolled_back.success, f"{rolled_back.message}\n{applied.rollback_script}"
    assert row_checksums(targets) == before
    assert archive_tables(targets, migration.id) == []
