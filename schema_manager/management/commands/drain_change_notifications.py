"""Send the change-request notifications that are due (retries with backoff): for cron."""

from __future__ import annotations

from ...change_requests import outbox
from ._base import SchemaCommand


class Command(SchemaCommand):
    help = "Send due change-request notifications from the outbox (webhooks and e-mail)."

    def handle(self, *args, **options) -> None:
        sent = outbox.drain()
        if options["verbosity"] >= 1:
            self.stdout.write(f"{sent} notification(s) sent.")
