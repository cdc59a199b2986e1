"""What the schema_manager commands share: the --environment option and error handling."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from ...conf import app_settings
from ...exceptions import SchemaManagerError
from ...manager import SchemaManager
from ...results import MigrationResult
from ...security import scrub


class SchemaCommand(BaseCommand):
    requires_system_checks = "__all__"

    def add_environment_argument(self, parser) -> None:
        parser.add_argument(
            "--environment",
            "-e",
            choices=sorted(app_settings.ENVIRONMENTS),
            help="Environment to act on (default: SCHEMA_MANAGER['DEFAULT_ENVIRONMENT']).",
        )

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except SchemaManagerError as exc:
            raise CommandError(scrub(str(exc))) from exc
        except DatabaseError as exc:  # e.g. the target is unreachable; never echo its DSN
            raise CommandError(scrub(f"Database error: {exc}".replace("\n", " "))) from None

    @property
    def manager(self) -> SchemaManager:
        return SchemaManager()

    def report_line(
        self, result: MigrationResult, position: int, total: int, verbosity: int
    ) -> None:
        """One line per migration: a counter when there are several, its outcome and time."""
        if verbosity < 1 or (not result.success and total == 1):
            return  # a lone failure is the command's one stderr line
        counter = f"[{position}/{total}] " if total > 1 else ""
        seconds = f"{result.execution_time:.3f}s"
        if not result.success:
            outcome, style = f"FAILED ({seconds})", self.style.ERROR
        elif result.skipped:
            outcome, style = "already applied, nothing to do", self.style.WARNING
        elif result.faked:
            outcome, style = (
                f"faked: recorded as applied, SQL not run ({seconds})",
                self.style.NOTICE,
            )
        else:
            verb = "rolled back" if result.operation == "rollback" else "applied"
            outcome = f"{verb} ({result.statements_run} statement(s), {seconds})"
            style = self.style.SUCCESS
        self.stdout.write(f"  {counter}{result.migration_id} ... " + style(outcome))
        if verbosity >= 2:
            for warning in result.warnings:
                self.stdout.write(self.style.WARNING(f"    warning: {warning}"))

    def fail(self, result: MigrationResult) -> CommandError:
        # The message ends with the error's first line; the rest (e.g. where in the statement
        # the database points) follows it.
        rest = (result.error or "").strip().split("\n", 1)[1:]
        detail = f" {rest[0]}" if rest and rest[0] not in result.message else ""
        return CommandError(scrub(f"{result.message}{detail}".replace("\n", " ")))
