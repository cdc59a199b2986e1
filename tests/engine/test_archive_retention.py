"""Archive records and their retention: written with the apply, marked restored by the
rollback, purged only when expired and not needed by an applied migration's rollback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from schema_manager import Migration
from schema_manager.models import ArchiveRecord
from tests.engine.test_archive import archive_tables, archiving, fill_items, unique_id
from tests.utils import run_command

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

ENGINES = ["postgresql", "sqlite"]
SQL = "DELETE FROM items WHERE id > 90;\nALTER TABLE items DROP COLUMN note;"


def apply_archiving(targets, manager) -> Migration:
    fill_items(targets)
    migration = Migration(id=unique_id("retained"), sql=SQL)
    with archiving(ARCHIVE_RETENTION_DAYS=7):
        assert manager.apply_migration_sync(migration).success
    return migration


def expire(migration: Migration) -> None:
    ArchiveRecord.objects.filter(migration_id=migration.id).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )


@pytest.mark.parametrize("engine", ENGINES, indirect=["engine"])
def test_the_apply_records_each_archive_with_its_size_and_expiry(targets, manager):
    migration = apply_archiving(targets, manager)
    records = list(ArchiveRecord.objects.filter(migration_id=migration.id).order_by("statement"))
    assert [(r.statement, r.kind, r.rows, r.environment) for r in records] == [
        (1, "rows", 10, "development"),
        (2, "column", 90, "development"),
    ]
    assert all(r.is_held for r in records)
    days = (records[0].expires_at - records[0].created_at).days
    assert days == 7
    if targets.engine == "postgresql":
        assert all(r.bytes and r.bytes > 0 for r in records)


@pytest.mark.parametrize("engine", ENGINES, indirect=["engine"])
def test_the_rollback_marks_its_archives_restored(targets, manager):
    migration = apply_archiving(targets, manager)
    with archiving():
        assert manager.rollback_migration_sync(migration.id, environment="development").success
    records = ArchiveRecord.objects.filter(migration_id=migration.id)
    assert all(record.restored_at is not None for record in records)


@pytest.mark.parametrize("engine", ENGINES, indirect=["engine"])
def test_purge_removes_only_expired_archives_of_migrations_no_longer_applied(targets, manager):
    kept = apply_archiving(targets, manager)
    targets.execute("development", "DROP TABLE items")
    fresh = apply_archiving(targets, manager)
    expire(kept)
    with archiving():
        needed = run_command("purge_schema_archives")
        assert "is applied in development and its rollback restores" in needed.stderr
        assert len(archive_tables(targets, kept.id)) == 2
        # Not expired: never purged, even when asked to include what rollbacks need.
        purged = run_command("purge_schema_archives", "--include-needed")
    assert purged.stdout.count("purged ") == 2
    assert archive_tables(targets, kept.id) == []
    assert len(archive_tables(targets, fresh.id)) == 2
    assert ArchiveRecord.objects.filter(migration_id=kept.id, purged_at__isnull=False).count() == 2
    assert ArchiveRecord.objects.filter(migration_id=fresh.id, purged_at__isnull=True).count() == 2


@pytest.mark.parametrize("engine", ENGINES, indirect=["engine"])
def test_dry_run_says_what_it_would_purge_and_purges_nothing(targets, manager):
    migration = apply_archiving(targets, manager)
    expire(migration)
    with archiving():
        run = run_command("purge_schema_archives", "--dry-run", "--include-needed")
    assert run.stdout.count("would purge ") == 2
    assert len(archive_tables(targets, migration.id)) == 2
    assert not ArchiveRecord.objects.filter(purged_at__isnull=False).exists()
