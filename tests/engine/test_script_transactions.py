"""Scripts that control their own transactions run as written, as Prisma and psql run them:
their blocks are their own, what a COMMIT commits stays, and a failure part-way leaves the
ledger row unfinished, as `prisma migrate deploy` leaves it."""

from __future__ import annotations

import pytest

from schema_manager import Migration, SchemaManager
from schema_manager.rehearsal import rehearse

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

# Several blocks, both spellings, statements outside any block, and a block the script itself
# rolls back (its table is not created: the script says so).
BLOCKS = """
CREATE TABLE before_blocks (id INTEGER);
BEGIN;
CREATE TABLE first_block (id INTEGER);
INSERT INTO first_block VALUES (1);
COMMIT;
START TRANSACTION;
CREATE TABLE second_block (id INTEGER);
COMMIT;
BEGIN;
INSERT INTO first_block VALUES (2);
ROLLBACK;
CREATE TABLE after_blocks (id INTEGER);
"""


def _blocks(engine: str) -> str:
    # SQLite spells START TRANSACTION as BEGIN TRANSACTION.
    return BLOCKS.replace("START", "BEGIN") if engine == "sqlite" else BLOCKS


def _apply(migration_id: str, sql: str, environment: str = "development"):
    return SchemaManager().apply_migration_sync(
        Migration(id=migration_id, name=migration_id, sql=sql), environment
    )


def test_a_script_with_its_own_blocks_runs_as_written(targets):
    result = _apply("001_blocks", _blocks(targets.engine))

    assert result.success, result.error
    assert {"before_blocks", "first_block", "second_block", "after_blocks"} <= targets.tables()
    assert targets.fetch("development", "SELECT id FROM first_block") == [(1,)]
    [row] = targets.ledger()
    assert (row["migration_name"], row["logs"], row["rolled_back_at"]) == ("001_blocks", None, None)
    assert row["finished_at"] is not None
    assert row["applied_steps_count"] == 1
    assert any("control of its own transactions" in warning for warning in result.warnings)
    assert not any("BEGIN" in warning or "COMMIT" in warning for warning in result.warnings[1:])


FAILS_IN_SECOND_BLOCK = """
BEGIN;
CREATE TABLE kept (id INTEGER);
COMMIT;
BEGIN;
INSERT INTO kept VALUES (1);
INSERT INTO missing_table VALUES (1);
COMMIT;
"""


def test_a_failure_after_a_commit_keeps_what_was_committed_and_blocks_like_prisma(targets):
    result = _apply("001_partly", FAILS_IN_SECOND_BLOCK)

    assert not result.success
    assert "missing_table" in result.error
    assert result.message.startswith(
        "Migration 001_partly failed in development; the script controls its own "
        "transactions, so what its COMMITs committed before the failure stays applied."
    )
    assert "kept" in targets.tables()  # committed by the script's first block
    assert targets.fetch("development", "SELECT id FROM kept") == []  # the failed block's
    [row] = targets.ledger()
    assert (row["finished_at"], row["rolled_back_at"]) == (None, None)  # unresolved, as Prisma
    assert "missing_table" in row["logs"]
    assert "resolve the migration" in row["logs"]

    again = _apply("001_partly", FAILS_IN_SECOND_BLOCK)
    assert not again.success
    assert len(targets.ledger()) == 1  # nothing ran again


def test_a_transaction_left_open_is_rolled_back_and_fails(targets):
    sql = "CREATE TABLE t0 (id INTEGER);\nBEGIN;\nINSERT INTO t0 VALUES (1);\n"
    result = _apply("001_open", sql)

    assert not result.success
    assert "left a transaction open" in result.error
    if "t0" in targets.tables():  # on PostgreSQL the table joined the block, rolled back too
        assert targets.fetch("development", "SELECT id FROM t0") == []
    [row] = targets.ledger()
    assert row["finished_at"] is None


def test_later_migrations_run_in_their_own_transaction_again(targets):
    assert _apply("001_blocks", _blocks(targets.engine)).success
    failing = "CREATE TABLE atomic_again (id INTEGER);\nINSERT INTO nope VALUES (1);\n"

    result = _apply("002_fails", failing)

    assert not result.success
    if targets.engine != "mysql":
        assert "atomic_again" not in targets.tables()
        assert "nothing of it remains" in result.message


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)
def test_the_rehearsal_leaves_the_scripts_transaction_control_out(targets):
    rehearsal = rehearse(targets.alias("development"), _blocks(targets.engine))

    assert rehearsal.ran
    assert rehearsal.error is None, rehearsal.error
    assert "controls the transaction and was left out" in rehearsal.notes[0]
    assert "first_block" not in targets.tables()  # rolled back: the COMMIT never ran


def test_a_rollback_script_with_its_own_transactions_is_refused_before_it_runs(targets):
    migration = Migration(
        id="001_t",
        name="t",
        sql="CREATE TABLE t (id INTEGER);",
        rollback_sql="BEGIN;\nDROP TABLE t;\nCOMMIT;",
    )
    manager = SchemaManager()
    assert manager.apply_migration_sync(migration).success

    result = manager.rollback_migration_sync("001_t")

    assert not result.success
    assert "has its own BEGIN / COMMIT / ROLLBACK" in result.message
    assert "t" in targets.tables()
