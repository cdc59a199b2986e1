"""Compensation undoes only what the failed attempt is known to have created: objects that
existed before it began survive, with their rows, on every engine that runs step by step."""

from __future__ import annotations

import pytest

from schema_manager import Migration

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


@pytest.mark.parametrize("no_op", sorted(NO_OPS))
def test_a_statement_that_changed_nothing_is_not_undone(targets, manager, no_op):
    if targets.engine == "sqlite" and no_op == "add-column":
        pytest.skip("SQLite has no ADD COLUMN IF NOT EXISTS")
    if targets.engine == "mysql" and no_op == "drop-missing-index":
        pytest.skip("MySQL's DROP INDEX names its table")
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
    row = targets.ledger()[-1]
    assert row["rolled_back_at"] is not None
    assert row["finished_at"] is None


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
