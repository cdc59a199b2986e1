"""``SchemaManager``: the public façade over validation, execution, ledger and history.

Every coroutine has a synchronous twin named ``<name>_sync``; the admin and the commands use
the twins, so all callers share one code path. The coroutines run the twins in Django's
thread-sensitive executor, as Django's own async ORM methods do.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections

from . import confirmations, planning, policy, rehearsal, results, rollback_choice
from .analyses import Analyses
from .checksums import canonical_sql, migration_checksum
from .execution.apply_run import ApplyRun
from .execution.executor import MigrationExecutor
from .execution.rollback_run import RollbackRun, RollbackToRun
from .execution.runner import Plan, run_plan
from .files import (
    MigrationDirectory,
)
from .ledger import Ledger, LedgerRow
from .models import Migration, VersionRecord
from .results import FolderImport, MigrationResult, PlanCheck, ValidationResult
from .security import get_logger
from .sql import generate_rollback
from .status import MigrationState, migration_states
from .targets import Target, all_targets, resolve
from .validation import KnownMigrations, validate
from .workspace import Workspace, executor_for, reconcile

logger = get_logger("schema_manager.manager")


class SchemaManager:
    """Validate, apply and roll back raw-SQL migrations on the environments' target databases."""

    def __init__(self, prisma_schema_path: str | Path | None = None) -> None:
        self._workspace = Workspace(prisma_schema_path)

    @property
    def prisma_schema_path(self) -> Path:
        return self._workspace.prisma_schema_path

    @property
    def migrations_directory(self) -> MigrationDirectory:
        return self._workspace.directory

    # -- coroutines (the guide's API) -------------------------------------------------------

    async def apply_migration(
        self,
        migration: Migration,
        environment: str | None = None,
        *,
        allow_destructive: bool = False,
        applied_by: str | None = None,
        fake: bool = False,
        allow_out_of_order: bool = False,
    ) -> MigrationResult:
        return await sync_to_async(self.apply_migration_sync)(
            migration,
            environment,
            allow_destructive=allow_destructive,
            applied_by=applied_by,
            fake=fake,
            allow_out_of_order=allow_out_of_order,
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
        rehearse: bool = False,
    ) -> ValidationResult:
        return await sync_to_async(self.validate_migration_sync)(
            migration, environment, allow_destructive=allow_destructive, rehearse=rehearse
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
        rehearse: bool = False,
    ) -> ValidationResult:
        [result] = self.validate_migrations_sync(
            [migration], environment, allow_destructive=allow_destructive, rehearse=rehearse
        )
        return result

    def validate_migrations_sync(
        self,
        migrations: Iterable[Migration],
        environment: str | None = None,
        *,
        allow_destructive: bool = False,
        rehearse: bool = False,
    ) -> list[ValidationResult]:
        """``validate_migration_sync`` for each of a plan, reading the ledger, catalogue and
        history once for all of them."""
        plan = list(migrations)
        if not plan:
            return []
        target = resolve(environment)
        for migration in plan:
            _canonicalise(migration)
        ledger = executor_for(target).ledger
        # One migration: only its rows (the table has no index to find them, but the transfer
        # stays small); several: the whole ledger, once.
        ids = {migration.id for migration in plan if migration.id}
        rows = ledger.rows() if len(ids) > 1 else [row for i in ids for row in ledger.rows(i)]
        by_id: dict[str, list[LedgerRow]] = {}
        for row in rows:
            by_id.setdefault(row.migration_name, []).append(row)
        known = KnownMigrations.read([migration.id for migration in plan])
        checksums = [migration_checksum(migration.sql) for migration in plan]
        analyses = Analyses.read(target, checksums)
        validations = []
        for migration, checksum in zip(plan, checksums, strict=True):
            result = validate(
                migration,
                target,
                by_id.get(migration.id, []),
                allow_destructive=allow_destructive,
                known=known,
                analyses=analyses,
                checksum=checksum,
            )
            if rehearse and not result.errors:
                rehearsal.rehearse_into(result, migration, target)
            for warning in result.warnings:
                logger.warning("Migration %s (%s): %s", migration.id, target.environment, warning)
            validations.append(result)
        analyses.save()  # an apply of these scripts will not analyse them again
        return validations

    def check_plan(
        self,
        plan: list[Migration],
        environment: str | None = None,
        *,
        allow_destructive: bool = False,
        allow_out_of_order: bool = False,
        fake: bool = False,
        rehearse: bool = False,
    ) -> list[PlanCheck]:
        """What applying ``plan`` in order would meet, without applying it: for each
        migration, its validation and every gate an apply passes (drift, PROMOTION_ORDER,
        migration order), each earlier one assumed applied. What ``--dry-run`` shows and
        ``validate_schema_migration`` gates on."""
        target = resolve(environment)
        # A fake runs nothing, so destructive statements cannot block it.
        validations = self.validate_migrations_sync(
            plan, environment, allow_destructive=allow_destructive or fake, rehearse=rehearse
        )
        promotion = policy.PromotionGate(target)
        self._reconcile(target, executor_for(target))  # the order gate reads history
        order = self.order_gate(target)
        checks = []
        for migration, validation in zip(plan, validations, strict=True):
            check = PlanCheck(
                migration.id, validation, [*validation.errors], [*validation.warnings]
            )
            checksum = migration_checksum(migration.sql)
            for problem in (
                self.drift_problem(migration),
                promotion.problem(migration.id, checksum),
            ):
                if problem:
                    check.errors.append(problem)
            refusal, warning = order.check(migration.id, allowed=allow_out_of_order)
            check.errors.extend([refusal] if refusal else [])
            check.warnings.extend([warning] if warning else [])
            order.applied(migration.id)
            checks.append(check)
        return checks

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
        fake: bool = False,
        allow_out_of_order: bool = False,
    ) -> MigrationResult:
        """Apply ``migration``; ``fake`` records it as applied without running its SQL;
        ``allow_out_of_order`` lets a protected environment apply it while a migration
        before it is pending there (elsewhere that is a warning)."""
        [result] = self.apply_migrations_sync(
            [migration],
            environment,
            allow_destructive=allow_destructive,
            applied_by=applied_by,
            fake=fake,
            allow_out_of_order=allow_out_of_order,
        )
        return result

    def apply_migrations_sync(
        self,
        migrations: Iterable[Migration],
        environment: str | None = None,
        *,
        allow_destructive: bool = False,
        applied_by: str | None = None,
        fake: bool = False,
        before_apply: Callable[[Migration, ValidationResult], None] | None = None,
        after_apply: Callable[[MigrationResult], None] | None = None,
        allow_out_of_order: bool = False,
        confirmed: confirmations.Confirmed = None,
    ) -> list[MigrationResult]:
        """Apply ``migrations`` in order, stopping at the first that does not succeed.

        Returns one result per migration attempted (a failure is the last). The plan shares
        one target connection, one hold of the migration lock and one read each of the
        ledger, the catalogue and the history, so each migration costs its own statements,
        its ledger row and its history record. ``before_apply`` is called with each valid
        migration and its validation just before it runs (a command's prompt may raise to
        stop there); ``after_apply`` with each result as soon as it is known (in a long plan
        with the app's database on PostgreSQL, its history record may still be on its way:
        it is committed before the next migration commits, see ``history_writes``).
        ``confirmed`` (from a confirmation page: migration id -> ``confirmations.Shown``)
        binds the run to what was shown: a migration whose SQL or rollback script is not the
        one confirmed, compared under the lock just before it runs, is refused and nothing
        of it runs (``result.not_as_confirmed``).
        """
        plan = list(migrations)
        for migration in plan:
            _canonicalise(migration)
        who = _who(applied_by)
        return run_plan(
            self._workspace,
            environment,
            Plan.of(plan, [migration.id for migration in plan]),
            ApplyRun,
            lambda run, migration: run.apply(
                migration,
                allow_destructive=allow_destructive,
                applied_by=who,
                fake=fake,
                before_apply=before_apply,
                allow_out_of_order=allow_out_of_order,
                confirmed=confirmed,
            ),
            after_apply,
        )

    def rollback_migration_sync(
        self, migration_id: str, environment: str | None = None, *, applied_by: str | None = None
    ) -> MigrationResult:
        """Roll ``migration_id`` back in ``environment``; with none, in the one environment
        where it is applied (refused, naming them, if it is applied in several)."""
        if environment is None:
            environment, refusal = self._applied_environment(migration_id)
            if refusal is not None:
                logger.warning("%s", refusal)
                return results.not_run(migration_id, environment or "", "rollback", refusal)
        [result] = self.rollback_migrations_sync([migration_id], environment, applied_by=applied_by)
        return result

    def applied_environments(self, migration_id: str) -> list[str]:
        """The environments whose ledger has ``migration_id`` applied, in ENVIRONMENTS order."""
        return [
            target.environment
            for target in all_targets()
            if executor_for(target).live_row(migration_id) is not None
        ]

    def _applied_environment(self, migration_id: str) -> tuple[str | None, str | None]:
        """(the one environment where ``migration_id`` is applied, None), or (None, why
        there is no single one)."""
        try:
            applied = self.applied_environments(migration_id)
        except DatabaseError as exc:
            return None, (
                f"Cannot tell where migration {migration_id!r} is applied: a ledger could not "
                f"be read ({exc}); name the environment to roll it back in."
            )
        if len(applied) == 1:
            return applied[0], None
        if applied:
            return None, (
                f"Migration {migration_id!r} is applied in {', '.join(applied)}; name the "
                "environment to roll it back in."
            )
        environments = ", ".join(target.environment for target in all_targets())
        if self._is_known(migration_id):
            return None, (
                f"Migration {migration_id!r} is not applied in any environment ({environments}); "
                "nothing to roll back."
            )
        return None, (
            f"Unknown migration {migration_id!r}: it is neither in the catalogue, nor in the "
            f"migrations directory, nor in the history of any environment ({environments})."
        )

    def _is_known(self, migration_id: str) -> bool:
        return (
            Migration.objects.filter(pk=migration_id).exists()
            or (self.migrations_directory.path / migration_id).is_dir()
            or VersionRecord.objects.filter(migration_id=migration_id).exists()
        )

    def rollback_migrations_sync(
        self,
        migration_ids: Iterable[str],
        environment: str | None = None,
        *,
        applied_by: str | None = None,
        after_rollback: Callable[[MigrationResult], None] | None = None,
        confirmed: confirmations.Confirmed = None,
    ) -> list[MigrationResult]:
        """Roll back ``migration_ids`` in the order given (newest first, normally), stopping at
        the first that does not succeed; one lock and one read of ledger and history, as for
        ``apply_migrations_sync`` (``confirmed`` too: the rollback script that runs is the one
        confirmed)."""
        plan = list(migration_ids)
        who = _who(applied_by)
        return run_plan(
            self._workspace,
            environment,
            Plan.of(plan, plan),
            RollbackRun,
            lambda run, migration_id: run.rollback(
                migration_id, applied_by=who, confirmed=confirmed
            ),
            after_rollback,
        )

    def rollback_to_sync(
        self,
        to_id: str,
        environment: str | None = None,
        *,
        applied_by: str | None = None,
        planned: Callable[[list[str]], None] | None = None,
        after_rollback: Callable[[MigrationResult], None] | None = None,
    ) -> list[MigrationResult]:
        """Roll back every migration applied after ``to_id``, newest first (``to_id`` stays).

        The plan is read from the ledger under the migration lock, and ``planned`` is called
        with it before the first rollback: a second caller that waited for the lock finds
        nothing left to do ([]). Without a session lock (SQLite) a migration of the plan
        that another process rolled back meanwhile is skipped (``result.skipped``).
        """
        target = resolve(environment)
        who = _who(applied_by)

        def plan(ledger: Ledger) -> list[str]:
            ids = planning.applied_after(to_id, target, ledger.rows())
            if planned is not None:
                planned(ids)
            return ids

        # Read under the lock, from the whole ledger.
        return run_plan(
            self._workspace,
            environment,
            Plan(plan, None, [to_id]),
            RollbackToRun,
            lambda run, migration_id: run.rollback(migration_id, applied_by=who),
            after_rollback,
        )

    def rollback_script_in_force(self, migration_id: str, environment: str | None = None) -> str:
        """The script a rollback of ``migration_id`` would run now (empty if not applied)."""
        target = resolve(environment)
        live = executor_for(target).live_row(migration_id)
        if live is None:
            return ""
        return rollback_choice.script_in_force(
            target.environment, live.id, migration_id, target.vendor
        )

    def get_version_history(
        self, environment: str | None = None, *, limit: int | None = None
    ) -> list[VersionRecord]:
        """Every attempt in every environment, or in ``environment`` only (or the newest
        ``limit``), newest first, in one query. Safe to call from async code."""
        return _outside_event_loop(self._history, environment, limit)

    # -- catalogue and planning --------------------------------------------------------------

    def import_migrations(self) -> list[Migration]:
        """Add migration folders on disk that the catalogue lacks; return the new entries.

        A folder whose migration.sql changed since it was imported updates the catalogue,
        unless the migration is applied somewhere: that is drift, reported and never applied.
        A folder that cannot be read is skipped (``import_folders`` says why).
        """
        return self.import_folders().imported

    def import_folders(self) -> FolderImport:
        """``import_migrations``, also returning the folders that could not be read."""
        return planning.import_folders(self.migrations_directory)

    def drift_problem(self, migration: Migration) -> str | None:
        """Why ``migration`` must not be applied: its SQL differs from its migration.sql."""
        return planning.drift_problem(self.migrations_directory, migration)

    def plan_drift(self, plan: list[Migration], environment: str | None = None) -> list[str]:
        """See ``planning.plan_drift``."""
        return planning.plan_drift(self.migrations_directory, plan, resolve(environment))

    def rollback_plan(self, to_id: str, environment: str | None = None) -> list[str]:
        """The migrations applied after ``to_id`` in the environment, newest first, as the
        ledger says now (``rollback_to_sync`` reads it again under the lock)."""
        target = resolve(environment)
        return planning.applied_after(to_id, target, executor_for(target).ledger.rows())

    def pending_migrations(self, environment: str | None = None) -> list[Migration]:
        """See ``planning.pending``."""
        return planning.pending(self.migrations_directory, resolve(environment))

    def status(self, environment: str | None = None) -> list[MigrationState]:
        """Each migration on disk, in the catalogue or in the ledger, with its state here."""
        target = resolve(environment)
        listing = self.migrations_directory.listing()
        unreadable = {
            folder.id: folder
            for folder in planning.import_folders(self.migrations_directory, listing).unreadable
        }
        disk = {m.id: m for m in listing.folders if m.id not in unreadable}
        rows = self._reconcile(target, executor_for(target))
        gone = self.missing_on_disk({*disk, *unreadable})
        return migration_states(target.environment, rows, disk, unreadable, gone)

    def missing_on_disk(self, folders: set[str] | None = None) -> set[str]:
        """See ``planning.missing_on_disk``."""
        return planning.missing_on_disk(self.migrations_directory, folders)

    def order_gate(self, target: Target) -> policy.OrderGate:
        """The migration-order gate of ``target`` (see ``policy.OrderGate``)."""
        return planning.order_gate(target, self.migrations_directory)

    def prune_missing(self) -> list[str]:
        """See ``planning.prune_missing``."""
        return planning.prune_missing(self.migrations_directory)

    def deferred_schema_sync(self):
        """See ``Workspace.deferred_schema_sync``."""
        return self._workspace.deferred_schema_sync()

    # -- internals ---------------------------------------------------------------------------

    def _history(self, environment: str | None, limit: int | None = None) -> list[VersionRecord]:
        records = VersionRecord.objects.all()
        if environment is not None:
            records = records.for_environment(resolve(environment).environment)
        return list(records if limit is None else records[: max(limit, 0)])

    def _reconcile(self, target: Target, executor: MigrationExecutor) -> list[LedgerRow]:
        return reconcile(executor.session)


def _canonicalise(migration: Migration) -> None:
    """Give a migration built in code (not yet stored) its canonical SQL text."""
    if migration._state.adding:
        migration.sql = canonical_sql(migration.sql)


def _who(applied_by: str | None) -> str:
    """Who to record: the caller's name for it, else the operating-system user."""
    if applied_by is not None:
        return applied_by
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
