"""validate_migration: each error and warning of the contract, with the database's knowledge."""

from __future__ import annotations

import pytest

from schema_manager import Migration, SchemaManager
from tests.conftest import ENGINES

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def migration(migration_id: str = "001_add_users", sql: str = "CREATE TABLE users (id INT);", **kw):
    return Migration(id=migration_id, name="add_users", sql=sql, **kw)


def validate(m: Migration, environment: str | None = None, **kw):
    return SchemaManager().validate_migration_sync(m, environment, **kw)


def test_a_sound_migration_is_valid(targets):
    result = validate(migration())
    assert result.is_valid
    assert result.errors == []
    assert result.warnings == []


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("DROP DATABASE production;", "drops a whole database"),
        ("CREATE TABLE t (name TEXT DEFAULT 'oops);", "unterminated quoted string"),
        ("CREATE TABLE t (id INT;", "unbalanced parentheses"),
        ("hello world;", "does not start with an SQL keyword"),
        ("CREATE TABLE t (id INT);\x00", "contains a NUL character"),
    ],
)
def test_sql_errors(targets, sql, fragment):
    result = validate(migration(sql=sql))
    assert not result.is_valid
    assert any(fragment in error for error in result.errors), result.errors


@pytest.mark.parametrize("sql", ["", "   \n\t "])
def test_an_empty_migration_is_valid_with_a_warning(targets, sql):
    result = validate(migration(sql=sql))
    assert result.is_valid, result.errors
    assert result.warnings == [
        "SQL is empty: applying it changes nothing and records it as applied, as Prisma does "
        "with an empty migration.sql."
    ]


def test_a_comment_only_migration_is_valid_with_a_warning(targets):
    result = validate(migration(sql="-- This is an empty migration."))
    assert result.is_valid, result.errors
    assert result.warnings == [
        "SQL has no statements, only comments: applying it changes nothing and records it as "
        "applied, as Prisma does with an empty migration."
    ]


@pytest.mark.parametrize(
    "migration_id", ["", "..", "a/b", "001_\n", "001_\u202e", "001_x" + "y" * 251]
)
def test_invalid_ids(targets, migration_id):
    result = validate(migration(migration_id=migration_id))
    assert not result.is_valid
    assert any("Migration id" in error for error in result.errors)


@pytest.mark.parametrize(
    "migration_id",
    ["001_add_users_table", "20240101120000_add_users", "20240101120000_", "migration1", "1-Add"],
)
def test_valid_ids(targets, migration_id):
    assert validate(migration(migration_id=migration_id)).is_valid


def warned_then_blocked_in_production(sql: str, fragment: str):
    """A warning in development; blocked in production unless destructive SQL is allowed (the
    allowed validation is returned)."""
    m = migration(sql=sql, rollback_sql="SELECT 1;")
    development = validate(m)
    assert development.is_valid
    assert any(fragment in warning for warning in development.warnings)

    production = validate(m, "production")
    assert not production.is_valid
    assert any(fragment in e and "Blocked in production" in e for e in production.errors)
    allowed = validate(m, "production", allow_destructive=True)
    assert allowed.is_valid
    return allowed


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("DROP TABLE legacy;", "drops a table"),
        ("ALTER TABLE users DROP COLUMN legacy;", "drops a column"),
        ("TRUNCATE users;", "deletes every row"),
        ("DELETE FROM users;", "deletes every row (no WHERE)"),
        ("UPDATE users SET active = 0;", "updates every row (no WHERE)"),
    ],
)
def test_destructive_warnings_and_production_blocking(targets, sql, fragment):
    allowed = warned_then_blocked_in_production(sql, fragment)
    assert any(fragment in warning for warning in allowed.warnings)


@pytest.mark.parametrize(
    "sql", ["DELETE FROM users WHERE id = 1;", "UPDATE users SET a = 1 WHERE id = 2;"]
)
def test_targeted_data_changes_are_not_warned(targets, sql):
    result = validate(migration(sql=sql, rollback_sql="SELECT 1;"), "production")
    assert result.is_valid
    assert result.warnings == []


def test_missing_rollback_for_irreversible_sql_is_a_warning(targets):
    result = validate(migration(sql="DROP TABLE legacy;"))
    assert any("No rollback_sql given" in w for w in result.warnings)
    assert validate(migration(sql="DROP TABLE legacy;", rollback_sql="SELECT 1;")).warnings == [
        next(w for w in result.warnings if "drops a table" in w and "No rollback" not in w)
    ]


def test_duplicate_id_in_the_catalogue(targets):
    migration(sql="CREATE TABLE first (id INT);\n").save()
    result = validate(migration(sql="CREATE TABLE second (id INT);"))
    assert not result.is_valid
    assert any("already used with different SQL in the catalogue" in e for e in result.errors)
    # The same SQL again is not a duplicate.
    assert validate(migration(sql="CREATE TABLE first (id INT);")).is_valid


def test_duplicate_id_in_history_and_ledger(targets):
    manager = SchemaManager()
    assert manager.apply_migration_sync(migration(), "staging").success
    Migration.objects.all().delete()  # the catalogue forgot; the target and history did not
    other = migration(sql="CREATE TABLE other (id INT);")

    in_staging = validate(other, "staging")
    assert not in_staging.is_valid
    [error] = in_staging.errors
    assert "the history of staging" in error
    assert "_prisma_migrations ledger" in error

    elsewhere = validate(other, "development")
    assert not elsewhere.is_valid
    assert "the history of staging" in elsewhere.errors[0]


def test_validation_changes_nothing(targets):
    validate(migration(sql="DROP DATABASE x;"))
    validate(migration())
    assert not Migration.objects.exists()
    assert targets.ledger() == []
    assert "users" not in targets.tables()


# Each guarded statement with the engines that have it (None: every engine).
GUARDED = [
    ("DELETE FROM users WHERE true;", "its WHERE is always true", None),
    ("DELETE FROM users WHERE 1=1;", "its WHERE is always true", None),
    ("UPDATE users SET a = 0 WHERE 'a'='a';", "its WHERE is always true", None),
    (
        "DO $$ BEGIN EXECUTE 'DROP TABLE users'; END $$;",
        "runs SQL built at run time",
        {"postgresql"},
    ),
    ("CALL wipe();", "calls wipe", {"postgresql", "mysql"}),
]


@pytest.mark.parametrize(
    ("engine", "sql", "fragment"),
    [
        (engine, sql, fragment)
        for sql, fragment, engines in GUARDED
        for engine in ENGINES
        if engines is None or engine in engines
    ],
    indirect=["engine"],
)
def test_the_production_guard_reads_past_the_text(targets, sql, fragment):
    warned_then_blocked_in_production(sql, fragment)


def test_history_is_read_only_where_the_id_was_applied_with_other_sql():
    """A fleet's tenants each record the plan's migrations: validating one more tenant reads
    none of those records (they hold the same SQL), only another SQL's."""
    from schema_manager.checksums import migration_checksum
    from schema_manager.models import VersionRecord
    from schema_manager.validation import KnownMigrations

    sql = "CREATE TABLE users (id INT);"
    checksum = migration_checksum(sql)
    common = {"migration_id": "001_add_users", "name": "add_users", "operation": "apply"}
    VersionRecord.objects.bulk_create(
        [
            VersionRecord(
                **common, environment=f"tenants:t{i}", status="applied", checksum=checksum
            )
            for i in range(30)
        ]
        + [VersionRecord(**common, environment="tenants:odd", status="applied", checksum="f" * 64)]
    )
    known = KnownMigrations.read(["001_add_users"], [checksum])
    assert known.applied == {"001_add_users": {"tenants:odd": "f" * 64}}
    # Without the checksums: every environment, as before.
    assert len(KnownMigrations.read(["001_add_users"]).applied["001_add_users"]) == 31
    # The other SQL's validation sees the 30 tenants as duplicates.
    other = KnownMigrations.read(["001_add_users"], ["e" * 64])
    assert len(other.applied["001_add_users"]) == 31


def test_no_history_rows_are_read_when_every_environment_applied_the_same_sql():
    """The usual deploy: the plan's ids were applied elsewhere with the SQL about to run. Its
    history rows are not read at all (only their distinct checksums), so the read costs the
    same for a fleet of any size and cannot fall into a slow join plan."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from schema_manager.checksums import migration_checksum
    from schema_manager.models import VersionRecord
    from schema_manager.validation import KnownMigrations

    ids = [f"{i:03d}_step" for i in range(40)]
    sums = [migration_checksum(f"CREATE TABLE t{i} (id INT);") for i in range(40)]
    VersionRecord.objects.bulk_create(
        VersionRecord(
            migration_id=migration_id,
            name="step",
            operation="apply",
            environment=f"tenants:t{tenant}",
            status="applied",
            checksum=checksum,
        )
        for tenant in range(5)
        for migration_id, checksum in zip(ids, sums, strict=True)
    )
    with CaptureQueriesContext(connection) as queries:
        known = KnownMigrations.read(ids, sums)
    assert known.applied == {}
    assert not [q for q in queries.captured_queries if '"recorded_at"' in q["sql"]]
