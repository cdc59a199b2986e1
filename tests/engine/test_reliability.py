"""Reliability in one process: no-transaction SQL, compensation, timeouts, stale attempts,
and a failure at every statement position leaving the catalogue as it was."""

from __future__ import annotations

import subprocess
import time

import pytest
from django.db import connections

from schema_manager import Migration, VersionRecord, journal
from schema_manager.backends import get_backend
from schema_manager.checksums import migration_checksum
from schema_manager.ledger import Ledger, utc_now
from schema_manager.sql import parse_statements
from schema_manager.sql.directives import Directives, parse_directives
from schema_manager.sql.transactional import refuses_transaction
from tests import local_postgres
from tests.settings import POSTGRES_SCHEMAS, POSTGRES_URL

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

USERS = "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100));\n"


# -- directives (pure) ---------------------------------------------------------------------


def test_directives_are_read_from_comment_lines():
    sql = (
        "-- schema-manager: no-transaction\n"
        "--schema-manager: allow drop-table, Lock-Heavy\n"
        "CREATE INDEX CONCURRENTLY i ON t (c); -- schema-manager: allow not-a-line-of-its-own\n"
        "-- schema-manager: no-transaction please\n"
    )
    assert parse_directives(sql) == Directives(
        no_transaction=True, allowed_rules=frozenset({"drop-table", "lock-heavy"})
    )
    assert parse_directives("CREATE TABLE t (id int);") == Directives(False, frozenset())


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


def test_enum_values_on_old_postgresql_servers():
    [statement] = parse_statements("ALTER TYPE mood ADD VALUE 'meh'", "postgresql")
    assert "before PostgreSQL 12" in refuses_transaction(statement, "postgresql", 110000)
    assert refuses_transaction(statement, "postgresql", 150000) is None


# -- no-transaction migrations on PostgreSQL ------------------------------------------------


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
    row = postgres_targets.ledger()[-1]
    assert (row["applied_steps_count"], row["finished_at"]) == (2, None)
    assert row["rolled_back_at"] is not None
    assert VersionRecord.objects.get(ledger_id=row["id"]).recovery == "compensated"


# -- timeouts ----------------------------------------------------------------------------------


def _hold_table_lock(targets, table: str):
    """Another session reading ``table`` in an open transaction (its lock blocks ALTER)."""
    if targets.engine == "postgresql":
        import psycopg

        session = psycopg.connect(
            POSTGRES_URL, options=f"-c search_path={POSTGRES_SCHEMAS['development']}"
        )
    else:
        import MySQLdb

        session = MySQLdb.connect(**connections["my_development"].get_connection_params())
        session.autocommit(False)
    cursor = session.cursor()
    cursor.execute(f"SELECT * FROM {table}")
    cursor.fetchall()
    return session


@pytest.mark.parametrize("engine", ["postgresql", "mysql"], indirect=True)
def test_lock_timeout_fails_fast_with_bounded_retries(targets, manager, settings):
    lock_timeout = 0.3 if targets.engine == "postgresql" else 1  # MySQL counts whole seconds
    settings.SCHEMA_MANAGER = {
        **settings.SCHEMA_MANAGER,
        "TIMEOUTS": {"development": {"lock_timeout": lock_timeout, "statement_timeout": 30}},
        "LOCK_TIMEOUT_RETRIES": 1,
    }
    assert manager.apply_migration_sync(Migration(id="001_users", sql=USERS)).success
    before = targets.schema_snapshot()
    holder = _hold_table_lock(targets, "users")
    try:
        started = time.monotonic()
        alter = Migration(id="002_age", sql="ALTER TABLE users ADD COLUMN age INTEGER;")
        result = manager.apply_migration_sync(alter)
        elapsed = time.monotonic() - started
    finally:
        holder.close()
    assert not result.success
    # Two attempts of lock_timeout each, 0.5 s apart, plus the work around them.
    assert 2 * lock_timeout <= elapsed < 2 * lock_timeout + 0.5 + 2.0
    assert "lock" in result.error.lower()
    assert targets.schema_snapshot() == before
    [_, row] = targets.ledger()
    assert row["finished_at"] is None
    assert row["rolled_back_at"] is not None
    # The server's own settings are back for whatever the connection does next.
    assert manager.apply_migration_sync(alter).success


def test_a_retry_succeeds_once_the_lock_is_free(postgres_targets, manager, settings):
    settings.SCHEMA_MANAGER = {
        **settings.SCHEMA_MANAGER,
        "TIMEOUTS": {"development": {"lock_timeout": 0.3}},
        "LOCK_TIMEOUT_RETRIES": 3,
    }
    assert manager.apply_migration_sync(Migration(id="001_users", sql=USERS)).success
    holder = _hold_table_lock(postgres_targets, "users")
    import threading

    threading.Timer(0.5, holder.close).start()
    result = manager.apply_migration_sync(
        Migration(id="002_age", sql="ALTER TABLE users ADD COLUMN age INTEGER;")
    )
    assert result.success, result.error
    assert "age" in postgres_targets.columns("users")


def test_statement_timeout_cancels_a_slow_migration_without_retrying(
    postgres_targets, manager, settings
):
    settings.SCHEMA_MANAGER = {
        **settings.SCHEMA_MANAGER,
        "TIMEOUTS": {"development": {"statement_timeout": 0.2}},
        "LOCK_TIMEOUT_RETRIES": 3,
    }
    started = time.monotonic()
    result = manager.apply_migration_sync(
        Migration(id="001_slow", sql="CREATE TABLE t (id INTEGER);\nSELECT pg_sleep(5);")
    )
    assert not result.success
    assert "statement timeout" in result.error
    assert time.monotonic() - started < 2  # cancelled, and not retried
    assert "t" not in postgres_targets.tables()
    # SET LOCAL: the setting ended with the migration's transaction.
    [(value,)] = postgres_targets.fetch("development", "SHOW statement_timeout")
    assert value == "0"


# -- stale attempts ----------------------------------------------------------------------------


ABC = (
    "-- schema-manager: no-transaction\n"
    "CREATE TABLE a (id INTEGER PRIMARY KEY);\n"
    "CREATE TABLE b (id INTEGER PRIMARY KEY);\n"
    "CREATE TABLE c (id INTEGER PRIMARY KEY);\n"
)


def _dead_attempt(targets, logs: str | None) -> str:
    """The row of a process that ran statements 1 and 2 of ABC but recorded only the first
    (MySQL: DDL commits by itself, before its count)."""
    Migration(id="001_abc", sql=ABC).save()
    targets.execute("development", "CREATE TABLE a (id INTEGER PRIMARY KEY)")
    targets.execute("development", "CREATE TABLE b (id INTEGER PRIMARY KEY)")
    ledger = Ledger(get_backend(targets.connection()))
    ledger.ensure_table()
    stale = ledger.insert(
        "001_abc", migration_checksum(ABC), utc_now(), finished_at=None, logs=logs
    )
    ledger.set_progress(stale, 1)
    return stale


def test_an_attempt_left_by_a_dead_process_is_recovered(mysql_targets, manager):
    """An unfinished row whose logs are its journal, under a free lock: its process died
    mid-run. The journal says statement 2 found no table b: the b there now is its own."""
    stale = _dead_attempt(mysql_targets, journal.encode({1: (False,), 2: (False,)}))

    result = manager.apply_migration_sync(Migration.objects.get(pk="001_abc"))

    assert result.success, result.error
    assert {"a", "b", "c"} <= mysql_targets.tables()
    first, second = mysql_targets.ledger()
    assert first["id"] == stale
    assert first["rolled_back_at"] is not None
    assert first["finished_at"] is None
    assert "Interrupted: the process applying this migration died after 1 of 3" in first["logs"]
    assert second["finished_at"] is not None
    assert second["logs"] is None
    history = [(r.status, r.recovery) for r in VersionRecord.objects.order_by("id")]
    assert history == [("failed", "interrupted"), ("applied", "")]


def test_an_attempt_without_a_journal_is_left_for_an_operator(mysql_targets, manager):
    """A row without logs (an earlier version's attempt): whether statement 2 created b or
    found it cannot be known, so nothing is undone and the error says what to check."""
    stale = _dead_attempt(mysql_targets, None)
    before = mysql_targets.schema_snapshot()

    for _ in range(2):  # the second apply refuses the same way
        result = manager.apply_migration_sync(Migration.objects.get(pk="001_abc"))
        assert not result.success
        assert f"unfinished attempt on 'my_development' (ledger row {stale}" in result.error
        assert (
            "statement 2 (CREATE TABLE b ( id INTEGER PRIMARY KEY )) may have run" in result.error
        )
        assert "table b exists now: check whether this migration created" in result.error
        assert mysql_targets.schema_snapshot() == before
    [row] = mysql_targets.ledger()
    assert (row["finished_at"], row["rolled_back_at"]) == (None, None)


# -- a failure at every statement position ---------------------------------------------------

FIVE = [
    "CREATE TABLE fi_a (id INTEGER PRIMARY KEY, name VARCHAR(20))",
    "ALTER TABLE fi_a ADD COLUMN note VARCHAR(20)",
    "CREATE INDEX fi_a_note ON fi_a (note)",
    "CREATE TABLE fi_b (id INTEGER PRIMARY KEY)",
    "ALTER TABLE fi_b ADD COLUMN flag INTEGER",
]


def _catalogue(targets) -> str:
    """A dump of the target's schema: pg_dump, sqlite_master, or information_schema."""
    if targets.engine == "postgresql":
        settings = targets.connection().settings_dict
        host = settings["HOST"] or settings["OPTIONS"].get("host", "")
        command = [local_postgres.pg_dump(), "--schema-only", "-n", POSTGRES_SCHEMAS["development"]]
        command += ["-h", host, "-p", str(settings["PORT"] or 5432)]
        dump = subprocess.run(
            [*command, "-U", settings["USER"], settings["NAME"]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        # pg_dump 15.14+ opens with a random \restrict key.
        return "\n".join(line for line in dump.splitlines() if "restrict " not in line)
    return repr(targets.schema_snapshot())


def test_a_failure_at_each_statement_position_leaves_nothing(targets, manager):
    assert manager.apply_migration_sync(Migration(id="001_users", sql=USERS)).success
    before = _catalogue(targets)
    for position in range(1, 6):
        statements = list(FIVE)
        statements[position - 1] = "INSERT INTO fi_missing VALUES (1)"
        migration = Migration(id=f"00{position + 1}_fail_at_{position}", sql=";\n".join(statements))
        result = manager.apply_migration_sync(migration)
        assert not result.success
        assert f"Statement {position}" in result.error
        assert _catalogue(targets) == before, position
        row = targets.ledger()[-1]
        assert row["finished_at"] is None
        assert row["rolled_back_at"] is not None
        record = VersionRecord.objects.get(ledger_id=row["id"])
        assert record.status == "failed"
        if targets.engine == "mysql":
            assert result.compensated
            assert row["applied_steps_count"] == position - 1
            assert record.recovery == "compensated"
        else:
            assert record.recovery == "rolled_back"


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
    [row] = targets.ledger()
    assert row["applied_steps_count"] == 2
    assert "Compensated: 2 statement(s) undone" in row["logs"]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_reconcile_racing_the_applier_leaves_one_record_per_event(targets, manager, monkeypatch):
    """Another process reconciles from the ledger between the target's commit and history."""
    from schema_manager import history
    from schema_manager.workspace import executor_for, reconcile

    def racing(real):
        def record(target, *args, **kwargs):
            reconcile(target, executor_for(target))
            return real(target, *args, **kwargs)

        return record

    monkeypatch.setattr(history, "record_apply", racing(history.record_apply))
    monkeypatch.setattr(history, "record_rollback", racing(history.record_rollback))
    migration = Migration(id="001_users", sql=USERS)
    assert manager.apply_migration_sync(migration, applied_by="ops").success
    assert manager.rollback_migration_sync("001_users", applied_by="ops").success
    records = VersionRecord.objects.order_by("id")
    assert [(r.operation, r.status, r.reconciled, r.applied_by) for r in records] == [
        ("apply", "applied", False, "ops"),
        ("rollback", "rolled_back", False, "ops"),
    ]
