from __future__ import annotations

from itertools import count

from django.core.management.base import CommandError

from ... import planning, services
from ...change_requests.models import find
from ...targets import resolve
from ._base import SchemaCommand


class Command(SchemaCommand):
    help = (
        "Roll back one applied schema migration in an environment by running its rollback "
        "script, or with --to ID every migration applied after ID, newest first."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("id", metavar="ID", nargs="?", help="The migration to roll back.")
        parser.add_argument(
            "--to",
            metavar="ID",
            help="Roll back every migration applied after ID (newest first); ID stays applied.",
        )
        self.add_environment_argument(parser)
        parser.add_argument(
            "--dry-run", action="store_true", help="Show the rollback script(s); run nothing."
        )
        self.add_change_request_arguments(parser)

    def handle(
        self, *args, id: str | None, to: str | None, environment: str | None, **options
    ) -> None:
        self.gate = self.gate_options(options)
        plan = find(options["change_request"]).pinned_ids() if options["change_request"] else []
        if plan and not (id or to):
            id = plan[0] if len(plan) == 1 else None
            if id is None:
                return self._run_plan(plan, environment, options["verbosity"])
        if bool(id) == bool(to):
            raise CommandError("Name the migration to roll back, or pass --to ID (not both).")
        to = to or ""
        verbosity = options["verbosity"]
        nothing = f"Nothing is applied after {to} in {resolve(environment).environment}."
        if options["dry_run"]:
            plan = [id] if id else planning.rollback_plan(to, resolve(environment))
            if not plan and verbosity >= 1:
                self.stdout.write(nothing)
            self._show(plan, environment)
            return
        if id:
            results = self._run(id, environment, verbosity)
        else:
            results = self._run_to(to, environment, verbosity)
        if to and all(result.skipped for result in results):
            # Also when another process rolled the plan back while this one waited for the lock.
            if verbosity >= 1:
                self.stdout.write(nothing)
            return
        if not results[-1].success:
            raise self.fail(results[-1])
        self.stop_unless_recorded(results[-1])
        if verbosity >= 1 and len(results) > 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Rolled back {sum(not result.skipped for result in results)} migration(s) "
                    f"in {resolve(environment).environment}."
                )
            )

    def _run(self, migration_id: str, environment: str | None, verbosity: int):
        return services.rollback(
            [migration_id],
            environment,
            workspace=self.workspace,
            after_rollback=lambda result: self.report_line(result, 1, 1, verbosity),
            **self.gate,
        )

    def _run_plan(self, plan: list[str], environment: str | None, verbosity: int) -> None:
        """A change request's plan of several rollbacks, in its order."""
        positions = count(1)
        results = services.rollback(
            plan,
            environment,
            workspace=self.workspace,
            after_rollback=lambda result: self.report_line(
                result, next(positions), len(plan), verbosity
            ),
            **self.gate,
        )
        if not results[-1].success:
            raise self.fail(results[-1])
        self.stop_unless_recorded(results[-1])

    def _run_to(self, to: str, environment: str | None, verbosity: int):
        """Roll back what is applied after ``to`` as the ledger says once the lock is held."""
        plan: list[str] = []
        positions = count(1)
        return services.rollback_to(
            to,
            environment,
            workspace=self.workspace,
            planned=plan.extend,
            after_rollback=lambda result: self.report_line(
                result, next(positions), len(plan), verbosity
            ),
            **self.gate,
        )

    def _show(self, plan: list[str], environment: str | None) -> None:
        for migration_id in plan:
            script = planning.rollback_script_in_force(migration_id, resolve(environment))
            if not script:
                raise CommandError(
                    f"Migration {migration_id!r} is not applied in "
                    f"{resolve(environment).environment}; nothing to roll back."
                )
            self.stdout.write(self.style.MIGRATE_HEADING(f"Would roll back {migration_id} with:"))
            self.stdout.write(script)
