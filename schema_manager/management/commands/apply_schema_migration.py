from __future__ import annotations

import sys
import time

from django.core.management.base import CommandError

from ... import planning, services
from ...change_requests.models import find
from ...models import Migration
from ...policy import may_prompt
from ...results import MigrationResult, PlanCheck, ValidationResult
from ...targets import resolve
from ._base import SchemaCommand
from ._fleet import add_fleet_arguments, apply_fleet


class Command(SchemaCommand):
    help = "Apply schema migrations (from the catalogue and prisma/migrations) to an environment."

    def add_arguments(self, parser) -> None:
        parser.add_argument("ids", nargs="*", metavar="ID", help="Migrations to apply, in order.")
        self.add_environment_argument(parser)
        parser.add_argument("--all", action="store_true", help="Apply every pending migration.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Show the plan, SQL and rollback; run nothing."
        )
        parser.add_argument(
            "--rehearse",
            action="store_true",
            help="With --dry-run: also run each migration on the target in a transaction that "
            "is rolled back, and report the database's errors (PostgreSQL, SQLite).",
        )
        parser.add_argument(
            "--allow-destructive",
            action="store_true",
            help="Apply destructive statements even in a protected environment (production).",
        )
        parser.add_argument(
            "--allow-out-of-order",
            action="store_true",
            help="Apply even while a migration before it (by id) is pending in a protected "
            "environment (elsewhere that is only a warning).",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="First remove catalogue entries whose folder was deleted from migrations/ "
            "before they were applied anywhere (then apply the named ones, or --all, if given).",
        )
        parser.add_argument(
            "--fake",
            action="store_true",
            help="Record the migrations as applied without running their SQL (baseline).",
        )
        self.add_change_request_arguments(parser)
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Never ask before destructive statements (production never asks anyway).",
        )
        add_fleet_arguments(parser)

    def handle(self, *args, ids: list[str], environment: str | None, **options) -> None:
        gate = self.gate_options(options)
        if options["change_request"] and not ids and not options["all"]:
            ids = find(options["change_request"]).pinned_ids()
        if (ids and options["all"]) or not (ids or options["all"] or options["prune"]):
            raise CommandError("Name the migrations to apply, or pass --all (not both).")
        if options["fleet"]:
            if environment or options["dry_run"] or options["fake"] or options["prune"]:
                raise CommandError("--fleet takes no --environment, --dry-run, --fake or --prune.")
            return apply_fleet(self, ids, options)
        workspace = self.workspace
        target = resolve(environment)
        if options["prune"]:
            self._prune(options["verbosity"])
            if not (ids or options["all"]):
                return
        # One read of the folders and of the ledger makes the plan and checks it.
        listing = workspace.directory.listing() if options["all"] else None
        applied = planning.applied_in(target) if options["all"] else None
        plan = (
            planning.pending(workspace.directory, target, listing, applied)
            if options["all"]
            else self.named_migrations(ids)
        )
        if options["all"]:
            # Refuse before the first apply, not halfway through the plan.
            drift = planning.plan_drift(workspace.directory, plan, target, listing, applied)
            if drift:
                others = f" ({len(drift) - 1} more problem(s))" if len(drift) > 1 else ""
                raise CommandError(f"Refusing to apply: {drift[0]}{others}")
        verbosity = options["verbosity"]
        if not plan:
            if verbosity >= 1:
                self.stdout.write(f"No migrations to apply in {target.environment}.")
            return
        if options["dry_run"]:
            checks = services.check_plan(
                plan,
                environment,
                workspace=workspace,
                allow_destructive=options["allow_destructive"],
                allow_out_of_order=options["allow_out_of_order"],
                fake=options["fake"],
                rehearse=options["rehearse"],
            )
            self._show_plan(plan, checks, environment, verbosity, fake=options["fake"])
            refused = sum(check.refused for check in checks)
            if refused:
                raise CommandError(
                    f"{refused} of {len(plan)} migration(s) would be refused in "
                    f"{target.environment}; see the errors above."
                )
            return
        if verbosity >= 1:
            verb = "Faking" if options["fake"] else "Applying"
            self.stdout.write(
                self.style.MIGRATE_HEADING(
                    f"{verb} {len(plan)} migration(s) in {target.environment} ({target.alias}):"
                )
            )
        prompt = (
            options["interactive"]
            and not options["fake"]
            and may_prompt(environment)
            and _is_terminal()
        )
        clock = time.perf_counter()
        positions = iter(range(1, len(plan) + 1))
        results = services.apply(
            plan,
            environment,
            workspace=workspace,
            allow_destructive=options["allow_destructive"],
            fake=options["fake"],
            allow_out_of_order=options["allow_out_of_order"],
            before_apply=self._confirm if prompt else None,
            after_apply=lambda result: self.report_line(
                result, next(positions), len(plan), verbosity
            ),
            **gate,
        )
        if not results[-1].success:
            raise self.fail(results[-1])
        self.stop_unless_recorded(results[-1])
        if verbosity >= 1:
            self.stdout.write(self._summary(results, target.environment, clock))

    def _summary(self, results: list[MigrationResult], environment: str, clock: float) -> str:
        skipped = sum(result.skipped for result in results)
        faked = sum(result.faked for result in results)
        applied = len(results) - skipped - faked
        parts = [f"{applied} applied"]
        if faked:
            parts.append(f"{faked} faked")
        if skipped:
            parts.append(f"{skipped} already applied")
        elapsed = time.perf_counter() - clock
        return self.style.SUCCESS(
            f"Done in {environment}: {', '.join(parts)} ({elapsed:.3f}s in all)."
        )

    def _confirm(self, migration: Migration, validation: ValidationResult) -> None:
        destructive = [f.message for f in validation.findings if f.destructive]
        if not destructive:
            return
        self.stdout.write(self.style.WARNING(f"Migration {migration.id} is destructive:"))
        for message in destructive:
            self.stdout.write(self.style.WARNING(f"  - {message}"))
        answer = input(f"Apply {migration.id}? [y/N] ").strip().lower()
        if answer not in {"y", "yes"}:
            raise CommandError(f"Migration {migration.id} was not applied: declined at the prompt.")

    def _prune(self, verbosity: int) -> None:
        removed = planning.prune_missing(self.workspace.directory)
        if verbosity >= 1:
            for migration_id in removed:
                self.stdout.write(
                    f"Removed {migration_id}: its folder is gone and it was never applied."
                )
            if not removed:
                self.stdout.write("No migrations to prune.")

    def _show_plan(
        self,
        plan: list[Migration],
        checks: list[PlanCheck],
        environment: str | None,
        verbosity: int,
        *,
        fake: bool,
    ) -> None:
        verb = "fake" if fake else "apply"
        for position, (migration, check) in enumerate(zip(plan, checks, strict=True), start=1):
            validation = check.validation
            counter = f"[{position}/{len(plan)}] " if len(plan) > 1 else ""
            self.stdout.write(self.style.MIGRATE_HEADING(f"{counter}Would {verb} {migration.id}"))
            if validation.rehearsed and not validation.rehearsal_error:
                self.stdout.write(f"  rehearsed: no error ({validation.rehearsal_time:.3f} s)")
            for error in check.errors:
                self.stdout.write(self.style.ERROR(f"  error: {error}"))
            for warning in check.warnings:
                self.stdout.write(self.style.WARNING(f"  warning: {warning}"))
            for note in validation.acknowledged:
                self.stdout.write(f"  acknowledged: {note}")
            if verbosity >= 1:
                # The script the apply would store (with the archive's restores, if any).
                rollback = (
                    validation.rollback_script
                    or migration.rollback_sql
                    or services.generate_rollback_script(migration, environment)
                )
                self.stdout.write(self.style.MIGRATE_LABEL("  SQL:"))
                self.stdout.write(_indent(migration.sql))
                self.stdout.write(self.style.MIGRATE_LABEL("  Rollback:"))
                self.stdout.write(_indent(rollback))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines())


def _is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()
