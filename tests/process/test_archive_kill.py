"""The archive under kill -9: an applier killed while it captures what a migration removes
leaves nothing half-archived (no archive table, no record, the rows as they were), and the
next apply archives and rolls back as if nothing had happened."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from schema_manager.sql.archive_sql import archive_table
from tests.engine.test_archive import fill_items
from tests.processes import Fleet, answer, kill_started

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

MIGRATION = "001_trim_items"
SQL = (
    "DELETE FROM items WHERE id > 50;\n"
    "ALTER TABLE items DROP COLUMN note;\n"
    "UPDATE items SET qty = 0 WHERE id < 10;\n"
    "DROP TABLE extra;\n"
)
# Where the applier dies: in the first capture, between captures (statement 1 copied and run),
# at the table's move, and at the commit.
CRASH_POINTS = ["archive-1", "archive-2", "archive-4", "before-commit"]


@pytest.fixture(autouse=True)
def _no_stray_children():
    yield
    kill_started()


def state(targets) -> tuple:
    """Every row of items and extra (checksummed by column name) and the tables there are."""
    tables = sorted(t for t in targets.tables() if t != "_prisma_migrations")
    rows = []
    for table in ("items", "extra"):
        if table not in tables:
            continue
        with targets.connection().cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table} ORDER BY 1")
            names = [c[0] for c in cursor.description]
            rows += [
                hashlib.sha256(
                    repr(sorted(zip(names, map(str, r), strict=True))).encode()
                ).hexdigest()
                for r in cursor.fetchall()
            ]
    return tables, rows


def archives_left(targets) -> list[str]:
    if targets.engine != "postgresql":
        prefix = archive_table(MIGRATION, 0, 0, targets.engine)[0].split("_s1")[0]
        return [t for t in targets.tables() if t.startswith(prefix)]
    [(schema,)] = targets.fetch("development", "SELECT current_schema()")
    prefix = archive_table(MIGRATION, 0, 0, "postgresql", schema)[0].split("_s1")[0]
    found = targets.fetch(
        "development",
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = '_schema_manager_archive' AND c.relkind = 'r'",
    )
    return [name for (name,) in found if name.startswith(prefix)]


def archive_records(fleet: Fleet) -> int:
    with sqlite3.connect(fleet.app_database) as connection:
        return connection.execute("SELECT COUNT(*) FROM schema_manager_archiverecord").fetchone()[0]


def run(fleet: Fleet, *commands: str) -> list[tuple[int, float, str]]:
    process = fleet.start("serve", SCHEMA_MANAGER_TEST_ARCHIVE="development")
    assert process.stdout.readline() == "ready\n"
    answers = []
    for command in commands:
        process.stdin.write(command + "\n")
        process.stdin.flush()
        answers.append(answer(process))
    process.stdin.close()
    process.wait(timeout=60)
    return answers


@pytest.mark.parametrize(
    ("engine", "point"),
    [(engine, point) for engine in ("postgresql", "sqlite") for point in CRASH_POINTS],
    indirect=["engine"],
)
def test_a_kill_during_the_capture_leaves_nothing_half_archived(targets, tmp_path, point):
    fleet = Fleet(targets, tmp_path)
    fill_items(targets)
    targets.execute("development", "CREATE TABLE extra (id INTEGER PRIMARY KEY, v TEXT)")
    targets.execute("development", "INSERT INTO extra VALUES (1, 'a'), (2, 'b')")
    before = state(targets)
    fleet.write(MIGRATION, SQL)

    killed = fleet.start(
        SCHEMA_MANAGER_TEST_CRASH_AT=point, SCHEMA_MANAGER_TEST_ARCHIVE="development"
    )
    assert killed.stdout.readline() == "ready\n"
    assert killed.wait(timeout=60) == -9, killed.stderr.read()

    assert state(targets) == before
    assert archives_left(targets) == []
    assert archive_records(fleet) == 0

    [(applied, _, error), (rolled_back, _, error_back)] = run(
        fleet, "apply", f"rollback {MIGRATION}"
    )
    assert applied == 0, error
    assert rolled_back == 0, error_back
    assert state(targets) == before
    assert archives_left(targets) == []
    assert archive_records(fleet) == 4


@pytest.mark.parametrize("engine", ["mysql"], indirect=True)
@pytest.mark.parametrize("point", CRASH_POINTS[:3])
def test_on_mariadb_a_kill_during_the_capture_is_compensated_from_the_archive(
    targets, tmp_path, point
):
    """Statement by statement, a kill leaves what ran committed with its step's journal: the
    next apply compensates it (putting back what was archived), applies afresh, and the
    rollback brings every row back; no archive is left behind."""
    fleet = Fleet(targets, tmp_path)
    fill_items(targets)
    targets.execute("development", "CREATE TABLE extra (id INTEGER PRIMARY KEY, v TEXT)")
    targets.execute("development", "INSERT INTO extra VALUES (1, 'a'), (2, 'b')")
    before = state(targets)
    fleet.write(MIGRATION, SQL)

    killed = fleet.start(
        SCHEMA_MANAGER_TEST_CRASH_AT=point, SCHEMA_MANAGER_TEST_ARCHIVE="development"
    )
    assert killed.stdout.readline() == "ready\n"
    assert killed.wait(timeout=60) == -9, killed.stderr.read()
    if point == "archive-1":  # nothing had run
        assert state(targets) == before
        assert archives_left(targets) == []
    assert archive_records(fleet) == 0

    # The next apply compensates what the dead one ran (from its journal) and stops there when
    # it had archived anything; the one after applies afresh.
    answers = run(fleet, "apply", "apply", f"rollback {MIGRATION}")
    assert [code for code, _, _ in answers[1:]] == [0, 0], answers
    assert state(targets) == before
    assert archives_left(targets) == []
