"""Child applier processes for the multi-process tests (see tests/apply_process.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.settings import SESSION

ROOT = Path(__file__).resolve().parent.parent

# SQL that releases the session's locks, which the rules cannot read (the function's name is
# built at run time): only the applier itself can keep its migration lock.
RELEASE_LOCKS = {
    "postgresql": (
        "DO $$ BEGIN EXECUTE 'SELECT pg_advisory_' || 'unlock(72707369)'; "
        "EXECUTE 'SELECT pg_advisory_' || 'unlock_all()'; END $$;\n"
    ),
    "mysql": (
        "PREPARE release_locks FROM CONCAT('DO RELEASE_', 'ALL_LOCKS()');\n"
        "EXECUTE release_locks;\n"
        "DEALLOCATE PREPARE release_locks;\n"
    ),
    "sqlite": "",  # its lock is the migration's transaction
}

# Every child started, so a failing test's teardown can kill what it left running (a live
# child would hold locks that block dropping the session's databases).
STARTED: list[subprocess.Popen] = []


def kill_started() -> None:
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


class Fleet:
    """Processes that share one app database file and one engine's target databases."""

    def __init__(self, targets, tmp_path: Path) -> None:
        self.app_database = tmp_path / "app.sqlite3"
        self.migrations = tmp_path / "prisma" / "migrations"
        self.migrations.mkdir(parents=True)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "SCHEMA_MANAGER_TEST_SESSION": SESSION,
            "SCHEMA_MANAGER_TEST_APP_DB": str(self.app_database),
            "SCHEMA_MANAGER_TEST_TARGETS": targets.prefix,
            "SCHEMA_MANAGER_TEST_PRISMA_SCHEMA": str(tmp_path / "prisma" / "schema.prisma"),
        }
        subprocess.run(
            [sys.executable, "-m", "tests.apply_process", "migrate"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )

    def write(self, migration_id: str, sql: str) -> None:
        folder = self.migrations / migration_id
        folder.mkdir()
        (folder / "migration.sql").write_text(sql)

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.apply_process", *args],
            cwd=ROOT,
            env={**self.env, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        STARTED.append(process)
        return process

    def history(self) -> list[tuple[str, str, str, str]]:
        """(migration id, operation, status, recovery) of every record, oldest first."""
        with sqlite3.connect(self.app_database) as connection:
            return connection.execute(
                "SELECT migration_id, operation, status, recovery "
                "FROM schema_manager_versionrecord ORDER BY id"
            ).fetchall()


def answer(process: subprocess.Popen) -> tuple[int, float, str]:
    """The ``done <status> <seconds> <error>`` line of one apply by ``process``."""
    line = process.stdout.readline()
    if line == "ready\n":  # a one-shot applier announces itself first
        line = process.stdout.readline()
    assert line.startswith("done "), (line, process.stderr.read() if process.poll() else "")
    _, status, elapsed, *error = line.split(" ", 3)
    return int(status), float(elapsed), " ".join(error).strip()
