"""Environment policy: promotion and migration order, which environments write files, which
may prompt."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Collection

from django.db import DatabaseError, connections

from .backends import get_backend
from .conf import app_settings
from .ledger import Ledger
from .sql.migration_order import migration_order_key, sorted_ids
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
        applied = self._applied_in_previous()
        if applied is None:
            return (
                f"Migration {migration_id!r} cannot be promoted to {self.target.environment}: "
                f"the ledger of {self.previous} (SCHEMA_MANAGER['PROMOTION_ORDER']) could not "
                f"be read ({self._unreadable})."
            )
        if (migration_id, checksum) in applied:
            return None
        return (
            f"Migration {migration_id!r} has not been applied in {self.previous} (with this "
            f"SQL), and SCHEMA_MANAGER['PROMOTION_ORDER'] requires it to succeed in "
            f"{self.previous} before {self.target.environment}."
        )

    def _applied_in_previous(self) -> set[tuple[str, str]] | None:
        """What the previous environment has applied, read once; None when its ledger could not
        be read (``_unreadable`` says why)."""
        if self._applied is None and self._unreadable is None:
            self._read()
        return self._applied

    def _read(self) -> None:
        source = resolve(self.previous)
        try:
            rows = Ledger(get_backend(connections[source.alias])).rows()
        except DatabaseError as exc:
            self._unreadable = exc
            return
        self._applied = {(row.migration_name, row.checksum) for row in rows if row.is_applied}


class OrderGate:
    """Whether applying a migration now keeps migration order (by id, as Prisma sorts its
    folders) in ``target``: a migration applied while one before it is pending there runs
    out of order. Protected environments refuse that unless allowed (Flyway's
    ``outOfOrder=false``); the others apply it with a warning.

    ``read`` returns (the ids pending in the target, the ids applied there); it is called on
    the first question, and the gate then follows the plan as it applies.
    """

    def __init__(
        self, target: Target, read: Callable[[], tuple[Collection[str], Collection[str]]]
    ) -> None:
        self.target = target
        self._read = read
        self._pending: list[str] | None = None
        self._applied: set[str] = set()

    def check(self, migration_id: str, *, allowed: bool) -> tuple[str | None, str | None]:
        """(why applying ``migration_id`` now is refused, a warning about it): at most one."""
        shown = self.pending_before(migration_id)
        if not shown:
            return None, None
        environment = self.target.environment
        if self.target.is_protected and not allowed:
            return (
                f"Migration {migration_id!r} was not applied to {environment}: it would run "
                f"out of order, before {shown} (earlier by id, still pending there); apply "
                "those first, or pass allow_out_of_order=True (--allow-out-of-order).",
                None,
            )
        return (
            None,
            f"Applied out of order: {shown} (earlier by id) still pending in {environment}.",
        )

    def applied(self, migration_id: str) -> None:
        """``migration_id`` is applied now (or, in a plan's check, would be)."""
        pending = self._ids()
        position = bisect_left(pending, migration_order_key(migration_id), key=migration_order_key)
        if position < len(pending) and pending[position] == migration_id:
            del pending[position]
        self._applied.add(migration_id)

    def pending_before(self, migration_id: str) -> str:
        """The migrations earlier by id still pending, named as a sentence names them (the
        first three), or "" if there are none."""
        earlier = self._earlier(migration_id)
        shown = ", ".join(repr(name) for name in earlier[:3])
        if len(earlier) > 3:
            shown += f" and {len(earlier) - 3} more"
        return shown

    def _earlier(self, migration_id: str) -> list[str]:
        pending = self._ids()
        if migration_id in self._applied:
            return []  # applying it again is a no-op
        return pending[
            : bisect_left(pending, migration_order_key(migration_id), key=migration_order_key)
        ]

    def _ids(self) -> list[str]:
        if self._pending is None:
            pending, applied = self._read()
            self._applied = set(applied)
            self._pending = sorted_ids(set(pending) - self._applied)
        return self._pending
