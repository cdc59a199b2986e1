"""Stale attempts: an attempt left by a dead process is recovered from its journal, or
left for an operator without one."""

from __future__ import annotations

import pytest

from schema_manager import Migration, VersionRecord
from schema_manager.backends import get_backend
from schema_manager.checksums import migration_checksum
from schema_manager.execution import journal
from schema_manager.ledger import Ledger
from schema_manager.ledger_rows import utc_now

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


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
    # The dead attempt's row is gone (nothing of it remains); history keeps it.
    [row] = mysql_targets.ledger()
    assert row["id"] != stale
    assert row["finished_at"] is not None
    assert row["logs"] is None
    interrupted, applied = VersionRecord.objects.order_by("id")
    assert (interrupted.status, interrupted.recovery, interrupted.ledger_id) == (
        "failed",
        "interrupted",
        stale,
    )
    assert "Interrupted: the process applying this migration died after 1 of 3" in (
        interrupted.error
    )
    assert (applied.status, applied.recovery) == ("applied", "")


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
