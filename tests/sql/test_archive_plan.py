"""Planning the archive of destructive statements: pure, no database."""

from __future__ import annotations

import pytest

from schema_manager.sql import generate_rollback, parse_statements
from schema_manager.sql.archive_plan import Column, TableInfo, table_key, tables_named
from schema_manager.sql.archive_restore import extend_rollback
from schema_manager.sql.archive_steps import plan_archive
from schema_manager.sql.names import QualifiedName

ITEMS = TableInfo(
    "items",
    "public",
    (Column("id", "integer", True), Column("qty", "integer"), Column("note", "text")),
    ("id",),
)
LOG = TableInfo("log", "public", (Column("at", "text"), Column("line", "text")), ())


def plan(sql: str, vendor: str = "postgresql", **tables: TableInfo):
    found = tables or {"items": ITEMS, "log": LOG}
    return plan_archive(
        sql, vendor, "001_m", {table_key(QualifiedName((n,)), vendor): t for n, t in found.items()}
    )


def test_each_kind_has_its_step():
    steps = plan(
        "UPDATE items SET qty = 1 WHERE id > 3; DELETE FROM items WHERE qty IS NULL;"
        "ALTER TABLE items DROP COLUMN note; TRUNCATE log; DROP TABLE items;"
    ).steps
    assert [(s.index, s.kind) for s in steps] == [
        (0, "pre-image"),
        (1, "rows"),
        (2, "column"),
        (3, "rows"),
        (4, "table"),
    ]


def test_a_delete_copies_the_rows_its_condition_selects():
    [step] = plan("DELETE FROM items AS i WHERE i.qty > 5;", "sqlite").steps
    assert step.capture[0].endswith("FROM items AS i WHERE i.qty > 5;")
    assert not step.replaces
    assert step.restore[0].startswith("INSERT INTO items (id, qty, note)")


def test_on_postgresql_a_delete_returns_what_it_removes_into_the_archive():
    [step] = plan("DELETE FROM ONLY items AS i WHERE i.qty > 5;").steps
    assert step.replaces
    assert step.capture[0].endswith("FROM items WITH NO DATA;")
    assert step.capture[1] == (
        "WITH gone AS (DELETE FROM ONLY items AS i WHERE i.qty > 5 RETURNING id, qty, note) "
        f"INSERT INTO {step.archive} SELECT * FROM gone;"
    )


def test_an_update_keeps_the_key_and_the_columns_it_sets():
    [step] = plan("UPDATE items SET (qty, note) = (1, 'x');").steps
    assert "SELECT id, qty, note FROM items FOR UPDATE;" in step.capture[0]
    assert step.restore[0] == (
        "UPDATE items AS _t SET qty = _a.qty, note = _a.note FROM "
        f"{step.archive} AS _a WHERE _t.id = _a.id;"
    )


def test_columns_are_followed_through_the_script():
    steps = plan(
        "ALTER TABLE items RENAME COLUMN note TO remark;"
        "ALTER TABLE items ADD COLUMN extra INT;"
        "DELETE FROM items WHERE extra IS NULL;"
    ).steps
    [step] = steps
    assert "SELECT id, qty, remark AS note FROM items" in step.capture[0]
    assert "extra" not in step.restore[0]


@pytest.mark.parametrize(
    ("sql", "why", "vendor"),
    [
        ("UPDATE log SET line = '';", "no primary key", "postgresql"),
        ("ALTER TABLE log DROP COLUMN line;", "no primary key", "postgresql"),
        (
            "ALTER TABLE items DROP COLUMN id;",
            "part of the primary key and items has no other",
            "postgresql",
        ),
        ("DELETE FROM items ORDER BY id LIMIT 3;", "ORDER", "mysql"),
        ("TRUNCATE items CASCADE;", "CASCADE", "sqlite"),
        ("DELETE FROM missing;", "not on the target", "postgresql"),
    ],
)
def test_what_cannot_be_archived_is_a_gap_saying_why(sql, why, vendor):
    archive = plan(sql, vendor)
    assert not archive.steps
    [gap] = archive.gaps
    assert why in gap
    assert "statement 1" in gap


def test_a_table_without_key_keeps_its_deleted_rows():
    [step] = plan("DELETE FROM log WHERE line LIKE 'x%';").steps
    assert step.kind == "rows"


def test_a_table_others_depend_on_is_not_moved():
    held = TableInfo("items", "public", ITEMS.columns, ("id",), "view v depends on it")
    archive = plan("DROP TABLE items;", items=held)
    assert not archive.steps
    assert "view v" in archive.gaps[0]


def test_tables_created_by_the_script_are_not_archived():
    archive = plan(
        "DROP TABLE items; CREATE TABLE items (id INT); DELETE FROM items;"
        "ALTER TABLE items DROP COLUMN id; CREATE TABLE t2 (a INT); TRUNCATE t2;"
    )
    assert not archive.gaps
    assert [step.kind for step in archive.steps] == ["table"]


def test_the_rollback_gets_restores_after_its_catalogue_steps():
    sql = "ALTER TABLE items ADD COLUMN extra INT; DROP TABLE items;"
    archive = plan(sql, "sqlite")
    script = extend_rollback(generate_rollback(sql, "sqlite"), archive)
    assert script.is_complete
    [move] = archive.steps
    assert script.lines[0] == move.inverse[0]  # where the DROP's warning stood
    assert script.lines[1] == "ALTER TABLE items DROP COLUMN extra;"
    assert any(line.startswith("-- NOTE: table items") for line in script.lines)


def test_the_capture_runs_before_or_instead_of_its_statement():
    sql = "UPDATE items SET qty = 1; DROP TABLE items;"
    archive = plan(sql)
    first, second = parse_statements(sql, "postgresql")
    lines, replaces = archive.capture(first)
    assert lines[0].startswith("CREATE SCHEMA IF NOT EXISTS")
    assert not replaces
    lines, replaces = archive.capture(second)
    assert replaces
    # It fails as DROP TABLE would while others depend on the table, then moves it.
    assert lines[0].startswith("DO $guard$")
    assert "because other objects depend on it" in lines[0]
    assert lines[1].startswith("ALTER TABLE items RENAME TO")


def test_tables_named_lists_each_table_once():
    names = tables_named("DELETE FROM items; UPDATE Items SET qty = 1; TRUNCATE log;", "sqlite")
    assert [str(name) for name in names] == ["items", "log"]


def test_on_postgresql_the_copy_is_locked_against_changes_before_its_statement():
    column, rows = plan("ALTER TABLE items DROP COLUMN note; TRUNCATE items;").steps
    assert column.capture[0] == "LOCK TABLE items IN ACCESS EXCLUSIVE MODE;"
    assert rows.capture[0] == "LOCK TABLE items IN ACCESS EXCLUSIVE MODE;"
    assert not plan("TRUNCATE items;", "sqlite").steps[0].capture[0].startswith("LOCK")


def test_a_joined_delete_returns_its_own_table_s_columns_into_the_archive():
    [step] = plan("DELETE FROM items AS i USING log AS l WHERE i.note = l.line;").steps
    assert step.capture[1] == (
        "WITH gone AS (DELETE FROM items AS i USING log AS l WHERE i.note = l.line RETURNING "
        f"i.id AS id, i.qty AS qty, i.note AS note) INSERT INTO {step.archive} SELECT * FROM gone;"
    )


def test_a_joined_update_copies_each_row_it_sets_once():
    [step] = plan("UPDATE items SET qty = l.at FROM log AS l WHERE items.note = l.line;").steps
    assert step.capture[0].endswith(
        "FROM items WHERE EXISTS (SELECT 1 FROM log AS l WHERE items.note = l.line) FOR UPDATE;"
    )
    assert "SET qty = _a.qty" in step.restore[0]


def test_truncated_tables_come_back_referenced_first():
    parent = TableInfo(
        "p", "public", (Column("id", "integer", True),), ("id",), referencing=(("public", "c"),)
    )
    child = TableInfo("c", "public", (Column("id", "integer", True),), ("id",))
    steps = plan("TRUNCATE p, c;", p=parent, c=child).steps
    # Restores run in reverse: the parent's rows are inserted before the child's.
    assert [step.table for step in reversed(steps)] == ["p", "c"]
