"""A plan applied or rolled back as one batch: what each migration costs, and what it must not.

``services.apply`` / ``services.rollback`` read the ledger, catalogue and
history once per plan; each migration then costs its statements, its ledger row and one
history INSERT. Counted on real connections (Django's query log; BEGIN/COMMIT are not in it).
"""

from __future__ import annotations

import pytest
from django.db import connections, transaction

from schema_manager import Migration, SchemaManager, VersionRecord, services
from schema_manager.backends import get_backend
from schema_manager.execution.executor import MigrationExecutor
from schema_manager.execution.session import ExecutionSession
from schema_manager.history import Operation, Status
from schema_manager.history_writes import write_record as _write
from schema_manager.ledger import Ledger
from schema_manager.targets import resolve
from tests.utils import catalogue, count_queries

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

# Statements only: Django versions differ in which BEGIN/COMMIT of bulk_create they log.
STATEMENTS = {"transaction_control": False}


def batch_queries(targets, call) -> dict[str, int]:
    with count_queries("default", targets.alias("staging")) as counts:
        results = call()
    assert results
    assert all(result.success for result in results), results[-1].message
    return counts


def test_each_migration_of_a_batch_costs_its_statements_ledger_row_and_one_record(
    targets, manager: SchemaManager
):
    # Staging: no schema.prisma sync, whose introspection (once per batch) grows with tables.
    alias = targets.alias("staging")
    # Warm-up: the first batch also creates the ledger table.
    assert services.apply(catalogue(90, 1), "staging")[0].success
    first, second = catalogue(0, 3), catalogue(3, 9)
    small = batch_queries(targets, lambda: services.apply(first, "staging"))
    large = batch_queries(targets, lambda: services.apply(second, "staging"))
    per_migration = {name: (large[name] - small[name]) / 6 for name in large}

    # The app's database: the history record, nothing else (catalogue and history are read
    # once per batch).
    assert per_migration["default"] == 1
    if targets.engine == "postgresql":
        # BEGIN, the two statements and the ledger row in one round trip, COMMIT: the lock
        # and the ledger reads are per batch.
        assert per_migration[alias] == 3
    assert len(targets.ledger("staging")) == 13
    assert VersionRecord.objects.filter(status="applied").count() == 13

    # Rolling back: one record per migration as well, and the script came with the batch.
    ids = [f"{i:03d}_step" for i in reversed(range(12))]
    few = batch_queries(targets, lambda: services.rollback(ids[:3], "staging"))
    many = batch_queries(targets, lambda: services.rollback(ids[3:], "staging"))
    assert (many["default"] - few["default"]) / 6 == 1
    if targets.engine == "postgresql":
        # BEGIN, DROP TABLE with the ledger row's rolled_back_at, COMMIT.
        assert (many[alias] - few[alias]) / 6 == 3
    assert [
        row["migration_name"] for row in targets.ledger("staging") if not row["rolled_back_at"]
    ] == ["090_step"]
    assert not {f"t{i}" for i in range(12)} & targets.tables("staging")


def test_a_batch_stops_at_the_first_failure_and_reports_each_result(
    targets, manager: SchemaManager
):
    plan = catalogue(0, 3)
    broken = Migration(id="001_broken", sql="CREATE TABLE t_ok (id INT);\nSELECT * FROM nowhere;")
    seen = []
    results = services.apply(
        [plan[0], broken, plan[2]], after_apply=lambda result: seen.append(result.migration_id)
    )

    assert [r.migration_id for r in results] == ["000_step", "001_broken"]
    assert seen == ["000_step", "001_broken"]
    assert results[0].success
    assert not results[1].success
    assert "t0" in targets.tables()
    assert "t2" not in targets.tables()
    assert "t_ok" not in targets.tables()
    # The failure is in history and in the ledger, as for a single apply.
    assert VersionRecord.objects.get(migration_id="001_broken").status == "failed"
    # The lock was released: the next batch runs.
    assert services.apply([plan[2]])[0].success


def test_before_apply_sees_each_validation_and_may_stop_the_batch(targets, manager):
    plan = catalogue(0, 3)
    asked = []

    class Declined(Exception):
        pass

    def before_apply(migration, validation):
        asked.append((migration.id, validation.is_valid, validation.rollback_script))
        if migration.id == "001_step":
            raise Declined

    with pytest.raises(Declined):
        services.apply(plan, before_apply=before_apply)

    assert asked == [("000_step", True, "DROP TABLE t0;"), ("001_step", True, "DROP TABLE t1;")]
    assert [row["migration_name"] for row in targets.ledger()] == ["000_step"]
    assert services.apply(plan[1:])[-1].success  # the lock was released


def test_validating_a_plan_reads_ledger_catalogue_and_history_once(targets, manager):
    services.apply(catalogue(0, 2))
    # 000_step is applied; a new migration reuses the id of 001_step with other SQL.
    clash = Migration(id="001_step", sql="CREATE TABLE other (id INT);")
    plan = [*catalogue(2, 8), clash]
    with count_queries("default", targets.alias("development"), **STATEMENTS) as counts:
        validations = services.validate(plan)

    assert [v.is_valid for v in validations] == [True] * 8 + [False]
    assert "already used with different SQL" in validations[-1].errors[0]
    # Constant: the ledger once (and the table's existence), the catalogue once, history in
    # three reads (the checksums applied; the environments of the one applied with other
    # SQL, then their records: the last two only when there is such an id), the stored
    # analyses once, and the new ones stored in one INSERT.
    assert counts["default"] == 6, counts
    assert counts[targets.alias("development")] <= 2

    # Validating again analyses nothing: the analyses are read, none is stored.
    with count_queries("default", targets.alias("development"), **STATEMENTS) as again:
        revalidated = services.validate(plan)
    assert [v.errors for v in revalidated] == [v.errors for v in validations]
    assert again["default"] == 5


def test_a_held_ledger_never_shows_a_row_whose_transaction_did_not_commit(postgres_targets):
    """The ledger row is written just before COMMIT; a constraint checked at COMMIT fails the
    migration after it. The batch's copy of the ledger must not keep the rolled-back row."""
    alias = postgres_targets.alias("development")
    session = ExecutionSession(resolve("development"))
    executor = MigrationExecutor(session)
    sql = (
        "CREATE TABLE parent (id INT PRIMARY KEY);\n"
        "CREATE TABLE child (parent_id INT REFERENCES parent (id) DEFERRABLE INITIALLY "
        "DEFERRED);\n"
        "INSERT INTO child VALUES (1);\n"
    )
    with session.hold(["001_deferred"]):
        outcome = executor.apply("001_deferred", sql, "c" * 64)
        held = executor.ledger.rows("001_deferred")
    on_disk = Ledger(get_backend(connections[alias])).rows("001_deferred")

    assert not outcome.success
    assert "foreign key" in outcome.error
    assert held == on_disk == []  # nothing of it remains: no row (history keeps it)


def test_a_record_written_by_a_reconciling_process_is_replaced_not_duplicated(targets):
    key = {"environment": "development", "ledger_id": "l-1", "operation": Operation.APPLY}
    reconciled = VersionRecord.objects.create(
        **key,
        migration_id="001_step",
        name="step",
        database="x",
        status=Status.APPLIED,
        checksum="c" * 64,
        reconciled=True,
    )
    fields = {
        "migration_id": "001_step",
        "name": "step",
        "database": "x",
        "status": Status.APPLIED,
        "checksum": "c" * 64,
        "applied_by": "ops",
    }
    # Inside a caller's transaction the refused INSERT stays in its savepoint.
    with transaction.atomic():
        record = _write(VersionRecord, key, fields)
        assert VersionRecord.objects.count() == 1

    assert record.pk == reconciled.pk
    [stored] = VersionRecord.objects.all()
    assert stored.applied_by == "ops"
    assert not stored.reconciled
    # Outside a transaction too; the applier's own record is then kept as it is.
    assert _write(VersionRecord, key, {**fields, "applied_by": "deploy"}).pk == reconciled.pk
    assert VersionRecord.objects.get().applied_by == "ops"
