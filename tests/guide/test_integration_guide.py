"""Every example of docs/integration-guide.md, run as written against PostgreSQL targets.

The blocks run in order in one namespace, as a reader would paste them; between blocks the
test prepares the database state each example assumes (e.g. a ``users`` table to add a
column to) and checks what the example prints and does.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from schema_manager import Migration, SchemaManager, VersionRecord
from schema_manager.sql import generate_rollback
from tests.guide.blocks import python_blocks, run_block, sql_rollback_examples
from tests.settings import POSTGRES_SCHEMAS, POSTGRES_URL

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("statement", "rollback"), sql_rollback_examples())
def test_guide_rollback_examples_are_exact_on_postgresql(statement, rollback):
    assert generate_rollback(statement, "postgresql").text == rollback


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_every_guide_example_runs(postgres_targets, capsys, restore_root_logging):
    targets = postgres_targets
    blocks = python_blocks()
    assert len(blocks) == 17
    ns: dict = {}
    manager = SchemaManager()

    def run(index: int) -> str:
        run_block(blocks[index], ns)
        return capsys.readouterr().out

    # Initialize: a schema path that does not exist yet is fine.
    assert run(0) == ""
    assert isinstance(ns["manager"], SchemaManager)

    # Apply a migration to production.
    out = run(1)
    assert "Migration 001_add_users_table applied successfully in" in out
    assert "users" in targets.tables("production")

    # Automatic rollback generation, in development (which has a users table without email).
    targets.execute("development", "CREATE TABLE users (id SERIAL PRIMARY KEY)")
    run(2)
    assert ns["result"].success, ns["result"].error
    assert "email" in targets.columns("users", "development")
    [record] = manager.get_version_history("development")
    assert record.rollback_script == "ALTER TABLE users DROP COLUMN IF EXISTS email;"

    # Rollback a migration: with no environment, where it is applied (production only).
    assert manager.rollback_migration_sync("002_add_email_column").success
    targets.execute("development", "DROP TABLE users")
    out = run(3)
    assert "Migration rolled back successfully" in out
    assert ns["result"].environment == "production"
    assert "users" not in targets.tables("production")

    # View history: every environment's, newest first.
    out = run(4)
    assert out.index("Migration: 001_add_users_table") < out.index("Migration: 002_add_email")
    assert out.count("Migration: ") == VersionRecord.objects.count() == 4
    assert "Status: rolled_back" in out
    assert "Rollback: DROP INDEX IF EXISTS idx_users_email;" in out

    # Validate a dangerous migration.
    out = run(5)
    assert "Validation failed:" in out
    assert "drops a whole database" in out

    # Migration failure: a good statement, then a bad one.
    before = targets.schema_snapshot("development")
    ns["failing_migration"] = Migration(
        id="006_failing",
        name="failing",
        sql="CREATE TABLE good (id INT); ALTER TABLE no_such_table ADD COLUMN x INT;",
    )
    out = run(6)
    assert "Migration failed:" in out
    assert "no_such_table" in out
    assert "Execution time:" in out
    after = targets.schema_snapshot("development")
    assert [row for row in after if "_prisma" not in row[1]] == [
        row for row in before if "_prisma" not in row[1]
    ]

    # Validation errors (the DROP DATABASE migration is still `migration`).
    out = run(7)
    assert "Error: Statement 1 (DROP DATABASE production) drops a whole database" in out

    # Environment-specific behaviour: the invalid migration is refused in both.
    run(8)
    assert ns["result"].success is False
    assert ns["result"].environment == "production"
    run(9)
    assert ns["result"].success is False
    assert ns["result"].environment == "development"

    # Best practice 1 and 2: staging first; production blocks the destructive change.
    run(10)
    targets.execute("staging", "CREATE TABLE users (id INT, legacy_field VARCHAR(255))")
    run(11)
    assert ns["staging_result"].success, ns["staging_result"].error
    assert "legacy_field" not in targets.columns("users", "staging")
    assert ns["prod_result"].success is False
    assert "Blocked in production" in ns["prod_result"].error

    # Best practices 3 and 4 only build migrations; 5 reviews a generated rollback.
    assert run(12) == ""
    assert run(13) == ""
    out = run(14)
    assert "Generated rollback:\n-- WARNING: cannot roll back statement 1" in out
    assert ns["migration"].rollback_sql.startswith("-- WARNING:")

    # Logging configuration.
    run(15)
    assert ns["logger"].name == "schema_manager"

    # Complete workflow: staging then production (rolled back there above), then history.
    targets.execute("staging", "DROP TABLE users")
    out = run(16)
    assert "Staging successful in" in out
    assert "Production migration successful in" in out
    assert f"Total migrations applied: {VersionRecord.objects.count()}" in out
    assert "users" in targets.tables("staging")
    assert "users" in targets.tables("production")
    live = [r for r in targets.ledger("production") if r["finished_at"] and not r["rolled_back_at"]]
    assert len(live) == 1


def _postgres_url(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-c%20search_path%3D{schema}"


def test_complete_workflow_runs_as_a_script(postgres_targets, tmp_path):
    """The guide's last example, as its own process on the demo project's settings."""
    if not POSTGRES_URL:
        pytest.skip("needs PostgreSQL")
    script = tmp_path / "workflow.py"
    script.write_text(
        "import django\ndjango.setup()\n" + python_blocks()[16],
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}",
        "DEVELOPMENT_DATABASE_URL": _postgres_url(POSTGRES_SCHEMAS["development"]),
        "STAGING_DATABASE_URL": _postgres_url(POSTGRES_SCHEMAS["staging"]),
        "PRODUCTION_DATABASE_URL": _postgres_url(POSTGRES_SCHEMAS["production"]),
        "PYTHONPATH": str(ROOT),
    }
    migrate = [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"]
    subprocess.run(migrate, env=env, check=True, cwd=tmp_path)

    done = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "Applying to staging..."
    assert "Staging successful in" in done.stdout
    assert "Production migration successful in" in done.stdout
    # History covers every environment: one apply in staging, one in production.
    assert done.stdout.rstrip().endswith("Total migrations applied: 2")
    for environment in ("staging", "production"):
        [row] = postgres_targets.ledger(environment)
        assert row["migration_name"] == "001_add_users_table"
        assert row["finished_at"] is not None
        assert "users" in postgres_targets.tables(environment)
    assert "users" not in postgres_targets.tables("development")
