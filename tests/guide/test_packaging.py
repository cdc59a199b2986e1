"""The package as shipped: what the wheel holds, and what an SQLite-only project imports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import schema_manager

# The checkout to build from; CI runs the suite from a copy of tests/ beside the installed
# wheel and names the checkout here.
SOURCE = Path(os.environ.get("SCHEMA_MANAGER_TEST_SOURCE") or Path(__file__).parents[2])
DRIVERS = ("psycopg", "psycopg2", "MySQLdb", "pymysql", "environ")


@pytest.fixture(scope="module")
def wheel_build(tmp_path_factory) -> tuple[zipfile.ZipFile, str]:
    """The wheel built from the checkout, and everything the build printed."""
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(SOURCE)],
        capture_output=True,
        text=True,
        check=True,
    )
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel), build.stdout + build.stderr


def test_wheel_holds_every_module_and_data_file(wheel_build) -> None:
    wheel, _ = wheel_build
    names = set(wheel.namelist())
    package = SOURCE / "schema_manager"
    shipped = {
        path.relative_to(SOURCE).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert shipped - names == set()
    assert "schema_manager/prisma_schema/__init__.py" in names
    assert "schema_manager/py.typed" in names
    assert not [name for name in names if name.startswith(("tests/", "demo_project/"))]


def test_wheel_builds_without_setuptools_warnings(wheel_build) -> None:
    _, output = wheel_build
    warnings = [line for line in output.splitlines() if "WARNING" in line or "Warning:" in line]
    assert warnings == []


def test_wheel_requires_only_django(wheel_build) -> None:
    wheel, _ = wheel_build
    (metadata,) = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
    requires = [
        line.split(":", 1)[1].strip()
        for line in wheel.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert [requirement.split(">")[0].split("<")[0] for requirement in requires] == ["Django"]


# Runs in a child process with the drivers made unimportable: every module of the package is
# imported, the checks run, and a migration is applied and rolled back on SQLite.
SQLITE_ONLY = textwrap.dedent(
    """
    import importlib, pkgutil, sys, tempfile

    BLOCKED = set(sys.argv[1].split(","))
    attempts = []

    class Uninstalled:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                attempts.append(name)
                raise ModuleNotFoundError(f"No module named {name!r}")

    sys.meta_path.insert(0, Uninstalled())

    import django
    from django.conf import settings

    scratch = tempfile.mkdtemp()
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
            "django.contrib.sessions", "django.contrib.messages", "schema_manager",
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": scratch + "/app.db"},
            "target": {"ENGINE": "django.db.backends.sqlite3", "NAME": scratch + "/target.db"},
        },
        DATABASE_ROUTERS=["schema_manager.routers.TargetDatabaseRouter"],
        SCHEMA_MANAGER={
            "ENVIRONMENTS": {"development": "target"},
            "PRISMA_SCHEMA_PATH": scratch + "/prisma/schema.prisma",
            "PRISMA_SYNC_ENVIRONMENTS": [],
        },
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]},
        }],
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        USE_TZ=True,
    )
    django.setup()
    import schema_manager

    for module in pkgutil.walk_packages(schema_manager.__path__, "schema_manager."):
        importlib.import_module(module.name)

    from django.core.management import call_command
    from schema_manager import Migration, SchemaManager

    call_command("check", fail_level="WARNING")
    call_command("migrate", verbosity=0)
    manager = SchemaManager()
    migration = Migration(id="001_add_users", name="add users", sql="CREATE TABLE users (id int);")
    assert manager.apply_migration_sync(migration).success
    assert manager.rollback_migration_sync("001_add_users").success
    print("imported", attempts)
    """
)


def test_sqlite_project_imports_no_database_driver(tmp_path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", SQLITE_ONLY, ",".join(DRIVERS)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            # The package under test, wherever this run imports it from.
            "PYTHONPATH": str(Path(schema_manager.__file__).parent.parent),
        },
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines()[-1] == "imported []"


def test_commands_and_admin_work_without_the_tasks_framework():
    """Without django.tasks (Django < 6) and without the django-tasks backport, the commands
    and the admin load (the demo, a project without the fleets extra); only a rollout's
    enqueue refuses, saying what to install."""
    code = (
        "import sys\n"
        "sys.modules['django.tasks'] = None\n"
        "sys.modules['django_tasks'] = None\n"
        "import django\n"
        "django.setup()\n"
        "from django.contrib import admin\n"
        "from django.core.exceptions import ImproperlyConfigured\n"
        "from django.core.management import load_command_class\n"
        "admin.autodiscover()\n"
        "for name in ('apply_schema_migration', 'schema_fleet_rollout', 'schema_fleet_status'):\n"
        "    load_command_class('schema_manager', name)\n"
        "from schema_manager.fleets import tasks\n"
        "try:\n"
        "    tasks.enqueue(None, 1, [1])\n"
        "except ImproperlyConfigured as exc:\n"
        "    print(exc)\n"
    )
    env = {
        name: value
        for name, value in os.environ.items()
        if name == "PATH" or name.startswith("SCHEMA_MANAGER_TEST_")
    }
    tests_root = Path(__file__).resolve().parents[2]
    env |= {"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(tests_root)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tests_root
    )
    assert done.returncode == 0, done.stderr
    assert "django-tasks backport" in done.stdout, done.stdout
