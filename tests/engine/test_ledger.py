"""The ledger (Prisma's _prisma_migrations): its rows commit with the migration's statements,
rows Prisma wrote are respected, instants read back as written, and it is read only when needed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from schema_manager import Migration, SchemaManager, VersionRecord
from schema_manager.backends import LEDGER_TABLE, get_backend
from schema_manager.checksums import migration_checksum
from schema_manager.ledger import Ledger
from schema_manager.ledger_rows import utc_now
from tests.conftest import TRANSACTIONAL_ENGINES
from tests.settings import MYSQL_DATABASES
from tests.utils import CREATE_USERS, users_migration

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def refuse_ledger_writes(targets, when: str) -> None:
    """Make the target's own ledger refuse, with a real database error, an INSERT (``when``
    "finished") that sets that timestamp, or the DELETE of a rollback ("rolled back")."""
    Ledger(get_backend(targets.connection())).ensure_table()
    column, event = {
        "finished": ("NEW.finished_at", "INSERT"),
        "rolled back": ("OLD.finished_at", "DELETE"),
    }[when]
    with targets.connection().cursor() as cursor:
        if targets.engine == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER refuse BEFORE {event} ON _prisma_migrations "
                f"WHEN {column} IS NOT NULL "
                "BEGIN SELECT RAISE(ABORT, 'ledger unavailable'); END"
            )
        else:
            cursor.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF {column} IS NOT NULL THEN RAISE EXCEPTION 'ledger unavailable'; "
                "END IF; RETURN COALESCE(NEW, OLD); END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse BEFORE {event} ON _prisma_migrations "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )


@pytest.mark.parametrize("engine", TRANSACTIONAL_ENGINES, indirect=True)
def test_ledger_row_commits_with_the_statements(targets, manager):
    """If recording in the ledger fails, the migration's DDL is rolled back with it."""
    refuse_ledger_writes(targets, "finished")
    result = manager.apply_migration_sync(users_migration())

    assert not result.success
    assert "ledger unavailable" in result.error
    assert "users" not in targets.tables()
    assert targets.ledger() == []  # nothing of it remains: no row (history keeps the attempt)


@pytest.mark.parametrize("engine", TRANSACTIONAL_ENGINES, indirect=True)
def test_rollback_and_its_ledger_mark_commit_together(targets, manager):
    assert manager.apply_migration_sync(users_migration()).success
    refuse_ledger_writes(targets, "rolled back")

    result = manager.rollback_migration_sync("001_add_users_table")
    assert not result.success
    assert "ledger unavailable" in result.error
    assert "users" in targets.tables()  # the DROP TABLE was rolled back with it
    assert [row["rolled_back_at"] for row in targets.ledger()] == [None]


def test_ledger_written_by_prisma_is_respected(targets, manager: SchemaManager):
    """A migration that Prisma applied (row present) is not applied again."""
    targets.execute("development", "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    ledger = Ledger(get_backend(targets.connection()))
    ledger.ensure_table()
    now = utc_now()
    checksum = migration_checksum(CREATE_USERS.strip() + "\n")
    ledger.insert("001_add_users_table", checksum, now, finished_at=now, applied_steps_count=1)
    result = manager.apply_migration_sync(users_migration())
    assert result.success
    assert result.skipped
    assert [r.status for r in manager.get_version_history()] == ["applied"]
    assert manager.get_version_history()[0].reconciled


def test_ledger_reads_back_the_instants_it_wrote(targets):
    """Each engine's timestamps come back as the same aware instants (on PostgreSQL through
    psycopg's own loader, not Django's), whole table or one migration's rows."""
    ledger = Ledger(get_backend(targets.connection()))
    ledger.ensure_table()
    started = utc_now().replace(microsecond=0) - timedelta(days=400)
    finished = started + timedelta(seconds=1, microseconds=250_000)
    ledger.insert("001_a", "c" * 64, started, finished_at=finished, applied_steps_count=1)
    ledger.insert("002_b", "d" * 64, finished, finished_at=None)
    every = Ledger(get_backend(targets.connection())).rows()
    assert [(r.migration_name, r.started_at, r.finished_at) for r in every] == [
        ("001_a", started, finished),
        ("002_b", finished, None),
    ]
    assert all(r.started_at.utcoffset() == timedelta(0) for r in every)
    [one] = Ledger(get_backend(targets.connection())).rows("001_a")
    assert one.finished_at == finished
    assert one.is_applied


def test_ledger_read_in_full_only_when_it_changed_behind_the_manager(targets, manager):
    alias = targets.alias("development")
    first = users_migration()
    assert manager.apply_migration_sync(first).success

    def full_ledger_reads(migration: Migration) -> int:
        with CaptureQueriesContext(connections[alias]) as context:
            assert manager.apply_migration_sync(migration).success, migration.id
        return sum(
            LEDGER_TABLE in q["sql"] and "ORDER BY" in q["sql"] and "WHERE" not in q["sql"]
            for q in context.captured_queries
        )

    assert full_ledger_reads(Migration(id="002_a", sql="CREATE TABLE a (id INT);")) == 0
    # Another tool (Prisma) applies a migration; this process never recorded it.
    now = utc_now()
    Ledger(get_backend(targets.connection())).insert(
        "003_by_prisma", "0" * 64, now, finished_at=now, applied_steps_count=1
    )
    assert full_ledger_reads(Migration(id="004_b", sql="CREATE TABLE b (id INT);")) == 1
    [reconciled] = VersionRecord.objects.filter(reconciled=True)
    assert reconciled.migration_id == "003_by_prisma"
    assert manager.rollback_migration_sync("004_b").success
    assert full_ledger_reads(Migration(id="005_c", sql="CREATE TABLE c (id INT);")) == 0
    assert VersionRecord.objects.filter(reconciled=True).count() == 1


def test_ledger_table_is_prismas(mysql_targets, manager):
    assert manager.apply_migration_sync(
        Migration(id="004_t", sql="CREATE TABLE t (id INT);")
    ).success
    database = MYSQL_DATABASES["development"]
    columns = mysql_targets.fetch(
        "development",
        "SELECT column_name, column_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = '_prisma_migrations' ORDER BY ordinal_position",
        [database],
    )
    assert columns == [
        ("id", "varchar(36)", "NO"),
        ("checksum", "varchar(64)", "NO"),
        ("finished_at", "datetime(3)", "YES"),
        ("migration_name", "varchar(255)", "NO"),
        ("logs", "text", "YES"),
        ("rolled_back_at", "datetime(3)", "YES"),
        ("started_at", "datetime(3)", "NO"),
        ("applied_steps_count", "int(10) unsigned", "NO"),
    ]
    [(collation,)] = mysql_targets.fetch(
        "development",
        "SELECT table_collation FROM information_schema.tables "
        "WHERE table_schema = %s AND table_name = '_prisma_migrations'",
        [database],
    )
    assert collation == "utf8mb4_unicode_ci"
