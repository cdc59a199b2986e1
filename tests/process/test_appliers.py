"""Acceptance of issue 6 with real processes: one applier at a time, crash safety.

Child processes run ``apply_schema_migration --all`` as a deploy would (tests/apply_process.py),
against the same targets as the test, sharing one app database file.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter

import pytest
from django.core.management import call_command

from tests.processes import RELEASE_LOCKS, Fleet, answer, kill_started
from tests.settings import SCHEMA_MANAGER

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture(autouse=True)
def _no_stray_children():
    yield
    kill_started()


APPLIERS = 8
ROUNDS = 5
# An applier waits at most LOCK_WAIT for the others, plus its own work.
WAIT_BOUND = SCHEMA_MANAGER["LOCK_WAIT"] + 5


PREEXISTING_ROWS = 100


def _round_migrations(fleet: Fleet, round_: int, engine: str) -> list[str]:
    """Three migrations: the first releases the session's locks (as hostile SQL may), the
    second touches objects that existed before it with IF NOT EXISTS."""
    touch = (
        "CREATE TABLE IF NOT EXISTS preexisting (id INTEGER PRIMARY KEY, note VARCHAR(20));\n"
        "CREATE INDEX IF NOT EXISTS preexisting_note ON preexisting (note);\n"
    )
    extra = {1: RELEASE_LOCKS[engine], 2: touch}
    ids = []
    for step in range(1, 4):
        migration_id = f"{round_:02d}{step}_round_{round_}_step_{step}"
        fleet.write(
            migration_id,
            extra.get(step, "") + f"CREATE TABLE r{round_}_s{step} (id INTEGER PRIMARY KEY);\n"
            f"INSERT INTO apply_marker (migration) VALUES ('{migration_id}');\n",
        )
        ids.append(migration_id)
    return ids


def test_concurrent_appliers_apply_each_migration_exactly_once(targets, tmp_path):
    fleet = Fleet(targets, tmp_path)
    targets.execute("development", "CREATE TABLE apply_marker (migration VARCHAR(64) NOT NULL)")
    targets.execute(
        "development", "CREATE TABLE preexisting (id INTEGER PRIMARY KEY, note VARCHAR(20))"
    )
    targets.execute("development", "CREATE INDEX preexisting_note ON preexisting (note)")
    targets.execute(
        "development",
        "INSERT INTO preexisting (id, note) VALUES "
        + ", ".join(f"({n}, 'row {n}')" for n in range(1, PREEXISTING_ROWS + 1)),
    )
    expected: list[str] = []
    appliers = [fleet.start("serve") for _ in range(APPLIERS)]
    for round_ in range(1, ROUNDS + 1):
        expected += _round_migrations(fleet, round_, targets.engine)
        for process in appliers:  # all at once: each starts its apply on reading the line
            process.stdin.write("apply\n")
            process.stdin.flush()
        for process in appliers:
            status, elapsed, error = answer(process)
            assert status == 0, error
            assert elapsed < WAIT_BOUND
    for process in appliers:
        process.stdin.close()
        assert process.wait(timeout=30) == 0, process.stderr.read()

    markers = targets.fetch(
        "development", "SELECT migration, COUNT(*) FROM apply_marker GROUP BY migration"
    )
    assert dict(markers) == dict.fromkeys(expected, 1)
    ledger = targets.ledger()
    assert sorted(row["migration_name"] for row in ledger) == expected
    assert all(row["finished_at"] and row["rolled_back_at"] is None for row in ledger)
    history = fleet.history()
    assert Counter(record[0] for record in history) == dict.fromkeys(expected, 1)
    assert {record[1:3] for record in history} == {("apply", "applied")}
    assert targets.fetch("development", "SELECT COUNT(*) FROM preexisting") == [(PREEXISTING_ROWS,)]
    assert "preexisting_note" in targets.indexes("preexisting")


# -- kill -9 at random moments ---------------------------------------------------------------

KILLS = {"postgresql": 8, "sqlite": 6, "mysql": 6}  # 20 random moments in all
KEPT_ROWS = 1000


def _kept_table(targets) -> None:
    """A table with rows and a unique index, made by hand before any migration: the
    migrations touch it only with IF [NOT] EXISTS, so every kill and recovery must keep it."""
    targets.execute("development", "CREATE TABLE keep (id INTEGER PRIMARY KEY, note VARCHAR(20))")
    targets.execute("development", "CREATE UNIQUE INDEX keep_note ON keep (note)")
    with targets.connection().cursor() as cursor:
        cursor.executemany(
            "INSERT INTO keep (id, note) VALUES (%s, %s)",
            [(n, f"n{n}") for n in range(1, KEPT_ROWS + 1)],
        )


def _assert_kept(targets) -> None:
    [(rows, notes)] = targets.fetch("development", "SELECT COUNT(*), COUNT(note) FROM keep")
    assert (rows, notes) == (KEPT_ROWS, KEPT_ROWS)
    assert "keep_note" in targets.indexes("keep")


def _kill_set(fleet: Fleet, engine: str, kill: int) -> list[str]:
    """Three migrations, new ids for every kill. Each creates a table and its index, touches
    ``keep`` with IF [NOT] EXISTS, and ends with an INSERT. On PostgreSQL the third runs
    statement by statement (no-transaction), its CREATE INDEX CONCURRENTLY IF NOT EXISTS
    naming keep's existing index."""
    ids = []
    for step in range(1, 4):
        migration_id = f"{kill:02d}{step}_kill_{kill}_step_{step}"
        table = f"k{kill}_s{step}"
        stepwise = engine == "postgresql" and step == 3
        index = "INDEX CONCURRENTLY" if stepwise else "INDEX"
        fleet.write(
            migration_id,
            ("-- schema-manager: no-transaction\n" if stepwise else "")
            + f"CREATE TABLE IF NOT EXISTS keep (id INTEGER PRIMARY KEY, note VARCHAR(20));\n"
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, note VARCHAR(20));\n"
            f"CREATE {index} IF NOT EXISTS keep_note ON keep (note);\n"
            f"DROP TABLE IF EXISTS ghost_{kill};\n"
            f"CREATE {index} {table}_note ON {table} (note);\n"
            f"INSERT INTO apply_marker (migration) VALUES ('{migration_id}');\n",
        )
        ids.append(migration_id)
    return ids


def _states(targets, ids: list[str]) -> dict[str, str]:
    """Each migration wholly 'applied' or wholly 'absent'; anything else is 'partial'."""
    tables = targets.tables()
    markers = Counter(row[0] for row in targets.fetch("development", "SELECT * FROM apply_marker"))
    applied = Counter(row["migration_name"] for row in targets.ledger() if row["finished_at"])
    states = {}
    for migration_id in ids:
        table = "k{}_s{}".format(*migration_id.split("_")[2:5:2])
        facts = (
            table in tables and f"{table}_note" in targets.indexes(table),
            markers[migration_id],
            applied[migration_id],
        )
        states[migration_id] = {(True, 1, 1): "applied", (False, 0, 0): "absent"}.get(
            facts, f"partial {facts}"
        )
    return states


def _kill_and_converge(targets, process, ids: list[str], delay: float | None) -> bool:
    """Let ``process`` (a ready ``serve`` applier) apply, kill it after ``delay``, converge.

    True if the kill interrupted the apply.
    """
    process.stdin.write("apply\n")
    process.stdin.flush()
    if delay is not None:
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
    else:
        process.stdin.close()
    process.wait(timeout=60)
    finished = "done " in process.stdout.read()  # the kill came after the apply had ended
    if targets.engine != "mysql":
        # Transactional DDL: each migration is there wholly or not at all, right after the
        # kill (but for PostgreSQL's no-transaction third one).
        states = _states(targets, ids[:2] if targets.engine == "postgresql" else ids)
        assert set(states.values()) <= {"applied", "absent"}, (targets.engine, states)
    _assert_kept(targets)
    # The next apply converges in one command (run here, saving a process start-up); an
    # interrupted statement-by-statement attempt is first finished or compensated.
    call_command("apply_schema_migration", "--all", verbosity=0)
    assert set(_states(targets, ids).values()) == {"applied"}
    _assert_kept(targets)
    return process.returncode == -signal.SIGKILL and not finished


def _ready(process):
    assert process.stdout.readline() == "ready\n", process.stderr.read()
    return process


def test_kill_at_random_moments_then_the_next_apply_converges(targets, tmp_path):
    fleet = Fleet(targets, tmp_path)
    targets.execute("development", "CREATE TABLE apply_marker (migration VARCHAR(64) NOT NULL)")
    _kept_table(targets)
    # Calibrate: how long one apply of a set takes here, so the kills land inside it.
    calibration = _ready(fleet.start("serve"))
    calibration_ids = _kill_set(fleet, targets.engine, 0)
    calibration.stdin.write("apply\n")
    calibration.stdin.flush()
    status, window, error = answer(calibration)
    assert status == 0, error
    calibration.stdin.close()
    calibration.wait(timeout=30)
    assert set(_states(targets, calibration_ids).values()) == {"applied"}

    rng = random.Random(6)
    interrupted = 0
    following = fleet.start("serve")
    for kill in range(1, KILLS[targets.engine] + 1):
        process = _ready(following)
        following = fleet.start("serve")  # starts up while this one is killed and checked
        ids = _kill_set(fleet, targets.engine, kill)
        interrupted += _kill_and_converge(targets, process, ids, rng.uniform(0, window))
    # Most moments fall inside the apply (some may come just after a fast one).
    assert interrupted >= KILLS[targets.engine] // 2

    # And at the commit itself, through the executor's test hook.
    following.kill()
    following.wait()
    ids = _kill_set(fleet, targets.engine, 99)
    crash = fleet.start("serve", SCHEMA_MANAGER_TEST_CRASH_AT="before-commit")
    assert _kill_and_converge(targets, _ready(crash), ids, None)
    ledger = targets.ledger()
    assert len([row for row in ledger if row["finished_at"]]) == len(set(_all_ids(ledger)))
    markers = Counter(row[0] for row in targets.fetch("development", "SELECT * FROM apply_marker"))
    assert set(markers.values()) == {1}
    if targets.engine == "mysql":
        # The attempt killed at its commit was recovered and says so.
        assert any("Interrupted:" in (row["logs"] or "") for row in ledger)


def _all_ids(ledger: list[dict]) -> list[str]:
    return [row["migration_name"] for row in ledger]


# -- CONCURRENTLY while another applier waits -------------------------------------------------


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_concurrent_index_build_completes_while_another_applier_waits(targets, tmp_path):
    import psycopg

    from tests.settings import POSTGRES_SCHEMAS, POSTGRES_URL

    fleet = Fleet(targets, tmp_path)
    targets.execute("development", "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    fleet.write("001_email_index", "CREATE INDEX CONCURRENTLY users_email ON users (email);\n")
    first, second = _ready(fleet.start("serve")), _ready(fleet.start("serve"))
    # A writer in an open transaction: CREATE INDEX CONCURRENTLY must wait for it to end.
    writer = psycopg.connect(
        POSTGRES_URL, options=f"-c search_path={POSTGRES_SCHEMAS['development']}"
    )
    try:
        writer.execute("INSERT INTO users VALUES (1, 'a@example.com')")
        first.stdin.write("apply\n")
        first.stdin.flush()
        _wait_for_activity(targets, "CREATE INDEX CONCURRENTLY%")
        second.stdin.write("apply\n")  # waits for the migration lock, polling
        second.stdin.flush()
        time.sleep(1.0)
        assert first.poll() is None
        assert second.poll() is None
        writer.commit()  # the index build finishes although the second applier is waiting
    finally:
        writer.close()  # never leave a transaction open to block the session's teardown

    for process in (first, second):
        status, elapsed, error = answer(process)
        assert status == 0, error
        assert elapsed < WAIT_BOUND
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    [row] = targets.ledger()
    assert row["finished_at"] is not None
    [(valid,)] = targets.fetch(
        "development",
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email'::regclass",
    )
    assert valid is True


def _wait_for_activity(targets, pattern: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = targets.fetch(
            "development",
            "SELECT 1 FROM pg_stat_activity WHERE query LIKE %s AND state = 'active'",
            [pattern],
        )
        if rows:
            return
        time.sleep(0.05)
    raise AssertionError(f"no query like {pattern!r} started within {timeout}s")
