from __future__ import annotations

from django.core.management.base import CommandError

from ...models import Migration
from ._base import SchemaCommand


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

    def handle(self, *args, ids: list[str], environment: str | None, **options) -> None:
        if bool(ids) == bool(options["all"]):
            raise CommandError("Name the migrations to apply, or pass --all (not both).")
        manager = self.manager
        plan = manager.pending_migrations(environment) if options["all"] else self._named(ids)
        verbosity = options["verbosity"]
        if not plan:
            if verbosity >= 1:
                self.stdout.write("No migrations to apply.")
            return
        if options["dry_run"]:
            self._show_plan(plan, environment, verbosity, rehearse=options["rehearse"])
            return
        for migration in plan:
            result = manager.apply_migration_sync(
                migration, environment, allow_destructive=options["allow_destructive"]
            )
            if not result.success:
                raise self.fail(result)
            self.report(result, verbosity)
        if verbosity >= 1 and len(plan) > 1:
            self.stdout.write(self.style.SUCCESS(f"{len(plan)} migration(s) done."))

    def _named(self, ids: list[str]) -> list[Migration]:
        self.manager.import_migrations()
        found = Migration.objects.in_bulk(ids)
        missing = [migration_id for migration_id in ids if migration_id not in found]
        if missing:
            raise CommandError(
                f"Unknown migration(s): {', '.join(map(repr, missing))}; they are neither in the "
                "catalogue nor in the migrations directory."
            )
        return [found[migration_id] for migration_id in ids]

    def _show_plan(
        self, plan: list[Migration], environment: str | None, verbosity: int, rehearse: bool
    ) -> None:
        manager = self.manager
        for migration in plan:
            validation = manager.validate_migration_sync(migration, environment, rehearse=rehearse)
            self.stdout.write(self.style.MIGRATE_HEADING(f"Would apply {migration.id}"))
            if validation.rehearsed and not validation.rehearsal_error:
                self.stdout.write(f"  rehearsed: no error ({validation.rehearsal_time:.3f} s)")
            for error in validation.errors:
                self.stdout.write(self.style.ERROR(f"  error: {error}"))
            for warning in validation.warnings:
                self.stdout.write(self.style.WARNING(f"  warning: {warning}"))
            for note in validation.acknowledged:
                self.stdout.write(f"  acknowledged: {note}")
            if verbosity >= 1:
                rollback = migration.rollback_sql or manager.generate_rollback_script(
                    migration, environment
                )
                self.stdout.write(self.style.MIGRATE_LABEL("  SQL:"))
                self.stdout.write(_indent(migration.sql))
                self.stdout.write(self.style.MIGRATE_LABEL("  Rollback:"))
                self.stdout.write(_indent(rollback))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines())
