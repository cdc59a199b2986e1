"""A new rollout: the plan pinned by checksums, the fleet's targets split into waves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..change_requests import rollouts
from ..exceptions import SchemaManagerError
from ..models import Migration
from . import tasks
from .connections import server_of
from .fingerprints import up_to_date
from .models import Rollout, TargetRun, Wave
from .specs import Fleet, TargetSpec, get_fleet


@dataclass(frozen=True)
class WaveSpec:
    """A wave as asked for: the labels its targets have, and how it runs."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    max_parallel: int = 4
    on_error: str = Wave.OnError.STOP
    max_failures: int = 1

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> WaveSpec:
        return cls(**values)


def parse_labels(text: str) -> dict[str, str]:
    """``tier=gold,region=eu`` as a selector; a clear error on anything else."""
    selector: dict[str, str] = {}
    for part in filter(None, (item.strip() for item in text.split(","))):
        name, equals, value = part.partition("=")
        if not equals or not name:
            raise SchemaManagerError(f"Labels {text!r}: write them as name=value,name=value.")
        selector[name.strip()] = value.strip()
    return selector


def plan_rollout(
    fleet_name: str,
    migrations: Sequence[Migration],
    *,
    selector: Mapping[str, str] | None = None,
    waves: Sequence[WaveSpec] | None = None,
    started_by: str = "",
    change_request: str = "",
) -> Rollout:
    """A planned rollout of ``migrations`` (in order) over the fleet's targets that have the
    ``selector``'s labels. A target goes to the first wave whose labels it has; one that
    fits no wave is an error (nothing is created), so no target is left out unseen."""
    fleet = get_fleet(fleet_name)
    if not migrations:
        raise SchemaManagerError(f"Fleet {fleet_name!r}: the plan has no migration.")
    specs = [spec for spec in fleet.targets() if spec.matches(selector or {})]
    if not specs:
        raise SchemaManagerError(f"Fleet {fleet_name!r}: no target has labels {selector or {}}.")
    chosen = list(waves or [WaveSpec.of(wave) for wave in fleet.waves] or [WaveSpec("all")])
    placed = _place(specs, chosen)
    # Where the fleet has an approval policy: the gate, once for the rollout (each target
    # passes it again when it runs).
    change_request = rollouts.admit(fleet.name, migrations, change_request, started_by)
    try:
        rollout = _create(fleet, migrations, chosen, placed, started_by, change_request)
    except BaseException as exc:
        rollouts.abandoned(change_request, f"{type(exc).__name__}: {exc}")
        raise
    # Targets that hold the plan already are skipped now, read in bulk (the fast path for a
    # whole fleet); each run checks again when it runs, for targets that change meanwhile.
    current = up_to_date(fleet, specs, [(m.id, m.checksum) for m in migrations])
    rollout.runs.filter(target_key__in=current).update(
        state=TargetRun.State.SKIPPED, finished_at=timezone.now()
    )
    return rollout


def _create(
    fleet: Fleet,
    migrations: Sequence[Migration],
    chosen: list[WaveSpec],
    placed: list[list[TargetSpec]],
    started_by: str,
    change_request: str,
) -> Rollout:
    with transaction.atomic():
        rollout = Rollout.objects.create(
            fleet=fleet.name,
            plan=[[migration.id, migration.checksum] for migration in migrations],
            strategy="waves" if len(chosen) > 1 else "all",
            started_by=started_by,
            change_request=change_request,
        )
        position = 0
        for number, (wave_spec, members) in enumerate(zip(chosen, placed, strict=True)):
            wave = Wave.objects.create(
                rollout=rollout,
                position=number,
                name=wave_spec.name,
                selector=dict(wave_spec.labels),
                max_parallel=max(wave_spec.max_parallel, 1),
                on_error=Wave.OnError(wave_spec.on_error),
                max_failures=max(wave_spec.max_failures, 1),
            )
            runs = []
            for spec in members:
                runs.append(_run(rollout, wave, position, spec, fleet.environment(spec.key)))
                position += 1
            TargetRun.objects.bulk_create(runs, batch_size=500)
    return rollout


def _place(specs: list[TargetSpec], waves: list[WaveSpec]) -> list[list[TargetSpec]]:
    placed: list[list[TargetSpec]] = [[] for _wave in waves]
    for spec in specs:
        index = next((i for i, wave in enumerate(waves) if spec.matches(wave.labels)), None)
        if index is None:
            raise SchemaManagerError(
                f"Target {spec.key!r} (labels {dict(spec.labels)}) fits no wave; add a last "
                "wave without labels to catch the rest."
            )
        placed[index].append(spec)
    return placed


def _run(rollout: Rollout, wave: Wave, position: int, spec: TargetSpec, env: str) -> TargetRun:
    return TargetRun(
        rollout=rollout,
        wave=wave,
        position=position,
        target_key=spec.key,
        environment=env,
        schema=spec.schema or "",
        labels=dict(spec.labels),
        server=server_of(spec),
    )


def start(rollout: Rollout) -> None:
    """Start a planned rollout: its first runs go to the task engine."""
    updated = Rollout.objects.filter(pk=rollout.pk, state=Rollout.State.PLANNED).update(
        state=Rollout.State.RUNNING
    )
    if not updated:
        raise SchemaManagerError(f"Rollout {rollout.pk} is not planned; it cannot start.")
    tasks.advance(rollout.pk)
