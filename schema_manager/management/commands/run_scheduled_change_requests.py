"""Run the approved change requests that wait for their maintenance window, once it is open;
announce overdue break-glass reviews; send due notifications. Meant for cron or a worker."""

from __future__ import annotations

import datetime
import getpass

from django.core.management.base import CommandError

from ...change_requests import clock, outbox, windows
from ._base import SchemaCommand, find_user


class Command(SchemaCommand):
    help = "Run scheduled change requests whose maintenance window is open now."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--user", metavar="USERNAME", help="Who runs them (default: the system user)."
        )
        parser.add_argument(
            "--at",
            metavar="ISO-TIME",
            help="Act as if it were this time (UTC if no offset is given), e.g. to check "
            "what a window would run.",
        )

    def handle(self, *args, **options) -> None:
        executor = find_user(options["user"]).get_username() if options["user"] else _system_user()
        moment = _parse(options["at"]) if options["at"] else clock.now()
        with clock.at(moment):
            runs = windows.run_due(executor)
            overdue = windows.announce_overdue_reviews()
            outbox.drain()
        failed = False
        for run in runs:
            ok = not run.error and run.request.state == "done"
            failed |= not ok
            detail = run.error or run.request.state
            line = f"{run.request.label} ({run.request.environment}): {detail}"
            self.stdout.write(self.style.SUCCESS(line) if ok else self.style.ERROR(line))
        for request in overdue:
            self.stdout.write(self.style.WARNING(f"{request.label}: break-glass review overdue"))
        if not runs and options["verbosity"] >= 1:
            self.stdout.write("No scheduled change request is due.")
        if failed:
            raise CommandError("A scheduled change request did not complete; see above.")


def _parse(value: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--at {value!r} is not an ISO time such as 2026-01-05T02:30") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _system_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
