"""A history record the app's database refuses after the target has committed: the result
says what happened, the record is kept on the target, and reconciliation rebuilds it whole
(who, how long, the rollback script of that apply), so the migration can still be rolled back.

The refusal is real: a trigger on the app's history table (SQLite, in-process), or a role
without INSERT on it (PostgreSQL, through the commands)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connections

from schema_manager import Migration, SchemaManager, VersionRecord, services
from schema_manager.kept_records import TABLE
from tests.commands.test_commands import manage
from tests.commands.test_operator_errors import _postgres_url, migrations_of, staging  # noqa: F401
from tests.settings import POSTGRES_SCHEMAS
from tests.utils import write_migration

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

HISTORY = VersionRecord._meta.db_table
REFUSAL = f"permission denied for table {HISTORY}"


class AppHistory:
    """Makes the app's (SQLite) database refuse, or accept again, new history records."""

    def refuse(self) -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                f"CREATE TRIGGER refuse_history BEFORE INSERT ON {HISTORY} "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            )

    def accept(self) -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS refuse_history")


@pytest.fixture
def app_history():
    history = AppHistory()
    yield history
    history.accept()


def test_a_refused_record_is_told_truthfully_and_rebuilt_whole(targets, app_history):
    manager = SchemaManager()
    first = Migration(
        id="001_users",
        sql="CREATE TABLE users (id INT, active INT);\n"
        "CREATE VIEW active_users AS SELECT id FROM users WHERE active = 1;",
        rollback_sql="DROP VIEW active_users;\nDROP TABLE users;",
    )
    assert manager.apply_migration_sync(first, "staging").success
    app_history.refuse()
    # No rollback_sql: on PostgreSQL the view's definition is captured from the catalog when
    # it is applied, and that captured script is the only way back.
    dropping = Migration(id="002_drop_view", sql="DROP VIEW active_users;")

    result = manager.apply_migration_sync(dropping, "staging", applied_by="deploy")

    assert result.success
    assert result.message == (
        f"Migration 002_drop_view applied in staging; its history record could not be "
        f"written: {REFUSAL}; it will be rebuilt from the ledger."
    )
    assert REFUSAL in result.history_error
    assert [r.migration_id for r in VersionRecord.objects.all()] == ["001_users"]
    assert TABLE in targets.tables("staging")

    app_history.accept()
    services.status("staging")  # the next operation reconciles

    rebuilt = VersionRecord.objects.get(migration_id="002_drop_view")
    assert rebuilt.reconciled
    assert rebuilt.applied_by == "deploy"
    assert rebuilt.execution_time == result.execution_time
    assert rebuilt.rollback_script == result.rollback_script
    assert targets.fetch("staging", f"SELECT COUNT(*) FROM {TABLE}") == [(0,)]
    if targets.engine == "postgresql":
        assert "CREATE VIEW" in rebuilt.rollback_script  # captured at apply time
        rolled_back = SchemaManager().rollback_migration_sync("002_drop_view", "staging")
        assert rolled_back.success, rolled_back.message
        assert targets.fetch("staging", "SELECT COUNT(*) FROM active_users") == [(0,)]


def test_a_refused_rollback_record_is_told_and_rebuilt(targets, app_history):
    migration = Migration(id="001_t", sql="CREATE TABLE t (id INT);", rollback_sql="DROP TABLE t;")
    manager = SchemaManager()
    assert manager.apply_migration_sync(migration, "staging").success
    app_history.refuse()

    result = manager.rollback_migration_sync("001_t", "staging", applied_by="ops")

    assert result.success
    assert result.message.startswith(
        "Migration 001_t rolled back in staging; its history record could not be written: "
    )
    app_history.accept()
    services.status("staging")
    rebuilt = VersionRecord.objects.get(operation="rollback")
    assert (rebuilt.status, rebuilt.applied_by, rebuilt.reconciled) == ("rolled_back", "ops", True)


@pytest.fixture
def app_role(postgres_targets):
    """A role for the app's own database (production's schema here) that may do everything
    there but INSERT into the history table, and everything in staging's schema."""
    role = f"sm_app_{uuid.uuid4().hex[:8]}"
    yield role
    for environment in ("production", "staging"):
        postgres_targets.execute(environment, f"DROP OWNED BY {role}")
    postgres_targets.execute("staging", f"DROP ROLE {role}")


def test_the_command_says_the_migration_was_applied_and_exits_3(
    postgres_targets,
    staging,  # noqa: F811
    app_role,
    tmp_path,
):
    app_schema, target_schema = POSTGRES_SCHEMAS["production"], POSTGRES_SCHEMAS["staging"]
    staging["DATABASE_URL"] = _postgres_url(app_schema)
    assert manage(staging, "migrate", "-v0").returncode == 0
    for sql in (
        f"CREATE ROLE {app_role} LOGIN",
        f"GRANT USAGE, CREATE ON SCHEMA {app_schema}, {target_schema} TO {app_role}",
        f"GRANT ALL ON ALL TABLES IN SCHEMA {app_schema} TO {app_role}",
        f"GRANT ALL ON ALL SEQUENCES IN SCHEMA {app_schema} TO {app_role}",
        f"REVOKE INSERT ON {HISTORY} FROM {app_role}",
    ):
        postgres_targets.execute("production", sql)
    staging["DATABASE_URL"] = _postgres_url(app_schema, app_role)
    staging["STAGING_DATABASE_URL"] = _postgres_url(target_schema, app_role)
    write_migration(
        migrations_of(staging),
        "001_users",
        "CREATE TABLE users (id INT, active INT);\n"
        "CREATE VIEW active_users AS SELECT id FROM users WHERE active = 1;\n",
        down="DROP VIEW active_users;\nDROP TABLE users;\n",
    )
    write_migration(migrations_of(staging), "002_drop_view", "DROP VIEW active_users;\n")

    done = manage(staging, "apply_schema_migration", "001_users", "002_drop_view", "-e", "staging")

    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"CommandError: Migration 001_users applied in staging; its history record could not "
        f"be written: permission denied for table {HISTORY}; it will be rebuilt from the ledger."
    ]
    assert "002_drop_view" not in done.stdout  # the plan stopped there
    assert "users" in postgres_targets.tables("staging")

    postgres_targets.execute("production", f"GRANT INSERT ON {HISTORY} TO {app_role}")
    applied = manage(staging, "apply_schema_migration", "002_drop_view", "-e", "staging")
    assert applied.returncode == 0, applied.stderr
    [(reconciled, applied_by, execution_time, rollback_script)] = postgres_targets.fetch(
        "production",
        f"SELECT reconciled, applied_by, execution_time, rollback_script FROM {HISTORY} "
        "WHERE migration_id = '001_users'",
    )
    assert reconciled is True
    assert applied_by
    assert execution_time > 0
    assert "DROP TABLE users" in rollback_script

    for migration_id in ("002_drop_view", "001_users"):
        rolled_back = manage(staging, "rollback_schema_migration", migration_id, "-e", "staging")
        assert rolled_back.returncode == 0, rolled_back.stderr
    assert "users" not in postgres_targets.tables("staging")
