"""The evidence of one change request, for an auditor's sample: the request, what reviewers
saw (diff, findings, rehearsal), the decisions, the scripts pinned, the history records and
ledger row ids of the run, and the notifications sent. JSON follows ``evidence.schema.json``
(shipped beside this module); HTML is the same content for reading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.apps import apps
from django.template.loader import render_to_string

from ..conf import app_settings
from ..models import VersionRecord
from .clock import now
from .models import ChangeRequest, find
from .outbox import _shown
from .policy import POLICY_DEFAULTS

SCHEMA_PATH = Path(__file__).with_name("evidence.schema.json")
FORMAT = "schema_manager.change_evidence/1"


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def collect(request_id: int | str | ChangeRequest) -> dict[str, Any]:
    request = find(request_id)
    records = _records(request)
    raw_policy = (app_settings.raw("APPROVALS") or {}).get(request.environment)
    return {
        "format": FORMAT,
        "generated_at": _time(now()),
        "request": {
            "id": request.pk,
            "title": request.title,
            "reason": request.reason,
            "environment": request.environment,
            "operation": request.operation,
            "state": request.state,
            "author": request.author.get_username(),
            "created_at": _time(request.created_at),
            "submitted_at": _time(request.submitted_at),
            "approved_at": _time(request.approved_at),
            "expires_at": _time(request.expires_at),
            "executed_by": request.executed_by,
            "started_at": _time(request.started_at),
            "finished_at": _time(request.finished_at),
            "void_reason": request.void_reason,
            "break_glass": request.break_glass,
            "review": {
                "due_at": _time(request.review_due_at),
                "reviewed_at": _time(request.reviewed_at),
                "reviewed_by": request.reviewed_by.get_username() if request.reviewed_by else None,
                "comment": request.review_comment,
            },
        },
        "policy": {**POLICY_DEFAULTS, **raw_policy} if raw_policy is not None else None,
        "migrations": [
            {
                "position": pin.position,
                "id": pin.migration_id,
                "sql": pin.sql,
                "sql_checksum": pin.sql_checksum,
                "rollback_script": pin.rollback_script,
                "rollback_checksum": pin.rollback_checksum,
                "last_editor": pin.last_editor,
            }
            for pin in request.pins.all()
        ],
        "snapshot": request.snapshot or {},
        "decisions": [
            {
                "user": approval.user.get_username(),
                "decision": approval.decision,
                "comment": approval.comment,
                "decided_at": _time(approval.decided_at),
                "checksums_seen": approval.checksums_seen,
                "voided_at": _time(approval.voided_at),
                "void_reason": approval.void_reason,
            }
            for approval in request.approvals.select_related("user")
        ],
        "execution": {"outcome": request.outcome or [], "version_records": records},
        "notifications": [
            {
                "event": message.event,
                "channel": message.channel,
                "destination": _shown(message.destination),
                "status": message.status,
                "attempts": message.attempts,
                "created_at": _time(message.created_at),
                "sent_at": _time(message.sent_at),
                "last_error": message.last_error,
            }
            for message in request.notifications.order_by("created_at", "pk")
        ],
        "admin_log": _admin_log(request),
    }


def to_json(evidence: dict[str, Any]) -> str:
    return json.dumps(evidence, indent=2, ensure_ascii=False)


def to_html(evidence: dict[str, Any]) -> str:
    return render_to_string("schema_manager/change_evidence.html", {"e": evidence})


def _admin_log(request: ChangeRequest) -> list[dict[str, Any]]:
    """The admin's log of the request: its decisions and refusals made there."""
    if not apps.is_installed("django.contrib.admin"):
        return []
    # Imported here: a project without the admin cannot import its models.
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(ChangeRequest), object_id=str(request.pk)
    )
    return [
        {
            "user": entry.user.get_username(),
            "time": _time(entry.action_time),
            "message": entry.get_change_message(),
        }
        for entry in entries.select_related("user").order_by("action_time", "pk")
    ]


def _records(request: ChangeRequest) -> list[dict[str, Any]]:
    ids = [
        item["version_record_id"] for item in request.outcome or [] if item.get("version_record_id")
    ]
    # A fleet's request: each target's run names the records of what it applied.
    ids += [pk for item in request.outcome or [] for pk in item.get("version_record_ids", [])]
    return [
        {
            "id": record.pk,
            "migration_id": record.migration_id,
            "environment": record.environment,
            "database": record.database,
            "operation": record.operation,
            "status": record.status,
            "checksum": record.checksum,
            "ledger_id": record.ledger_id,
            "applied_by": record.applied_by,
            "applied_at": _time(record.applied_at),
            "rolled_back_at": _time(record.rolled_back_at),
            "execution_time": record.execution_time,
            "rollback_script": record.rollback_script,
            "error": record.error,
        }
        for record in VersionRecord.objects.filter(pk__in=ids).order_by("pk")
    ]


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
