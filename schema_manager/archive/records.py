"""The app's records of archives: written after the apply that took them committed, marked
restored by the rollback that put them back."""

from __future__ import annotations

from datetime import timedelta

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from ..conf import app_settings
from ..security import get_logger
from ..sql.archive_plan import ArchivePlan
from ..sql.archive_sql import ARCHIVE_SCHEMA
from ..targets import Target
from .models import ArchiveRecord

logger = get_logger("schema_manager.archive")


def record_archived(target: Target, migration_id: str, plan: ArchivePlan) -> list[ArchiveRecord]:
    """One record per archive ``plan`` took on ``target``, with its rows and bytes as the
    target holds them now. Bookkeeping only: the archive is on the target whatever happens
    here, so a failure is logged, not raised."""
    now = timezone.now()
    expires = now + timedelta(days=app_settings.ARCHIVE_RETENTION_DAYS)
    records = []
    for step in plan.steps:
        rows, size = _measure(target.alias, step.archive)
        records.append(
            ArchiveRecord(
                migration_id=migration_id,
                environment=target.environment,
                statement=step.index + 1,
                kind=step.kind,
                table=step.table,
                archive=step.archive,
                rows=rows,
                bytes=size,
                created_at=now,
                expires_at=expires,
            )
        )
    try:
        return ArchiveRecord.objects.bulk_create(records)
    except DatabaseError:
        logger.warning(
            "Migration %s archived %d table(s) on %r but the app's database refused their "
            "records; they stay on the target (%s)",
            migration_id,
            len(records),
            target.alias,
            ", ".join(step.archive for step in plan.steps),
            exc_info=True,
        )
        return []


def _measure(alias: str, archive: str) -> tuple[int | None, int | None]:
    connection = connections[alias]
    size_sql = {
        "postgresql": f"SELECT pg_total_relation_size('{archive}'::regclass)",
        "sqlite": "SELECT SUM(pgsize) FROM dbstat WHERE name = %s",
        # InnoDB's figures (pages allocated; statistics, so about the size).
        "mysql": "SELECT data_length + index_length FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name = %s",
    }.get(connection.vendor)
    rows = size = None
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {archive}")
            rows = int(cursor.fetchone()[0])
        if size_sql:
            with transaction.atomic(using=alias), connection.cursor() as cursor:
                params = [archive.strip('"`')] if "%s" in size_sql else []
                cursor.execute(size_sql, params)
                value = cursor.fetchone()[0]
                size = None if value is None else int(value)
    except DatabaseError:  # e.g. SQLite built without dbstat
        logger.debug("Could not measure archive %s", archive, exc_info=True)
    return rows, size


def restores_archives(script: str) -> bool:
    """Whether a rollback script names archive tables (PostgreSQL's schema, or the prefix)."""
    return ARCHIVE_SCHEMA in script


def mark_restored(environment: str, migration_id: str, script: str) -> int:
    """Records of ``migration_id``'s archives the rollback ``script`` restored: marked so."""
    held = ArchiveRecord.objects.filter(
        environment=environment,
        migration_id=migration_id,
        restored_at__isnull=True,
        purged_at__isnull=True,
    )
    restored = [record.pk for record in held if record.archive in script]
    return ArchiveRecord.objects.filter(pk__in=restored).update(restored_at=timezone.now())
