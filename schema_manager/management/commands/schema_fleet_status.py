from __future__ import annotations

import json
import sys

from django.core.management.base import CommandError

from ...fleets.status import fleet_status
from ._base import SchemaCommand
from ._fleet import whole_plan


class Command(SchemaCommand):
    help = "Show where every target of a fleet stands against the migrations on disk."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--fleet", required=True, help="A fleet of SCHEMA_MANAGER['FLEETS'].")
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument(
            "--check", action="store_true", help="Exit 1 if any target is behind or failed."
        )

    def handle(self, *args, fleet: str, **options) -> None:
        try:
            plan = whole_plan(self)
        except CommandError:
            plan = []
        report = fleet_status(fleet, plan)
        if options["format"] == "json":
            payload = {
                "fleet": fleet,
                "migrations": [migration.id for migration in plan],
                "targets": [
                    {"key": s.key, "state": s.state, "pending": s.pending, "error": s.error}
                    for s in report
                ],
            }
            self.stdout.write(json.dumps(payload, indent=2))
        else:
            styles = {
                "up to date": self.style.SUCCESS,
                "behind": self.style.WARNING,
                "failed": self.style.ERROR,
                "unreachable": self.style.ERROR,
            }
            self.stdout.write(self.style.MIGRATE_HEADING(f"Fleet {fleet} ({len(report)} targets):"))
            for s in report:
                detail = f" ({len(s.pending)} pending)" if s.pending else ""
                error = f": {s.error}" if s.error else ""
                self.stdout.write(f"  {s.key} ... " + styles[s.state](f"{s.state}{detail}{error}"))
        if options["check"] and not all(s.ok for s in report):
            sys.exit(1)
