"""The public API's shape: lazy imports, async twins, settings checks."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from schema_manager import Migration, MigrationResult, SchemaManager, ValidationResult
from schema_manager.checks import check_environments

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_package_needs_no_django_setup():
    code = (
        "import schema_manager, sys\n"
        "assert 'schema_manager.models' not in sys.modules\n"
        "assert 'django.db.models' not in sys.modules\n"
        "print(schema_manager.__version__, sorted(schema_manager.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={})
    assert done.returncode == 0, done.stderr
    assert "SchemaManager" in done.stdout


def test_importing_models_before_setup_says_what_to_do_and_works_after():
    code = (
        "import django\n"
        "from django.core.exceptions import AppRegistryNotReady\n"
        "from schema_manager import MigrationResult, ValidationResult\n"
        "try:\n"
        "    from schema_manager import SchemaManager\n"
        "except AppRegistryNotReady as exc:\n"
        "    print(exc)\n"
        "django.setup()\n"
        "from schema_manager import Migration, SchemaManager\n"
        "print(SchemaManager.__name__, Migration._meta.label)\n"
    )
    # PATH and the test servers' URLs pass through: without a PostgreSQL URL the test settings
    # start the embedded server, whose first start as root runs `useradd`.
    env = {
        name: value
        for name, value in os.environ.items()
        if name == "PATH" or name.startswith("SCHEMA_MANAGER_TEST_")
    }
    env |= {"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "schema_manager.SchemaManager uses Django models: call django.setup() (with "
        "DJANGO_SETTINGS_MODULE set) before importing it, or import it inside a function.",
        "SchemaManager schema_manager.Migration",
    ]


def test_unknown_attribute_is_an_attribute_error():
    import schema_manager

    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        schema_manager.Nope  # noqa: B018


def test_unsaved_migration_as_in_the_guide():
    migration = Migration(id="001_x", name="x", sql="CREATE TABLE x (id INT);")
    assert migration.rollback_sql == ""
    assert migration._state.adding


def test_coroutines_and_history_inside_a_running_loop(targets):
    manager = SchemaManager()
    migration = Migration(id="001_t", name="t", sql="CREATE TABLE t (id INTEGER);")

    async def workflow():
        validation = await manager.validate_migration(migration)
        result = await manager.apply_migration(migration, environment="staging")
        # The guide calls the synchronous history from inside a coroutine.
        history = manager.get_version_history("staging")
        history_async = await manager.get_version_history_async("staging")
        rolled = await manager.rollback_migration("001_t", environment="staging")
        return validation, result, history, history_async, rolled

    validation, result, history, history_async, rolled = asyncio.run(workflow())

    assert isinstance(validation, ValidationResult)
    assert validation.is_valid
    assert isinstance(result, MigrationResult)
    assert result.success, result.error
    assert [r.status for r in history] == ["applied"]
    assert [r.pk for r in history_async] == [r.pk for r in history]
    assert rolled.success, rolled.error
    assert "t" not in targets.tables("staging")


def test_generate_rollback_follows_the_environment_dialect(targets):
    manager = SchemaManager()
    migration = Migration(id="001_t", name="t", sql="CREATE TABLE t (id INT);")
    expected = (
        "DROP TABLE IF EXISTS t CASCADE;"
        if targets.engine == "postgresql"
        else ("DROP TABLE IF EXISTS t;")
    )
    assert manager.generate_rollback_script(migration) == expected
    assert manager.generate_rollback_script(migration, "production") == expected


def test_default_environment_is_used_when_none_is_given(targets):
    manager = SchemaManager()
    result = manager.apply_migration_sync(
        Migration(id="001_t", name="t", sql="CREATE TABLE t (id INTEGER);")
    )
    assert result.environment == "development"
    assert "t" in targets.tables("development")
    assert manager.get_version_history() == manager.get_version_history("development")


@pytest.mark.parametrize(
    ("config", "expected_ids"),
    [
        ({"ENVIRONMENTS": {"development": "sqlite_development"}}, []),
        ({"ENVIRONMENTS": {}}, ["schema_manager.E006"]),
        ({"ENVIRONMENTS": {"development": "nowhere"}}, ["schema_manager.E001"]),
        (
            {"ENVIRONMENTS": {"production": "sqlite_production"}, "DEFAULT_ENVIRONMENT": "dev"},
            ["schema_manager.E003"],
        ),
    ],
)
def test_system_checks(config, expected_ids):
    with override_settings(SCHEMA_MANAGER=config):
        assert [error.id for error in check_environments()] == expected_ids


def test_settings_are_read_lazily():
    from schema_manager.conf import app_settings

    with override_settings(SCHEMA_MANAGER={"LOCK_WAIT": "2.5"}):
        assert app_settings.LOCK_WAIT == 2.5
        assert app_settings.DEFAULT_ENVIRONMENT == "development"
    assert app_settings.LOCK_WAIT == 5


def test_refuses_to_run_inside_an_open_transaction_on_the_target(targets):
    from django.db import transaction

    from schema_manager.exceptions import SchemaManagerError

    migration = Migration(id="001_t", name="t", sql="CREATE TABLE t (id INTEGER);")
    with (
        pytest.raises(SchemaManagerError, match="inside an open transaction"),
        transaction.atomic(using=targets.alias("development")),
    ):
        SchemaManager().apply_migration_sync(migration)
    assert "t" not in targets.tables()


def test_default_settings_migrate_the_app_database_itself(transactional_db):
    """With no SCHEMA_MANAGER setting, 'development' targets the 'default' alias."""
    from django.db import connection

    manager = SchemaManager()
    migration = Migration(id="001_t", name="t", sql="CREATE TABLE sm_default_t (id INTEGER);")
    # Only the Prisma schema sync is off: it would rewrite this repository's prisma/schema.prisma.
    with override_settings(SCHEMA_MANAGER={"PRISMA_SYNC_ENVIRONMENTS": []}):
        try:
            assert manager.apply_migration_sync(migration).success
            assert "sm_default_t" in connection.introspection.table_names()
            assert manager.rollback_migration_sync("001_t").success
            assert "sm_default_t" not in connection.introspection.table_names()
            assert [r.status for r in manager.get_version_history()] == ["rolled_back", "applied"]
        finally:
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS sm_default_t")
                cursor.execute("DROP TABLE IF EXISTS _prisma_migrations")


# -- what the guide's calls mean with no environment ---------------------------------------------


def apply_in(manager: SchemaManager, migration_id: str, *environments: str) -> None:
    table = migration_id.split("_", 1)[1]
    for environment in environments:
        migration = Migration(id=migration_id, sql=f"CREATE TABLE {table} (id INTEGER);")
        result = manager.apply_migration_sync(migration, environment)
        assert result.success, result.error


def test_history_without_environment_is_every_environment_newest_first(targets):
    manager = SchemaManager()
    apply_in(manager, "001_a", "staging", "production")
    apply_in(manager, "002_b", "development")

    history = manager.get_version_history()

    assert [(r.migration_id, r.environment) for r in history] == [
        ("002_b", "development"),
        ("001_a", "production"),
        ("001_a", "staging"),
    ]
    assert [r.environment for r in manager.get_version_history("production")] == ["production"]
    assert len(manager.get_version_history(limit=2)) == 2
    assert len(asyncio.run(manager.get_version_history_async())) == 3


def test_rollback_without_environment_rolls_back_where_applied(targets):
    manager = SchemaManager()
    apply_in(manager, "001_a", "production")

    result = asyncio.run(manager.rollback_migration("001_a"))

    assert result.success, result.error
    assert result.environment == "production"
    assert "a" not in targets.tables("production")


def test_rollback_without_environment_refuses_when_applied_in_several(targets):
    manager = SchemaManager()
    apply_in(manager, "001_a", "staging", "production")

    result = manager.rollback_migration_sync("001_a")

    assert not result.success
    assert result.message == (
        "Migration '001_a' is applied in staging, production; name the environment to roll it "
        "back in."
    )
    assert "a" in targets.tables("staging")
    assert "a" in targets.tables("production")
    assert [r.operation for r in manager.get_version_history()] == ["apply", "apply"]


def test_rollback_without_environment_tells_unknown_from_not_applied(targets):
    manager = SchemaManager()
    apply_in(manager, "001_a", "staging")
    assert manager.rollback_migration_sync("001_a", "staging").success

    not_applied = manager.rollback_migration_sync("001_a")
    unknown = manager.rollback_migration_sync("999_nowhere")

    assert not not_applied.success
    assert not_applied.message == (
        "Migration '001_a' is not applied in any environment (development, staging, "
        "production); nothing to roll back."
    )
    assert not unknown.success
    assert unknown.message.startswith("Unknown migration '999_nowhere': it is neither in the ")


def test_the_facade_offers_the_guides_operations_and_their_twins_only():
    public = {name for name in vars(SchemaManager) if not name.startswith("_")}
    assert public == {
        "apply_migration",
        "apply_migration_sync",
        "rollback_migration",
        "rollback_migration_sync",
        "validate_migration",
        "validate_migration_sync",
        "generate_rollback_script",
        "get_version_history",
        "get_version_history_async",
    }


def test_importing_the_facade_creates_no_thread_pool():
    code = (
        "import gc, os, django\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'\n"
        "django.setup()\n"
        "def pools(): return sum(isinstance(o, ThreadPoolExecutor) for o in gc.get_objects())\n"
        "before = pools()\n"
        "import schema_manager.manager\n"
        "print(pools() - before)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_the_plan_runner_does_not_import_the_facade():
    """The façade calls services, services call the runner: never the other way round."""
    import ast

    import schema_manager

    # The installed package, not the checkout: CI runs the suite against the built wheel.
    package = Path(schema_manager.__file__).parent
    modules = [*(package / "execution").glob("*.py")]
    modules += [
        package / f"{name}.py" for name in ("services", "planning", "workspace", "disk_import")
    ]
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            node.module.rsplit(".", 1)[-1]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert "manager" not in imported, path.name
