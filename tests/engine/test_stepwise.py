"""No-transaction migrations: run statement by statement outside a transaction, and
compensated when one fails."""

from __future__ import annotations

import pytest
from django.db import connections

from schema_manager import Migration, VersionRecord
from schema_manager.backends import get_backend
from schema_manager.execution import journal
from schema_manager.sql import parse_statements
from tests.utils import USERS

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("CREATE INDEX CONCURRENTLY i ON t (c)", True),
        ("create unique index concurrently if not exists i on t (c)", True),
        ("DROP INDEX CONCURRENTLY IF EXISTS i", True),
        ("REINDEX INDEX CONCURRENTLY i", True),
        ("VACUUM ANALYZE t", True),
        ("CREATE INDEX i ON t (c)", False),
        ("ALTER TYPE mood ADD VALUE 'meh'", False),  # PostgreSQL 12+ allows it
        ("SELECT 'CONCURRENTLY'", False),
    ],
)
def test_postgresql_statements_refused_in_a_transaction(postgres_targets, sql, refused):
    backend = get_backend(connections["pg_development"])
    [statement] = parse_statements(sql)
    assert bool(backend.refuses_transaction(statement)) is refused


def _index_states(targets) -> dict[str, bool]:
    rows = targets.fetch(
        "development",
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()",
    )
    return dict(rows)


def test_a_concurrent_index_runs_outside_a_transaction(postgres_targets, manager):
    assert manager.apply_migration_sync(Migration(id="001_users", sql=USERS)).success
    migration = Migration(
        id="002_email_index", sql="CREATE INDEX CONCURRENTLY users_email ON users (email);"
    )
    result = manager.apply_migration_sync(migration)
    assert result.success, result.error
    assert _index_states(postgres_targets)["users_email"] is True
    row = postgres_targets.ledger()[-1]
    assert row["applied_steps_count"] == 1
    assert row["finished_at"] is not None
    # Its generated rollback runs outside a transaction too.
    assert manager.rollback_migration_sync(migration.id).success
    assert "users_email" not in _index_states(postgres_targets)


def test_mixing_without_the_directive_is_a_validation_error(postgres_targets, manager):
    assert manager.apply_migration_sync(Migration(id="001_users", sql=USERS)).success
    before = postgres_targets.schema_snapshot()
    mixed = Migration(
        id="002_mixed",
        sql="ALTER TABLE users ADD COLUMN age INTEGER;\n"
        "CREATE INDEX CONCURRENTLY users_age ON users (age);",
    )
    result = manager.apply_migration_sync(mixed)
    assert not result.success
    assert "Statement 2 (CREATE INDEX CONCURRENTLY users_age" in result.error
    assert "-- schema-manager: no-transaction" in result.error
    assert postgres_targets.schema_snapshot() == before
    assert len(postgres_targets.ledger()) == 1


def test_a_failed_no_transaction_migration_is_compensated(postgres_targets, manager):
    assert manager.apply_migration_sync(Migration(id="001_users", sql=USERS)).success
    postgres_targets.execute(
        "development", "INSERT INTO users VALUES (1, 'a@example.com'), (2, 'a@example.com')"
    )
    before = postgres_targets.schema_snapshot()
    migration = Migration(
        id="002_indexes",
        sql=(
            "-- schema-manager: no-transaction\n"
            "ALTER TABLE users ADD COLUMN age INTEGER;\n"
            "CREATE INDEX CONCURRENTLY users_age ON users (age);\n"
            "CREATE UNIQUE INDEX CONCURRENTLY users_email ON users (email);"
        ),
    )
    result = manager.apply_migration_sync(migration)
    assert not result.success
    assert result.compensated
    assert "could not create unique index" in result.error
    # The duplicate left an INVALID users_email behind; it was dropped with the others.
    assert postgres_targets.schema_snapshot() == before
    # Nothing of it remains: its row, committed first, is gone (history keeps the attempt).
    assert "002_indexes" not in [row["migration_name"] for row in postgres_targets.ledger()]
    assert result.statements_run == 2
    assert VersionRecord.objects.get(migration_id="002_indexes").recovery == "compensated"


@pytest.mark.parametrize("engine", ["sqlite", "mysql"], indirect=True)
def test_a_declared_no_transaction_migration_is_compensated_on_any_engine(targets, manager):
    before = targets.schema_snapshot()
    migration = Migration(
        id="001_stepwise",
        sql=(
            "-- schema-manager: no-transaction\n"
            "CREATE TABLE a (id INTEGER PRIMARY KEY, note VARCHAR(20));\n"
            "CREATE INDEX a_note ON a (note);\n"
            "INSERT INTO missing VALUES (1);"
        ),
    )
    result = manager.apply_migration_sync(migration)
    assert not result.success
    assert result.compensated
    after = [item for item in targets.schema_snapshot() if "_prisma_migrations" not in str(item)]
    assert after == before
    assert targets.ledger() == []  # nothing of it remains: no row (history keeps it)
    assert result.statements_run == 2


def test_a_scripts_own_timeout_does_not_outlive_its_step_by_step_migration(
    postgres_targets, manager
):
    """A step-by-step script that sets a session timeout has it reset when it ends, in one
    round trip with the other: the next migration on the connection runs with the server's."""
    from django.test.utils import CaptureQueriesContext

    assert manager.apply_migration_sync(Migration(id="001_users", sql=USERS)).success
    migration = Migration(
        id="002_email_index",
        sql="-- schema-manager: no-transaction\nSET statement_timeout = 4321;\n"
        "CREATE INDEX CONCURRENTLY users_email ON users (email);",
    )
    connection = connections["pg_development"]
    with CaptureQueriesContext(connection) as queries:
        assert manager.apply_migration_sync(migration).success
    resets = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("RESET")]
    assert resets == ["RESET lock_timeout; RESET statement_timeout"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


def test_each_ledger_write_of_a_step_by_step_migration_carries_its_guard(postgres_targets, manager):
    """On PostgreSQL a step-by-step attempt's ledger writes (its row's insert, then updates)
    each go as one statement, a transaction of its own, that writes only while the lock is held
    and the ledger is as this run left it (no separate reading first, no BEGIN and COMMIT
    around it); the first statement's journal goes with the row, and the last statement's
    count with the row's finish."""
    assert manager.apply_migration_sync(Migration(id="001_users", sql=USERS)).success
    migration = Migration(
        id="002_indexes",
        sql="CREATE INDEX CONCURRENTLY users_a ON users (email);\n"
        "CREATE INDEX CONCURRENTLY users_b ON users (id, email);",
    )
    sent: list[tuple[str, bool]] = []  # each query, and whether a transaction was open for it
    logs: dict[str, str] = {}  # each write's logs parameter (a journal), by its first word

    def spy(execute, sql, params, many, context):
        sent.append((" ".join(sql.split()), context["connection"].in_atomic_block))
        journals = [p for p in params or () if isinstance(p, str) and "In progress:" in p]
        logs.update({sql.split()[0]: journals[0]} if journals else {})
        return execute(sql, params, many, context)

    with connections["pg_development"].execute_wrapper(spy):
        assert manager.apply_migration_sync(migration).success
    # (Not the checks, as the ledger is first read, that this role may write it.)
    writes = [
        (q, atomic)
        for q, atomic in sent
        if q.startswith(("INSERT ", "UPDATE ", "DELETE "))
        and "_prisma_migrations" in q.split(" SET ")[0].split(" SELECT ")[0]
        and "WHERE 1 = 0" not in q
    ]
    updates = [q for q, _ in writes if q.startswith("UPDATE ")]
    inserts = [q for q, _ in writes if q.startswith("INSERT ")]
    reading = "SELECT NOT pg_catalog.pg_try_advisory_xact_lock_shared("
    readings = [q for q, _ in sent if q.startswith(reading)]
    assert len(inserts) == 1, inserts
    assert all(reading[7:] in q for q in updates + inserts), updates + inserts
    assert readings == []
    assert [atomic for _, atomic in writes] == [False] * len(writes)
    # The first statement's journal goes with the row, then its count, the second's journal,
    # and the finish with the second's count.
    assert journal.decode(logs["INSERT"]) == {1: (False,)}  # users_a did not exist
    assert [q.split(" SET ")[1].split(" = ")[0] for q in updates] == [
        "applied_steps_count",
        "logs",
        "finished_at",
    ]
    row = postgres_targets.ledger()[-1]
    assert (row["applied_steps_count"], row["logs"]) == (2, None)
    assert row["finished_at"] is not None


def test_a_step_by_step_migration_that_changed_the_ledger_stops_at_its_next_write(
    postgres_targets, manager
):
    """SQL built at run time that empties the ledger, in a step-by-step migration: the next
    ledger write finds the ledger changed, and nothing after it runs."""
    assert manager.apply_migration_sync(Migration(id="001_users", sql=USERS)).success
    hidden = (
        "-- schema-manager: no-transaction\n"
        "DO $$ BEGIN EXECUTE 'DELETE FROM _prisma' || '_migrations'; END $$;\n"
        "CREATE INDEX CONCURRENTLY users_after ON users (email);"
    )

    result = manager.apply_migration_sync(Migration(id="002_forget", sql=hidden))

    assert not result.success
    assert "no longer holds what this applier wrote there" in result.error, result.error
    assert "users_after" not in _index_states(postgres_targets)
