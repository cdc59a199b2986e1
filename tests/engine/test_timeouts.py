"""Timeouts: a lock timeout fails fast with bounded retries, a statement timeout cancels
without retrying."""

from __future__ import annotations

import time

import pytest
from django.db import connections

from schema_manager import Migration
from tests.settings import POSTGRES_SCHEMAS, POSTGRES_URL
from tests.utils import USERS

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


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
    assert len(targets.ledger()) == 1  # the failure left nothing: no row of it
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
