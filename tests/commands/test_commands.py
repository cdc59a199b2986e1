"""The management commands, through call_command and as real processes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError

from schema_manager import Migration
from tests.settings import POSTGRES_SCHEMAS
from tests.utils import count_queries, run_command, write_migration

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

ROOT = Path(__file__).resolve().parents[2]


def test_apply_all_imports_folders_and_applies_in_order(targets, migrations_dir):
    # Written as `prisma migrate dev` writes them; the second with CRLF line ends.
    write_migration(
        migrations_dir,
        "20240102000000_add_phone",
        "ALTER TABLE customers ADD COLUMN phone TEXT;\r\n",
    )
    write_migration(
        migrations_dir,
        "20240101000000_init",
        "-- CreateTable\nCREATE TABLE customers (id INTEGER PRIMARY KEY);\n",
        down="DROP TABLE customers;\n",
    )

    out, _, _ = run_command("apply_schema_migration", "--all")

    lines = out.splitlines()
    assert lines[0] == f"Applying 2 migration(s) in development ({targets.alias('development')}):"
    assert re.fullmatch(
        r"  \[1/2\] 20240101000000_init \.\.\. applied \(1 statement\(s\), \d+\.\d{3}s\)", lines[1]
    )
    assert lines[2].startswith("  [2/2] 20240102000000_add_phone ... applied (1 statement(s), ")
    assert re.fullmatch(r"Done in development: 2 applied \(\d+\.\d{3}s in all\)\.", lines[3])
    assert len(lines) == 4
    ledger = targets.ledger()
    assert [row["migration_name"] for row in ledger] == [
        "20240101000000_init",
        "20240102000000_add_phone",
    ]
    for row in ledger:
        file_bytes = (migrations_dir / row["migration_name"] / "migration.sql").read_bytes()
        assert row["checksum"] == hashlib.sha256(file_bytes).hexdigest()
        assert row["applied_steps_count"] == 1
    assert Migration.objects.get(pk="20240101000000_init").rollback_sql == "DROP TABLE customers;\n"
    assert "phone" in targets.columns("customers")

    out, _, _ = run_command("apply_schema_migration", "--all")
    assert out.strip() == "No migrations to apply in development."


def test_apply_named_migrations_and_unknown_ids(targets, migrations_dir):
    write_migration(migrations_dir, "001_a", "CREATE TABLE a (id INTEGER);")
    write_migration(migrations_dir, "002_b", "CREATE TABLE b (id INTEGER);")
    with pytest.raises(CommandError, match="Unknown migration\\(s\\): '003_c'"):
        run_command("apply_schema_migration", "002_b", "003_c")
    assert targets.ledger() == []

    run_command("apply_schema_migration", "002_b", "--environment", "staging")
    assert [row["migration_name"] for row in targets.ledger("staging")] == ["002_b"]
    assert targets.ledger() == []


def test_apply_all_reads_the_migrations_directory_once(targets, migrations_dir, monkeypatch):
    # The plan and its drift check are made from one listing: each listing reads (and
    # hashes) every folder's files, which grows with the history.
    from schema_manager.files import MigrationDirectory

    listings = []
    listing = MigrationDirectory.listing
    monkeypatch.setattr(
        MigrationDirectory, "listing", lambda self: listings.append(self) or listing(self)
    )
    write_migration(migrations_dir, "20240101000000_init", "CREATE TABLE t (id INTEGER);\n")

    out, _, _ = run_command("apply_schema_migration", "--all")

    assert "1 applied" in out
    assert len(listings) == 1


def test_a_deploy_with_nothing_pending_reads_the_ledger_once(targets, migrations_dir):
    # What a deploy pays every time, whatever the history's length: one listing (above) and
    # one read of the ledger, which makes the plan and checks it for drift.
    for number in range(3):
        write_migration(
            migrations_dir, f"2024010100000{number}_t", f"CREATE TABLE t{number} (id INT);"
        )
    run_command("apply_schema_migration", "--all")
    alias = targets.alias("development")

    with count_queries("default", alias, transaction_control=False) as counts:
        out, _, _ = run_command("apply_schema_migration", "--all")

    assert out.strip() == "No migrations to apply in development."
    # The target: where the ledger is, then its rows.
    assert counts[alias] == 2, counts
    # The app's database: the catalogue's checksums (the import), the entries kept on disk
    # (pruning), the entries not applied (none).
    assert counts["default"] == 3, counts


@pytest.mark.parametrize("args", [(), ("001_a", "--all")])
def test_apply_needs_ids_or_all(targets, args):
    with pytest.raises(CommandError, match="Name the migrations to apply, or pass --all"):
        run_command("apply_schema_migration", *args)


def test_apply_stops_at_the_first_failure(targets, migrations_dir):
    write_migration(migrations_dir, "001_ok", "CREATE TABLE ok (id INTEGER);")
    write_migration(
        migrations_dir, "002_bad", "CREATE TABLE half (id INTEGER); SELECT * FROM nope;"
    )
    write_migration(migrations_dir, "003_later", "CREATE TABLE later (id INTEGER);")

    with pytest.raises(CommandError, match="Migration 002_bad failed in development") as caught:
        run_command("apply_schema_migration", "--all")

    assert "nope" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert {"ok"} <= targets.tables()
    assert not {"half", "later"} & targets.tables()


def test_dry_run_shows_plan_sql_and_rollback_and_runs_nothing(targets, migrations_dir):
    write_migration(
        migrations_dir, "001_users", "CREATE TABLE users (id INTEGER);\nDROP TABLE old;"
    )

    out, _, _ = run_command("apply_schema_migration", "--all", "--dry-run")

    assert "Would apply 001_users" in out
    assert "CREATE TABLE users (id INTEGER);" in out
    assert "drops a table" in out  # the validation warning
    assert "DROP TABLE IF EXISTS users" in out  # the generated rollback
    assert "users" not in targets.tables()
    assert targets.ledger() == []


def test_rollback_command_and_its_dry_run(targets, migrations_dir):
    write_migration(migrations_dir, "001_users", "CREATE TABLE users (id INTEGER);")
    run_command("apply_schema_migration", "--all")

    out, _, _ = run_command("rollback_schema_migration", "001_users", "--dry-run")
    cascade = " CASCADE" if targets.engine == "postgresql" else ""
    assert out.splitlines() == [
        "Would roll back 001_users with:",
        f"DROP TABLE IF EXISTS users{cascade};",
    ]
    assert "users" in targets.tables()

    out, _, _ = run_command("rollback_schema_migration", "001_users")
    assert re.fullmatch(r"001_users \.\.\. rolled back \(1 statement\(s\), [\d.]+s\)", out.strip())
    assert "users" not in targets.tables()

    with pytest.raises(CommandError, match="is not applied in development"):
        run_command("rollback_schema_migration", "001_users")
    with pytest.raises(CommandError, match="'001_users' is not applied in development"):
        run_command("rollback_schema_migration", "001_users", "--dry-run")


def test_status_text_and_json(targets, migrations_dir):
    write_migration(migrations_dir, "001_a", "CREATE TABLE a (id INTEGER);")
    write_migration(migrations_dir, "002_b", "CREATE TABLE b (id INTEGER);")
    write_migration(migrations_dir, "003_c", "CREATE TABLE c (id INTEGER); SELECT * FROM nope;")
    run_command("apply_schema_migration", "001_a", "002_b")
    run_command("rollback_schema_migration", "002_b")
    with pytest.raises(CommandError):
        run_command("apply_schema_migration", "003_c")

    out, _, _ = run_command("schema_migration_status")
    lines = out.splitlines()
    assert lines[0] == f"development ({targets.alias('development')}):"
    assert lines[1].startswith("  [  applied  ] 001_a  applied ")
    assert re.fullmatch(r"  \[rolled back\] 002_b  rolled back [\d-]+ [\d:]+", lines[2])
    assert re.fullmatch(
        r"  \[  failed   \] 003_c  failed [\d-]+ [\d:]+: Statement 2 .*nope.*", lines[3]
    )

    out, _, _ = run_command("schema_migration_status", "--format", "json", "-e", "staging")
    payload = json.loads(out)
    assert payload["environment"] == "staging"
    assert [(m["migration_id"], m["state"]) for m in payload["migrations"]] == [
        ("001_a", "pending"),
        ("002_b", "pending"),
        ("003_c", "pending"),
    ]


def test_history_command(targets, migrations_dir):
    write_migration(migrations_dir, "001_a", "CREATE TABLE a (id INTEGER);")
    run_command("apply_schema_migration", "--all")
    run_command("rollback_schema_migration", "001_a")

    out, _, _ = run_command("schema_migration_history")
    lines = out.splitlines()
    assert lines[0] == "History of development:"
    assert "rollback rolled back 001_a" in lines[1]
    assert "apply    applied     001_a" in lines[2]

    out, _, _ = run_command("schema_migration_history", "--format", "json", "--limit", "1")
    [record] = json.loads(out)
    assert (record["operation"], record["status"]) == ("rollback", "rolled_back")


def test_unknown_environment_is_rejected_by_the_parser(targets):
    with pytest.raises(CommandError, match="invalid choice: 'qa'"):
        run_command("schema_migration_status", "--environment", "qa")


# -- as real processes, on the demo project with its bundled prisma/migrations ---------------


def demo_env(tmp_path: Path, engine_urls: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "demo_project.settings"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    env["PRISMA_SYNC_ENVIRONMENTS"] = ""  # never rewrite the repository's prisma/schema.prisma
    for name in ("DEVELOPMENT", "STAGING", "PRODUCTION"):
        env[f"{name}_DATABASE_URL"] = f"sqlite:///{tmp_path / (name.lower() + '.sqlite3')}"
    env.update(engine_urls or {})
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def test_processes_exit_codes_and_one_line_errors(tmp_path):
    env = demo_env(tmp_path)
    assert manage(env, "migrate", "-v0").returncode == 0

    applied = manage(env, "apply_schema_migration", "--all")
    assert applied.returncode == 0, applied.stderr
    assert applied.stderr == ""
    bundled = sorted(p.name for p in (ROOT / "prisma" / "migrations").iterdir() if p.is_dir())
    assert f"[{len(bundled)}/{len(bundled)}] {bundled[-1]} ... applied" in applied.stdout
    assert f"Done in development: {len(bundled)} applied" in applied.stdout

    status = manage(env, "schema_migration_status", "--format", "json")
    states = {m["migration_id"]: m["state"] for m in json.loads(status.stdout)["migrations"]}
    assert states == dict.fromkeys(bundled, "applied")

    missing = manage(env, "rollback_schema_migration", "999_missing")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "CommandError: Migration '999_missing' is not applied in development; nothing to roll back."
    ]
    assert missing.stdout == ""


def test_bundled_examples_round_trip_on_postgresql(postgres_targets, tmp_path):
    """The bundled migrations are portable: apply all, roll all back, on PostgreSQL."""
    from tests.guide.test_integration_guide import _postgres_url

    env = demo_env(
        tmp_path, {"DEVELOPMENT_DATABASE_URL": _postgres_url(POSTGRES_SCHEMAS["development"])}
    )
    assert manage(env, "migrate", "-v0").returncode == 0
    applied = manage(env, "apply_schema_migration", "--all")
    assert applied.returncode == 0, applied.stderr
    assert {"customers", "orders", "_prisma_migrations"} <= postgres_targets.tables()

    bundled = sorted(p.name for p in (ROOT / "prisma" / "migrations").iterdir() if p.is_dir())
    for migration_id in reversed(bundled):
        done = manage(env, "rollback_schema_migration", migration_id)
        assert done.returncode == 0, done.stderr
    assert postgres_targets.tables() == {"_prisma_migrations"}
