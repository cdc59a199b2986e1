"""Helpers shared by the fleet tests: tenant schemas and tenant databases on the test
PostgreSQL server, a fleet over them, and reading their ledgers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connections
from django.test import override_settings

from schema_manager.fleets.specs import TargetSpec, forget_targets
from tests.settings import FLEET_APP_SCHEMA as APP_SCHEMA
from tests.settings import POSTGRES_URL, REDIS_URL, SESSION

BASE_ALIAS = "pg_development"


def schema_names(count: int, prefix: str = "t") -> list[str]:
    return [f"sm_fleet_{SESSION}_{prefix}{i:03d}" for i in range(count)]


def execute(sql: str, alias: str = BASE_ALIAS) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)


@contextmanager
def tenant_schemas(names: list[str]) -> Iterator[list[str]]:
    """Empty schemas in the test database, dropped when the block ends."""
    execute("".join(f'DROP SCHEMA IF EXISTS "{n}" CASCADE; CREATE SCHEMA "{n}";' for n in names))
    try:
        yield names
    finally:
        execute("".join(f'DROP SCHEMA IF EXISTS "{n}" CASCADE;' for n in names))


def server_connection(dbname: str = "postgres") -> psycopg.Connection:
    """An autocommit connection to the test server (CREATE and DROP DATABASE)."""
    info = psycopg.conninfo.conninfo_to_dict(POSTGRES_URL.replace("postgres://", "postgresql://"))
    info["dbname"] = dbname
    return psycopg.connect(**info, autocommit=True)


@contextmanager
def tenant_databases(count: int) -> Iterator[list[str]]:
    """Empty databases on the test server, dropped when the block ends."""
    names = [f"sm_fleet_{SESSION}_db{i:03d}" for i in range(count)]
    with server_connection() as server:
        for name in names:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            server.execute(f'CREATE DATABASE "{name}"')
        try:
            yield names
        finally:
            for name in names:
                server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


SPECS: list[TargetSpec] = []


def fleet_targets() -> list[TargetSpec]:
    """The callable the test fleet names (its targets are set by ``fleet_settings``)."""
    return list(SPECS)


@contextmanager
def fleet_settings(specs: list[TargetSpec], **config) -> Iterator[None]:
    """SCHEMA_MANAGER['FLEETS']['tenants'] over ``specs``."""
    SPECS[:] = specs
    forget_targets()
    fleets = {"tenants": {"TARGETS": "tests.fleet_support.fleet_targets", **config}}
    try:
        with override_settings(SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "FLEETS": fleets}):
            yield
    finally:
        SPECS.clear()
        forget_targets()


def schema_specs(names: list[str], labels=None) -> list[TargetSpec]:
    return [
        TargetSpec(
            key=name.rsplit("_", 1)[-1],
            alias=BASE_ALIAS,
            schema=name,
            labels=(labels or {}).get(name, {}),
        )
        for name in names
    ]


def schema_ledger(schema: str) -> list[tuple[str, bool]]:
    """(migration, finished) rows of the schema's own ledger, in order."""
    with connections[BASE_ALIAS].cursor() as cursor:
        cursor.execute(
            f'SELECT migration_name, finished_at IS NOT NULL FROM "{schema}"._prisma_migrations '
            "WHERE rolled_back_at IS NULL ORDER BY started_at, migration_name"
        )
        return cursor.fetchall()


def write_plan(directory: Path, count: int, *, failing: str | None = None) -> list[str]:
    """``count`` migration folders; ``failing``: SQL appended to the last one."""
    ids = []
    for i in range(1, count + 1):
        migration_id = f"{i:03d}_step_{i}"
        sql = f"CREATE TABLE step_{i} (id INTEGER PRIMARY KEY);\n"
        folder = directory / migration_id
        folder.mkdir(parents=True)
        (folder / "migration.sql").write_text(sql)
        ids.append(migration_id)
    return ids


def environment_targets() -> list[TargetSpec]:
    """The worker processes' fleet: the schemas named in SCHEMA_MANAGER_TEST_FLEET_SCHEMAS."""
    import os

    names = os.environ.get("SCHEMA_MANAGER_TEST_FLEET_SCHEMAS", "")
    return schema_specs([name for name in names.split(",") if name])


class FleetProcesses:
    """A fleet run by real processes: RQ workers on Redis, the app database on PostgreSQL
    (``tests/fleet_settings.py``), commands in child processes; read from here with psycopg."""

    def __init__(self, tmp_path: Path, schemas: list[str], *, lease: float = 300) -> None:
        import os
        import sys
        import uuid

        self.tmp_path, self.python = tmp_path, sys.executable
        self.queue = f"sm_fleet_{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.fleet_settings",
            "SCHEMA_MANAGER_TEST_SESSION": SESSION,
            "SCHEMA_MANAGER_TEST_FLEET_SCHEMAS": ",".join(schemas),
            "SCHEMA_MANAGER_TEST_FLEET_QUEUE": self.queue,
            "SCHEMA_MANAGER_TEST_FLEET_LEASE": str(lease),
            "SCHEMA_MANAGER_TEST_PRISMA_SCHEMA": str(tmp_path / "prisma" / "schema.prisma"),
            "SCHEMA_MANAGER_TEST_LOCK_WAIT": "60",
            "PYTHONUNBUFFERED": "1",
        }
        self.migrations = tmp_path / "prisma" / "migrations"
        self.migrations.mkdir(parents=True, exist_ok=True)
        self.app_schema = APP_SCHEMA
        self.db = server_connection(connections[BASE_ALIAS].settings_dict["NAME"])
        self.db.execute(
            f'DROP SCHEMA IF EXISTS "{APP_SCHEMA}" CASCADE; CREATE SCHEMA "{APP_SCHEMA}"'
        )
        self.db.execute(f'SET search_path = "{APP_SCHEMA}"')
        self.manage("migrate", "--verbosity", "0")
        self.workers: list = []

    def manage(self, *args: str, check: bool = True):
        import subprocess

        from tests.processes import ROOT

        done = subprocess.run(
            [self.python, "-m", "django", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and done.returncode:
            raise AssertionError(f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def start(self, name: str, *args: str):
        """A child process in a session of its own (a kill reaches its forks too)."""
        import subprocess

        from tests.processes import ROOT, STARTED

        log = open(self.tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [self.python, "-m", "django", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        STARTED.append(process)
        return process

    def worker(self, name: str):
        process = self.start(name, "rqworker", self.queue, "--job-class", "django_tasks_rq.Job")
        self.workers.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text()

    def runs(self) -> list[dict]:
        cursor = self.db.execute(
            "SELECT target_key, state, attempt, worker, applied, error "
            "FROM schema_manager_targetrun ORDER BY position"
        )
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]

    def rollout_state(self) -> str:
        row = self.db.execute(
            "SELECT state FROM schema_manager_rollout ORDER BY id DESC"
        ).fetchone()
        return row[0] if row else ""

    def wait_for(self, predicate, timeout: float = 120, what: str = "") -> None:
        import time

        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.runs()}")
            time.sleep(0.1)

    def close(self) -> None:
        import redis

        from tests.processes import kill_started

        kill_started()
        self.db.execute(f'DROP SCHEMA IF EXISTS "{self.app_schema}" CASCADE')
        self.db.close()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"rq:*{self.queue}*"):
            client.delete(key)


def redis_unreachable() -> str:
    """Why the worker tests cannot run here ("" when Redis answers)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} does not answer ({exc}); set SCHEMA_MANAGER_TEST_REDIS_URL"
    return ""


def recorded_rollout(targets: int = 6):
    """A rollout as workers leave it, written straight into the app's database (the admin
    reads nothing else): 3 migrations; runs succeeded, skipped, failed at the second
    migration, running and queued, over two waves."""
    from django.utils import timezone

    from schema_manager.fleets.models import Rollout, TargetRun, Wave

    plan = [["001_users", "a" * 64], ["002_orders", "b" * 64], ["003_<script>", "c" * 64]]
    rollout = Rollout.objects.create(
        fleet="tenants",
        plan=plan,
        state="partially_failed",
        started_by="ops",
        change_request="CR-7",
    )
    canary = Wave.objects.create(
        rollout=rollout, position=0, name="canary", state="done", max_parallel=1
    )
    rest = Wave.objects.create(rollout=rollout, position=1, name="rest", state="stopped")
    shapes = [
        (canary, "succeeded", ["001_users", "002_orders", "003_<script>"], ""),
        (rest, "skipped", [], ""),
        (rest, "failed", ["001_users"], 'relation "orders" already exists <b>bold</b>'),
        (rest, "succeeded", ["003_<script>"], ""),
    ] + [(rest, "queued", [], "")] * max(targets - 4, 0)
    for position, (wave, state, applied, error) in enumerate(shapes):
        TargetRun.objects.create(
            rollout=rollout,
            wave=wave,
            position=position,
            target_key=f"tenant{position}",
            environment=f"tenants:tenant{position}",
            state=state,
            applied=applied,
            error=error,
            attempt=1 if state != "queued" else 0,
            finished_at=timezone.now() if state != "queued" else None,
        )
    return rollout
