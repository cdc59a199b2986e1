"""What the documentation promises a reader, checked as that reader would run it.

- The integration guide's logging example, in the demo project: after
  ``logging.basicConfig(level=logging.INFO)`` the app's records show.
- The demo prints the app's records in commands only when ``SCHEMA_MANAGER_LOG_LEVEL`` asks.
- The reference pages name every setting, system check and safety rule the code has.
- The settings snippet of the README and of the docs' installation section, added to a new
  project's settings, passes ``manage.py check`` without a warning.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import schema_manager
from schema_manager.conf import DEFAULTS
from schema_manager.sql.rule_table import RULES
from tests.settings import POSTGRES_SCHEMAS, POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]


def _postgres_url(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-c%20search_path%3D{schema}"


# The guide's logging and apply examples as a reader runs them (top-level await as in a
# notebook), then a rollback, a validation warning and a failure.
SCRIPT = """
import django

django.setup()

from tests.guide.blocks import python_blocks, run_block

from schema_manager import Migration, SchemaManager

blocks = {block.splitlines()[0]: block for block in python_blocks()}
ns = {"manager": SchemaManager(), "Migration": Migration}
run_block(blocks["import logging"], ns)
run_block(blocks["# Create a migration"], ns)
manager, migration = ns["manager"], ns["migration"]
manager.rollback_migration_sync("001_add_users_table", environment="production")
manager.apply_migration_sync(migration, environment="development")
manager.apply_migration_sync(
    Migration(id="002_clear_users", name="clear_users", sql="DELETE FROM users;"),
    environment="development",
)
manager.apply_migration_sync(
    Migration(id="003_broken", name="broken", sql="ALTER TABLE no_such_table ADD x INT;"),
    environment="development",
)
"""


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_guide_logging_example_shows_the_app_log_in_the_demo(postgres_targets, tmp_path):
    script = tmp_path / "logging_example.py"
    script.write_text(SCRIPT)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}",
        "DEVELOPMENT_DATABASE_URL": _postgres_url(POSTGRES_SCHEMAS["development"]),
        "STAGING_DATABASE_URL": _postgres_url(POSTGRES_SCHEMAS["staging"]),
        "PRODUCTION_DATABASE_URL": _postgres_url(POSTGRES_SCHEMAS["production"]),
        "PRISMA_SCHEMA_PATH": str(tmp_path / "prisma" / "schema.prisma"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("SCHEMA_MANAGER_LOG_LEVEL", None)
    migrate = [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"]
    subprocess.run(migrate, env=env, check=True, cwd=tmp_path)

    done = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    log = done.stderr
    # Start and completion of an apply.
    assert (
        "INFO:schema_manager.manager:Applying 001_add_users_table to production "
        "(target_production)" in log
    )
    assert "INFO:schema_manager.manager:Migration 001_add_users_table applied to production" in log
    # A rollback.
    assert "INFO:schema_manager.manager:Rolling back 001_add_users_table in production" in log
    assert re.search(r"INFO:schema_manager\.manager:Migration 001_add_users_table rolled back", log)
    # A validation warning, on the apply that goes ahead with it.
    assert re.search(
        r"WARNING:schema_manager\.manager:Migration 002_clear_users \(development\): .*"
        r"DELETE FROM users",
        log,
    )
    # An error, with the database's own words.
    assert re.search(
        r"WARNING:schema_manager\.executor:Migration 003_broken failed on 'target_development'"
        r" and was rolled back: .*no_such_table",
        log,
    )
    assert re.search(r"WARNING:schema_manager\.manager:Migration 003_broken failed", log)


def _demo_env(tmp_path: Path) -> dict[str, str]:
    """The demo project on SQLite files under ``tmp_path``, migrations in tmp_path/prisma."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "PRISMA_SCHEMA_PATH": str(tmp_path / "prisma" / "schema.prisma"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("SCHEMA_MANAGER_LOG_LEVEL", None)
    for variable, name in (
        ("DATABASE_URL", "app"),
        ("DEVELOPMENT_DATABASE_URL", "development"),
        ("STAGING_DATABASE_URL", "staging"),
        ("PRODUCTION_DATABASE_URL", "production"),
    ):
        env[variable] = f"sqlite:///{tmp_path / name}.sqlite3"
    return env


def _manage(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )


def test_demo_commands_print_the_app_log_only_at_the_level_asked(tmp_path):
    folder = tmp_path / "prisma" / "migrations" / "001_add_users"
    folder.mkdir(parents=True)
    (folder / "migration.sql").write_text("CREATE TABLE users (id INTEGER PRIMARY KEY);\n")
    quiet = _demo_env(tmp_path)
    assert _manage(tmp_path, quiet, "migrate", "-v0").returncode == 0

    plain = _manage(tmp_path, quiet, "apply_schema_migration", "--all", "--noinput")
    (tmp_path / "development.sqlite3").unlink()
    (tmp_path / "app.sqlite3").unlink()
    assert _manage(tmp_path, quiet, "migrate", "-v0").returncode == 0
    logged = _manage(
        tmp_path,
        {**quiet, "SCHEMA_MANAGER_LOG_LEVEL": "INFO"},
        "apply_schema_migration",
        "--all",
        "--noinput",
    )

    assert plain.returncode == logged.returncode == 0, plain.stderr + logged.stderr
    assert "schema_manager" not in plain.stderr
    assert "INFO schema_manager.manager: Applying 001_add_users to development" in logged.stderr


def settings_snippet(page: Path, section: str) -> str:
    """The first ```python block after the heading ``section`` of ``page``, dedented."""
    text = page.read_text()
    after = text[text.index(f"\n## {section}\n") :]
    found = re.search(r"^( *)```python\n(.*?)^\1```", after, re.M | re.S)
    assert found, f"no python block under {section!r} in {page.name}"
    return textwrap.dedent(found.group(2))


@pytest.mark.parametrize(
    ("page", "section"),
    [("README.md", "Use it in your project"), ("docs/index.md", "Install into a project")],
)
def test_settings_snippet_passes_check_in_a_new_project(tmp_path, page, section):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "STAGING_DATABASE_URL": "postgres://app@db.example:5432/staging",
        "PRODUCTION_DATABASE_URL": "postgres://app@db.example:5432/production",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(tmp_path)],
        env=env,
        check=True,
    )
    settings = tmp_path / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n" + settings_snippet(ROOT / page, section))

    done = _manage_project(tmp_path, env, "check")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.strip() == "System check identified no issues (0 silenced)."


def _manage_project(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(project / "manage.py"), *args],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
    )


def _documented(page: str) -> str:
    return (ROOT / "docs" / page).read_text()


def test_every_setting_is_documented_with_its_default():
    table = _documented("settings.md").split("\n## ")[0]  # the SCHEMA_MANAGER keys
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `([A-Z_]+)` \| (.+?) \|", table, re.M)
    }
    assert sorted(rows) == sorted(DEFAULTS)
    for name, default in DEFAULTS.items():
        if not isinstance(default, Path):  # a path is described in words
            assert rows[name].startswith(f"`{_as_documented(default)}`"), name


def _as_documented(value: object) -> str:
    """A default as the page writes it: double quotes, whole numbers without ``.0``."""
    return re.sub(r"\b(\d+)\.0\b", r"\1", repr(value).replace("'", '"'))


def test_every_system_check_is_documented():
    in_code = set()
    # The package as imported (CI runs the suite against the installed wheel).
    for module in Path(schema_manager.__file__).parent.rglob("*.py"):
        in_code |= set(re.findall(r'id="(schema_manager\.[EW]\d+)"', module.read_text()))
    documented = set(
        re.findall(r"^\| `(schema_manager\.[EW]\d+)` \|", _documented("checks.md"), re.M)
    )
    assert in_code
    assert documented == in_code


def test_each_system_check_has_its_own_id_and_ids_are_consecutive():
    """One problem, one id; per family (E, W and the Prisma schema's E8xx, W8xx) 1, 2, 3..."""
    ids = []
    for module in Path(schema_manager.__file__).parent.rglob("*.py"):
        ids += re.findall(r'id="schema_manager\.([EW]\d+)"', module.read_text())
    assert len(ids) == len(set(ids)), sorted(ids)
    families: dict[tuple[str, int], list[int]] = {}
    for check_id in ids:
        number = int(check_id[1:])
        families.setdefault((check_id[0], number // 100), []).append(number % 100)
    for family, numbers in families.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), family


def test_the_architecture_page_names_every_module():
    """docs/architecture.md's module map names each module of the package by its path."""
    package = Path(schema_manager.__file__).parent
    modules = {
        str(module.relative_to(package))
        for module in package.rglob("*.py")
        if "migrations" not in module.parts
        and module.name != "__init__.py"
        and "commands" not in module.parts
    }
    page = _documented("architecture.md")
    assert modules
    assert not {module for module in modules if f"`{module}`" not in page}


def test_every_safety_rule_is_documented():
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", _documented("validation.md"), re.M))
    assert set(RULES) <= documented
