"""What the schema_manager commands share: the --environment option and error handling."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from ... import planning
from ...change_requests.gate import BreakGlass
from ...conf import app_settings
from ...exceptions import ChangeScheduled, SchemaManagerError
from ...models import Migration
from ...results import MigrationResult
from ...security import scrub
from ...workspace import Workspace
from ..process import own_the_process


class SchemaCommand(BaseCommand):
    requires_system_checks = "__all__"

    def add_environment_argument(self, parser) -> None:
        parser.add_argument(
            "--environment",
            "-e",
            choices=sorted(app_settings.ENVIRONMENTS),
            help="Environment to act on (default: SCHEMA_MANAGER['DEFAULT_ENVIRONMENT']).",
        )

    def add_change_request_arguments(self, parser) -> None:
        parser.add_argument(
            "--change-request",
            metavar="N",
            help="The approved change request this run executes (required in an environment "
            "with an approval policy, SCHEMA_MANAGER['APPROVALS']); without migration ids, "
            "its pinned plan.",
        )
        parser.add_argument(
            "--break-glass",
            metavar="REASON",
            help="Emergency run without approvals, with this written reason; needs --user with "
            "the break_glass permission, and opens a review obligation.",
        )
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="The Django user running this (recorded as who applied; checked against the "
            "request's approvers and for --break-glass).",
        )

    def gate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The service's keyword arguments for --change-request, --break-glass and --user."""
        user = find_user(options["user"]) if options.get("user") else None
        if options.get("break_glass") is not None and user is None:
            raise CommandError("--break-glass needs --user: the user with the permission.")
        gate: dict[str, Any] = {"change_request": options.get("change_request")}
        if options.get("break_glass") is not None:
            gate["break_glass"] = BreakGlass(user, options["break_glass"])
        if user is not None:
            gate["applied_by"] = user.get_username()
        return gate

    def run_from_argv(self, argv: list[str]) -> None:
        own_the_process()  # from the command line: the process ends with the command
        super().run_from_argv(argv)

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except ChangeScheduled as exc:  # not a failure: it waits for the window
            self.stdout.write(self.style.WARNING(str(exc)))
            return None
        except SchemaManagerError as exc:
            raise CommandError(scrub(str(exc))) from exc
        except DatabaseError as exc:  # e.g. the target is unreachable; never echo its DSN
            raise CommandError(scrub(f"Database error: {exc}".replace("\n", " "))) from None

    @cached_property
    def workspace(self) -> Workspace:
        """Where the migrations live, shared by what one run of the command does."""
        return Workspace()

    def named_migrations(self, ids: list[str]) -> list[Migration]:
        """The catalogue entries ``ids`` (after importing new folders), in the order given."""
        unreadable = {
            folder.id: folder
            for folder in planning.import_folders(self.workspace.directory).unreadable
        }
        for migration_id in ids:
            if migration_id in unreadable:
                raise CommandError(f"Cannot use {migration_id!r}: {unreadable[migration_id].error}")
        found = Migration.objects.in_bulk(ids)
        missing = [migration_id for migration_id in ids if migration_id not in found]
        if missing:
            raise CommandError(
                f"Unknown migration(s): {', '.join(map(repr, missing))}; they are neither in the "
                "catalogue nor in the migrations directory."
            )
        return [found[migration_id] for migration_id in ids]

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
            done = "rolled back" if result.operation == "rollback" else "applied"
            outcome, style = f"already {done}, nothing to do", self.style.WARNING
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

    def stop_unless_recorded(self, result: MigrationResult) -> None:
        """Exit with status 3 when the operation committed on the target but its history
        record was refused: done, but not as the history (and a CI gate) should see it."""
        if result.success and result.history_error:
            raise CommandError(scrub(result.message.replace("\n", " ")), returncode=3)

    def fail(self, result: MigrationResult) -> CommandError:
        # The message ends with the error's first line; the rest (e.g. where in the statement
        # the database points) follows it.
        rest = (result.error or "").strip().split("\n", 1)[1:]
        detail = f" {rest[0]}" if rest and rest[0] not in result.message else ""
        return CommandError(scrub(f"{result.message}{detail}".replace("\n", " ")))


def find_user(username: str) -> Any:
    """The active Django user ``username``, or a one-sentence error."""
    from django.contrib.auth import get_user_model

    model = get_user_model()
    user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
    if user is None or not user.is_active:
        raise CommandError(f"There is no active user {username!r}.")
    return user
