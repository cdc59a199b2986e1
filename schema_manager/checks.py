"""System checks on SCHEMA_MANAGER, run by ``manage.py check`` and before every command."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import connections

from .backends import BACKENDS
from .conf import app_settings
from .exceptions import SchemaManagerError
from .files import PROVIDERS, MigrationDirectory


# Not tagged "database": it reads settings only, and Django 6 skips database-tagged checks
# unless a command names databases, so the errors would go unseen by most commands.
@register(Tags.compatibility)
def check_environments(app_configs=None, **kwargs) -> list[Error]:
    errors: list[Error] = []
    environments = app_settings.ENVIRONMENTS
    if not environments:
        return [
            Error(
                "SCHEMA_MANAGER['ENVIRONMENTS'] is empty.",
                hint="Map at least one environment name to a DATABASES alias.",
                id="schema_manager.E006",
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
    unknown = [name for name in app_settings.PROMOTION_ORDER if name not in environments]
    if unknown:
        errors.append(
            Error(
                f"SCHEMA_MANAGER['PROMOTION_ORDER'] names {', '.join(map(repr, unknown))}, "
                "not among the configured environments.",
                hint=f"Use names from: {', '.join(sorted(environments))}.",
                id="schema_manager.E005",
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


@register(Tags.compatibility)
def check_migrations_directory(app_configs=None, **kwargs) -> list[CheckMessage]:
    """The directory must be creatable if an environment writes files; its lock must fit."""
    directory = MigrationDirectory.beside(app_settings.PRISMA_SCHEMA_PATH)
    messages: list[CheckMessage] = []
    writers = sorted(set(app_settings.ENVIRONMENTS) & app_settings.WRITE_FILES_ENVIRONMENTS)
    problem = _uncreatable(directory.path) if writers else None
    if problem:
        messages.append(
            Error(
                f"The migrations directory {str(directory.path)!r} cannot be created: {problem}.",
                hint=f"Fix PRISMA_SCHEMA_PATH or the permissions; {', '.join(writers)} "
                "write migration folders there (WRITE_FILES_ENVIRONMENTS).",
                id="schema_manager.E004",
            )
        )
    try:
        provider = directory.lock_provider()
    except (OSError, SchemaManagerError):
        provider = None
    if provider is None:
        return messages
    for environment, alias in app_settings.ENVIRONMENTS.items():
        if alias not in connections.settings:
            continue  # E001
        expected = PROVIDERS.get(connections[alias].vendor)
        if expected and provider != expected:
            messages.append(
                Warning(
                    f"{str(directory.lock_path)!r} names provider {provider!r}, but environment "
                    f"{environment!r} targets a {expected} database.",
                    hint="Prisma refuses to deploy these migrations there. Write portable SQL "
                    "and fix or delete the lock file, or keep one provider per project.",
                    id="schema_manager.W001",
                )
            )
    return messages


def _uncreatable(path: Path) -> str | None:
    """Why ``path`` cannot be a directory we write into (None if it is or can be)."""
    if path.exists():
        if not path.is_dir():
            return "a file is in the way"
        return None if os.access(path, os.W_OK | os.X_OK) else "it is not writable"
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{str(parent)!r} is a file"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{str(parent)!r} is not writable"
    return None


@register(Tags.compatibility)
def check_rules(app_configs=None, **kwargs) -> list[Error]:
    """SCHEMA_MANAGER['RULES'] names known rules and severities (a typo would do nothing)."""
    from .sql.rule_table import RULES

    errors: list[Error] = []
    for environment, severities in app_settings.RULES.items():
        for rule_id, severity in severities.items():
            if rule_id not in RULES or severity not in ("error", "warning", "off"):
                errors.append(
                    Error(
                        f"SCHEMA_MANAGER['RULES'][{environment!r}] has {rule_id!r}: "
                        f"{severity!r}, which is not a known rule and severity.",
                        hint="Rule ids are in the docs (Validation and rollbacks); severities are "
                        "'error', 'warning' or 'off'.",
                        id="schema_manager.E007",
                    )
                )
    return errors


# Ports of PgBouncer (6432) and Supabase's transaction-mode pooler (6543).
POOLER_PORTS = {"6432", "6543"}


@register(Tags.compatibility)
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
                    id="schema_manager.W002",
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


@register(Tags.compatibility)
def check_approvals(app_configs=None, **kwargs) -> list[CheckMessage]:
    """The approval policies (``APPROVALS``) and where notifications go."""
    from .change_requests.policy import notification_problems, problems

    messages: list[CheckMessage] = [
        Error(problem, hint="See docs/change-requests.md.", id="schema_manager.E901")
        for problem in problems()
    ]
    messages.extend(
        Error(problem, hint="See docs/change-requests.md.", id="schema_manager.E902")
        for problem in notification_problems()
    )
    return messages
