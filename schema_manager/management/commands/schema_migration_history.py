from __future__ import annotations

import json

from ... import services
from ...models import VersionRecord
from ...targets import resolve
from ._base import SchemaCommand


class Command(SchemaCommand):
    help = "Show the version history (every apply and rollback attempt) of an environment."

    def add_arguments(self, parser) -> None:
        self.add_environment_argument(parser)
        parser.add_argument("--limit", type=int, default=50, help="Newest N records (default 50).")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, environment: str | None, limit: int, **options) -> None:
        target = resolve(environment)
        records = services.history(target.environment, limit)
        if options["format"] == "json":
            self.stdout.write(json.dumps([_as_dict(record) for record in records], indent=2))
            return
        self.stdout.write(self.style.MIGRATE_HEADING(f"History of {target.environment}:"))
        if not records:
            self.stdout.write("  (no attempts yet)")
        for record in records:
            failed = record.status == VersionRecord.Status.FAILED
            style = self.style.ERROR if failed else self.style.SUCCESS
            when = f"{record.recorded_at:%Y-%m-%d %H:%M:%S}"
            by = f" by {record.applied_by}" if record.applied_by else ""
            by += " (faked)" if record.faked else ""
            line = f"  {when}  {record.operation:<8} {record.get_status_display():<11} "
            self.stdout.write(
                style(line) + f"{record.migration_id}{by} ({record.execution_time:.3f}s)"
            )
            if record.error and options["verbosity"] >= 1:
                self.stdout.write(f"      error: {record.error.splitlines()[0]}")


def _as_dict(record: VersionRecord) -> dict[str, object]:
    return {
        "migration_id": record.migration_id,
        "name": record.name,
        "environment": record.environment,
        "operation": record.operation,
        "status": record.status,
        "recorded_at": record.recorded_at.isoformat(),
        "applied_at": record.applied_at.isoformat() if record.applied_at else None,
        "rolled_back_at": record.rolled_back_at.isoformat() if record.rolled_back_at else None,
        "execution_time": record.execution_time,
        "checksum": record.checksum,
        "applied_by": record.applied_by,
        "error": record.error,
        "reconciled": record.reconciled,
        "faked": record.faked,
    }
