"""System checks on ``SCHEMA_MANAGER['FLEETS']``: each fleet's settings (E701), and the task
engine its target runs are enqueued on (E702). Settings only: no target is listed, no
database is read, so a mistake shows at ``manage.py check``, not at a rollout's first run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.utils.module_loading import import_string

from ..conf import app_settings
from .specs import FLEET_DEFAULTS, FLEET_PATTERN

KEYS = {"TARGETS", *FLEET_DEFAULTS}
WAVE_KEYS = {"name", "labels", "max_parallel", "on_error", "max_failures"}
# Setting: (smallest value allowed, whether it must be a whole number).
NUMBERS = {
    "MAX_CONNECTIONS_PER_SERVER": (1, True),
    "LEASE_SECONDS": (1, False),
    "TASK_SECONDS": (0, False),
    "CACHE_SECONDS": (0, False),
}
HINT = "See docs/fleets.md (Settings)."
ENGINE_HINT = "See docs/fleets.md (Task engines)."


@register(Tags.compatibility)
def check_fleets(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    fleets = app_settings.raw("FLEETS") or {}
    messages: list[CheckMessage] = []
    for where, problems, config in _fleets(fleets):
        messages += [Error(f"{where}: {p}", hint=HINT, id="schema_manager.E701") for p in problems]
        if not problems:
            messages += [
                Error(f"{where}: {p}", hint=ENGINE_HINT, id="schema_manager.E702")
                for p in engine_problems({**FLEET_DEFAULTS, **config})
            ]
    return messages


def _fleets(fleets: Any) -> list[tuple[str, list[str], Any]]:
    """(where, what is wrong there, the fleet's settings) per fleet."""
    if not isinstance(fleets, Mapping):
        kind = type(fleets).__name__
        return [("SCHEMA_MANAGER['FLEETS']", [f"a {kind}, not a dict of fleets"], None)]
    return [
        (f"SCHEMA_MANAGER['FLEETS'][{name!r}]", fleet_problems(name, config), config)
        for name, config in fleets.items()
    ]


def fleet_problems(name: Any, config: Any) -> list[str]:
    """What is wrong with one fleet's settings, one sentence each."""
    if not isinstance(name, str) or not FLEET_PATTERN.match(name):
        return ["a fleet's name is 1-15 letters, digits, '_' or '-'."]
    if not isinstance(config, Mapping):
        return [f"the settings are a {type(config).__name__}, not a dict."]
    problems = [f"unknown key {key!r}." for key in config if key not in KEYS]
    problems += _targets_problems(config.get("TARGETS"))
    for key, (least, whole) in NUMBERS.items():
        if key in config and not _number(config[key], least, whole):
            kind = "a whole number" if whole else "a number"
            problems.append(f"{key} is {config[key]!r}; it must be {kind} of at least {least}.")
    for key in ("TASK_BACKEND", "QUEUE"):
        if key in config and (not isinstance(config[key], str) or not config[key]):
            problems.append(f"{key} is {config[key]!r}; it must be a name (a string).")
    waves = config.get("WAVES", [])
    if not isinstance(waves, list | tuple):
        problems.append("WAVES must be a list of waves (dicts).")
    else:
        for position, wave in enumerate(waves):
            problems += [f"WAVES[{position}]: {p}" for p in _wave_problems(wave)]
    return problems


def _targets_problems(source: Any) -> list[str]:
    if source is None:
        return ["TARGETS is missing: a callable (or its dotted path) returning the targets."]
    if isinstance(source, str):
        try:
            source = import_string(source)
        except ImportError as exc:
            return [f"TARGETS {source!r} cannot be imported ({exc})."]
    if not callable(source):
        return ["TARGETS must be a callable (or its dotted path) returning the targets."]
    return []


def _wave_problems(wave: Any) -> list[str]:
    if not isinstance(wave, Mapping):
        return ["a wave is a dict."]
    problems = [f"unknown key {key!r}." for key in wave if key not in WAVE_KEYS]
    if not isinstance(wave.get("name"), str) or not wave.get("name"):
        problems.append("a wave needs a name.")
    if not isinstance(wave.get("labels", {}), Mapping):
        problems.append("labels must be a dict of label name -> value.")
    if wave.get("on_error", "stop") not in ("stop", "continue"):
        problems.append(f"on_error is {wave['on_error']!r}; it is 'stop' or 'continue'.")
    for key in ("max_parallel", "max_failures"):
        if key in wave and not _number(wave[key], 1, True):
            problems.append(f"{key} is {wave[key]!r}; it must be a whole number of at least 1.")
    return problems


def _number(value: Any, least: float, whole: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return value >= least and (not whole or isinstance(value, int))


def engine_problems(config: Mapping[str, Any]) -> list[str]:
    """Whether the Tasks framework is there, and the fleet's backend and queue exist in it."""
    handler = _task_backends()
    if handler is None:
        return [
            "fleet rollouts enqueue their targets through Django's Tasks framework, which is "
            "not installed (Django 6, or the django-tasks backport: pip install "
            "'django-schema-manager[fleets]')."
        ]
    alias, queue = config["TASK_BACKEND"], config["QUEUE"]
    if alias not in handler.settings:
        known = ", ".join(sorted(handler.settings)) or "none"
        return [f"TASK_BACKEND {alias!r} is not a backend of TASKS (it defines: {known})."]
    try:
        backend = handler[alias]
    except Exception as exc:  # the backend's own error: a missing module, a bad option
        return [f"TASK_BACKEND {alias!r} cannot be loaded: {' '.join(str(exc).split())}"]
    queues = getattr(backend, "queues", None)
    if queues and queue not in queues:
        return [
            f"QUEUE {queue!r} is not among the queues of TASKS[{alias!r}] "
            f"({', '.join(sorted(queues))}); add it to its QUEUES."
        ]
    return []


def _task_backends() -> Any:
    try:
        from django.tasks import task_backends
    except ImportError:
        try:
            from django_tasks import task_backends  # type: ignore[assignment]
        except ImportError:
            return None
    return task_backends
