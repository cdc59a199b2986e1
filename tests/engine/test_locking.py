"""One applier per target, and a ledger that only the applier writes, against hostile SQL.

Real engines and real processes (tests/apply_process.py): SQL that releases session locks,
edits ``_prisma_migrations`` or moves ``search_path``; SQLite appliers queueing for the write
lock; two ``rollback --to`` at once.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connections

from schema_manager import Migration
from schema_manager.backends import get_backend
from schema_manager.ledger import Ledger
from tests.processes import RELEASE_LOCKS, Fleet, answer, kill_started
from tests.utils import write_migration

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

MARKER_TABLE = "CREATE TABLE apply_marker (migration VARCHAR(64) NOT NULL)"


@pytest.fixture(autouse=True)
def _no_stray_children():
    yield
    kill_started()


def _marker(migration_id: str) -> str:
    return f"INSERT INTO apply_marker (migration) VALUES ('{migration_id}');\n"


def _markers(targets) -> Counter:
    return Counter(row[0] for row in targets.fetch("development", "SELECT * FROM apply_marker"))


def _live_rows(targets) -> Counter:
    return Counter(
        row["migration_name"]
        for row in targets.ledger()
        if row["finished_at"] is not None and row["rolled_back_at"] is None
    )


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}")
        time.sleep(0.05)


def _lock_waiters(targets) -> int:
    """Other sessions of the development target running the gated UPDATE (alone, or sent
    with other statements; the test's own has run it and sits idle in its transaction)."""
    if targets.engine == "postgresql":
        sql = (
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%%UPDATE gate%%'"
        )
    else:
        sql = (
            "SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() "
            "AND id <> CONNECTION_ID() AND info LIKE '%%UPDATE gate%%'"
        )
    return targets.fetch("development", sql)[0][0]


def _hold_row_lock(targets):
    """A connection of the test's own, in a transaction that holds the ``gate`` row."""
    connection = targets.connection("development")
    raw = connection.get_new_connection(connection.get_connection_params())
    raw.cursor().execute("UPDATE gate SET id = 1 WHERE id = 1")
    return raw


@pytest.mark.parametrize("engine", ["postgresql", "mysql"], indirect=True)
def test_sql_that_releases_the_lock_cannot_let_a_second_applier_in(targets, tmp_path):
    fleet = Fleet(targets, tmp_path)
    targets.execute("development", MARKER_TABLE)
    targets.execute("development", "CREATE TABLE gate (id INTEGER PRIMARY KEY)")
    targets.execute("development", "INSERT INTO gate (id) VALUES (1)")
    ids = ["001_release_locks", "002_gated", "003_after"]
    fleet.write(ids[0], RELEASE_LOCKS[targets.engine] + _marker(ids[0]))
    # The first applier stops here until the test lets it go: a second one arrives meanwhile.
    fleet.write(ids[1], "UPDATE gate SET id = 1 WHERE id = 1;\n" + _marker(ids[1]))
    fleet.write(ids[2], _marker(ids[2]))
    gate = _hold_row_lock(targets)
    try:
        first = fleet.start(SCHEMA_MANAGER_TEST_LOCK_WAIT="60")
        _wait_for(
            lambda: first.poll() is not None or _lock_waiters(targets) == 1,
            "the first applier to reach the gate",
        )
        assert first.poll() is None, first.communicate()
        # Short LOCK_WAIT: it gives up while the first still holds the lock, or (if the lock
        # was lost) it gets in and queues at the gate behind the first.
        second = fleet.start(SCHEMA_MANAGER_TEST_LOCK_WAIT="1")
        _wait_for(
            lambda: second.poll() is not None or _lock_waiters(targets) == 2,
            "the second applier to give up or to reach the gate",
        )
        # A patient third applier, arriving while the first is still at the gate.
        third = fleet.start(SCHEMA_MANAGER_TEST_LOCK_WAIT="60")
        assert third.stdout.readline() == "ready\n", third.stderr.read()
    finally:
        gate.rollback()
        gate.close()

    first_status, _, first_error = answer(first)
    assert first_status == 0, first_error
    status, _, error = answer(second)
    assert status == 1
    assert error.startswith(f"Another apply is running on {targets.alias('development')!r}")
    assert answer(third)[0] == 0  # it waited, then found nothing left to do
    for process in (first, second, third):
        process.wait(timeout=30)
    assert _markers(targets) == dict.fromkeys(ids, 1)
    assert _live_rows(targets) == dict.fromkeys(ids, 1)
    assert len(targets.ledger()) == 3  # no attempt recorded by the appliers that waited
    assert Counter(record[:3] for record in fleet.history()) == {
        (migration_id, "apply", "applied"): 1 for migration_id in ids
    }


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    "then",
    [
        "",
        # Holding Prisma's key is not enough: the session the run locked with must still
        # hold it, so a migration that takes the key itself, as another applier would, fails.
        "SELECT pg_advisory_xact_lock(72707369);\n",
    ],
    ids=["ends-it", "ends-it-and-takes-the-key"],
)
def test_a_migration_that_ends_the_lock_session_commits_nothing(targets, manager, then):
    targets.execute("development", MARKER_TABLE)
    # Ends the session holding Prisma's lock on this database (never another's), and waits
    # until it is gone (the lock with it).
    hostile = (
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks "
        "WHERE locktype = 'advisory' AND objid = 72707369 AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database());\n"
        f"{then}"
    ) + _marker("001_ends_lock_session")

    result = manager.apply_migration_sync(Migration(id="001_ends_lock_session", sql=hostile))

    assert not result.success
    assert "no longer holds the migration lock on 'pg_development'" in result.error
    assert _markers(targets) == {}
    assert targets.ledger() == []


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_the_lock_check_probes_a_key_instead_of_copying_the_lock_table(targets, manager):
    """Each migration's ledger write checks the lock; reading ``pg_locks`` there copies the
    server's whole lock table every time (bench/README.md), a key of the run is probed."""
    sent: list[str] = []

    def spy(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with connections["pg_development"].execute_wrapper(spy):
        for number in (1, 2):
            migration = Migration(id=f"00{number}_t", sql=f"CREATE TABLE t{number} (id int);")
            assert manager.apply_migration_sync(migration).success
    ledger_writes = [sql for sql in sent if "_prisma_migrations" in sql and "RETURNING" in sql]
    assert len(ledger_writes) == 2, ledger_writes
    assert all("pg_try_advisory_xact_lock_shared" in sql for sql in ledger_writes)
    assert not any("pg_locks" in sql for sql in sent)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_run_key_another_session_holds_is_given_up_with_the_lock(targets, monkeypatch):
    """The run's key is random; should another session hold the one drawn, the lock taken
    with it is let go and another key drawn, so that the lock is held once, with a key
    only this run holds, and nothing is left behind."""
    from schema_manager.backends import postgresql

    connection = targets.connection("development")
    other = connection.get_new_connection(connection.get_connection_params())
    other.autocommit = True
    other_pid = other.info.backend_pid
    taken, fresh = 4242424242, -4242424242
    other.cursor().execute("SELECT pg_advisory_lock(%s)", [taken])
    keys = iter([taken, fresh])
    monkeypatch.setattr(postgresql, "_random_key", lambda: next(keys))
    locks = (
        "SELECT objid, pid, COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "GROUP BY objid, pid ORDER BY objid"
    )
    try:
        with get_backend(connection).migration_lock(5) as held:
            assert held.params == (fresh,)
            during = targets.fetch("development", locks)
        after = targets.fetch("development", locks)
    finally:
        other.close()
    holders = {pid for _, pid, _ in during} - {other_pid}
    assert len(holders) == 1  # the lock session
    # Prisma's key once, the run's fresh key, and the other session's.
    assert sorted((objid, count) for objid, pid, count in during if pid in holders) == sorted(
        [(72707369, 1), (fresh & 0xFFFFFFFF, 1)]
    )
    assert [(objid, pid) for objid, pid, _ in after] == [(taken & 0xFFFFFFFF, other_pid)]


# -- the ledger belongs to the applier ---------------------------------------------------------

LEDGER_EDITS = [
    "DELETE FROM _prisma_migrations WHERE migration_name = '001_first';",
    'DELETE FROM "_prisma_migrations";',
    "DROP TABLE _prisma_migrations;",
    "ALTER TABLE _prisma_migrations ADD COLUMN note VARCHAR(10);",
    "UPDATE _prisma_migrations SET migration_name = 'renamed' WHERE migration_name = '001_first';",
]


@pytest.mark.parametrize("edit", LEDGER_EDITS)
def test_sql_that_edits_the_ledger_is_refused_before_it_runs(targets, manager, edit):
    targets.execute("development", MARKER_TABLE)
    manager.apply_migration_sync(Migration(id="001_first", sql=_marker("001_first")))

    result = manager.apply_migration_sync(Migration(id="002_edit", sql=_marker("002") + edit))

    assert not result.success
    assert "validation failed" in result.message
    assert "names the ledger table _prisma_migrations" in result.error
    assert _markers(targets) == {"001_first": 1}
    assert [row["migration_name"] for row in targets.ledger()] == ["001_first"]


# SQL that edits the ledger where the rules cannot see it (built at run time).
HIDDEN_LEDGER_EDITS = {
    "postgresql": "DO $$ BEGIN EXECUTE 'DELETE FROM _prisma' || '_migrations'; END $$;\n",
    "mysql": (
        "PREPARE forget FROM CONCAT('DELETE FROM _prisma', '_migrations');\n"
        "EXECUTE forget;\n"
        "DEALLOCATE PREPARE forget;\n"
    ),
}


@pytest.mark.parametrize("engine", ["postgresql", "mysql"], indirect=True)
def test_a_migration_that_changed_the_ledger_fails_and_is_rolled_back(targets, manager):
    targets.execute("development", MARKER_TABLE)
    assert manager.apply_migration_sync(Migration(id="001_first", sql=_marker("001_first"))).success
    hidden = HIDDEN_LEDGER_EDITS[targets.engine]

    result = manager.apply_migration_sync(Migration(id="002_forget", sql=hidden))

    assert not result.success
    assert "no longer holds what this applier wrote there" in result.error
    assert _live_rows(targets) == {"001_first": 1}
    # Nothing is applied twice afterwards.
    again = manager.apply_migration_sync(Migration(id="001_first", sql=_marker("001_first")))
    assert again.success
    assert again.skipped
    assert _markers(targets) == {"001_first": 1}


@pytest.mark.parametrize("scope", ["SET", "SET LOCAL"])
def test_search_path_set_by_a_migration_cannot_redirect_the_ledger(
    postgres_targets, migrations_dir, scope
):
    from tests.settings import POSTGRES_SCHEMAS

    targets = postgres_targets
    schema = POSTGRES_SCHEMAS["development"]
    decoy = f"{schema}_decoy"
    targets.execute("development", MARKER_TABLE)
    targets.execute("development", f"CREATE SCHEMA {decoy}")
    try:
        with connections["pg_development"].cursor() as cursor:
            cursor.execute(f"SET search_path TO {decoy}")
            Ledger(get_backend(connections["pg_development"])).ensure_table()
            cursor.execute(f"SET search_path TO {schema}")
        ids = ["001_first", "002_moves_search_path", "003_third"]
        write_migration(migrations_dir, ids[0], _marker(ids[0]))
        # Built at run time, where the rules cannot read it (they refuse a plain SET).
        moves = f"DO $$ BEGIN EXECUTE '{scope} search_' || 'path TO {decoy}, {schema}'; END $$;\n"
        write_migration(migrations_dir, ids[1], moves + _marker(ids[1]))
        write_migration(migrations_dir, ids[2], _marker(ids[2]))
        for _ in range(2):  # the deploy, then the next one on a new session
            call_command("apply_schema_migration", "--all", verbosity=0)
            connections["pg_development"].close()

        assert _markers(targets) == dict.fromkeys(ids, 1)
        assert _live_rows(targets) == dict.fromkeys(ids, 1)
        assert targets.fetch("development", f"SELECT COUNT(*) FROM {decoy}._prisma_migrations") == [
            (0,)
        ]
    finally:
        connections["pg_development"].close()
        targets.execute("development", f"DROP SCHEMA IF EXISTS {decoy} CASCADE")


@pytest.fixture
def migrations_dir(tmp_path):
    directory = tmp_path / "prisma" / "migrations"
    directory.mkdir(parents=True)
    return directory


# -- SQLite: the write lock is the migration lock ------------------------------------------------


def _sqlite_fleet(targets, tmp_path, *, ledger: bool = True) -> tuple[Fleet, sqlite3.Connection]:
    """A fleet with one migration pending, and a connection holding the target's write lock."""
    fleet = Fleet(targets, tmp_path)
    targets.execute("development", MARKER_TABLE)
    if ledger:
        Ledger(get_backend(targets.connection("development"))).ensure_table()
    fleet.write("001_first", _marker("001_first"))
    holder = sqlite3.connect(targets.connection("development").settings_dict["NAME"])
    holder.execute("BEGIN IMMEDIATE")
    return fleet, holder


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_second_sqlite_applier_waits_for_the_write_lock(targets, tmp_path):
    fleet, holder = _sqlite_fleet(targets, tmp_path)
    try:
        # The driver would give up after 0.5 s; LOCK_WAIT says 60.
        applier = fleet.start(
            SCHEMA_MANAGER_TEST_SQLITE_TIMEOUT="0.5", SCHEMA_MANAGER_TEST_LOCK_WAIT="60"
        )
        assert applier.stdout.readline() == "ready\n", applier.stderr.read()
        time.sleep(2)
        assert applier.poll() is None  # still waiting
    finally:
        holder.rollback()
        holder.close()

    status, _, error = answer(applier)
    assert status == 0, error
    assert _markers(targets) == {"001_first": 1}
    assert _live_rows(targets) == {"001_first": 1}


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize("ledger", [True, False], ids=["ledger", "no-ledger-yet"])
def test_a_sqlite_applier_gives_up_after_lock_wait_and_records_nothing(targets, tmp_path, ledger):
    fleet, holder = _sqlite_fleet(targets, tmp_path, ledger=ledger)
    try:
        applier = fleet.start(
            SCHEMA_MANAGER_TEST_SQLITE_TIMEOUT="0.5", SCHEMA_MANAGER_TEST_LOCK_WAIT="1.5"
        )
        status, _, error = answer(applier)
    finally:
        holder.rollback()
        holder.close()

    assert status == 1
    assert error.startswith("Another apply is running on 'sqlite_development'"), error
    assert "waited 1.5s" in error
    assert targets.ledger() == []
    assert fleet.history() == []
    assert _markers(targets) == {}


# -- rollback --to: planned under the lock -----------------------------------------------------

# A rollback that takes a moment, so that the second process plans while the first runs.
SLOW = {
    "postgresql": "SELECT pg_sleep(0.5);\n",
    "mysql": "DO SLEEP(0.5);\n",
    "sqlite": (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) "
        "SELECT COUNT(*) FROM c;\n"
    ),
}


def test_two_rollbacks_to_the_same_migration_roll_back_each_once(targets, tmp_path):
    fleet = Fleet(targets, tmp_path)
    targets.execute("development", MARKER_TABLE)
    ids = ["001_first", "002_second", "003_third", "004_fourth"]
    for migration_id in ids:
        down = f"DELETE FROM apply_marker WHERE migration = '{migration_id}';\n"
        fleet.write(migration_id, _marker(migration_id))
        (fleet.migrations / migration_id / "down.sql").write_text(SLOW[targets.engine] + down)
    assert answer(fleet.start())[0] == 0
    racers = [fleet.start("serve") for _ in range(2)]
    for process in racers:
        assert process.stdout.readline() == "ready\n", process.stderr.read()
    for process in racers:
        process.stdin.write("rollback-to 001_first\n")
        process.stdin.flush()

    outcomes = [answer(process) for process in racers]

    assert [status for status, _, _ in outcomes] == [0, 0], outcomes
    for process in racers:
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    assert _markers(targets) == {"001_first": 1}
    assert _live_rows(targets) == {"001_first": 1}
    assert len(targets.ledger()) == 1  # a rollback removes the rolled-back migration's row
    rollbacks = Counter(record[0] for record in fleet.history() if record[1] == "rollback")
    assert rollbacks == dict.fromkeys(ids[1:], 1)
