"""Notifications through an outbox: written in the transaction that changes a request, sent
after it commits, retried with backoff, and never able to block or fail a migration.

``SCHEMA_MANAGER["CHANGE_NOTIFICATIONS"]``: ``WEBHOOKS`` (URLs receiving Slack-compatible
JSON), ``EMAILS`` (addresses, through Django's mail), ``TIMEOUT`` (seconds per attempt, 5),
``MAX_ATTEMPTS`` (8), ``BACKOFF`` (seconds before the first retry, 30; doubled each time).
"""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.request
from typing import Any

from django.core.mail import send_mail
from django.db import DatabaseError, transaction

from ..conf import app_settings
from ..security import get_logger, scrub
from .clock import now
from .models import ChangeRequest, Notification

logger = get_logger("schema_manager.notifications")

DEFAULTS = {"WEBHOOKS": [], "EMAILS": [], "TIMEOUT": 5.0, "MAX_ATTEMPTS": 8, "BACKOFF": 30.0}


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
    transaction.on_commit(drain)
    return created


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
