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


class PromotionGate:
    """Whether migrations may be applied in ``target`` yet, by PROMOTION_ORDER.

    The previous environment's ledger is read once, on the first question, so a batch of
    applies asks it once rather than once per migration.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self.previous = previous_environment(target.environment)
        self._applied: set[tuple[str, str]] | None = None  # (migration id, checksum)
        self._unreadable: DatabaseError | None = None

    def problem(self, migration_id: str, checksum: str) -> str | None:
        """Why ``migration_id`` (with this checksum) may not be applied yet (None if it may)."""
        if self.previous is None:
            return None
        if self._applied is None and self._unreadable is None:
            self._read()
        if self._unreadable is not None:
            return (
                f"Migration {migration_id!r} cannot be promoted to {self.target.environment}: "
                f"the ledger of {self.previous} (SCHEMA_MANAGER['PROMOTION_ORDER']) could not "
                f"be read ({self._unreadable})."
            )
        if (migration_id, checksum) in self._applied:
            return None
        return (
            f"Migration {migration_id!r} has not been applied in {self.previous} (with this "
            f"SQL), and SCHEMA_MANAGER['PROMOTION_ORDER'] requires it to succeed in "
            f"{self.previous} before {self.target.environment}."
        )

    def _read(self) -> None:
        source = resolve(self.previous)
        try:
            rows = Ledger(get_backend(connections[source.alias])).rows()
        except DatabaseError as exc:
            self._unreadable = exc
            return
        self._applied = {(row.migration_name, row.checksum) for row in rows if row.is_applied}
