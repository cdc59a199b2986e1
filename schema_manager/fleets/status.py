"""Where every target of a fleet stands against a plan, and a rollout's progress in numbers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db import DatabaseError, connections
from django.db.models import Count

from ..models import Migration
from ..security import scrub
from .connections import opened
from .models import Rollout, TargetRun
from .runs import applied_in
from .specs import get_fleet


@dataclass
class TargetStatus:
    key: str
    state: str  # "up to date", "behind", "failed", "unreachable"
    pending: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "up to date"


def fleet_status(fleet_name: str, plan: list[Migration]) -> list[TargetStatus]:
    """Each target's state against ``plan`` (one ledger read per target): behind if any
    migration of the plan is not applied there with its checksum; failed if a run of the
    latest rollout of the fleet failed there, or its ledger holds an unfinished attempt."""
    fleet = get_fleet(fleet_name)
    wanted = [(migration.id, migration.checksum) for migration in plan]
    latest = Rollout.objects.filter(fleet=fleet.name).order_by("-created_at", "-pk").first()
    failed = (
        dict(latest.runs.filter(state=TargetRun.State.FAILED).values_list("target_key", "error"))
        if latest
        else {}
    )
    report = []
    for spec in fleet.targets():
        try:
            with opened(fleet, spec) as target:
                there = applied_in(target.alias) or set()
                unfinished = _unfinished(target.alias)
        except DatabaseError as exc:
            report.append(TargetStatus(spec.key, "unreachable", error=scrub(str(exc))))
            continue
        pending = [
            migration_id
            for migration_id, checksum in wanted
            if (migration_id, checksum) not in there
        ]
        if spec.key in failed or unfinished:
            error = failed.get(spec.key) or f"unfinished attempt of {unfinished} in its ledger"
            report.append(TargetStatus(spec.key, "failed", pending, error))
        else:
            report.append(TargetStatus(spec.key, "behind" if pending else "up to date", pending))
    return report


def _unfinished(alias: str) -> str:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT migration_name FROM _prisma_migrations "
                "WHERE finished_at IS NULL AND rolled_back_at IS NULL"
            )
            row = cursor.fetchone()
    except DatabaseError:
        return ""
    return row[0] if row else ""


def progress(rollout: Rollout) -> dict[str, int]:
    """Target runs per state, every state present (0 where none)."""
    counts = Counter(dict(rollout.runs.values_list("state").annotate(n=Count("pk")).order_by()))
    return {state: counts.get(state, 0) for state in TargetRun.State.values}


def wave_counts(rollout: Rollout) -> list[tuple[str, str, dict[str, int]]]:
    """(wave, its state, runs per state) for each wave in order."""
    rows = rollout.runs.values_list("wave", "state").annotate(n=Count("pk")).order_by()
    by_wave: dict[int, Counter[str]] = {}
    for wave_id, state, n in rows:
        by_wave.setdefault(wave_id, Counter())[state] = n
    return [
        (wave.name, wave.state, dict(by_wave.get(wave.pk, Counter())))
        for wave in rollout.waves.order_by("position")
    ]
