from __future__ import annotations

from ...archive.retention import expired, purge
from ...targets import resolve
from ._base import SchemaCommand


class Command(SchemaCommand):
    help = (
        "Drop expired archives (what destructive statements kept on the target) and mark them "
        "purged; archives a migration still applied needs for its rollback are kept."
    )

    def add_arguments(self, parser) -> None:
        self.add_environment_argument(parser)
        parser.add_argument(
            "--include-needed",
            action="store_true",
            help="Purge expired archives that the rollback of an applied migration restores "
            "from too (that rollback then fails until written by hand).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would be purged.")

    def handle(self, *args, environment: str | None, **options) -> None:
        if environment is not None:
            environment = resolve(environment).environment
        records = expired(environment)
        done = purge(records, include_needed=options["include_needed"], dry_run=options["dry_run"])
        verb = "would purge" if options["dry_run"] else "purged"
        for record in done.purged:
            self.stdout.write(
                f"{verb} {record.archive} ({record.environment}, {record}, "
                f"expired {record.expires_at:%Y-%m-%d})"
            )
        for record, why in done.kept:
            self.stderr.write(self.style.WARNING(f"kept {record.archive}: {why}"))
        if not records:
            self.stdout.write("No expired archives.")
