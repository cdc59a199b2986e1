"""What a fleet is: its settings, and the targets its callable returns."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.utils.module_loading import import_string

from ..conf import app_settings
from ..exceptions import SchemaManagerError

# Tenant keys and fleet names become part of an environment name (at most 64 characters).
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,48}$")
FLEET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,15}$")
# A schema name as PostgreSQL takes it unquoted, case kept by quoting it in search_path.
SCHEMA_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

FLEET_DEFAULTS: dict[str, Any] = {
    # Targets (run-time connections) per database server, across every worker.
    "MAX_CONNECTIONS_PER_SERVER": 10,
    # Seconds a worker's claim on a target run lasts unless renewed (it is renewed every
    # third of it while the run goes on); a run whose lease expired is given to another.
    "LEASE_SECONDS": 300.0,
    # The Django Tasks backend (a TASKS alias) and queue the target runs are enqueued on.
    "TASK_BACKEND": "default",
    "QUEUE": "default",
    # Seconds a task keeps running the wave's next targets in its slot after its own (0:
    # one target per task). Keep the engine's job timeout above this plus the longest run.
    "TASK_SECONDS": 30.0,
    # Waves when the command names none: [{"name", "labels", "max_parallel", "on_error",
    # "max_failures"}]; a target goes to the first wave whose labels it has.
    "WAVES": [],
    # Seconds the targets' list is kept per process before the callable is asked again.
    "CACHE_SECONDS": 30.0,
}


@dataclass(frozen=True)
class TargetSpec:
    """One target of a fleet: a key, the DATABASES alias it is based on, the PostgreSQL
    schema its migrations run in (None: the database's own search_path), labels for waves,
    and settings overriding the base alias's (a tenant database's NAME and credentials:
    read from settings or the environment, never stored in the app's database)."""

    key: str
    alias: str
    schema: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def matches(self, selector: Mapping[str, str]) -> bool:
        return all(self.labels.get(name) == value for name, value in selector.items())


class Fleet:
    """A fleet's settings, read from ``SCHEMA_MANAGER['FLEETS'][name]``."""

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        self.name = name
        self.config = {**FLEET_DEFAULTS, **config}

    @property
    def max_connections_per_server(self) -> int:
        return int(self.config["MAX_CONNECTIONS_PER_SERVER"])

    @property
    def lease_seconds(self) -> float:
        return float(self.config["LEASE_SECONDS"])

    @property
    def task_backend(self) -> str:
        return str(self.config["TASK_BACKEND"])

    @property
    def queue(self) -> str:
        return str(self.config["QUEUE"])

    @property
    def task_seconds(self) -> float:
        return float(self.config["TASK_SECONDS"])

    @property
    def waves(self) -> list[dict[str, Any]]:
        return [dict(wave) for wave in self.config["WAVES"]]

    def environment(self, key: str) -> str:
        """The environment name a target's history is recorded under."""
        return f"{self.name}:{key}"

    def targets(self) -> list[TargetSpec]:
        """The fleet's targets, checked (kept ``CACHE_SECONDS`` per process)."""
        cached = _CACHE.get(self.name)
        if cached and time.monotonic() - cached[0] < float(self.config["CACHE_SECONDS"]):
            return cached[1]
        specs = check_specs(self.name, _call(self.name, self.config.get("TARGETS")))
        _CACHE[self.name] = (time.monotonic(), specs)
        return specs

    def target(self, key: str) -> TargetSpec | None:
        return next((spec for spec in self.targets() if spec.key == key), None)


_CACHE: dict[str, tuple[float, list[TargetSpec]]] = {}


def forget_targets() -> None:
    """Ask every fleet's callable again on next use (tests, after a tenant was added)."""
    _CACHE.clear()


def get_fleet(name: str) -> Fleet:
    fleets = dict(app_settings.raw("FLEETS") or {})
    if name not in fleets:
        known = ", ".join(sorted(fleets)) or "none"
        raise SchemaManagerError(
            f"Unknown fleet {name!r}; SCHEMA_MANAGER['FLEETS'] defines: {known}."
        )
    return Fleet(name, fleets[name])


def _call(name: str, source: Any) -> Iterable[Any]:
    if isinstance(source, str):
        source = import_string(source)
    if not callable(source):
        raise SchemaManagerError(
            f"SCHEMA_MANAGER['FLEETS'][{name!r}]['TARGETS'] must be a callable (or its dotted "
            "path) returning the fleet's targets."
        )
    produced: Callable[[], Iterable[Any]] = source
    return produced()


def check_specs(fleet: str, produced: Iterable[Any]) -> list[TargetSpec]:
    """The targets as ``TargetSpec``s (dicts are accepted), each checked; a clear error
    naming the first bad one."""
    specs: list[TargetSpec] = []
    seen: set[str] = set()
    for item in produced:
        spec = item if isinstance(item, TargetSpec) else TargetSpec(**item)
        where = f"Fleet {fleet!r}, target {spec.key!r}"
        if not KEY_PATTERN.match(str(spec.key)):
            raise SchemaManagerError(f"{where}: a key is 1-48 letters, digits, '_', '.' or '-'.")
        if spec.key in seen:
            raise SchemaManagerError(f"{where}: the key appears twice.")
        if spec.alias not in connections:
            raise SchemaManagerError(f"{where}: no DATABASES alias {spec.alias!r}.")
        if spec.schema is not None:
            if not SCHEMA_PATTERN.match(spec.schema):
                raise SchemaManagerError(f"{where}: {spec.schema!r} is not a schema name.")
            if connections[spec.alias].vendor != "postgresql":
                raise SchemaManagerError(f"{where}: a schema needs a PostgreSQL alias.")
        seen.add(spec.key)
        specs.append(spec)
    return specs
