from __future__ import annotations

from django.core.management.base import CommandError

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

    def handle(
        self, *args, id: str | None, to: str | None, environment: str | None, **options
    ) -> None:
        if bool(id) == bool(to):
            raise CommandError("Name the migration to roll back, or pass --to ID (not both).")
        manager = self.manager
        verbosity = options["verbosity"]
        plan = [id] if id else manager.rollback_plan(to, environment)
        if not plan:
            if verbosity >= 1:
                self.stdout.write(
                    f"Nothing is applied after {to} in {resolve(environment).environment}."
                )
            return
        if options["dry_run"]:
            for migration_id in plan:
                script = manager.rollback_script_in_force(migration_id, environment)
                if not script:
                    raise CommandError(
                        f"Migration {migration_id!r} is not applied in "
                        f"{resolve(environment).environment}; nothing to roll back."
                    )
                self.stdout.write(
                    self.style.MIGRATE_HEADING(f"Would roll back {migration_id} with:")
                )
                self.stdout.write(script)
            return
        positions = iter(range(1, len(plan) + 1))
        results = manager.rollback_migrations_sync(
            plan,
            environment,
            after_rollback=lambda result: self.report_line(
                result, next(positions), len(plan), verbosity
            ),
        )
        if not results[-1].success:
            raise self.fail(results[-1])
        self.stop_unless_recorded(results[-1])
        if verbosity >= 1 and len(plan) > 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Rolled back {len(plan)} migration(s) in {resolve(environment).environment}."
                )
            )
