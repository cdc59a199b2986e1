from __future__ import annotations

from ._base import SchemaCommand


class Command(SchemaCommand):
    help = (
        "Roll back one applied schema migration in an environment by running its rollback script."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("id", metavar="ID", help="The migration to roll back.")
        self.add_environment_argument(parser)
        parser.add_argument(
            "--dry-run", action="store_true", help="Show the rollback script; run nothing."
        )

    def handle(self, *args, id: str, environment: str | None, **options) -> None:
        manager = self.manager
        if options["dry_run"]:
            script = manager.rollback_script_in_force(id, environment)
            self.stdout.write(self.style.MIGRATE_HEADING(f"Would roll back {id} with:"))
            self.stdout.write(script)
            return
        result = manager.rollback_migration_sync(id, environment)
        if not result.success:
            raise self.fail(result)
        self.report(result, options["verbosity"])
