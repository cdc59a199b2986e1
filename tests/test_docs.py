"""What the documentation promises a reader, checked as that reader would run it.

- The integration guide's logging example, in the demo project: after
  ``logging.basicConfig(level=logging.INFO)`` the app's records show.
- The demo prints the app's records in commands only when ``SCHEMA_MANAGER_LOG_LEVEL`` asks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.settings import POSTGRES_SCHEMAS, POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent


def _postgres_url(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-c%20search_path%3D{schema}"


# The guide's logging and apply examples as a reader runs them (top-level await as in a
# notebook), then a rollback, a validation warning and a failure.
SCRIPT = """
import django

django.setup()

from tests.guide import python_blocks, run_block

from schema_manager import Migration, SchemaManager

blocks = {block.splitlines()[0]: block for block in python_blocks()}
ns = {"manager": SchemaManager(), "Migration": Migration}
run_block(blocks["import logging"], ns)
run_block(blocks["# Create a migration"], ns)
manager, migration = ns["manager"], ns["migration"]
manager.rollback_migration_sync("001_add_users_table", environment="production")
manager.apply_migration_sync(migration, environment="development")
manager.apply_migration_sync(
    Migration(id="002_clear_users", name="clear_users", sql="DELETE FROM users;"),
    environment="development",
)
manager.apply_migration_sync(
    Migration(id="003_broken", name="broken", sql="ALTER TABLE no_such_table ADD x INT;"),
    environment="development",
)
"""


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_guide_logging_example_shows_the_app_log_in_the_demo(postgres_targets, tmp_path):
    script = tmp_path / "logging_example.py"
    script.write_text(SCRIPT)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}",
        "DEVELOPMENT_DATABASE_URL": _postgres_url(POSTGRES_SCHEMAS["development"]),
        "STAGING_DATABASE_URL": _postgres_url(POSTGRES_SCHEMAS["staging"]),
        "PRODUCTION_DATABASE_URL": _postgres_url(POSTGRES_SCHEMAS["production"]),
        "PRISMA_SCHEMA_PATH": str(tmp_path / "prisma" / "schema.prisma"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("SCHEMA_MANAGER_LOG_LEVEL", None)
    migrate = [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"]
    subprocess.run(migrate, env=env, check=True, cwd=tmp_path)

    done = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    log = done.stderr
    # Start and completion of an apply.
    assert (
        "INFO:schema_manager.manager:Applying 001_add_users_table to production "
        "(target_production)" in log
    )
    assert "INFO:schema_manager.manager:Migration 001_add_users_table applied to production" in log
    # A rollback.
    assert "INFO:schema_manager.manager:Rolling back 001_add_users_table in production" in log
    assert re.search(r"INFO:schema_manager\.manager:Migration 001_add_users_table rolled back", log)
    # A validation warning, on the apply that goes ahead with it.
    assert re.search(
        r"WARNING:schema_manager\.manager:Migration 002_clear_users \(development\): .*"
        r"DELETE FROM users",
        log,
    )
    # An error, with the database's own words.
    assert re.search(
        r"WARNING:schema_manager\.executor:Migration 003_broken failed on 'target_development'"
        r" and was rolled back: .*no_such_table",
        log,
    )
    assert re.search(r"WARNING:schema_manager\.manager:Migration 003_broken failed", log)


def _demo_env(tmp_path: Path) -> dict[str, str]:
    """The demo project on SQLite files under ``tmp_path``, migrations in tmp_path/prisma."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "PRISMA_SCHEMA_PATH": str(tmp_path / "prisma" / "schema.prisma"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("SCHEMA_MANAGER_LOG_LEVEL", None)
    for variable, name in (
        ("DATABASE_URL", "app"),
        ("DEVELOPMENT_DATABASE_URL", "development"),
        ("STAGING_DATABASE_URL", "staging"),
        ("PRODUCTION_DATABASE_URL", "production"),
    ):
        env[variable] = f"sqlite:///{tmp_path / name}.sqlite3"
    return env


def _manage(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )


def test_demo_commands_print_the_app_log_only_at_the_level_asked(tmp_path):
    folder = tmp_path / "prisma" / "migrations" / "001_add_users"
    folder.mkdir(parents=True)
    (folder / "migration.sql").write_text("CREATE TABLE users (id INTEGER PRIMARY KEY);\n")
    quiet = _demo_env(tmp_path)
    assert _manage(tmp_path, quiet, "migrate", "-v0").returncode == 0

    plain = _manage(tmp_path, quiet, "apply_schema_migration", "--all", "--noinput")
    (tmp_path / "development.sqlite3").unlink()
    (tmp_path / "app.sqlite3").unlink()
    assert _manage(tmp_path, quiet, "migrate", "-v0").returncode == 0
    logged = _manage(
        tmp_path,
        {**quiet, "SCHEMA_MANAGER_LOG_LEVEL": "INFO"},
        "apply_schema_migration",
        "--all",
        "--noinput",
    )

    assert plain.returncode == logged.returncode == 0, plain.stderr + logged.stderr
    assert "schema_manager" not in plain.stderr
    assert "INFO schema_manager.manager: Applying 001_add_users to development" in logged.stderr
