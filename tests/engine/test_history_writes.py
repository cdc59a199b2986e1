"""History records written while the target runs the next migration (PostgreSQL app database).

The app's history table is put in a PostgreSQL schema (``pg_production``'s) for these tests, as
an app database on PostgreSQL has it; the migrations run on the ``staging`` target.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.db import connections, transaction

from schema_manager import Migration, SchemaManager, VersionRecord, history_writes, services
from schema_manager.history_writes import OverlappedRecordWriter, RecordWriter, writer_for
from tests.routers import move_model
from tests.utils import catalogue

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def postgres_history(postgres_targets, monkeypatch):
    alias = move_model(VersionRecord, postgres_targets.alias("production"), monkeypatch)
    # Overlapped from the second migration, so that short plans exercise it.
    monkeypatch.setattr(history_writes, "OVERLAP_FROM", 2)
    return alias


@pytest.fixture
def writers(monkeypatch) -> list[RecordWriter]:
    """Every writer a batch chose, in order."""
    chosen: list[RecordWriter] = []

    def spy(model, plan_length: int, target_alias: str | None = None) -> RecordWriter:
        chosen.append(writer_for(model, plan_length, target_alias))
        return chosen[-1]

    monkeypatch.setattr("schema_manager.execution.session.history_writes.writer_for", spy)
    return chosen


TABLE = VersionRecord._meta.db_table


def refuse_records_of(targets, migration_id: str) -> None:
    """A trigger on the history table (in production's schema) refusing that migration's."""
    targets.execute(
        "production",
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.migration_id = '{migration_id}' THEN "
        "RAISE EXCEPTION 'history is read-only'; END IF; RETURN NEW; END $$",
    )
    targets.execute(
        "production",
        f"CREATE TRIGGER refuse BEFORE INSERT ON {TABLE} FOR EACH ROW EXECUTE FUNCTION refuse()",
    )


def fields(**overrides) -> dict:
    return {
        "migration_id": "001_step",
        "name": "step",
        "database": "pg_staging",
        "status": VersionRecord.Status.APPLIED,
        "checksum": "c" * 64,
        "applied_by": "deploy",
        "execution_time": 0.25,
        **overrides,
    }


def key(ledger_id: str = "row-1") -> dict:
    return {"environment": "staging", "ledger_id": ledger_id, "operation": "apply"}


def test_a_batch_writes_every_record_on_its_own_connection_and_closes_it(
    postgres_targets, postgres_history, writers, manager: SchemaManager
):
    plan = catalogue(0, 5)
    results = services.apply(plan, "staging", applied_by="deploy")
    assert [r.success for r in results] == [True] * 5

    [writer] = writers
    assert isinstance(writer, OverlappedRecordWriter)
    # The history's database is the target's server: the target's commits flush the records.
    assert writer.flushed_by_target
    assert writer.wrapper.connection is None  # closed when the batch ended
    records = list(VersionRecord.objects.order_by("migration_id"))
    assert [r.migration_id for r in records] == [m.id for m in plan]
    assert {(r.status, r.applied_by, r.reconciled) for r in records} == {
        ("applied", "deploy", False)
    }
    assert all(r.execution_time > 0 for r in records)
    # Each result's record is the row written, with its id.
    assert [r.record.pk for r in results] == [r.pk for r in records]
    ledger = {row["id"]: row["migration_name"] for row in postgres_targets.ledger("staging")}
    assert {r.ledger_id: r.migration_id for r in records} == ledger

    ids = [m.id for m in reversed(plan)]
    results = services.rollback(ids, "staging", applied_by="deploy")
    assert [r.success for r in results] == [True] * 5
    assert isinstance(writers[-1], OverlappedRecordWriter)
    rolled_back = VersionRecord.objects.filter(status="rolled_back")
    assert sorted(rolled_back.values_list("migration_id", flat=True)) == sorted(ids)
    assert [r.record.pk for r in results] == list(
        rolled_back.order_by("-migration_id").values_list("pk", flat=True)
    )


def test_a_record_that_cannot_be_written_stops_the_batch_before_the_next_commit(
    postgres_targets, postgres_history, manager: SchemaManager
):
    refuse_records_of(postgres_targets, "001_step")
    plan = catalogue(0, 4)

    results = first = services.apply(plan, "staging", applied_by="deploy")

    # 001 committed before its record failed, and says so; 002 ran but was rolled back,
    # unrecorded, and says why.
    assert [r.success for r in results] == [True, True, False]
    assert results[1].message.startswith(
        "Migration 001_step applied in staging; its history record could not be written: "
    )
    assert "history is read-only" in results[1].history_error
    assert results[1].message.endswith("; it will be rebuilt from the ledger.")
    assert results[2].message.startswith(
        "Migration 002_step was not applied to staging (it was rolled back before its commit, "
        "as history could not be written): Migration 001_step applied in staging;"
    )
    ledger = postgres_targets.ledger("staging")
    assert [row["migration_name"] for row in ledger] == ["000_step", "001_step"]
    assert "t2" not in postgres_targets.tables("staging")
    assert list(VersionRecord.objects.values_list("migration_id", flat=True)) == ["000_step"]

    # Once history can be written again, the next operation rebuilds 001's record from the
    # ledger and the plan carries on from 002.
    postgres_targets.execute("production", f"DROP TRIGGER refuse ON {TABLE}")
    results = services.apply(plan[2:], "staging")
    assert [r.success for r in results] == [True, True]
    records = {r.migration_id: r.reconciled for r in VersionRecord.objects.all()}
    assert records == {"000_step": False, "001_step": True, "002_step": False, "003_step": False}
    # Rebuilt with what the ledger does not hold, kept on the target meanwhile.
    rebuilt = VersionRecord.objects.get(migration_id="001_step")
    assert (rebuilt.applied_by, rebuilt.rollback_script) == ("deploy", "DROP TABLE t1;")
    assert rebuilt.execution_time == first[1].execution_time


def test_a_failure_after_an_unwritten_record_is_still_in_history(
    postgres_targets, postgres_history, manager: SchemaManager
):
    refuse_records_of(postgres_targets, "001_step")
    plan = catalogue(0, 2)
    broken = Migration(id="002_step", name="step", sql="INSERT INTO missing VALUES (1);\n")

    results = services.apply([*plan, broken], "staging")
    assert [r.success for r in results] == [True, True, False]
    assert "history is read-only" in results[1].history_error

    # 002 failed while 001's record could not be written: 001 is in the ledger, so the next
    # operation's reconciliation puts it in history; 002 left nothing, so no ledger row, and
    # its own record (not refused) is in history already.
    ledger = {row["migration_name"]: row for row in postgres_targets.ledger("staging")}
    assert ledger["001_step"]["finished_at"] is not None
    assert "002_step" not in ledger
    postgres_targets.execute("production", f"DROP TRIGGER refuse ON {TABLE}")
    services.status("staging")
    records = {(r.migration_id, r.status, r.reconciled) for r in VersionRecord.objects.all()}
    assert records == {
        ("000_step", "applied", False),
        ("001_step", "applied", True),
        ("002_step", "failed", False),
    }


def test_a_record_reconciled_meanwhile_is_replaced_by_the_appliers_own(postgres_history):
    reconciled = VersionRecord.objects.create(**key(), **fields(applied_by=""), reconciled=True)
    writer = OverlappedRecordWriter(VersionRecord, postgres_history)
    try:
        record = writer.write(key(), fields())
        writer.settle()
    finally:
        writer.close()
    [row] = VersionRecord.objects.all()
    assert row.pk == record.pk == reconciled.pk
    assert (row.applied_by, row.reconciled) == ("deploy", False)


def test_a_record_whose_connection_died_is_written_exactly_once(postgres_history):
    writer = OverlappedRecordWriter(VersionRecord, postgres_history)
    try:
        first = writer.write(key("row-1"), fields())
        writer.settle()
        pid = writer.wrapper.connection.info.backend_pid
        record = writer.write(key("row-2"), fields(migration_id="002_step"))
        # Killed with the INSERT in flight: whether it committed or not, settling writes it
        # through the app's own connection, once.
        with connections[postgres_history].cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        writer.settle()
        # The writer carries on through the app's own connection.
        third = writer.write(key("row-3"), fields(migration_id="003_step"))
        writer.settle()
    finally:
        writer.close()
    rows = list(VersionRecord.objects.order_by("migration_id"))
    assert [r.ledger_id for r in rows] == ["row-1", "row-2", "row-3"]
    assert [first.pk, record.pk, third.pk] == [r.pk for r in rows]


def test_short_plans_and_other_app_databases_write_each_record_as_it_comes(monkeypatch):
    # The app database of these tests is SQLite.
    assert type(writer_for(VersionRecord, 10_000)) is RecordWriter
    monkeypatch.setattr(history_writes, "OVERLAP_FROM", 50)
    assert type(writer_for(VersionRecord, 49)) is RecordWriter


def test_every_field_reaches_the_table_as_written(postgres_history):
    applied_at = datetime(2026, 11, 24, 7, 5, 1, 123456, tzinfo=timezone(timedelta(hours=2)))
    written = fields(
        name='it\'s a "quoted" \\ back-slashed, ünïcode name; DROP TABLE x; --',
        applied_at=applied_at,
        execution_time=0.000123,
        rollback_script="DROP TABLE t;\n-- $$ not a dollar quote $$\n",
        rollback_generated=True,
        error="",
        faked=True,
    )
    writer = OverlappedRecordWriter(VersionRecord, postgres_history)
    try:
        record = writer.write(key(), written)
        writer.settle()
    finally:
        writer.close()
    row = VersionRecord.objects.get()
    assert row.pk == record.pk
    for name, value in {**key(), **written}.items():
        assert getattr(row, name) == value, name
    assert row.recorded_at == record.recorded_at
    assert row.rolled_back_at is None
    assert row.reconciled is False


def test_inside_a_transaction_on_the_app_database_records_belong_to_it(postgres_history):
    with transaction.atomic(using=postgres_history):
        assert type(writer_for(VersionRecord, 100)) is RecordWriter
    writer = writer_for(VersionRecord, 100)
    writer.close()
    assert type(writer) is OverlappedRecordWriter


def test_the_last_record_refused_as_the_batch_ends_is_told_on_its_result(
    postgres_targets, postgres_history, manager: SchemaManager
):
    refuse_records_of(postgres_targets, "003_step")
    plan = catalogue(0, 4)

    results = services.apply(plan, "staging", applied_by="deploy")

    assert [r.success for r in results] == [True] * 4
    assert [bool(r.history_error) for r in results] == [False, False, False, True]
    assert results[3].message.startswith(
        "Migration 003_step applied in staging; its history record could not be written: "
    )
    postgres_targets.execute("production", f"DROP TRIGGER refuse ON {TABLE}")
    services.status("staging")
    rebuilt = VersionRecord.objects.get(migration_id="003_step")
    assert (rebuilt.reconciled, rebuilt.applied_by) == (True, "deploy")


def spy_on(sent: list[str]):
    def spy(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    return spy


def synchronous_commit(writer: OverlappedRecordWriter) -> str:
    with writer.wrapper.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_on_the_targets_own_server_a_record_leaves_its_flush_to_the_targets_next_commit(
    postgres_targets, postgres_history
):
    writer = writer_for(VersionRecord, 100, postgres_targets.alias("staging"))
    sent: list[str] = []
    try:
        assert isinstance(writer, OverlappedRecordWriter)
        assert writer.flushed_by_target
        assert synchronous_commit(writer) == "off"
        record = writer.write(key(), fields())
        writer.settle()
        with writer.wrapper.execute_wrapper(spy_on(sent)):
            writer.close()
    finally:
        writer.wrapper.close()
    assert VersionRecord.objects.get().pk == record.pk
    # Closing flushes the log past the last record: a transaction with an id, committed
    # with synchronous_commit on.
    assert sent == [history_writes.FLUSH]


def test_without_a_target_on_its_server_each_record_waits_for_its_own_flush(
    postgres_targets, postgres_history
):
    for target in (None, "sqlite_staging"):
        writer = writer_for(VersionRecord, 100, target)
        try:
            assert isinstance(writer, OverlappedRecordWriter)
            assert not writer.flushed_by_target
            assert synchronous_commit(writer) == "on"
        finally:
            writer.close()


def test_plans_inside_kept_share_one_writer_and_each_plans_records_are_flushed_at_its_end(
    postgres_targets, postgres_history, writers, monkeypatch
):
    monkeypatch.setattr(history_writes, "OVERLAP_FROM", 32)  # short plans: their own writer
    plan = catalogue(0, 4)
    staging = postgres_targets.alias("staging")
    with history_writes.kept():
        for migrations in (plan[:2], plan[2:]):
            results = services.apply(migrations, "staging", applied_by="deploy")
            assert [r.success for r in results] == [True, True]
            # Written, committed and flushed when the plan returns.
            assert (
                VersionRecord.objects.filter(migration_id__in=[m.id for m in migrations]).count()
                == 2
            )
            # Flushed in a transaction of its own; the session's setting kept for the next.
            assert synchronous_commit(writers[-1].writer) == "off"
        first, second = writers
        assert first.writer is second.writer  # one connection for both plans
        wrapper = first.writer.wrapper
        assert wrapper.connection is not None
        # One question of the app's server for both plans, one of the target's per plan.
        sent: list[str] = []
        with wrapper.execute_wrapper(spy_on(sent)):
            first.writer.aim(staging)
            first.writer.finish()
        assert sent == [history_writes.FLUSH]
    assert wrapper.connection is None  # closed when the block ends
    assert [r.migration_id for r in VersionRecord.objects.order_by("migration_id")] == [
        m.id for m in plan
    ]


def test_outside_kept_a_short_plan_writes_each_record_as_it_comes(
    postgres_targets, postgres_history, writers, monkeypatch
):
    monkeypatch.setattr(history_writes, "OVERLAP_FROM", 32)
    services.apply(catalogue(0, 2), "staging", applied_by="deploy")
    assert [type(writer) for writer in writers] == [RecordWriter]


def test_a_kept_writer_aimed_next_at_a_target_on_another_server_waits_for_its_own_flush(
    postgres_targets, postgres_history
):
    """A fleet task's writer serves targets of several servers in turn: after a target on
    its own server (whose commits flush its records), a target elsewhere flushes nothing of
    the app's, so each record's commit must wait for its own flush again."""
    with history_writes.kept():
        writer = writer_for(VersionRecord, 100, postgres_targets.alias("staging")).writer
        assert writer.flushed_by_target
        assert synchronous_commit(writer) == "off"
        writer.aim("sqlite_staging")
        assert not writer.flushed_by_target
        assert synchronous_commit(writer) == "on"
        writer.aim(postgres_targets.alias("staging"))
        assert synchronous_commit(writer) == "off"
