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
from tests.settings import POSTGRES_URL, SESSION

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
