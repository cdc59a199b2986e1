"""Environment policy: promotion order, which environments write files, which may prompt."""

from __future__ import annotations

from django.db import DatabaseError, connections

from .backends import get_backend
from .conf import app_settings
from .ledger import Ledger
from .targets import Target, resolve


def writes_files(target: Target) -> bool:
    return target.environment in app_settings.WRITE_FILES_ENVIRONMENTS


def may_prompt(environment: str | None) -> bool:
    """Protected environments (production) never prompt, whatever INTERACTIVE_ENVIRONMENTS says."""
    target = resolve(environment)
    return target.environment in app_settings.INTERACTIVE_ENVIRONMENTS and not target.is_protected


def previous_environment(environment: str) -> str | None:
    """The environment a migration must have succeeded in first, if PROMOTION_ORDER says so."""
    order = app_settings.PROMOTION_ORDER
    if environment not in order:
        return None
    position = order.index(environment)
    return order[position - 1] if position else None


def promotion_problem(migration_id: str, checksum: str, target: Target) -> str | None:
    """Why ``migration_id`` may not be applied in ``target`` yet (None if it may)."""
    previous = previous_environment(target.environment)
    if previous is None:
        return None
    source = resolve(previous)
    ledger = Ledger(get_backend(connections[source.alias]))
    try:
        rows = ledger.rows(migration_id)
    except DatabaseError as exc:
        return (
            f"Migration {migration_id!r} cannot be promoted to {target.environment}: the ledger "
            f"of {previous} (SCHEMA_MANAGER['PROMOTION_ORDER']) could not be read ({exc})."
        )
    if any(row.is_applied and row.checksum == checksum for row in rows):
        return None
    return (
        f"Migration {migration_id!r} has not been applied in {previous} (with this SQL), and "
        f"SCHEMA_MANAGER['PROMOTION_ORDER'] requires it to succeed in {previous} before "
        f"{target.environment}."
    )
