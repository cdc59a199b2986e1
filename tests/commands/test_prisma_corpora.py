"""Real Prisma migration histories (``../shared/corpora``) apply unchanged, with the result real
``prisma migrate deploy`` gives: the same schema, the same ledger rows, and ``prisma migrate
status`` finding the database up to date.

Each history is applied by our command (a process of the demo project) to one new database and
by Prisma to another; the schemas are compared as ``pg_dump --schema-only`` prints them.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.commands.test_commands import demo_env, manage
from tests.utils import NO_ORACLE, SHARED, fresh_postgres_database, prisma_oracle

CORPORA = SHARED / "corpora" if SHARED else None
NAMES = sorted(p.name for p in CORPORA.iterdir() if (p / "migrations").is_dir()) if CORPORA else []
SKIP = NO_ORACLE or (None if shutil.which("pg_dump") else "pg_dump is not installed")

pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


def _schema(url: str) -> list[str]:
    """The schema without the ledger, as pg_dump prints it, less comments and settings."""
    dump = subprocess.run(
        [
            *("pg_dump", "--schema-only", "--no-owner", "--no-privileges", "--no-comments"),
            *("--exclude-table=_prisma_migrations", "--dbname", url),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        line
        for line in dump.splitlines()
        if line.strip()
        and not line.startswith(("--", "SET ", "SELECT pg_catalog.set_config", "\\"))
    ]


def _ledger(url: str) -> list[tuple[str, str, int]]:
    import psycopg

    with psycopg.connect(url) as connection:
        return connection.execute(
            "SELECT migration_name, checksum, applied_steps_count FROM _prisma_migrations "
            "WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name"
        ).fetchall()


def _apply_both(migrations, tmp_path, ours: str, theirs: str):
    """Our apply --all on ``ours``, Prisma's deploy on ``theirs``: (our run, Prisma's run)."""
    schema = tmp_path / "prisma" / "schema.prisma"
    env = demo_env(tmp_path, {"STAGING_DATABASE_URL": ours, "PRISMA_SCHEMA_PATH": str(schema)})
    assert manage(env, "migrate", "-v0").returncode == 0
    applied = manage(env, "apply_schema_migration", "--all", "--environment", "staging")
    return applied, prisma_oracle("deploy", theirs, migrations)


def _same_result(ours: str, theirs: str, migrations) -> None:
    assert _schema(ours) == _schema(theirs)
    assert _ledger(ours) == _ledger(theirs)
    status = prisma_oracle("status", ours, migrations)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Database schema is up to date!" in status.stdout


@pytest.mark.parametrize("corpus", NAMES)
def test_a_real_history_applies_unchanged_as_prisma_deploys_it(corpus, tmp_path):
    migrations = tmp_path / "prisma" / "migrations"
    shutil.copytree(CORPORA / corpus / "migrations", migrations)
    folders = sorted(p.name for p in migrations.iterdir() if p.is_dir())
    with fresh_postgres_database("ours") as ours, fresh_postgres_database("prisma") as theirs:
        applied, deployed = _apply_both(migrations, tmp_path, ours, theirs)

        assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr
        assert f"{len(folders)} applied" in applied.stdout, applied.stdout[-2000:]
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        _same_result(ours, theirs, migrations)
        assert [name for name, *_ in _ledger(ours)] == folders
        assert sorted(p.name for p in migrations.iterdir() if p.is_dir()) == folders


# What real histories hold besides plain DDL: an unnamed migration's folder, empty and
# comment-only scripts, and scripts with their own transaction blocks (several, with
# statements outside them, and one the script rolls back itself).
UNUSUAL = {
    "20240101000000_init": 'CREATE TABLE "User" ("id" SERIAL PRIMARY KEY, "name" TEXT);\n',
    "20240102000000_": "",
    "20240103000000_empty": "-- This is an empty migration.\n",
    "20240104000000_backfill": (
        'ALTER TABLE "User" ADD COLUMN "email" TEXT;\n'
        "BEGIN;\n"
        "INSERT INTO \"User\" (\"name\") VALUES ('a'), ('b');\n"
        'UPDATE "User" SET "email" = "name" || \'@example.com\';\n'
        "COMMIT;\n"
        "START TRANSACTION;\n"
        'CREATE INDEX "User_email_idx" ON "User" ("email");\n'
        "COMMIT;\n"
        "BEGIN;\n"
        'DELETE FROM "User";\n'
        "ROLLBACK;\n"
        'CREATE TABLE "Post" ("id" SERIAL PRIMARY KEY);\n'
    ),
    "20240105000000_Mixed Case.v2": 'ALTER TABLE "Post" ADD COLUMN "title" TEXT;\n',
}
FAILING = (
    'CREATE TABLE "Kept" ("id" INTEGER);\n'
    "BEGIN;\n"
    'INSERT INTO "Kept" VALUES (1);\n'
    "COMMIT;\n"
    "BEGIN;\n"
    'CREATE TABLE "Lost" ("id" INTEGER);\n'
    'INSERT INTO "Missing" VALUES (1);\n'
    "COMMIT;\n"
)


def _write(migrations, scripts: dict[str, str]) -> None:
    migrations.mkdir(parents=True, exist_ok=True)
    (migrations / "migration_lock.toml").write_text('provider = "postgresql"\n')
    for name, sql in scripts.items():
        (migrations / name).mkdir()
        (migrations / name / "migration.sql").write_bytes(sql.encode())


def test_unusual_folders_and_scripts_apply_as_prisma_deploys_them(tmp_path):
    migrations = tmp_path / "prisma" / "migrations"
    _write(migrations, UNUSUAL)
    with fresh_postgres_database("ours") as ours, fresh_postgres_database("prisma") as theirs:
        applied, deployed = _apply_both(migrations, tmp_path, ours, theirs)

        assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        _same_result(ours, theirs, migrations)
        assert [name for name, *_ in _ledger(ours)] == sorted(UNUSUAL)


def test_a_script_failing_after_its_own_commit_leaves_what_prisma_leaves(tmp_path):
    migrations = tmp_path / "prisma" / "migrations"
    _write(migrations, {"20240101000000_partly": FAILING})
    with fresh_postgres_database("ours") as ours, fresh_postgres_database("prisma") as theirs:
        applied, deployed = _apply_both(migrations, tmp_path, ours, theirs)

        assert applied.returncode != 0
        assert deployed.returncode != 0
        assert _schema(ours) == _schema(theirs)
        rows = {url: _failed_rows(url) for url in (ours, theirs)}
        assert rows[ours] == rows[theirs] == [("20240101000000_partly", True)]
        status = prisma_oracle("status", ours, migrations)
        assert status.returncode == 1
        assert "Following migration have failed:\n20240101000000_partly" in status.stdout


def _failed_rows(url: str) -> list[tuple[str, bool]]:
    """(name, whether the error is in logs) of the rows Prisma counts as failed."""
    import psycopg

    with psycopg.connect(url) as connection:
        return connection.execute(
            "SELECT migration_name, logs LIKE '%Missing%' FROM _prisma_migrations "
            "WHERE finished_at IS NULL AND rolled_back_at IS NULL"
        ).fetchall()
