"""``SchemaManager``: the public façade over validation, execution, ledger and history.

Every coroutine has a synchronous twin named ``<name>_sync``; the admin and the commands use
the twins, so all callers share one code path. The coroutines run the twins in Django's
thread-sensitive executor, as Django's own async ORM methods do.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.db import connections, transaction

from .checksums import canonical_sql
from .conf import app_settings
from .exceptions import LockTimeoutError, MigrationStateError
from .executor import MigrationExecutor, Outcome
from .files import MigrationDirectory
from .history import reconcile, record_attempt
from .ledger import LedgerRow
from .models import Migration, VersionRecord
from .results import MigrationResult, ValidationResult
from .sql import generate_rollback
from .sql.rollback import WARNING_PREFIX
from .sql.statements import parse_statements
from .status import MigrationState, migration_states
from .targets import Target, resolve
from .validation import validate

logger = logging.getLogger("schema_manager.manager")

T = TypeVar("T")
Status = VersionRecord.Status


class SchemaManager:
    """Validate, apply and roll back raw-SQL migrations on the environments' target databases."""

    def __init__(self, prisma_schema_path: str | Path | None = None) -> None:
        self._prisma_schema_path = Path(prisma_schema_path) if prisma_schema_path else None

    @property
    def prisma_schema_path(self) -> Path:
        return self._prisma_schema_path or app_settings.PRISMA_SCHEMA_PATH

    @property
    def migrations_directory(self) -> MigrationDirectory:
        return MigrationDirectory.beside(self.prisma_schema_path)

    # -- coroutines (the guide's API) -------------------------------------------------------

    async def apply_migration(
        self,
        migration: Migration,
        environment: str | None = None,
        *,
        allow_destructive: bool = False,
        applied_by: str | None = None,
    ) -> MigrationResult:
        return await sync_to_async(self.apply_migration_sync)(
            migration, environment, allow_destructive=allow_destructive, applied_by=applied_by
        )

    async def rollback_migration(
        self, migration_id: str, environment: str | None = None, *, applied_by: str | None = None
    ) -> MigrationResult:
        return await sync_to_async(self.rollback_migration_sync)(
            migration_id, environment, applied_by=applied_by
        )

    async def validate_migration(
        self,
        migration: Migration,
        environment: str | None = None,
        *,
        allow_destructive: bool = False,
    ) -> ValidationResult:
        return await sync_to_async(self.validate_migration_sync)(
            migration, environment, allow_destructive=allow_destructive
        )

    async def get_version_history_async(
        self, environment: str | None = None
    ) -> list[VersionRecord]:
        return await sync_to_async(self._history)(environment)

    # -- synchronous API ---------------------------------------------------------------------

    def validate_migration_sync(
        self,
        migration: Migration,
        environment: str | None = None,
        *,
        allow_destructive: bool = False,
    ) -> ValidationResult:
        target = resolve(environment)
        _canonicalise(migration)
        executor = MigrationExecutor(target.alias, app_settings.LOCK_WAIT)
        rows = executor.ledger.rows(migration.id) if migration.id else []
        result = validate(migration, target, rows, allow_destructive=allow_destructive)
        for warning in result.warnings:
            logger.warning("Migration %s (%s): %s", migration.id, target.environment, warning)
        return result

    def generate_rollback_script(self, migration: Migration, environment: str | None = None) -> str:
        """The rollback for ``migration.sql`` in the dialect of the environment's target."""
        return generate_rollback(migration.sql, resolve(environment).vendor).text

    def apply_migration_sync(
        self,
        migration: Migration,
        environment: str | None = None,
        *,
        allow_destructive: bool = False,
        applied_by: str | None = None,
    ) -> MigrationResult:
        target = resolve(environment)
        _canonicalise(migration)
        executor = MigrationExecutor(target.alias, app_settings.LOCK_WAIT)
        self._reconcile(target, executor)
        validation = validate(
            migration,
            target,
            executor.ledger.rows(migration.id),
            allow_destructive=allow_destructive,
        )
        if not validation.is_valid:
            return self._refused(migration.id, target, validation)
        rollback_script, generated = self._rollback_for(migration, target)
        stored = self._store(migration)
        logger.info("Applying %s to %s (%s)", stored.id, target.environment, target.alias)
        try:
            outcome = executor.apply(stored.id, stored.sql, stored.checksum)
        except (MigrationStateError, LockTimeoutError) as exc:
            return self._state_error(stored.id, target, "apply", exc)
        result = self._apply_result(stored, target, outcome, rollback_script, validation.warnings)
        if outcome.already_applied:
            return result
        result.record = record_attempt(
            migration_id=stored.id,
            name=stored.name,
            environment=target.environment,
            database=target.alias,
            operation=VersionRecord.Operation.APPLY,
            status=Status.APPLIED if outcome.success else Status.FAILED,
            applied_at=outcome.finished_at if outcome.success else None,
            execution_time=outcome.elapsed,
            checksum=stored.checksum,
            rollback_script=rollback_script,
            rollback_generated=generated,
            error=outcome.error or "",
            applied_by=applied_by if applied_by is not None else _current_user(),
            ledger_id=outcome.ledger_id,
        )
        return result

    def rollback_migration_sync(
        self, migration_id: str, environment: str | None = None, *, applied_by: str | None = None
    ) -> MigrationResult:
        target = resolve(environment)
        executor = MigrationExecutor(target.alias, app_settings.LOCK_WAIT)
        self._reconcile(target, executor)
        live = executor.live_row(migration_id)
        if live is None:
            return self._state_error(
                migration_id,
                target,
                "rollback",
                MigrationStateError(
                    f"Migration {migration_id!r} is not applied in {target.environment}; "
                    "nothing to roll back."
                ),
            )
        script = self._rollback_in_force(migration_id, target, live.id)
        problem = _unusable_rollback(migration_id, script)
        if problem:
            return self._state_error(migration_id, target, "rollback", MigrationStateError(problem))
        logger.info("Rolling back %s in %s (%s)", migration_id, target.environment, target.alias)
        try:
            outcome = executor.rollback(migration_id, script)
        except (MigrationStateError, LockTimeoutError) as exc:
            return self._state_error(migration_id, target, "rollback", exc)
        return self._rollback_result(migration_id, target, outcome, script, applied_by)

    def rollback_script_in_force(self, migration_id: str, environment: str | None = None) -> str:
        """The script a rollback of ``migration_id`` would run now (empty if not applied)."""
        target = resolve(environment)
        live = MigrationExecutor(target.alias, app_settings.LOCK_WAIT).live_row(migration_id)
        return self._rollback_in_force(migration_id, target, live.id) if live else ""

    def get_version_history(self, environment: str | None = None) -> list[VersionRecord]:
        """Every attempt in the environment, newest first. Safe to call from async code."""
        return _outside_event_loop(self._history, environment)

    # -- catalogue and planning --------------------------------------------------------------

    def import_migrations(self) -> list[Migration]:
        """Add migration folders on disk that the catalogue lacks; return the new entries."""
        known = set(Migration.objects.values_list("id", flat=True))
        new = [
            Migration(id=disk.id, name=disk.name, sql=disk.sql, rollback_sql=disk.rollback_sql)
            for disk in self.migrations_directory.read()
            if disk.id not in known
        ]
        for migration in new:
            migration.save(force_insert=True)
            logger.info(
                "Imported migration %s from %s", migration.id, self.migrations_directory.path
            )
        return new

    def pending_migrations(self, environment: str | None = None) -> list[Migration]:
        """Catalogue entries (after importing from disk) not applied in the environment, by id."""
        target = resolve(environment)
        self.import_migrations()
        applied = MigrationExecutor(target.alias, app_settings.LOCK_WAIT).ledger.applied()
        return [m for m in Migration.objects.order_by("id") if m.id not in applied]

    def status(self, environment: str | None = None) -> list[MigrationState]:
        """Each migration on disk, in the catalogue or in the ledger, with its state here."""
        target = resolve(environment)
        self.import_migrations()
        executor = MigrationExecutor(target.alias, app_settings.LOCK_WAIT)
        return migration_states(target.environment, self._reconcile(target, executor))

    # -- internals ---------------------------------------------------------------------------

    def _history(self, environment: str | None) -> list[VersionRecord]:
        return list(VersionRecord.objects.for_environment(resolve(environment).environment))

    def _reconcile(self, target: Target, executor: MigrationExecutor) -> list[LedgerRow]:
        """Bring history up to the ledger's truth; return the ledger's rows."""
        rows = executor.ledger.rows()
        if not rows:
            return rows

        def catalogue_entry(migration_id: str) -> tuple[str, str]:
            migration = Migration.objects.filter(pk=migration_id).first()
            if migration is None:  # applied by another tool
                return migration_id, ""
            return migration.name, self._rollback_for(migration, target)[0]

        reconcile(target.environment, target.alias, rows, catalogue_entry)
        return rows

    def _rollback_for(self, migration: Migration, target: Target) -> tuple[str, bool]:
        """The rollback script in force: the given one, or one generated for the target."""
        if migration.rollback_sql.strip():
            # Dedented for reading: scripts often come from indented triple-quoted strings.
            return textwrap.dedent(migration.rollback_sql).strip(), False
        return generate_rollback(migration.sql, target.vendor).text, True

    def _rollback_in_force(self, migration_id: str, target: Target, ledger_id: str) -> str:
        """The script recorded when the live row was applied; else the catalogue's."""
        recorded = (
            VersionRecord.objects.filter(
                environment=target.environment, ledger_id=ledger_id, status=Status.APPLIED
            )
            .values_list("rollback_script", flat=True)
            .first()
        )
        if recorded:
            return recorded
        migration = Migration.objects.filter(pk=migration_id).first()
        return self._rollback_for(migration, target)[0] if migration else ""

    def _store(self, migration: Migration) -> Migration:
        """Save ``migration`` in the catalogue (validation has ruled out a different SQL)."""
        with transaction.atomic(using=Migration.objects.db):
            stored = Migration.objects.select_for_update().filter(pk=migration.id).first()
            if stored is None:
                migration.name = migration.name or migration.id.split("_", 1)[-1]
                migration.save(force_insert=True)
                return migration
            changed = [
                field
                for field in ("name", "rollback_sql")
                if getattr(migration, field) and getattr(migration, field) != getattr(stored, field)
            ]
            for field in changed:
                setattr(stored, field, getattr(migration, field))
            if changed:
                stored.save(update_fields=[*changed, "updated_at"])
            return stored

    def _apply_result(
        self,
        migration: Migration,
        target: Target,
        outcome: Outcome,
        rollback_script: str,
        warnings: list[str],
    ) -> MigrationResult:
        result = MigrationResult(
            success=outcome.success,
            migration_id=migration.id,
            environment=target.environment,
            message="",
            error=outcome.error,
            execution_time=outcome.elapsed,
            statements_run=outcome.statements_run,
            rollback_script=rollback_script,
            warnings=list(warnings),
        )
        if outcome.already_applied:
            result.skipped = True
            result.message = (
                f"Migration {migration.id} is already applied in {target.environment}; "
                "nothing to do."
            )
        elif outcome.success:
            result.message = (
                f"Migration {migration.id} applied to {target.environment} "
                f"({outcome.statements_run} statement(s))."
            )
            logger.info(result.message)
        else:
            result.rollback_executed = True
            result.message = (
                f"Migration {migration.id} failed in {target.environment}; its transaction was "
                "rolled back and nothing of it remains."
            )
        return result

    def _rollback_result(
        self,
        migration_id: str,
        target: Target,
        outcome: Outcome,
        script: str,
        applied_by: str | None,
    ) -> MigrationResult:
        live = outcome.applied_row
        migration = Migration.objects.filter(pk=migration_id).first()
        record = record_attempt(
            migration_id=migration_id,
            name=migration.name if migration else migration_id,
            environment=target.environment,
            database=target.alias,
            operation=VersionRecord.Operation.ROLLBACK,
            status=Status.ROLLED_BACK if outcome.success else Status.FAILED,
            applied_at=live.finished_at if live else None,
            rolled_back_at=outcome.finished_at if outcome.success else None,
            execution_time=outcome.elapsed,
            checksum=live.checksum if live else "",
            rollback_script=script,
            error=outcome.error or "",
            applied_by=applied_by if applied_by is not None else _current_user(),
            ledger_id=live.id if live else "",
        )
        if outcome.success:
            message = f"Migration {migration_id} rolled back in {target.environment}."
            logger.info(message)
        else:
            message = (
                f"Rollback of {migration_id} failed in {target.environment}; its transaction "
                "was rolled back and the migration is still applied."
            )
        return MigrationResult(
            success=outcome.success,
            migration_id=migration_id,
            environment=target.environment,
            message=message,
            error=outcome.error,
            execution_time=outcome.elapsed,
            operation="rollback",
            statements_run=outcome.statements_run,
            rollback_executed=outcome.success,
            rollback_script=script,
            record=record,
        )

    def _refused(
        self, migration_id: str, target: Target, validation: ValidationResult
    ) -> MigrationResult:
        message = (
            f"Migration {migration_id} was not applied to {target.environment}: validation failed "
            f"({len(validation.errors)} error(s))."
        )
        logger.info("%s %s", message, " ".join(validation.errors))
        return MigrationResult(
            success=False,
            migration_id=migration_id,
            environment=target.environment,
            message=message,
            error="\n".join(validation.errors),
            warnings=list(validation.warnings),
        )

    def _state_error(
        self,
        migration_id: str,
        target: Target,
        operation: str,
        exc: MigrationStateError | LockTimeoutError,
    ) -> MigrationResult:
        """A result for an operation that did not run (nothing changed, nothing recorded)."""
        logger.info("%s", exc)
        return MigrationResult(
            success=False,
            migration_id=migration_id,
            environment=target.environment,
            message=str(exc),
            error=str(exc),
            operation=operation,
        )


def _canonicalise(migration: Migration) -> None:
    """Give a migration built in code (not yet stored) its canonical SQL text."""
    if migration._state.adding:
        migration.sql = canonical_sql(migration.sql)


def _unusable_rollback(migration_id: str, script: str) -> str | None:
    """Why ``script`` must not be run as the rollback of ``migration_id``, if it must not."""
    warnings = [line for line in script.splitlines() if line.strip().startswith(WARNING_PREFIX)]
    if warnings:
        return (
            f"Migration {migration_id!r} cannot be rolled back automatically: "
            + " ".join(line.strip()[len(WARNING_PREFIX) :].strip() for line in warnings)
            + " Give the migration a rollback_sql (down.sql) that handles it."
        )
    if not parse_statements(script):
        return f"Migration {migration_id!r} has no rollback script to run."
    return None


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no login name (containers)
        return ""


_history_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="schema_manager")


def _outside_event_loop(function, *args):
    """Call ``function`` here, or in a worker thread if this thread runs an event loop.

    Django forbids ORM calls from a thread with a running loop; the guide calls
    ``get_version_history()`` from inside a coroutine, so that call is moved to a thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args)

    def call():
        try:
            return function(*args)
        finally:
            connections.close_all()

    return _history_thread.submit(call).result()
