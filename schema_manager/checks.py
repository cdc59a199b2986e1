"""System checks on SCHEMA_MANAGER, run by ``manage.py check`` and before every command."""

from __future__ import annotations

from django.core.checks import CheckMessage, Error, Tags, Warning, register
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


# Ports of PgBouncer (6432) and Supabase's transaction-mode pooler (6543).
POOLER_PORTS = {"6432", "6543"}


@register(Tags.database)
def check_no_transaction_pooler(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Warn when a PostgreSQL target looks like it goes through a transaction-mode pooler.

    A session advisory lock (the migration lock) means nothing there: consecutive
    statements may run on different server sessions. The signs are heuristics: a pooler's
    port, a host name mentioning a pooler, or DISABLE_SERVER_SIDE_CURSORS (which Django
    documents for transaction pooling).
    """
    warnings: list[CheckMessage] = []
    for environment, alias in app_settings.ENVIRONMENTS.items():
        config = connections.settings.get(alias)
        if config is None or connections[alias].vendor != "postgresql":
            continue
        signs = _pooler_signs(config)
        if signs:
            warnings.append(
                Warning(
                    f"Environment {environment!r} targets {alias!r}, which looks like a "
                    f"connection pooler in transaction mode ({', '.join(signs)}); the "
                    "migration lock needs one server session for the whole apply.",
                    hint="Point the target at PostgreSQL directly or at a session-mode pool.",
                    id="schema_manager.W006",
                )
            )
    return warnings


def _pooler_signs(config: dict) -> list[str]:
    signs = []
    if str(config.get("PORT") or "") in POOLER_PORTS:
        signs.append(f"port {config['PORT']}")
    host = str(config.get("HOST") or "").lower()
    if "pgbouncer" in host or "pooler" in host:
        signs.append(f"host {host}")
    if config.get("DISABLE_SERVER_SIDE_CURSORS"):
        signs.append("DISABLE_SERVER_SIDE_CURSORS")
    return signs
