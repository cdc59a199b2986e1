"""Compensation undoes only what the failed attempt is known to have created: objects that
existed before it began survive, with their rows, on every engine that runs step by step."""

from __future__ import annotations

import signal

import pytest
from django.core.management import CommandError, call_command

from schema_manager import Migration
from schema_manager.models import VersionRecord
from tests.conftest import ENGINES
from tests.processes import Fleet, kill_started

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

NO_TRANSACTION = "-- schema-manager: no-transaction\n"
ROWS = 1000
USERS = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100));\n"
    "CREATE INDEX users_email ON users (email);\n"
)
FAILING = "INSERT INTO missing VALUES (1)"

# Statements that change nothing when run after USERS (the object exists, or does not).
NO_OPS = {
    "create-table": "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email VARCHAR(100))",
    "add-column": "ALTER TABLE users ADD COLUMN IF NOT EXISTS email VARCHAR(100)",
    "create-index": "CREATE INDEX IF NOT EXISTS users_email ON users (email)",
    "drop-missing-table": "DROP TABLE IF EXISTS ghost",
    "drop-missing-index": "DROP INDEX IF EXISTS ghost_index",
    "create-extension": "CREATE EXTENSION IF NOT EXISTS plpgsql",  # PostgreSQL's, always there
    "alter-missing-table": "ALTER TABLE IF EXISTS ghost ADD COLUMN note INTEGER",
}


def users_with_rows(targets, manager) -> None:
    """The table of an applied migration, holding ROWS rows."""
    assert manager.apply_migration_sync(Migration(id="001_users", sql=USERS)).success
    with targets.connection().cursor() as cursor:
        cursor.executemany(
            "INSERT INTO users (id, email) VALUES (%s, %s)",
            [(n, f"u{n}@example.com") for n in range(1, ROWS + 1)],
        )


def user_rows(targets) -> tuple[int, int]:
    """(rows, rows with an email) of the users table."""
    [(rows, emails)] = targets.fetch("development", "SELECT COUNT(*), COUNT(email) FROM users")
    return int(rows), int(emails)


# Statements an engine does not have: SQLite has no ADD COLUMN IF NOT EXISTS and no ALTER TABLE
# IF EXISTS, MySQL's DROP INDEX names its table, extensions are PostgreSQL's.
NOT_ON = {
    "sqlite": {"add-column", "alter-missing-table", "create-extension"},
    "mysql": {"drop-missing-index", "create-extension"},
    "postgresql": set(),
}


@pytest.mark.parametrize(
    ("engine", "no_op"),
    [
        (engine, no_op)
        for engine in ENGINES
        for no_op in sorted(NO_OPS)
        if no_op not in NOT_ON[engine]
    ],
    indirect=["engine"],
)
def test_a_statement_that_changed_nothing_is_not_undone(targets, manager, no_op):
    users_with_rows(targets, manager)
    before = targets.schema_snapshot()
    migration = Migration(
        id="002_touch_users",
        sql=NO_TRANSACTION
        + "CREATE TABLE fresh (id INTEGER PRIMARY KEY);\n"
        + f"{NO_OPS[no_op]};\n{FAILING};",
    )
    result = manager.apply_migration_sync(migration)
    assert not result.success
    assert result.compensated, result.message
    after = [item for item in targets.schema_snapshot() if "_prisma_migrations" not in str(item)]
    assert after == [item for item in before if "_prisma_migrations" not in str(item)]
    assert user_rows(targets) == (ROWS, ROWS)
    if no_op == "create-extension":
        assert targets.fetch("development", "SELECT 1 FROM pg_extension WHERE extname = 'plpgsql'")
    # Nothing of it remains: no ledger row (Prisma would count one as applied); history has it.
    assert "002_touch_users" not in [row["migration_name"] for row in targets.ledger()]
    assert VersionRecord.objects.get(migration_id="002_touch_users").recovery == "compensated"


@pytest.mark.parametrize("engine", ["postgresql", "mysql"], indirect=True)
def test_a_column_added_if_missing_is_dropped_only_where_it_was_missing(targets, manager):
    users_with_rows(targets, manager)
    migration = Migration(
        id="002_columns",
        sql=NO_TRANSACTION
        + "ALTER TABLE users ADD COLUMN IF NOT EXISTS email VARCHAR(100), "
        + "ADD COLUMN IF NOT EXISTS age INTEGER;\n"
        + f"{FAILING};",
    )
    result = manager.apply_migration_sync(migration)
    assert result.compensated, result.message
    assert targets.columns("users") == ["id", "email"]
    assert user_rows(targets) == (ROWS, ROWS)


# -- CREATE INDEX CONCURRENTLY whose name is taken ----------------------------------------------


def _unique_email_index(targets) -> list[tuple]:
    return targets.fetch(
        "development",
        "SELECT i.indisunique, i.indisvalid FROM pg_index i "
        "WHERE i.indexrelid = to_regclass('users_email_key')",
    )


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE INDEX CONCURRENTLY users_email_key ON users (email);",
        NO_TRANSACTION
        + "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_key ON users (email);\n"
        + f"{FAILING};",
    ],
    ids=["name-taken", "if-not-exists"],
)
def test_a_failed_concurrent_index_leaves_an_existing_index_of_that_name(
    postgres_targets, manager, sql
):
    users_with_rows(postgres_targets, manager)
    unique = Migration(
        id="002_unique_email",
        sql="CREATE UNIQUE INDEX users_email_key ON users (email);",
    )
    assert manager.apply_migration_sync(unique).success
    result = manager.apply_migration_sync(Migration(id="003_email_index", sql=sql))
    assert not result.success
    assert result.compensated, result.message
    assert _unique_email_index(postgres_targets) == [(True, True)]
    assert user_rows(postgres_targets) == (ROWS, ROWS)


def test_an_invalid_index_left_by_this_attempt_is_dropped(postgres_targets, manager):
    users_with_rows(postgres_targets, manager)
    postgres_targets.execute("development", "UPDATE users SET email = 'same@example.com'")
    before = postgres_targets.schema_snapshot()
    migration = Migration(
        id="002_unique_email",
        sql="CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);",
    )
    result = manager.apply_migration_sync(migration)
    assert not result.success
    assert result.compensated, result.message
    assert _unique_email_index(postgres_targets) == []
    assert postgres_targets.schema_snapshot() == before


# -- after a kill -9 -------------------------------------------------------------------------


@pytest.fixture
def fleet(targets, tmp_path):
    yield Fleet(targets, tmp_path)
    kill_started()


def _touching_users(engine: str) -> list[str]:
    """A no-transaction migration that creates two objects and touches users' existing ones
    with IF [NOT] EXISTS (on PostgreSQL, by CREATE INDEX CONCURRENTLY whose name is taken)."""
    existing_index = "CREATE INDEX IF NOT EXISTS users_email ON users (email)"
    new_index = "CREATE INDEX fresh_note ON fresh (note)"
    if engine == "postgresql":
        existing_index = existing_index.replace("INDEX", "INDEX CONCURRENTLY", 1)
        new_index = new_index.replace("INDEX", "INDEX CONCURRENTLY", 1)
    return [
        "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email VARCHAR(100))",
        "CREATE TABLE fresh (id INTEGER PRIMARY KEY, note VARCHAR(20))",
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS email VARCHAR(100)",
        existing_index,
        "DROP TABLE IF EXISTS ghost",
        new_index,
    ]


def _users_made_by_hand(targets) -> None:
    """users, its unique index and ROWS rows, made before the migration (not by it)."""
    targets.execute("development", USERS.split(";")[0])
    targets.execute("development", "CREATE UNIQUE INDEX users_email ON users (email)")
    with targets.connection().cursor() as cursor:
        cursor.executemany(
            "INSERT INTO users (id, email) VALUES (%s, %s)",
            [(n, f"u{n}@example.com") for n in range(1, ROWS + 1)],
        )


def _killed_at(fleet, point: str) -> None:
    process = fleet.start(SCHEMA_MANAGER_TEST_CRASH_AT=point)
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL, (point, process.stderr.read())


KILL_POINTS = [f"in-step-{n}" for n in range(1, 7)] + [f"after-step-{n}" for n in range(1, 6)]


@pytest.mark.parametrize("engine", ["postgresql", "mysql"], indirect=True)
@pytest.mark.parametrize("point", KILL_POINTS)
def test_after_a_kill_the_next_apply_undoes_only_what_the_attempt_created(targets, fleet, point):
    _users_made_by_hand(targets)
    before = targets.schema_snapshot()
    fleet.write("002_touch_users", NO_TRANSACTION + ";\n".join(_touching_users(targets.engine)))
    _killed_at(fleet, point)

    call_command("apply_schema_migration", "--all", verbosity=0)

    assert user_rows(targets) == (ROWS, ROWS)
    assert {"users_email", "fresh_note"} <= targets.indexes("users") | targets.indexes("fresh")
    # The interrupted attempt's row is gone (nothing of it remains); history keeps it.
    [applied] = [row for row in targets.ledger() if row["migration_name"] == "002_touch_users"]
    assert (applied["finished_at"] is not None, applied["logs"]) == (True, None)
    interrupted = VersionRecord.objects.get(recovery="interrupted")
    assert "Interrupted:" in interrupted.error, interrupted.error
    # Nothing of users changed: what the migration added is fresh and its index only.
    added = set(targets.schema_snapshot()) - set(before)
    assert all("fresh" in str(item) or "_prisma_migrations" in str(item) for item in added)
    assert set(before) <= set(targets.schema_snapshot())


UNKNOWABLE = {
    # No name: the catalogue cannot say whether the build ran.
    "postgresql": "CREATE INDEX CONCURRENTLY ON users (email)",
    # No name either: the catalogue cannot say whether this index was built.
    "mysql": "ALTER TABLE users ADD INDEX (email)",
}


@pytest.mark.parametrize("engine", ["postgresql", "mysql"], indirect=True)
def test_after_a_kill_an_unknowable_statement_stops_the_next_apply(targets, fleet):
    _users_made_by_hand(targets)
    sql = "CREATE TABLE fresh (id INTEGER PRIMARY KEY);\n" + UNKNOWABLE[targets.engine]
    fleet.write("002_unknowable", NO_TRANSACTION + sql + ";\n")
    _killed_at(fleet, "in-step-2")
    after_kill = targets.schema_snapshot()

    for _ in range(2):  # and again: still nothing touched
        with pytest.raises(CommandError) as raised:
            call_command("apply_schema_migration", "--all", verbosity=0)
        message = " ".join(str(raised.value).split())
        assert "statement 2 (" in message, message
        assert "may have run before the process died" in message
        assert "check on " in message
        assert "whether it took effect" in message
        assert targets.schema_snapshot() == after_kill
        assert user_rows(targets) == (ROWS, ROWS)
    [row] = targets.ledger()
    assert (row["finished_at"], row["rolled_back_at"]) == (None, None)
