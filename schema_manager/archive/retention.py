"""Purging archives: only expired ones, and never one a migration still applied needs for its
rollback unless asked to (and then saying so)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connections
from django.utils import timezone

from ..backends import LEDGER_TABLE
from ..conf import app_settings
from ..security import get_logger
from .models import ArchiveRecord

logger = get_logger("schema_manager.archive")


@dataclass
class Purge:
    purged: list[ArchiveRecord] = field(default_factory=list)
    kept: list[tuple[ArchiveRecord, str]] = field(default_factory=list)  # and why


def expired(environment: str | None = None) -> list[ArchiveRecord]:
    """Archives still on a target whose expiry has passed."""
    records = ArchiveRecord.objects.filter(
        restored_at__isnull=True, purged_at__isnull=True, expires_at__lte=timezone.now()
    )
    if environment is not None:
        records = records.filter(environment=environment)
    return list(records.order_by("environment", "created_at", "statement"))


def purge(
    records: list[ArchiveRecord], *, include_needed: bool = False, dry_run: bool = False
) -> Purge:
    """Drop ``records``' archive tables from their targets and mark them purged; an archive
    whose migration is still applied (its rollback restores from it) is kept unless
    ``include_needed``."""
    done = Purge()
    environments = app_settings.ENVIRONMENTS
    for record in records:
        alias = environments.get(record.environment)
        if alias is None:
            done.kept.append((record, f"environment {record.environment!r} is not configured"))
            continue
        if not record.is_held:
            done.kept.append((record, "already restored or purged"))
            continue
        if not include_needed and _still_applied(alias, record.migration_id):
            done.kept.append(
                (
                    record,
                    f"migration {record.migration_id} is applied in {record.environment} and "
                    "its rollback restores from this archive (--include-needed purges it; that "
                    "rollback then fails until it is written by hand)",
                )
            )
            continue
        if not dry_run:
            with connections[alias].cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {record.archive}")
            record.purged_at = timezone.now()
            record.save(update_fields=["purged_at"])
            logger.info(
                "Purged archive %s of %s in %s",
                record.archive,
                record.migration_id,
                record.environment,
            )
        done.purged.append(record)
    return done


def _still_applied(alias: str, migration_id: str) -> bool:
    connection = connections[alias]
    with connection.cursor() as cursor:
        if LEDGER_TABLE not in connection.introspection.table_names(cursor):
            return False
        cursor.execute(
            f"SELECT COUNT(*) FROM {LEDGER_TABLE} WHERE migration_name = %s "
            "AND finished_at IS NOT NULL AND rolled_back_at IS NULL",
            [migration_id],
        )
        return bool(cursor.fetchone()[0])
