"""Environments and the target databases they name."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.db import connections

from .conf import app_settings
from .exceptions import UnknownEnvironmentError


@dataclass(frozen=True)
class Target:
    """An environment and the DATABASES alias its migrations run on."""

    environment: str
    alias: str

    @property
    def vendor(self) -> str:
        # Reading the vendor opens no connection.
        return connections[self.alias].vendor

    @property
    def is_protected(self) -> bool:
        return self.environment in app_settings.PROTECTED_ENVIRONMENTS


# Environments opened at run time (a fleet's targets: ``fleets.connections``) -> alias, per
# thread as Django's connections are.
_opened = threading.local()


def _opened_here() -> dict[str, str]:
    if not hasattr(_opened, "aliases"):
        _opened.aliases = {}
    mapping: dict[str, str] = _opened.aliases
    return mapping


def resolve(environment: str | None) -> Target:
    """The target of ``environment`` (None: the default environment)."""
    name = environment or app_settings.DEFAULT_ENVIRONMENT
    mapping = app_settings.ENVIRONMENTS
    if name in mapping:
        return Target(name, mapping[name])
    opened = _opened_here()
    if name in opened:
        return Target(name, opened[name])
    raise UnknownEnvironmentError(name, list(mapping))


def open_environment(environment: str, alias: str) -> Target:
    """Make ``environment`` (not in settings) name ``alias`` for this process."""
    _opened_here()[environment] = alias
    return Target(environment, alias)


def close_environment(environment: str, previous: str | None = None) -> None:
    """Forget ``environment`` here (or point it back at ``previous``)."""
    if previous is None:
        _opened_here().pop(environment, None)
    else:
        _opened_here()[environment] = previous


def opened_alias(environment: str) -> str | None:
    return _opened_here().get(environment)


def all_targets() -> list[Target]:
    return [Target(name, alias) for name, alias in app_settings.ENVIRONMENTS.items()]
