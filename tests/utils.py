"""Helpers shared by the tests: migrations to apply, migration folders, management commands run
in this process, and query counts. Engine fixtures (``targets``, ``manager``) are in conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from io import StringIO
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from django.core.management import CommandError, call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext

from schema_manager import Migration

CREATE_USERS = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email VARCHAR(255) NOT NULL
);
CREATE INDEX idx_users_email ON users(email);
"""
# One statement, for tests where the users table is only a first migration to build on.
USERS = "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100));\n"


def make_migration(id: str, sql: str, rollback_sql: str = "", **fields) -> Migration:
    """An unsaved migration named as a folder's import names it (the id after its first "_")."""
    name = fields.pop("name", id.partition("_")[2] or id)
    return Migration(id=id, name=name, sql=sql, rollback_sql=rollback_sql, **fields)


def users_migration(**overrides) -> Migration:
    return make_migration(**{"id": "001_add_users_table", "sql": CREATE_USERS, **overrides})


def write_migration(directory: Path, migration_id: str, sql: str, down: str | None = None) -> Path:
    folder = directory / migration_id
    folder.mkdir(parents=True)
    (folder / "migration.sql").write_bytes(sql.encode())
    if down is not None:
        (folder / "down.sql").write_bytes(down.encode())
    return folder


def catalogue(first: int, count: int) -> list[Migration]:
    """``count`` stored migrations of two statements each (as an import from disk leaves
    them)."""
    migrations = [
        make_migration(
            id=f"{i:03d}_step",
            sql=f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY);\nINSERT INTO t{i} VALUES (1);\n",
            rollback_sql=f"DROP TABLE t{i};\n",
        )
        for i in range(first, first + count)
    ]
    for migration in migrations:
        migration.save()
    return list(Migration.objects.filter(pk__in=[m.id for m in migrations]).order_by("id"))


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def count_queries(*aliases: str, transaction_control: bool = True):
    """Yield a dict that, after the block, maps each alias to its number of queries; without
    BEGIN, COMMIT and savepoints if ``transaction_control`` is false (Django versions differ
    in which of those they log)."""
    counts: dict[str, int] = {}
    with ExitStack() as stack:
        contexts = {a: stack.enter_context(CaptureQueriesContext(connections[a])) for a in aliases}
        yield counts
    for alias, context in contexts.items():
        queries = [query["sql"] for query in context.captured_queries]
        if not transaction_control:
            queries = [sql for sql in queries if not sql.upper().startswith(TRANSACTION_CONTROL)]
        counts[alias] = len(queries)


class CommandRun(NamedTuple):
    stdout: str
    stderr: str
    status: int


def run_command(*args: str, check: bool = True) -> CommandRun:
    """Run a management command in this process, its output captured. With ``check``, a
    CommandError or SystemExit propagates (as from call_command); without, the run ends with
    the exit status manage.py would end with (a CommandError is 1, its sentence on stderr as
    Django's runner writes it)."""
    if check:
        out, err = StringIO(), StringIO()
        call_command(*args, stdout=out, stderr=err, no_color=True)
        return CommandRun(out.getvalue(), err.getvalue(), 0)
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err, no_color=True)
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        return CommandRun(out.getvalue(), err.getvalue(), 1)
    except SystemExit as exc:
        return CommandRun(out.getvalue(), err.getvalue(), int(exc.code or 0))
    return CommandRun(out.getvalue(), err.getvalue(), 0)


# -- the real Prisma CLI, and databases of a test's own ---------------------------------------


def shared_directory() -> Path | None:
    """The provided Prisma histories and tools (``shared/``, holding ``corpora/`` and
    ``tools/prisma-oracle.sh``): ``SCHEMA_MANAGER_TEST_SHARED`` (CI sets it, as it runs the tests
    from a copy), else ``shared/`` beside the tests' checkout or any directory above it (a
    worktree finds it higher up), else beside the source checkout ``SCHEMA_MANAGER_TEST_SOURCE``."""
    given = os.environ.get("SCHEMA_MANAGER_TEST_SHARED")
    if given:
        return Path(given) if (Path(given) / "tools" / "prisma-oracle.sh").is_file() else None
    roots = [Path(__file__).resolve().parents[1]]
    if os.environ.get("SCHEMA_MANAGER_TEST_SOURCE"):
        roots.append(Path(os.environ["SCHEMA_MANAGER_TEST_SOURCE"]).resolve())
    for root in roots:
        for parent in root.parents:
            if (parent / "shared" / "tools" / "prisma-oracle.sh").is_file():
                return parent / "shared"
    return None


SHARED = shared_directory()
ORACLE = SHARED / "tools" / "prisma-oracle.sh" if SHARED else None
# Why a test of the real Prisma CLI cannot run here (None: it can).
NO_ORACLE = (
    "../shared/tools/prisma-oracle.sh is absent (CI has it)"
    if ORACLE is None
    else "node and npm are needed to run the real Prisma CLI"
    if not (shutil.which("node") and shutil.which("npm"))
    else "the real Prisma CLI runs against PostgreSQL: SCHEMA_MANAGER_TEST_POSTGRES_URL is not set"
    if not os.environ.get("SCHEMA_MANAGER_TEST_POSTGRES_URL")
    else None
)


def prisma_oracle(command: str, url: str, migrations: Path) -> subprocess.CompletedProcess:
    """``prisma migrate status`` or ``deploy`` (real Prisma 6.19) on the database ``url``."""
    assert ORACLE is not None
    return subprocess.run(
        ["bash", str(ORACLE), command, url, str(migrations)],
        capture_output=True,
        text=True,
        timeout=1800,
    )


@contextmanager
def fresh_postgres_database(name: str) -> Iterator[str]:
    """The URL of a new, empty database ``<test database>_<name>`` on the test server (dropped
    after): Prisma's CLI reads and writes the ``public`` schema, not the tests' own schemas."""
    import psycopg

    server = os.environ["SCHEMA_MANAGER_TEST_POSTGRES_URL"]
    parts = urlsplit(server)
    database = f"{parts.path.lstrip('/') or 'postgres'}_{name}_{os.getpid()}"
    url = urlunsplit(parts._replace(path=f"/{database}"))
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def make_user(username: str, *perms: str, groups: tuple[str, ...] = (), **fields):
    """A user with ``perms`` ("app_label.codename") and membership of ``groups`` (created)."""
    from django.contrib.auth.models import Group, Permission, User

    user = User.objects.create_user(username, password="pw", **fields)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return User.objects.get(pk=user.pk)  # permissions are cached per instance
