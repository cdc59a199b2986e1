from __future__ import annotations

import sys

from ...prisma_schema import schema_diff, sync_schema
from ...targets import resolve
from ._base import SchemaCommand


class Command(SchemaCommand):
    help = (
        "Write schema.prisma from an environment's database, as `prisma db pull` would; "
        "--check compares instead (exit status 1 and a diff when they differ)."
    )

    def add_arguments(self, parser) -> None:
        self.add_environment_argument(parser)
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; exit 1 and print a unified diff if the file is out of date.",
        )

    def handle(self, *args, environment: str | None, check: bool, **options) -> None:
        target = resolve(environment)
        path = self.workspace.prisma_schema_path
        verbosity = options["verbosity"]
        if check:
            diff = schema_diff(target.environment, path)
            if diff:
                self.stdout.write(diff, ending="")
                self.stderr.write(
                    f"{path} differs from the {target.environment} database; "
                    "run sync_prisma_schema to update it."
                )
                sys.exit(1)
            if verbosity >= 1:
                self.stdout.write(
                    self.style.SUCCESS(f"{path} matches the {target.environment} database.")
                )
            return
        result = sync_schema(target.environment, path)
        if verbosity >= 1:
            for note in result.notes:
                self.stdout.write(self.style.WARNING(f"  note: {note}"))
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(warning))
        if verbosity >= 1:
            message = "Wrote" if result.changed else "Up to date:"
            self.stdout.write(
                self.style.SUCCESS(f"{message} {path} (from the {target.environment} database).")
            )
