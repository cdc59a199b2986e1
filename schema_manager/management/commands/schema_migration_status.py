from __future__ import annotations

import json

from ...targets import resolve
from ._base import SchemaCommand


class Command(SchemaCommand):
    help = "Show each schema migration's state in an environment."

    def add_arguments(self, parser) -> None:
        self.add_environment_argument(parser)
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, environment: str | None, **options) -> None:
        target = resolve(environment)
        states = self.manager.status(target.environment)
        if options["format"] == "json":
            payload = {
                "environment": target.environment,
                "database": target.alias,
                "migrations": [state.as_dict() for state in states],
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return
        self.stdout.write(self.style.MIGRATE_HEADING(f"{target.environment} ({target.alias}):"))
        if not states:
            self.stdout.write("  (no migrations)")
        styles = {
            "applied": self.style.SUCCESS,
            "pending": self.style.WARNING,
            "failed": self.style.ERROR,
            "unresolved": self.style.ERROR,
            "rolled_back": self.style.NOTICE,
        }
        for state in states:
            line = f"  [{state.state.replace('_', ' '):^11}] {state.migration_id}"
            if state.applied_at and state.state == "applied":
                line += f"  applied {state.applied_at:%Y-%m-%d %H:%M:%S}"
                if state.applied_by:
                    line += f" by {state.applied_by}"
                if state.execution_time is not None:
                    line += f" in {state.execution_time:.3f}s"
            self.stdout.write(styles[state.state](line))
