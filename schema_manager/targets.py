"""Environments and the target databases they name."""

from __future__ import annotations

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


def resolve(environment: str | None) -> Target:
    """The target of ``environment`` (None: the default environment)."""
    name = environment or app_settings.DEFAULT_ENVIRONMENT
    mapping = app_settings.ENVIRONMENTS
    if name not in mapping:
        raise UnknownEnvironmentError(name, list(mapping))
    return Target(name, mapping[name])


def all_targets() -> list[Target]:
    return [Target(name, alias) for name, alias in app_settings.ENVIRONMENTS.items()]
