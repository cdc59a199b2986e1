"""History at scale: reads whose number of queries does not grow with migrations or history.

Large histories are made with bulk_create and a bulk ledger insert (no applies), then the
same operation is counted on a small and on a large history: the counts must be equal.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections, transaction
from django.test import override_settings

from schema_manager import services
from schema_manager.backends import LEDGER_TABLE, get_backend
from schema_manager.checksums import migration_checksum
from schema_manager.ledger import Ledger
from schema_manager.ledger_rows import utc_now
from schema_manager.models import Migration, VersionRecord
from tests.conftest import Targets, _environment_settings
from tests.utils import count_queries

SQL = "CREATE TABLE t (id INTEGER PRIMARY KEY);\n"
CHECKSUM = migration_checksum(SQL)
MIGRATIONS = int(os.environ.get("SM_PERF_MIGRATIONS", 10_000))
RECORDS_PER_MIGRATION = 5  # 50,000 history records

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def bulk_history(targets, first: int, count: int, records_each: int) -> None:
    """``count`` migrations applied in development, each with ``records_each`` records.

    Rows go in with executemany: bulk_create's per-field preparation would take most of the
    test's time at 50,000 rows.
    """
    app = connections["default"]
    now = utc_now()
    migrations, records, ledger_rows = [], [], []
    backend = get_backend(targets.connection())
    Ledger(backend).ensure_table()
    for i in range(first, first + count):
        migration_id = f"{i:06d}_step"
        ledger_id = str(uuid.uuid4())
        when = now - timedelta(seconds=MIGRATIONS - i)
        app_when = app.ops.adapt_datetimefield_value(when)
        migrations.append([migration_id, "step", SQL, "", CHECKSUM, app_when, app_when])
        ledger_rows.append([ledger_id, CHECKSUM, backend.now_param(when), migration_id, 1])
        # Earlier failed attempts (their own ledger rows are left out), then the apply.
        for attempt in range(records_each):
            applied = attempt == records_each - 1
            records.append(
                [
                    migration_id,
                    "step",
                    "development",
                    targets.alias("development"),
                    "apply",
                    "applied" if applied else "failed",
                    app_when,
                    app_when if applied else None,
                    0.01,
                    CHECKSUM,
                    "DROP TABLE t;",
                    False,
                    "" if applied else "boom",
                    "bench",
                    ledger_id if applied else "",
                    False,
                ]
            )
    with transaction.atomic(using="default"), app.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {Migration._meta.db_table} (id, name, sql, rollback_sql, checksum, "
            "created_at, updated_at, kept_on_disk) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [[*migration, False] for migration in migrations],
        )
        cursor.executemany(
            f"INSERT INTO {VersionRecord._meta.db_table} (migration_id, name, environment, "
            "database, operation, status, recorded_at, applied_at, execution_time, checksum, "
            "rollback_script, rollback_generated, error, applied_by, ledger_id, reconciled, "
            f"faked, recovery) VALUES ({', '.join(['%s'] * 18)})",
            [[*record, False, ""] for record in records],
        )
    with (
        transaction.atomic(using=targets.alias("development")),
        targets.connection().cursor() as cursor,
    ):
        cursor.executemany(
            f"INSERT INTO {LEDGER_TABLE} (id, checksum, finished_at, migration_name, "
            "applied_steps_count, started_at) VALUES (%s, %s, %s, %s, %s, %s)",
            [[*row, row[2]] for row in ledger_rows],
        )


def status_queries(targets) -> tuple[dict[str, int], str]:
    out = StringIO()
    with count_queries("default", targets.alias("development")) as counts:
        call_command("schema_migration_status", stdout=out)
    return counts, out.getvalue()


@pytest.fixture
def sqlite_targets(tmp_path, transactional_db):
    """SQLite targets only: the scale tests count queries, which bulk setup on SQLite makes fast."""
    helper = Targets("sqlite")
    helper.reset()
    with override_settings(SCHEMA_MANAGER=_environment_settings(helper, tmp_path)):
        yield helper


def test_status_and_history_queries_do_not_grow_with_history(sqlite_targets, manager):
    targets = sqlite_targets
    bulk_history(targets, 0, 3, RECORDS_PER_MIGRATION)
    small_status, _ = status_queries(targets)
    with count_queries("default") as small_history:
        assert len(manager.get_version_history()) == 3 * RECORDS_PER_MIGRATION

    bulk_history(targets, 3, MIGRATIONS - 3, RECORDS_PER_MIGRATION)
    assert VersionRecord.objects.count() == MIGRATIONS * RECORDS_PER_MIGRATION
    large_status, output = status_queries(targets)
    with count_queries("default") as large_history:
        history = manager.get_version_history()

    assert large_status == small_status
    assert large_history == small_history == {"default": 1}
    assert len(history) == MIGRATIONS * RECORDS_PER_MIGRATION
    assert output.count("[  applied  ]") == MIGRATIONS
    # Nothing needed reconciling: every ledger row already had its record.
    assert not VersionRecord.objects.filter(reconciled=True).exists()
    # A person reads a page: one query, newest first.
    with count_queries("default") as page_queries:
        page = manager.get_version_history(limit=20)
    assert page_queries == {"default": 1}
    assert [r.migration_id for r in page[:1]] == [f"{MIGRATIONS - 1:06d}_step"]
    out = StringIO()
    call_command("schema_migration_history", "--limit", "5", stdout=out)
    assert out.getvalue().count("_step") == 5


def test_apply_queries_do_not_grow_with_history(sqlite_targets, manager):
    targets = sqlite_targets

    def apply_queries(migration_id: str) -> dict[str, int]:
        migration = Migration(id=migration_id, sql=f"CREATE TABLE t{migration_id[:6]} (id INT);")
        with count_queries("default", targets.alias("development")) as counts:
            assert manager.apply_migration_sync(migration).success
        return counts

    bulk_history(targets, 0, 3, 1)
    apply_queries("900001_warm_up")  # the manager's first operation reconciles in full
    small = apply_queries("900002_small")
    bulk_history(targets, 3, 3_000, 1)
    apply_queries("900003_after_bulk")  # the ledger changed behind the manager: full read
    large = apply_queries("900004_large")
    assert large == small


def test_reconciling_many_rows_takes_constant_queries(sqlite_targets, manager):
    """Rows another tool wrote (no history) are reconciled with one catalogue read."""
    targets = sqlite_targets

    def prisma_applied(first: int, count: int) -> dict[str, int]:
        bulk_history(targets, first, count, 1)
        VersionRecord.objects.all().delete()  # as if applied by Prisma: ledger and catalogue only
        with count_queries("default", targets.alias("development")) as counts:
            services.status()
        assert VersionRecord.objects.filter(reconciled=True).count() == first + count
        return counts

    small, large = prisma_applied(0, 3), prisma_applied(3, 500)
    assert large["sqlite_development"] == small["sqlite_development"]
    # Inserts and id lookups go in batches (SQLite's parameter limit), never one per row.
    assert large["default"] <= small["default"] + 10
    record = VersionRecord.objects.get(migration_id="000400_step")
    assert record.name == "step"
    assert "DROP TABLE" in record.rollback_script
