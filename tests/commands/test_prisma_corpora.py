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


@pytest.mark.parametrize("corpus", NAMES)
def test_a_real_history_applies_unchanged_as_prisma_deploys_it(corpus, tmp_path):
    migrations = tmp_path / "prisma" / "migrations"
    shutil.copytree(CORPORA / corpus / "migrations", migrations)
    folders = sorted(p.name for p in migrations.iterdir() if p.is_dir())
    with fresh_postgres_database("ours") as ours, fresh_postgres_database("prisma") as theirs:
        schema = tmp_path / "prisma" / "schema.prisma"
        env = demo_env(tmp_path, {"STAGING_DATABASE_URL": ours, "PRISMA_SCHEMA_PATH": str(schema)})
        assert manage(env, "migrate", "-v0").returncode == 0

        applied = manage(env, "apply_schema_migration", "--all", "--environment", "staging")
        assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr
        assert f"{len(folders)} applied" in applied.stdout, applied.stdout[-2000:]
        deployed = prisma_oracle("deploy", theirs, migrations)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr

        assert _schema(ours) == _schema(theirs)
        assert _ledger(ours) == _ledger(theirs)
        assert [name for name, *_ in _ledger(ours)] == folders
        status = prisma_oracle("status", ours, migrations)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "Database schema is up to date!" in status.stdout
        assert sorted(p.name for p in migrations.iterdir() if p.is_dir()) == folders
