"""Applying and rolling back on real SQLite and PostgreSQL targets."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from schema_manager import Migration, SchemaManager, VersionRecord, services
from tests import local_postgres
from tests.settings import POSTGRES_SCHEMAS
from tests.utils import CREATE_USERS, USERS, users_migration

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_apply_creates_objects_ledger_row_and_history(targets, manager: SchemaManager):
    result = manager.apply_migration_sync(users_migration(), "staging", applied_by="ops")

    assert result.success, result.error
    assert result.migration_id == "001_add_users_table"
    assert result.environment == "staging"
    assert result.statements_run == 2
    assert result.execution_time > 0
    assert "users" in targets.tables("staging")
    assert "idx_users_email" in targets.indexes("users", "staging")
    assert "users" not in targets.tables("production")

    [row] = targets.ledger("staging")
    assert row["migration_name"] == "001_add_users_table"
    # The script is stored as migration.sql would hold it; the checksum is of those bytes.
    stored = Migration.objects.get(pk="001_add_users_table")
    assert stored.sql == CREATE_USERS.strip() + "\n"
    assert row["checksum"] == hashlib.sha256(stored.sql.encode()).hexdigest()
    assert row["finished_at"] is not None
    assert row["rolled_back_at"] is None
    assert row["logs"] is None
    # MySQL runs statement by statement (DDL commits implicitly) and counts each one.
    assert row["applied_steps_count"] == (2 if targets.engine == "mysql" else 1)
    assert len(row["id"]) == 36

    [record] = manager.get_version_history("staging")
    assert record.status == "applied"
    assert record.operation == "apply"
    assert record.ledger_id == row["id"]
    assert record.applied_by == "ops"
    assert record.checksum == row["checksum"]
    assert record.rollback_generated is True
    assert "DROP TABLE IF EXISTS users" in record.rollback_script
    assert stored.checksum == row["checksum"]


def test_failing_migration_leaves_no_trace(targets, manager: SchemaManager):
    before = targets.schema_snapshot()
    migration = Migration(
        id="002_half_good",
        name="half_good",
        sql="CREATE TABLE good (id INTEGER PRIMARY KEY);\nINSERT INTO missing_table VALUES (1);",
    )

    result = manager.apply_migration_sync(migration)

    assert result.success is False
    assert result.rollback_executed is True
    assert "missing_table" in result.error
    assert "Statement 2" in result.error
    assert result.statements_run == 1
    after = [item for item in targets.schema_snapshot() if "_prisma_migrations" not in str(item)]
    assert after == before
    [record] = manager.get_version_history()
    assert record.status == "failed"
    assert "missing_table" in record.error
    assert record.applied_at is None
    # Nothing of it remains, so no ledger row: Prisma's status would count any row of its
    # name as applied (history keeps the attempt).
    assert targets.ledger() == []
    assert record.ledger_id == ""
    if targets.engine == "mysql":
        # DDL commits implicitly: the CREATE TABLE ran and was undone by its inverse.
        assert "compensated" in result.message
        assert result.compensated
        assert record.recovery == "compensated"
    else:
        assert "rolled back" in result.message
        assert record.recovery == "rolled_back"
    # The message ends with the cause: the error's first line, as one sentence.
    cause = result.error.splitlines()[0]
    assert result.message.endswith(f" {cause}.") or result.message.endswith(f" {cause}")
    assert "missing_table" in result.message


def test_failed_migration_can_be_fixed_and_applied(targets, manager: SchemaManager):
    broken = Migration(
        id="003_fix_me", name="fix_me", sql="CREATE TABLE t (id INTEGER PRIMARY KE);"
    )
    assert not manager.apply_migration_sync(broken).success
    # Still only in the catalogue; the SQL may be corrected since it never ran.
    Migration.objects.filter(pk="003_fix_me").delete()
    fixed = Migration(
        id="003_fix_me", name="fix_me", sql="CREATE TABLE t (id INTEGER PRIMARY KEY);"
    )
    result = manager.apply_migration_sync(fixed)
    assert result.success, result.error
    assert "t" in targets.tables()


def test_apply_rollback_apply_round_trip(targets, manager: SchemaManager):
    migration = users_migration(rollback_sql="DROP TABLE users;")

    def prisma_pending() -> bool:
        # `prisma migrate deploy`: pending when no row of the name has rolled_back_at IS NULL;
        # `prisma migrate status`: pending when there is no row of the name at all.
        rows = [r for r in targets.ledger() if r["migration_name"] == migration.id]
        deploy = not any(r["rolled_back_at"] is None for r in rows)
        assert deploy == (not rows)
        return deploy

    assert prisma_pending()
    assert manager.apply_migration_sync(migration).success
    assert not prisma_pending()
    assert "users" in targets.tables()

    result = manager.rollback_migration_sync(migration.id)
    assert result.success, result.error
    assert result.operation == "rollback"
    assert "users" not in targets.tables()
    assert prisma_pending()
    assert targets.ledger() == []

    assert manager.apply_migration_sync(migration).success
    assert not prisma_pending()
    assert "users" in targets.tables()
    assert len(targets.ledger()) == 1
    statuses = [(r.operation, r.status) for r in manager.get_version_history()]
    assert statuses == [("apply", "applied"), ("rollback", "rolled_back"), ("apply", "applied")]


def test_rollback_uses_the_script_in_force_when_applied(targets, manager: SchemaManager):
    migration = users_migration()
    assert manager.apply_migration_sync(migration).success
    # Editing the catalogue's rollback later does not change what this application recorded.
    Migration.objects.filter(pk=migration.id).update(rollback_sql="SELECT 1;")
    result = manager.rollback_migration_sync(migration.id)
    assert result.success, result.error
    assert "users" not in targets.tables()
    first = {"mysql": "DROP INDEX idx_users_email ON users;"}.get(
        targets.engine, "DROP INDEX IF EXISTS idx_users_email;"
    )
    assert result.rollback_script.startswith(first)


def test_applying_twice_is_a_no_op(targets, manager: SchemaManager):
    assert manager.apply_migration_sync(users_migration()).success
    again = manager.apply_migration_sync(users_migration())
    assert again.success
    assert again.skipped
    assert "already applied" in again.message
    assert len(targets.ledger()) == 1
    assert VersionRecord.objects.count() == 1


def test_same_id_with_different_sql_is_refused(targets, manager: SchemaManager):
    assert manager.apply_migration_sync(users_migration()).success
    other = users_migration(sql="CREATE TABLE other (id INTEGER);")
    result = manager.apply_migration_sync(other, "staging")
    assert not result.success
    assert "already used with different SQL" in result.error
    assert "other" not in targets.tables("staging")
    assert targets.ledger("staging") == []


def test_rollback_of_migration_not_applied(targets, manager: SchemaManager):
    result = manager.rollback_migration_sync("001_add_users_table", "development")
    assert not result.success
    assert "not applied in development" in result.message
    assert VersionRecord.objects.count() == 0


def test_irreversible_generated_rollback_is_refused(targets, manager: SchemaManager):
    # PostgreSQL's capture recreates a dropped table, but not one with storage options.
    options = " WITH (fillfactor = 70)" if targets.engine == "postgresql" else ""
    targets.execute("development", f"CREATE TABLE legacy (id INTEGER){options}")
    drop = Migration(id="004_drop_legacy", name="drop_legacy", sql="DROP TABLE legacy;")
    assert manager.apply_migration_sync(drop).success
    result = manager.rollback_migration_sync(drop.id)
    assert not result.success
    assert "cannot be rolled back automatically" in result.message
    assert "rollback_sql" in result.message
    assert targets.ledger()[0]["rolled_back_at"] is None


def test_failed_rollback_keeps_the_migration_applied(targets, manager: SchemaManager):
    migration = users_migration(rollback_sql="DROP TABLE users; DROP TABLE no_such_table;")
    assert manager.apply_migration_sync(migration).success
    result = manager.rollback_migration_sync(migration.id)
    assert not result.success
    assert "no_such_table" in result.error
    assert targets.ledger()[0]["rolled_back_at"] is None
    if targets.engine == "mysql":
        # DROP TABLE committed on its own; the message names what ran and stays.
        assert "statement 1 (DROP TABLE users) ran and stay" in result.message
        assert "still recorded as applied" in result.message
        assert "users" not in targets.tables()
    else:
        assert "still applied" in result.message
        assert "users" in targets.tables()
    assert manager.get_version_history()[0].status == "failed"


def test_a_syntax_error_in_a_script_sent_whole_is_the_error_told(postgres_targets, manager):
    """A syntax error rejects a query string before its first statement runs (the savepoint
    it opens included): the server's own error is what the result says."""
    migration = Migration(
        id="002_typo", name="typo", sql="CREATE TABLE a (id INT);\nCREATE TABLE b (id INT,);"
    )

    result = manager.apply_migration_sync(migration)

    assert not result.success
    assert "syntax error" in result.error
    assert "savepoint" not in result.error
    assert "a" not in postgres_targets.tables()


def test_a_syntax_error_in_a_rollback_script_is_the_error_told(postgres_targets, manager):
    migration = Migration(
        id="002_tables",
        name="tables",
        sql="CREATE TABLE a (id INT); CREATE TABLE b (id INT);",
        rollback_sql="DROP TABLE b;\nDROP TABLE a,;",
    )
    assert manager.apply_migration_sync(migration).success

    result = manager.rollback_migration_sync("002_tables")

    assert not result.success
    assert "syntax error" in result.error
    assert "savepoint" not in result.error
    assert {"a", "b"} <= set(postgres_targets.tables())


def test_protected_environment_blocks_destructive_sql_unless_allowed(targets, manager):
    targets.execute("production", "CREATE TABLE legacy (id INTEGER)")
    drop = Migration(
        id="005_drop_legacy", name="drop_legacy", sql="DROP TABLE legacy;", rollback_sql="SELECT 1;"
    )
    blocked = manager.apply_migration_sync(drop, "production")
    assert not blocked.success
    assert "Blocked in production" in blocked.error
    assert "legacy" in targets.tables("production")

    allowed = manager.apply_migration_sync(drop, "production", allow_destructive=True)
    assert allowed.success, allowed.error
    assert "legacy" not in targets.tables("production")


def test_history_is_reconciled_from_the_ledger_after_a_crash(targets, manager):
    """A process that died after the target committed but before history was written."""
    assert manager.apply_migration_sync(users_migration()).success
    VersionRecord.objects.all().delete()

    services.status()  # any operation reconciles

    [record] = manager.get_version_history()
    assert record.status == "applied"
    assert record.reconciled is True
    assert record.ledger_id == targets.ledger()[0]["id"]
    assert "DROP TABLE IF EXISTS users" in record.rollback_script
    # And a rollback still works from the reconciled record.
    assert manager.rollback_migration_sync("001_add_users_table").success
    assert "users" not in targets.tables()


def test_unknown_environment_is_a_clear_error(targets, manager: SchemaManager):
    from schema_manager.exceptions import UnknownEnvironmentError

    with pytest.raises(UnknownEnvironmentError, match="Unknown environment 'qa'"):
        manager.apply_migration_sync(users_migration(), "qa")
    assert not Migration.objects.exists()


def test_indentation_does_not_make_a_different_migration(targets, manager: SchemaManager):
    """The same script typed at two indentations in Python code is one migration."""
    assert manager.apply_migration_sync(users_migration(sql="    " + CREATE_USERS)).success
    nested = users_migration(sql=CREATE_USERS.replace("\n", "\n        "))
    result = manager.apply_migration_sync(nested, "staging")
    assert result.success, result.error
    assert targets.ledger("staging")[0]["checksum"] == targets.ledger()[0]["checksum"]


def test_a_busy_target_fails_cleanly_after_the_lock_wait(postgres_targets, manager, settings):
    """Another applier (here: a plain session) holds Prisma's advisory lock on the target."""
    import psycopg

    from schema_manager.backends.postgresql import PRISMA_ADVISORY_LOCK_KEY
    from tests.settings import POSTGRES_URL

    settings.SCHEMA_MANAGER = {**settings.SCHEMA_MANAGER, "LOCK_WAIT": 0.3}
    with psycopg.connect(POSTGRES_URL, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [PRISMA_ADVISORY_LOCK_KEY])
        result = manager.apply_migration_sync(users_migration(), "staging")
    assert not result.success
    assert "Another apply is running on 'pg_staging'" in result.message
    assert "backend pid" in result.message
    assert "users" not in postgres_targets.tables("staging")
    assert VersionRecord.objects.count() == 0
    # Released: the next apply goes through.
    assert manager.apply_migration_sync(users_migration(), "staging").success


def test_crash_after_commit_before_history_converges_without_applying_twice(
    targets, manager: SchemaManager, monkeypatch
):
    from schema_manager import history

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("process killed after the target committed")

    monkeypatch.setattr(history, "record_apply", crash)
    with pytest.raises(KeyboardInterrupt):
        manager.apply_migration_sync(users_migration())
    monkeypatch.undo()
    assert VersionRecord.objects.count() == 0
    assert [row["finished_at"] is not None for row in targets.ledger()] == [True]

    again = manager.apply_migration_sync(users_migration())

    assert again.success
    assert again.skipped
    assert len(targets.ledger()) == 1
    [record] = manager.get_version_history()
    assert (record.status, record.reconciled) == ("applied", True)


FIVE = [
    "CREATE TABLE fi_a (id INTEGER PRIMARY KEY, name VARCHAR(20))",
    "ALTER TABLE fi_a ADD COLUMN note VARCHAR(20)",
    "CREATE INDEX fi_a_note ON fi_a (note)",
    "CREATE TABLE fi_b (id INTEGER PRIMARY KEY)",
    "ALTER TABLE fi_b ADD COLUMN flag INTEGER",
]


def _catalogue(targets) -> str:
    """A dump of the target's schema: pg_dump, sqlite_master, or information_schema."""
    if targets.engine == "postgresql":
        settings = targets.connection().settings_dict
        host = settings["HOST"] or settings["OPTIONS"].get("host", "")
        command = [local_postgres.pg_dump(), "--schema-only", "-n", POSTGRES_SCHEMAS["development"]]
        command += ["-h", host, "-p", str(settings["PORT"] or 5432)]
        dump = subprocess.run(
            [*command, "-U", settings["USER"], settings["NAME"]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        # pg_dump 15.14+ opens with a random \restrict key.
        return "\n".join(line for line in dump.splitlines() if "restrict " not in line)
    return repr(targets.schema_snapshot())


def test_a_failure_at_each_statement_position_leaves_nothing(targets, manager):
    assert manager.apply_migration_sync(Migration(id="001_users", sql=USERS)).success
    before = _catalogue(targets)
    for position in range(1, 6):
        statements = list(FIVE)
        statements[position - 1] = "INSERT INTO fi_missing VALUES (1)"
        migration = Migration(id=f"00{position + 1}_fail_at_{position}", sql=";\n".join(statements))
        result = manager.apply_migration_sync(migration)
        assert not result.success
        assert f"Statement {position}" in result.error
        assert _catalogue(targets) == before, position
        assert [row["migration_name"] for row in targets.ledger()] == ["001_users"]
        record = VersionRecord.objects.get(migration_id=migration.id)
        assert record.status == "failed"
        if targets.engine == "mysql":
            assert result.compensated
            assert result.statements_run == position - 1
            assert record.recovery == "compensated"
        else:
            assert record.recovery == "rolled_back"
