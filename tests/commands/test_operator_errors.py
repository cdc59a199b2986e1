"""What an operator sees when a migration cannot run: one sentence on stderr naming the
migration and the cause, no traceback, and nothing changed. Real processes on the demo
project, with PostgreSQL targets (a schema per environment)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from schema_manager import Migration, SchemaManager, VersionRecord
from schema_manager.backends import LEDGER_TABLE, get_backend
from schema_manager.ledger import Ledger
from tests.commands.test_commands import demo_env, manage
from tests.conftest import TRANSACTIONAL_ENGINES
from tests.settings import POSTGRES_SCHEMAS, POSTGRES_URL
from tests.utils import write_migration

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def _postgres_url(schema: str, user: str | None = None) -> str:
    url = POSTGRES_URL
    if user is not None:  # postgres://postgres@host/db -> postgres://<user>@host/db
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://{user}@{rest.split('@', 1)[-1]}"
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-c%20search_path%3D{schema}"


@pytest.fixture
def staging(postgres_targets, tmp_path):
    """A demo process environment whose staging target is the tests' PostgreSQL schema, with
    its own (empty) migrations directory; ``migrate`` has run."""
    env = demo_env(tmp_path, {"STAGING_DATABASE_URL": _postgres_url(POSTGRES_SCHEMAS["staging"])})
    env["PRISMA_SCHEMA_PATH"] = str(tmp_path / "prisma" / "schema.prisma")
    (tmp_path / "prisma" / "migrations").mkdir(parents=True)
    assert manage(env, "migrate", "-v0").returncode == 0
    return env


def migrations_of(env: dict[str, str]) -> Path:
    return Path(env["PRISMA_SCHEMA_PATH"]).parent / "migrations"


def one_error_line(done) -> str:
    """The single line on stderr, which must not be a traceback."""
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("CommandError: ")
    return lines[0]


@pytest.mark.parametrize(
    ("sql", "cause"),
    [
        (
            "SET search_path TO public;\nCREATE TABLE b (id INT);",
            "changes the session's search_path",
        ),
        (
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;\nCREATE TABLE b (id INT);",
            "changes the transaction characteristics of the session",
        ),
        (
            "CREATE TABLE b (id INT);\nRELEASE SAVEPOINT schema_manager_statements;\n"
            "CREATE TABLE c (id INT);",
            "releases savepoint schema_manager_statements, which it did not create",
        ),
    ],
)
def test_sql_that_would_break_the_tools_session_is_refused_in_one_sentence(
    postgres_targets, staging, sql, cause
):
    write_migration(migrations_of(staging), "001_a", "CREATE TABLE a (id INT);\n")
    write_migration(migrations_of(staging), "002_b", sql + "\n")

    done = manage(staging, "apply_schema_migration", "--all", "-e", "staging")

    line = one_error_line(done)
    assert "002_b" in line
    assert cause in line
    assert "001_a ... applied" in done.stdout
    assert "b" not in postgres_targets.tables("staging")
    ledger = [row["migration_name"] for row in postgres_targets.ledger("staging")]
    assert ledger == ["001_a"]


def test_an_unrelated_table_named_like_the_ledger_is_refused_before_anything_runs(
    postgres_targets, staging
):
    postgres_targets.execute(
        "staging", f"CREATE TABLE {LEDGER_TABLE} (id SERIAL PRIMARY KEY, name TEXT)"
    )
    write_migration(migrations_of(staging), "001_a", "CREATE TABLE a (id INT);\n")

    done = manage(staging, "apply_schema_migration", "001_a", "-e", "staging")

    line = one_error_line(done)
    assert "Migration 001_a was not applied to staging" in line
    assert f"The table {LEDGER_TABLE} on 'target_staging' is not Prisma's migration ledger" in line
    assert "checksum" in line
    assert "nothing was run" in line
    assert "a" not in postgres_targets.tables("staging")
    assert postgres_targets.columns(LEDGER_TABLE, "staging") == ["id", "name"]

    status = manage(staging, "schema_migration_status", "-e", "staging")
    assert "is not Prisma's migration ledger" in one_error_line(status)


@pytest.fixture
def reader_role(postgres_targets):
    """A role that may use the staging schema and create tables in it, and only read the
    ledger (which the tests' superuser created)."""
    role = f"sm_reader_{uuid.uuid4().hex[:8]}"
    schema = POSTGRES_SCHEMAS["staging"]
    Ledger(get_backend(postgres_targets.connection("staging"))).ensure_table()
    postgres_targets.execute("staging", f"CREATE ROLE {role} LOGIN")
    postgres_targets.execute("staging", f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}")
    postgres_targets.execute("staging", f"GRANT SELECT ON {LEDGER_TABLE} TO {role}")
    yield role
    postgres_targets.execute("staging", f"DROP OWNED BY {role}")
    postgres_targets.execute("staging", f"DROP ROLE {role}")


def test_a_role_that_cannot_write_the_ledger_is_told_so_before_anything_runs(
    postgres_targets, staging, reader_role
):
    staging["STAGING_DATABASE_URL"] = _postgres_url(POSTGRES_SCHEMAS["staging"], reader_role)
    write_migration(migrations_of(staging), "001_a", "CREATE TABLE a (id INT);\n")

    done = manage(staging, "apply_schema_migration", "--all", "-e", "staging")

    line = one_error_line(done)
    assert "Migration 001_a was not applied to staging" in line
    assert f"The role '{reader_role}' cannot write the ledger {LEDGER_TABLE}" in line
    assert "permission denied" in line
    assert "grant it INSERT and UPDATE" in line
    assert "a" not in postgres_targets.tables("staging")
    assert postgres_targets.ledger("staging") == []


@pytest.mark.parametrize("engine", TRANSACTIONAL_ENGINES, indirect=True)
def test_a_failed_attempt_that_left_nothing_writes_no_ledger_row(targets):
    """The migration fails and nothing of it remains: the ledger is not written at all (a
    ledger refusing unfinished rows is never asked), and history keeps the attempt."""
    Ledger(get_backend(targets.connection())).ensure_table()
    with targets.connection().cursor() as cursor:
        if targets.engine == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON {LEDGER_TABLE} "
                "WHEN NEW.finished_at IS NULL BEGIN SELECT RAISE(ABORT, 'ledger is full'); END"
            )
        else:
            cursor.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.finished_at IS NULL THEN RAISE EXCEPTION 'ledger is full'; END IF; "
                "RETURN NEW; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON {LEDGER_TABLE} "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
    broken = Migration(
        id="001_broken", sql="CREATE TABLE t (id INT);\nINSERT INTO nowhere VALUES (1);"
    )

    result = SchemaManager().apply_migration_sync(broken)

    assert not result.success
    assert "nowhere" in result.error
    assert "ledger is full" not in result.error
    assert "t" not in targets.tables()
    assert targets.ledger() == []
    [record] = VersionRecord.objects.all()
    assert (record.migration_id, record.status, record.ledger_id) == ("001_broken", "failed", "")
    assert "nowhere" in record.error


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_an_unrelated_ledger_table_on_sqlite_is_refused_in_the_result(targets):
    targets.execute("development", f"CREATE TABLE {LEDGER_TABLE} (id INTEGER, note TEXT)")
    result = SchemaManager().apply_migration_sync(
        Migration(id="001_a", sql="CREATE TABLE a (id INT);")
    )
    assert not result.success
    assert result.message.startswith("Migration 001_a was not applied to development: ")
    assert "is not Prisma's migration ledger" in result.message
    assert "a" not in targets.tables()
    assert not VersionRecord.objects.exists()
