"""System checks on SCHEMA_MANAGER, run by ``manage.py check`` and before every command."""

from __future__ import annotations

from django.core.checks import Error, Tags, register
from django.db import connections

from .backends import BACKENDS
from .conf import app_settings


@register(Tags.database, Tags.compatibility)
def check_environments(app_configs=None, **kwargs) -> list[Error]:
    errors: list[Error] = []
    environments = app_settings.ENVIRONMENTS
    if not environments:
        return [
            Error(
                "SCHEMA_MANAGER['ENVIRONMENTS'] is empty.",
                hint="Map at least one environment name to a DATABASES alias.",
                id="schema_manager.E001",
            )
        ]
    for environment, alias in environments.items():
        if alias not in connections.settings:
            errors.append(
                Error(
                    f"Environment {environment!r} names database alias {alias!r}, which is not "
                    "in DATABASES.",
                    hint=f"Add {alias!r} to DATABASES or map {environment!r} to an existing alias.",
                    id="schema_manager.E001",
                )
            )
            continue
        vendor = connections[alias].vendor
        if vendor not in BACKENDS:
            errors.append(
                Error(
                    f"Environment {environment!r} targets {alias!r}, a {vendor} database; "
                    f"supported engines are {', '.join(sorted(BACKENDS))}.",
                    id="schema_manager.E002",
                )
            )
    default = app_settings.DEFAULT_ENVIRONMENT
    if default not in environments:
        errors.append(
            Error(
                f"SCHEMA_MANAGER['DEFAULT_ENVIRONMENT'] is {default!r}, which is not one of the "
                "configured environments.",
                hint=f"Use one of: {', '.join(sorted(environments))}.",
                id="schema_manager.E003",
            )
        )
    return errors
