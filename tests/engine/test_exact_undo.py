"""Compensation puts a pre-existing column's default, nullability and comment back to exactly
what they were before the failed attempt, as read from the catalogue before each statement
(and journaled, so that the next apply after a kill knows them too); where it cannot read or
restore them, it undoes nothing and says what to check."""

from __future__ import annotations

import signal

import pytest
from django.core.management import CommandError, call_command

from schema_manager import Migration
from schema_manager.models import VersionRecord
from tests.processes import Fleet, kill_started

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

NO_TRANSACTION = "-- schema-manager: no-transaction\n"
FAILING = "INSERT INTO missing VALUES (1)"

USERS = {
    "postgresql": (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL DEFAULT 'x', "
        "note VARCHAR(20));\n"
        "COMMENT ON TABLE users IS 'Everyone''s account';\n"
        "COMMENT ON COLUMN users.email IS 'Where to write';\n"
    ),
    "mysql": (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, "
        "email VARCHAR(100) NOT NULL DEFAULT 'x' COMMENT 'Where to write', "
        "note VARCHAR(20) DEFAULT 'n');\n"
    ),
}

CHANGES = {
    "postgresql": {
        "set-default": "ALTER TABLE users ALTER COLUMN email SET DEFAULT 'y'",
        "drop-default": "ALTER TABLE users ALTER COLUMN email DROP DEFAULT",
        "drop-not-null": "ALTER TABLE users ALTER COLUMN email DROP NOT NULL",
        "set-not-null": "ALTER TABLE users ALTER COLUMN note SET NOT NULL",
        "default-and-null": (
            "ALTER TABLE users ALTER COLUMN email SET DEFAULT 'y', "
            "ALTER COLUMN email DROP NOT NULL, ALTER COLUMN note SET DEFAULT 'z'"
        ),
        "comment-column": "COMMENT ON COLUMN users.email IS 'changed'",
        "comment-table": "COMMENT ON TABLE users IS NULL",
        "comment-uncommented": "COMMENT ON COLUMN public.users.note IS 'new'",
    },
    "mysql": {
        "set-default": "ALTER TABLE users ALTER COLUMN email SET DEFAULT 'y'",
        "drop-default": "ALTER TABLE users ALTER COLUMN note DROP DEFAULT",
        "modify": "ALTER TABLE users MODIFY email VARCHAR(100) NULL",
        "modify-column": "ALTER TABLE users MODIFY COLUMN note VARCHAR(20) NOT NULL DEFAULT 'z'",
        "change": "ALTER TABLE users CHANGE email email VARCHAR(100) NOT NULL DEFAULT 'z'",
        "change-renames": "ALTER TABLE users CHANGE COLUMN email mail VARCHAR(120) NULL",
    },
}


def columns_state(targets) -> list[tuple]:
    """Every column of users with its default, nullability and comment, and the table's
    comment."""
    if targets.engine == "postgresql":
        return targets.fetch(
            "development",
            "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid), a.attnotnull, "
            "col_description(a.attrelid, a.attnum), obj_description(a.attrelid, 'pg_class') "
            "FROM pg_attribute a LEFT JOIN pg_attrdef d "
            "ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = 'users'::regclass AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
        )
    [(_, create)] = targets.fetch("development", "SHOW CREATE TABLE users")
    return [(create,)]


def users(targets, manager) -> list[tuple]:
    migration = Migration(id="001_users", sql=USERS[targets.engine])
    assert manager.apply_migration_sync(migration).success
    targets.execute("development", "INSERT INTO users (id, email, note) VALUES (1, 'a', 'b')")
    return columns_state(targets)


@pytest.mark.parametrize(
    ("engine", "change"),
    [(engine, change) for engine, changes in CHANGES.items() for change in sorted(changes)],
    indirect=["engine"],
)
def test_a_failed_attempt_puts_back_exactly_what_it_altered(targets, manager, change):
    before = users(targets, manager)
    sql = (
        NO_TRANSACTION
        + "CREATE TABLE fresh (id INTEGER PRIMARY KEY);\n"
        + f"{CHANGES[targets.engine][change]};\n{FAILING};"
    )
    result = manager.apply_migration_sync(Migration(id="002_alter_users", sql=sql))
    assert not result.success
    assert result.compensated, result.message
    assert columns_state(targets) == before
    assert "fresh" not in targets.tables()
    assert targets.fetch("development", "SELECT id, email, note FROM users") == [(1, "a", "b")]


# Changes to a pre-existing object whose prior state this tool does not read: nothing is undone.
UNREADABLE = {
    "postgresql": "COMMENT ON FUNCTION now() IS 'changed'",
    "mysql": "ALTER TABLE users MODIFY email VARCHAR(100) NULL FIRST",
}


@pytest.mark.parametrize("engine", ["postgresql", "mysql"], indirect=True)
def test_a_prior_state_that_cannot_be_read_stops_compensation(targets, manager):
    users(targets, manager)
    sql = (
        NO_TRANSACTION
        + "CREATE TABLE fresh (id INTEGER PRIMARY KEY);\n"
        + f"{UNREADABLE[targets.engine]};\n{FAILING};"
    )
    result = manager.apply_migration_sync(Migration(id="002_alter_users", sql=sql))
    assert not result.success
    assert not result.compensated
    assert "fresh" in targets.tables()  # untouched: not even what it certainly created
    message = " ".join(result.message.split())
    assert "nothing was undone" in message, message
    assert "statement 2 (" in message
    assert "check" in message


# -- after a kill -9 -------------------------------------------------------------------------


@pytest.fixture
def fleet(targets, tmp_path):
    yield Fleet(targets, tmp_path)
    kill_started()


KILLS = {
    "postgresql": ["after-step-1", "after-step-2"],
    "mysql": ["in-step-1", "after-step-1", "in-step-2", "after-step-2"],
}
ALTERS = {
    "postgresql": [
        "ALTER TABLE users ALTER COLUMN email SET DEFAULT 'y', ALTER COLUMN email DROP NOT NULL",
        "COMMENT ON COLUMN users.email IS 'changed'",
    ],
    "mysql": [
        "ALTER TABLE users ALTER COLUMN email SET DEFAULT 'y'",
        "ALTER TABLE users MODIFY note VARCHAR(20) NOT NULL DEFAULT 'z'",
    ],
}


@pytest.mark.parametrize(
    ("engine", "point"),
    [(engine, point) for engine, points in KILLS.items() for point in points],
    indirect=["engine"],
)
def test_after_a_kill_the_next_apply_puts_back_exactly_what_was_altered(
    targets, manager, fleet, point
):
    before = users(targets, manager)
    sql = ";\n".join([*ALTERS[targets.engine], "CREATE TABLE fresh (id INTEGER)", FAILING])
    fleet.write("002_alter_users", NO_TRANSACTION + sql)
    process = fleet.start(SCHEMA_MANAGER_TEST_CRASH_AT=point)
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL, (point, process.stderr.read())

    # The next apply undoes the interrupted attempt, then tries afresh, fails and compensates.
    with pytest.raises(CommandError, match="INSERT INTO missing"):
        call_command("apply_schema_migration", "--all", verbosity=0)
    # Nothing of either attempt remains: no ledger row of it; history keeps both.
    assert "002_alter_users" not in [r["migration_name"] for r in targets.ledger()]
    interrupted, failed = VersionRecord.objects.filter(migration_id="002_alter_users").order_by(
        "recorded_at"
    )
    assert (interrupted.recovery, failed.recovery) == ("interrupted", "compensated")
    assert "Interrupted:" in interrupted.error, interrupted.error
    assert columns_state(targets) == before
    assert "fresh" not in targets.tables()


@pytest.mark.parametrize("engine", ["postgresql", "mysql"], indirect=True)
def test_after_a_kill_an_unread_prior_state_stops_the_next_apply(targets, manager, fleet):
    users(targets, manager)
    sql = f"CREATE TABLE fresh (id INTEGER);\n{UNREADABLE[targets.engine]};\n{FAILING}"
    fleet.write("002_alter_users", NO_TRANSACTION + sql)
    process = fleet.start(SCHEMA_MANAGER_TEST_CRASH_AT="after-step-2")
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL, process.stderr.read()
    with pytest.raises(CommandError) as raised:
        call_command("apply_schema_migration", "--all", verbosity=0)
    message = " ".join(str(raised.value).split())
    assert "nothing was undone" in message, message
    assert "statement 2 (" in message
    assert "fresh" in targets.tables()
