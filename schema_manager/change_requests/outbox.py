"""Notifications through an outbox: written in the transaction that changes a request, sent
after it commits by a thread of their own, retried with backoff, and never able to block or
fail a migration.

A slow webhook holds up no command: the commit only wakes the sending thread. At the
process's exit it is given ``EXIT_WAIT`` seconds more; whatever it could not send by then stays
in the outbox, pending, for the next drain (``drain_change_notifications`` from cron, the next
commit of a request, ``run_scheduled_change_requests``).

``SCHEMA_MANAGER["CHANGE_NOTIFICATIONS"]``: ``WEBHOOKS`` (URLs receiving Slack-compatible
JSON), ``EMAILS`` (addresses, through Django's mail), ``TIMEOUT`` (seconds per attempt, 5),
``MAX_ATTEMPTS`` (8), ``BACKOFF`` (seconds before the first retry, 30; doubled each time).
"""

from __future__ import annotations

import atexit
import datetime
import json
import os
import threading
import urllib.error
import urllib.request
from typing import Any

from django.core.mail import send_mail
from django.db import DatabaseError, connections, transaction

from ..conf import app_settings
from ..security import get_logger, scrub
from .clock import now
from .models import ChangeRequest, Notification

logger = get_logger("schema_manager.notifications")

DEFAULTS = {"WEBHOOKS": [], "EMAILS": [], "TIMEOUT": 5.0, "MAX_ATTEMPTS": 8, "BACKOFF": 30.0}
# Seconds a process that is exiting waits for sends in flight (the rest stay pending).
EXIT_WAIT = 2.0


def settings() -> dict[str, Any]:
    return {**DEFAULTS, **(app_settings.raw("CHANGE_NOTIFICATIONS") or {})}


def notify(request: ChangeRequest, event: str, text: str) -> list[Notification]:
    """Queue ``event`` on ``request`` for every configured destination, in the caller's
    transaction; sending starts once it commits."""
    config = settings()
    summary = (
        f"[{request.environment}] {request.label} ({request.operation} "
        f"{', '.join(request.pinned_ids())}): {event.replace('_', ' ')}: {text}"
    )
    payload = {
        "text": summary,
        "event": event,
        "change_request": {
            "id": request.pk,
            "title": request.title,
            "environment": request.environment,
            "operation": request.operation,
            "state": request.state,
            "author": request.author.get_username(),
            "migrations": request.pinned_ids(),
            "break_glass": request.break_glass,
        },
    }
    queued = [
        Notification(request=request, event=event, channel=channel, destination=to, payload=payload)
        for channel, key in ((Notification.Channel.WEBHOOK, "WEBHOOKS"), ("email", "EMAILS"))
        for to in config[key]
    ]
    if not queued:
        return []
    created = Notification.objects.bulk_create(queued)
    transaction.on_commit(_sender.wake)
    return created


class _Sender:
    """One thread per process draining the outbox while there is reason to: woken by each
    commit that queued something, it drains again if woken while it was sending."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Nothing running: at start, and in a forked child (which inherits no thread, and
        perhaps a lock some thread of the parent held)."""
        self._lock = threading.Lock()
        self._wanted = False
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        with self._lock:
            self._wanted = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="schema-manager-notifications", daemon=True
                )
                self._thread.start()

    def settle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the sends in flight; whether they ended."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._wanted:
                        self._thread = None
                        return
                    self._wanted = False
                drain()
        finally:
            connections.close_all()  # this thread's own
            with self._lock:
                if self._thread is threading.current_thread():  # drain() raised
                    self._thread = None


_sender = _Sender()
settle = _sender.settle
atexit.register(settle, EXIT_WAIT)
os.register_at_fork(after_in_child=_sender.reset)


def drain(limit: int = 100) -> int:
    """Send what is due; returns how many were sent. Never raises: a failure is recorded on
    the message and retried later (``drain_change_notifications`` or the next commit)."""
    try:
        due = list(
            Notification.objects.filter(
                status=Notification.Status.PENDING, next_attempt_at__lte=now()
            ).order_by("next_attempt_at", "id")[:limit]
        )
    except DatabaseError:
        logger.exception("The notification outbox could not be read")
        return 0
    config = settings()
    sent = 0
    for message in due:
        try:
            sent += _attempt(message, config)
        except Exception:  # a notification must never fail what sent it
            logger.exception("Notification %s could not be attempted", message.pk)
    return sent


def _attempt(message: Notification, config: dict[str, Any]) -> bool:
    # Claimed by moving its next attempt: a concurrent drain skips it.
    moment = now()
    claim = moment + datetime.timedelta(seconds=float(config["TIMEOUT"]) * 2 + 1)
    claimed = Notification.objects.filter(
        pk=message.pk, status=Notification.Status.PENDING, next_attempt_at=message.next_attempt_at
    ).update(next_attempt_at=claim)
    if not claimed:
        return False
    error = _send(message, float(config["TIMEOUT"]))
    message.attempts += 1
    if error is None:
        message.status, message.sent_at, message.last_error = (
            Notification.Status.SENT,
            now(),
            "",
        )
    else:
        message.last_error = error
        if message.attempts >= int(config["MAX_ATTEMPTS"]):
            message.status = Notification.Status.GAVE_UP
        delay = float(config["BACKOFF"]) * 2 ** (message.attempts - 1)
        message.next_attempt_at = moment + datetime.timedelta(seconds=delay)
        logger.warning(
            "Notification %s (%s to %s) failed, attempt %d: %s",
            message.pk,
            message.event,
            _shown(message.destination),
            message.attempts,
            error,
        )
    message.save(update_fields=["attempts", "status", "sent_at", "last_error", "next_attempt_at"])
    return error is None


def _send(message: Notification, timeout: float) -> str | None:
    """None if delivered, else why not."""
    if message.channel == Notification.Channel.EMAIL:
        try:
            send_mail(
                subject=message.payload["text"][:150],
                message=json.dumps(message.payload, indent=2),
                from_email=None,
                recipient_list=[message.destination],
            )
        except Exception as exc:  # SMTP errors, refused recipients
            return scrub(f"{type(exc).__name__}: {exc}")
        return None
    body = json.dumps(message.payload).encode()
    http = urllib.request.Request(
        message.destination, data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(http, timeout=timeout) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return scrub(f"{type(exc).__name__}: {exc}")
    return None


def _shown(destination: str) -> str:
    """A webhook URL's scheme and host only: its path is often the secret."""
    if "://" not in destination:
        return destination
    scheme, rest = destination.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}/…"
