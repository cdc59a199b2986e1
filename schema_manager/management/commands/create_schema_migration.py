from __future__ import annotations

import re
from pathlib import Path

from django.core.management.base import CommandError

from ._base import SchemaCommand


class Command(SchemaCommand):
    help = (
        "Create prisma/migrations/<UTC timestamp>_<name>/migration.sql (and down.sql), the way "
        "`prisma migrate dev --create-only` names folders."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "name",
            metavar="NAME",
            nargs="?",
            default="",
            help="What the migration does, e.g. 'add users' (none: the folder is "
            "'<timestamp>_', as Prisma names a migration without a name).",
        )
        parser.add_argument("--sql", metavar="FILE", help="Copy migration.sql from FILE.")
        parser.add_argument(
            "--down", metavar="FILE", help="Copy down.sql (the rollback) from FILE."
        )

    def handle(self, *args, name: str, **options) -> None:
        folder = self.workspace.directory.create(
            name, sql=_read(options["sql"]), rollback_sql=_read(options["down"])
        )
        if options["verbosity"] >= 1:
            self.stdout.write(self.style.SUCCESS(f"Created {folder}"))
            slug = folder.name.split("_", 1)[1]
            # Lowercasing and spaces made underscores go without saying; anything else is told.
            if slug != re.sub(r"[\s-]+", "_", name.strip().lower()):
                self.stdout.write(
                    f"The name {name!r} became {slug!r}, as Prisma names migration folders."
                )


def _read(path: str | None) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read {path!r}: {exc}.") from exc
