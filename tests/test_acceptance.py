"""Acceptance of issue 6 with real processes: one applier at a time, crash safety.

Child processes run ``apply_schema_migration --all`` as a deploy would (tests/apply_process.py),
against the same targets as the test, sharing one app database file.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.processes import Fleet, answer
from tests.settings import SCHEMA_MANAGER

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

APPLIERS = 8
ROUNDS = 5
# An applier waits at most LOCK_WAIT for the others, plus its own work.
WAIT_BOUND = SCHEMA_MANAGER["LOCK_WAIT"] + 5


def _round_migrations(fleet: Fleet, round_: int) -> list[str]:
    ids = []
    for step in range(1, 4):
        migration_id = f"{round_:02d}{step}_round_{round_}_step_{step}"
        fleet.write(
            migration_id,
            f"CREATE TABLE r{round_}_s{step} (id INTEGER PRIMARY KEY);\n"
            f"INSERT INTO apply_marker (migration) VALUES ('{migration_id}');\n",
        )
        ids.append(migration_id)
    return ids


def test_concurrent_appliers_apply_each_migration_exactly_once(targets, tmp_path):
    fleet = Fleet(targets, tmp_path)
    targets.execute("development", "CREATE TABLE apply_marker (migration VARCHAR(64) NOT NULL)")
    expected: list[str] = []
    appliers = [fleet.start("serve") for _ in range(APPLIERS)]
    for round_ in range(1, ROUNDS + 1):
        expected += _round_migrations(fleet, round_)
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
