"""What operations keep between them: where the migrations live, the ledger's fingerprint when
history last matched it, and the ``schema.prisma`` sync a plan defers to its end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import reconciliation, rollback_choice
from .conf import app_settings
from .exceptions import SchemaManagerError
from .execution.executor import MigrationExecutor
from .execution.session import ExecutionSession
from .files import MigrationDirectory
from .kept_records import KeptRecords
from .ledger_rows import LedgerRow
from .models import Migration
from .prisma_schema import sync_after
from .results import MigrationResult
from .security import get_logger
from .targets import Target

logger = get_logger("schema_manager.manager")

Fingerprint = tuple[int, int, int]


class Workspace:
    """One caller's view of the migrations: a ``SchemaManager`` holds one for its lifetime."""

    def __init__(self, prisma_schema_path: str | Path | None = None) -> None:
        self._prisma_schema_path = Path(prisma_schema_path) if prisma_schema_path else None
        # (environment, alias) -> the ledger's fingerprint when history last matched it here.
        self._in_sync: dict[tuple[str, str], Fingerprint] = {}
        # environment -> (last successful result, target) while a plan defers the sync.
        self._sync_pending: dict[str, tuple[MigrationResult, Target]] | None = None

    @property
    def prisma_schema_path(self) -> Path:
        return self._prisma_schema_path or app_settings.PRISMA_SCHEMA_PATH

    @property
    def directory(self) -> MigrationDirectory:
        return MigrationDirectory.beside(self.prisma_schema_path)

    # -- history as the ledger says ------------------------------------------------------------

    def catch_up(self, session: ExecutionSession) -> Fingerprint:
        """Reconcile, unless the ledger is as this workspace's last operation left it; return
        the ledger's fingerprint. Keeps each apply's reads constant as history grows."""
        target = session.target
        fingerprint = session.ledger.fingerprint()
        # Popped: if the operation fails midway, the next one reconciles in full.
        if self._in_sync.pop((target.environment, target.alias), None) != fingerprint:
            reconcile(session)
        return fingerprint

    def remember(self, target: Target, fingerprint: Fingerprint) -> None:
        """History matches the ledger whose fingerprint is ``fingerprint``."""
        self._in_sync[(target.environment, target.alias)] = fingerprint

    def forget(self, target: Target) -> None:
        """History may lack a record: the next operation on ``target`` reconciles in full."""
        self._in_sync.pop((target.environment, target.alias), None)

    # -- files and schema.prisma ---------------------------------------------------------------

    def export(
        self, migration: Migration, rollback_script: str, target: Target, result: MigrationResult
    ) -> None:
        """Write the migration's folder (development); a write error never undoes the apply."""
        try:
            self.directory.export(migration.id, migration.sql, rollback_script, target.vendor)
        except (OSError, SchemaManagerError) as exc:
            message = f"Applied, but could not write its folder under migrations/: {exc}"
            logger.warning("Migration %s: %s", migration.id, message)
            result.warnings.append(message)

    @contextmanager
    def deferred_schema_sync(self) -> Iterator[None]:
        """Sync ``schema.prisma`` once when a plan of applies or rollbacks ends, not after each
        one: a sync introspects the whole target, so per migration it would grow with N."""
        if self._sync_pending is not None:  # an enclosing plan syncs when it ends
            yield
            return
        self._sync_pending = {}
        try:
            yield
        finally:
            pending, self._sync_pending = self._sync_pending, None
            for result, target in pending.values():
                sync_after(result, target, self.prisma_schema_path)

    def sync_after(self, result: MigrationResult, target: Target) -> None:
        """Sync ``schema.prisma`` after ``result`` (when the plan ends, if one defers it)."""
        if self._sync_pending is None:
            sync_after(result, target, self.prisma_schema_path)
        elif result.success and not result.skipped:
            self._sync_pending[target.environment] = (result, target)


def reconcile(session: ExecutionSession) -> list[LedgerRow]:
    """Bring history up to the ledger's truth; return the ledger's rows."""
    target = session.target
    rows = session.ledger.rows()

    def catalogue_entries(migration_ids: set[str]) -> dict[str, tuple[str, str]]:
        # Ids missing here were applied by another tool: reconciliation.reconcile names them.
        return {
            migration.id: (
                migration.name,
                rollback_choice.script_for(migration, target.vendor)[0],
            )
            for migration in Migration.objects.in_bulk(migration_ids).values()
        }

    reconciliation.reconcile(
        target.environment, target.alias, rows, catalogue_entries, KeptRecords(session.connection)
    )
    return rows


def executor_for(target: Target) -> MigrationExecutor:
    """An executor on ``target`` with the environment's timeouts and lock settings."""
    return MigrationExecutor(ExecutionSession(target))
