"""A validate-only gate for CI: every reason an apply would refuse, and exit status 1 if any."""

from __future__ import annotations

from django.core.management.base import CommandError

from ... import planning, services
from ...results import PlanCheck
from ...targets import resolve
from ._base import SchemaCommand


class Command(SchemaCommand):
    help = (
        "Check the named migrations, or every pending one, as applying them to an environment "
        "would (validation, drift, promotion and migration order) without running anything; "
        "exit 1 if any would be refused."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "ids", nargs="*", metavar="ID", help="Migrations to check (default: every pending one)."
        )
        self.add_environment_argument(parser)
        parser.add_argument(
            "--allow-destructive",
            action="store_true",
            help="Check as apply --allow-destructive would (destructive statements do not block).",
        )
        parser.add_argument(
            "--allow-out-of-order",
            action="store_true",
            help="Check as apply --allow-out-of-order would.",
        )
        parser.add_argument(
            "--rehearse",
            action="store_true",
            help="Also run each migration on the target in a transaction that is rolled back "
            "(PostgreSQL, SQLite).",
        )

    def handle(self, *args, ids: list[str], environment: str | None, **options) -> None:
        target = resolve(environment)
        plan = (
            self.named_migrations(ids)
            if ids
            else planning.pending(self.workspace.directory, target)
        )
        verbosity = options["verbosity"]
        if not plan:
            if verbosity >= 1:
                self.stdout.write(f"No migrations to check in {target.environment}.")
            return
        checks = services.check_plan(
            plan,
            environment,
            workspace=self.workspace,
            allow_destructive=options["allow_destructive"],
            allow_out_of_order=options["allow_out_of_order"],
            rehearse=options["rehearse"],
        )
        for check in checks:
            self._report(check, verbosity)
        refused = sum(check.refused for check in checks)
        if refused:
            raise CommandError(
                f"{refused} of {len(plan)} migration(s) would be refused in {target.environment}."
            )
        if verbosity >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{len(plan)} migration(s) would be applied in {target.environment}."
                )
            )

    def _report(self, check: PlanCheck, verbosity: int) -> None:
        if check.refused:
            outcome = self.style.ERROR(f"refused ({len(check.errors)} error(s))")
        elif check.warnings:
            outcome = self.style.WARNING(f"ok ({len(check.warnings)} warning(s))")
        else:
            outcome = self.style.SUCCESS("ok")
        if verbosity >= 1 or check.refused:
            self.stdout.write(f"  {check.migration_id} ... {outcome}")
        for error in check.errors:
            self.stdout.write(self.style.ERROR(f"    error: {error}"))
        if verbosity >= 1:
            for warning in check.warnings:
                self.stdout.write(self.style.WARNING(f"    warning: {warning}"))
