"""Pinning a request's plan: the checksums of the SQL and rollback script that would run
now, and the snapshot of what reviewers see (findings, rehearsal, rollbacks, diff)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.apps import apps

from .. import rollback_choice, services
from ..checksums import migration_checksum
from ..exceptions import ChangeRequestError
from ..fleets.connections import opened
from ..fleets.specs import get_fleet
from ..models import Migration, VersionRecord
from ..results import ValidationResult
from ..targets import Target, resolve
from ..workspace import executor_for
from .clock import now
from .policy import fleet_scope


@dataclass
class Pin:
    migration_id: str
    sql: str
    rollback_script: str
    last_editor: str

    @property
    def sql_checksum(self) -> str:
        return migration_checksum(self.sql)

    @property
    def rollback_checksum(self) -> str:
        return migration_checksum(self.rollback_script)


def catalogue(ids: list[str]) -> list[Migration]:
    """The catalogue entries ``ids``, in order; an error naming those it lacks."""
    found = Migration.objects.in_bulk(ids)
    missing = [mid for mid in ids if mid not in found]
    if missing:
        raise ChangeRequestError(
            f"Unknown migration(s) {', '.join(map(repr, missing))}: import them (or create "
            "them) before opening a change request."
        )
    if len(set(ids)) != len(ids):
        raise ChangeRequestError("A change request names each migration once.")
    return [found[mid] for mid in ids]


@contextmanager
def target_of(environment: str) -> Iterator[Target]:
    """The target a request is pinned on: its environment's or, for a fleet's every target
    (``"tenants:*"``), the fleet's first, opened for the pinning. Each target of the rollout
    compares its own scripts with those pinned when it runs."""
    name = fleet_scope(environment)
    if name is None:
        yield resolve(environment)
        return
    fleet = get_fleet(name)
    specs = fleet.targets()
    if not specs:
        raise ChangeRequestError(f"Fleet {name!r} has no target to pin {environment} on.")
    with opened(fleet, specs[0]) as target:
        yield target


def pin_apply(target: Target, ids: list[str], *, rehearse: bool) -> tuple[list[Pin], dict]:
    """Pins and snapshot for applying ``ids`` on ``target``: the rollback pinned is the one
    an apply would store (given, or generated from what the target holds now)."""
    migrations = catalogue(ids)
    validations = services.validate(migrations, target.environment, rehearse=rehearse)
    editors = last_editors(ids)
    pins = [
        Pin(m.id, m.sql, v.rollback_script, editors.get(m.id, ""))
        for m, v in zip(migrations, validations, strict=True)
    ]
    applied = _applied_sql(target.environment, ids)
    entries = [
        _entry(m, pin, v, applied.get(m.id, ""))
        for m, pin, v in zip(migrations, pins, validations, strict=True)
    ]
    return pins, {"taken_at": now().isoformat(), "rehearsed": rehearse, "migrations": entries}


def pin_rollback(target: Target, ids: list[str]) -> tuple[list[Pin], dict]:
    """Pins and snapshot for rolling back ``ids``: the rollback script in force (the one
    recorded when the live ledger row was applied)."""
    migrations = catalogue(ids)
    ledger = executor_for(target)
    editors = last_editors(ids)
    pins, entries = [], []
    for migration in migrations:
        live = ledger.live_row(migration.id)
        if live is None:
            raise ChangeRequestError(
                f"Migration {migration.id!r} is not applied in {target.environment}; there is "
                "nothing to roll back."
            )
        script = rollback_choice.script_in_force(
            target.environment, live.id, migration.id, target.vendor
        )
        pin = Pin(migration.id, migration.sql, script, editors.get(migration.id, ""))
        problem = rollback_choice.why_unusable(migration.id, script, target.vendor)
        pins.append(pin)
        entries.append(
            {
                "id": migration.id,
                "name": migration.name,
                "sql_checksum": live.checksum,
                "rollback_checksum": pin.rollback_checksum,
                "rollback_script": script,
                "errors": [problem] if problem else [],
                "warnings": [],
                "findings": [],
                "destructive": [],
                "rehearsal": None,
                "diff": _diff("", script, f"{migration.id}/rollback (in force)"),
            }
        )
    return pins, {"taken_at": now().isoformat(), "rehearsed": False, "migrations": entries}


def last_editors(ids: list[str]) -> dict[str, str]:
    """Migration id -> the user who last added or changed it in the admin (nobody, in a
    project without the admin)."""
    if not apps.is_installed("django.contrib.admin"):
        return {}
    # Imported here: a project without the admin cannot import its models.
    from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    kind = ContentType.objects.get_for_model(Migration)
    entries = (
        LogEntry.objects.filter(
            content_type=kind, object_id__in=ids, action_flag__in=[ADDITION, CHANGE]
        )
        .select_related("user")
        .order_by("action_time", "pk")
    )
    editors: dict[str, str] = {}
    for entry in entries:
        if entry.object_id and (entry.action_flag == ADDITION or _changed_scripts(entry)):
            editors[entry.object_id] = entry.user.get_username()
    return editors


def _changed_scripts(entry: Any) -> bool:
    """A change that touched the SQL or the rollback (the admin's own operations log changes
    too, with a plain message)."""
    message = entry.change_message or ""
    return message.startswith("[") and ("sql" in message.lower() or "rollback" in message.lower())


def _applied_sql(environment: str, ids: list[str]) -> dict[str, str]:
    """The SQL last applied in ``environment`` for each migration that was (by checksum)."""
    records = VersionRecord.objects.filter(
        environment=environment, migration_id__in=ids, operation="apply", status="applied"
    ).order_by("recorded_at")
    checksums = {record.migration_id: record.checksum for record in records}
    sql = {}
    for migration in Migration.objects.filter(pk__in=list(checksums)):
        if migration.checksum == checksums[migration.id]:
            sql[migration.id] = migration.sql
    return sql


def _entry(migration: Migration, pin: Pin, validation: ValidationResult, applied: str) -> dict:
    findings = [
        {"code": f.code, "severity": f.severity, "message": f.message, "destructive": f.destructive}
        for f in validation.findings
    ]
    rehearsal: dict[str, Any] | None = None
    if validation.rehearsed or validation.rehearsal_error:
        rehearsal = {
            "ran": validation.rehearsed,
            "seconds": validation.rehearsal_time,
            "error": validation.rehearsal_error,
        }
    return {
        "id": migration.id,
        "name": migration.name,
        "sql_checksum": pin.sql_checksum,
        "rollback_checksum": pin.rollback_checksum,
        "rollback_script": pin.rollback_script,
        "rollback_generated": validation.rollback_generated,
        "errors": list(validation.errors),
        "warnings": list(validation.warnings),
        "findings": findings,
        "destructive": [f["message"] for f in findings if f["destructive"]],
        "rehearsal": rehearsal,
        "diff": _diff(applied, migration.sql, f"{migration.id}/migration.sql"),
    }


def _diff(before: str, after: str, name: str) -> str:
    """A unified diff from what is applied (empty: not applied) to what would run."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"applied/{name}" if before else "/dev/null",
        tofile=f"pinned/{name}",
    )
    return "".join(lines)
