"""``SchemaManager``: the public façade over validation, execution, ledger and history.

Every coroutine has a synchronous twin named ``<name>_sync``; the admin and the commands use
the twins, so all callers share one code path. The coroutines run the twins in Django's
thread-sensitive executor, as Django's own async ORM methods do.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections

from . import confirmations, history, large_scripts, policy, rehearsal, results, rollback_choice
from .analyses import Analyses
from .batches import ApplyBatch, RollbackBatch, RollbackToBatch
from .checksums import canonical_sql, migration_checksum
from .conf import app_settings
from .exceptions import (
    LedgerUnusable,
    LockTimeoutError,
    MigrationFileError,
    MigrationStateError,
    SchemaManagerError,
)
from .executor import MigrationExecutor
from .files import (
    MIGRATION_FILE,
    ROLLBACK_FILE,
    FolderChecksum,
    Listing,
    MigrationDirectory,
    UnreadableFolder,
)
from .kept_records import KeptRecords
from .ledger import LedgerRow
from .models import Migration, VersionRecord
from .prisma_schema import sync_after
from .results import FolderImport, MigrationResult, PlanCheck, ValidationResult
from .security import get_logger
from .sql import generate_rollback
from .status import MigrationState, catalogue_pending, migration_states
from .targets import Target, all_targets, resolve
from .validation import KnownMigrations, validate

logger = get_logger("schema_manager.manager")


class SchemaManager:
    """Validate, apply and roll back raw-SQL migrations on the environments' target databases."""

    def __init__(self, prisma_schema_path: str | Path | None = None) -> None:
        self._prisma_schema_path = Path(prisma_schema_path) if prisma_schema_path else None
        # (environment, alias) -> the ledger's fingerprint when history last matched it here.
        self._in_sync: dict[tuple[str, str], tuple[int, int, int]] = {}
        # environment -> (last successful result, target) while a batch defers the sync.
        self._sync_pending: dict[str, tuple[MigrationResult, Target]] | None = None

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
        ledger = _executor(target).ledger
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
        self._reconcile(target, _executor(target))  # the order gate reads history
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
        return self._run_batch(
            ApplyBatch,
            plan,
            [migration.id for migration in plan],
            environment,
            lambda batch, migration: batch.apply(
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
            if _executor(target).live_row(migration_id) is not None
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
        return self._run_batch(
            RollbackBatch,
            plan,
            plan,
            environment,
            lambda batch, migration_id: batch.rollback(
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

        def plan(executor: MigrationExecutor) -> list[str]:
            ids = _applied_after(to_id, target, executor.ledger.rows())
            if planned is not None:
                planned(ids)
            return ids

        return self._run_batch(
            RollbackToBatch,
            plan,
            [to_id],
            environment,
            lambda batch, migration_id: batch.rollback(migration_id, applied_by=who),
            after_rollback,
        )

    def _run_batch(
        self,
        batch_class: type[ApplyBatch] | type[RollbackBatch],
        plan: list | Callable[[MigrationExecutor], list],
        ids: list[str],
        environment: str | None,
        step: Callable,
        after: Callable[[MigrationResult], None] | None,
    ) -> list[MigrationResult]:
        """Run ``step(batch, item)`` for each item of ``plan`` (whose migration ids are
        ``ids``) in one batch on the environment's target, stopping at the first failure.

        ``plan`` may be a function of the executor that returns the items once the
        migration lock is held (the whole ledger is then read under it, and ``ids`` only
        name what a result says if the lock could not be had).
        """
        under_lock = not isinstance(plan, list)
        if not under_lock and not plan:
            return []
        target = resolve(environment)
        executor = _executor(target)
        done: list[MigrationResult] = []
        try:
            with self.deferred_schema_sync(), executor.session(None if under_lock else ids):
                items = plan if isinstance(plan, list) else plan(executor)
                if not items:
                    return done
                batch = batch_class(self, target, executor, items)
                try:
                    for item in items:
                        result = step(batch, item)
                        done.append(result)
                        if after is not None:
                            after(result)
                        if not result.success or batch.history_failed:
                            break
                    batch.finish()
                finally:
                    batch.close()
        except LockTimeoutError as exc:  # the migration lock, before the first migration
            done.append(_not_run(ids[len(done)], target, batch_class.operation, exc))
        except LedgerUnusable as exc:  # found when the ledger was first read: nothing ran
            logger.warning("%s", exc)
            refused = results.refused(
                ids[len(done)], target.environment, batch_class.operation, str(exc)
            )
            done.append(refused)
        except BaseException:
            # A history record may be missing: the next operation reconciles in full.
            self._in_sync.pop((target.environment, target.alias), None)
            raise
        return done

    def rollback_script_in_force(self, migration_id: str, environment: str | None = None) -> str:
        """The script a rollback of ``migration_id`` would run now (empty if not applied)."""
        target = resolve(environment)
        live = _executor(target).live_row(migration_id)
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
        return self._import(self.migrations_directory.listing())

    def _import(self, listing: Listing) -> FolderImport:
        """Only new and changed folders are read in full: the others are known by checksum."""
        # Tuples, not models: the admin imports on every view of its changelist.
        entries = Migration.objects.values_list("id", "checksum", "kept_on_disk")
        known = {migration_id: checksum for migration_id, checksum, _ in entries}
        kept = {migration_id for migration_id, _, kept_on_disk in entries if kept_on_disk}
        new: list[Migration] = []
        streamed_in: list[Migration] = []
        unreadable = list(listing.unreadable)
        # Entries stored before their folder appeared (written by hand, or by an export).
        _mark_kept_on_disk([f.id for f in listing.folders if f.id in known and f.id not in kept])
        for folder in listing.folders:
            try:
                self._import_folder(folder, known.get(folder.id), new, streamed_in)
            except MigrationFileError as exc:  # changed since it was listed
                unreadable.append(UnreadableFolder(folder.id, folder.path, str(exc)))
        # One transaction for the whole import; a folder a concurrent process imported a
        # moment ago is skipped, not an error.
        Migration.objects.bulk_create(new, batch_size=100, ignore_conflicts=True)
        new = sorted([*new, *streamed_in], key=lambda migration: migration.id)
        for migration in new:
            logger.info(
                "Imported migration %s from %s", migration.id, self.migrations_directory.path
            )
        bad = {folder.id for folder in unreadable}
        return FolderImport(
            new,
            sorted(unreadable, key=lambda folder: folder.id),
            [folder for folder in listing.folders if folder.id not in bad],
        )

    def _import_folder(
        self,
        folder: FolderChecksum,
        stored: str | None,
        new: list[Migration],
        streamed_in: list[Migration],
    ) -> None:
        """Add ``folder`` to ``new`` (or stream it in), or update its entry whose checksum is
        ``stored`` if its file changed."""
        if stored is None and large_scripts.streams(folder):
            if (streamed := large_scripts.stream_in(folder)) is not None:
                streamed_in.append(streamed)
        elif stored is None:
            sql = folder.read(MIGRATION_FILE)
            new.append(
                Migration(
                    id=folder.id,
                    name=folder.id.split("_", 1)[1] if "_" in folder.id else folder.id,
                    sql=sql,
                    rollback_sql=folder.read(ROLLBACK_FILE),
                    # bulk_create skips save(); hashed from the text read, not the listing's
                    # (the file may have changed in between).
                    checksum=migration_checksum(sql),
                    kept_on_disk=True,
                )
            )
        elif stored != folder.checksum:
            self._update_from_disk(Migration.objects.get(pk=folder.id), folder)

    def drift_problem(self, migration: Migration) -> str | None:
        """Why ``migration`` must not be applied: its SQL differs from its migration.sql."""
        folder = self.migrations_directory.checksum_of(migration.id) if migration.id else None
        return self._drift(migration.id, migration_checksum(migration.sql), folder)

    def plan_drift(self, plan: list[Migration], environment: str | None = None) -> list[str]:
        """Every problem a plan of all pending migrations must not start with: a folder that
        cannot be read (it may be pending, and its place in the order is unknown), a migration
        applied here and changed on disk since, or one in the plan different from its folder.
        One read of the folders."""
        target = resolve(environment)
        applied = _executor(target).ledger.applied()
        listing = self.migrations_directory.listing()
        on_disk = {folder.id: folder for folder in listing.folders}
        return [
            *(folder.error for folder in listing.unreadable),
            *(
                self._modified(folder, applied[folder.id], target)
                for folder in on_disk.values()
                if folder.id in applied and not folder.same_script(applied[folder.id].checksum)
            ),
            *(
                problem
                for m in plan
                if (problem := self._drift(m.id, migration_checksum(m.sql), on_disk.get(m.id)))
            ),
        ]

    def _drift(self, migration_id: str, checksum: str, disk: FolderChecksum | None) -> str | None:
        """Why the migration whose SQL has ``checksum`` must not be applied (its folder differs)."""
        if disk is None or disk.same_script(checksum):
            return None
        applied = VersionRecord.objects.applied_environments(migration_id)
        how = f"applied in {', '.join(sorted(applied))}" if applied else "stored"
        return (
            f"Migration {migration_id!r} was modified: it was {how} with checksum {checksum}, "
            f"but {str(disk.path / 'migration.sql')!r} now has checksum {disk.checksum}; "
            "restore the file or put the change in a new migration."
        )

    def modified_migrations(self, environment: str | None = None) -> list[str]:
        """One sentence per migration applied here whose migration.sql changed since (drift)."""
        target = resolve(environment)
        applied = _executor(target).ledger.applied()
        return [
            self._modified(folder, applied[folder.id], target)
            for folder in self.migrations_directory.checksums()
            if folder.id in applied and not folder.same_script(applied[folder.id].checksum)
        ]

    @staticmethod
    def _modified(disk: FolderChecksum, live: LedgerRow, target: Target) -> str:
        return (
            f"Migration {disk.id!r} is applied in {target.environment} with checksum "
            f"{live.checksum}, but {str(disk.path / 'migration.sql')!r} now has "
            f"checksum {disk.checksum}; restore the file or put the change in a new migration."
        )

    def rollback_plan(self, to_id: str, environment: str | None = None) -> list[str]:
        """The migrations applied after ``to_id`` in the environment, newest first, as the
        ledger says now (``rollback_to_sync`` reads it again under the lock)."""
        target = resolve(environment)
        return _applied_after(to_id, target, _executor(target).ledger.rows())

    def pending_migrations(self, environment: str | None = None) -> list[Migration]:
        """Catalogue entries (after importing from disk) not applied in the environment, by id;
        not those whose folder was deleted before they were applied anywhere."""
        target = resolve(environment)
        # What was imported just now is in memory already (unless streamed in, deferred).
        imported = {
            m.id: m for m in self.import_migrations() if "sql" not in m.get_deferred_fields()
        }
        applied = _executor(target).ledger.applied()
        gone = self.missing_on_disk()
        pending = [
            m
            for m in Migration.objects.order_by("id").defer("sql")
            if m.id not in applied and m.id not in gone
        ]
        unread = []
        for migration in pending:
            known = imported.get(migration.id)
            if known is not None and known.checksum == migration.checksum:
                migration.sql = known.sql
            else:
                unread.append(migration)
        large_scripts.load_sql(unread)
        return pending

    def status(self, environment: str | None = None) -> list[MigrationState]:
        """Each migration on disk, in the catalogue or in the ledger, with its state here."""
        target = resolve(environment)
        listing = self.migrations_directory.listing()
        unreadable = {folder.id: folder for folder in self._import(listing).unreadable}
        disk = {m.id: m for m in listing.folders if m.id not in unreadable}
        rows = self._reconcile(target, _executor(target))
        gone = self.missing_on_disk({*disk, *unreadable})
        return migration_states(target.environment, rows, disk, unreadable, gone)

    def missing_on_disk(self, folders: set[str] | None = None) -> set[str]:
        """Catalogue entries whose folder was deleted from disk before they were applied
        anywhere: never planned, and removed by ``prune_missing``. ``folders`` are the
        folder names on disk (listed when not given)."""
        if folders is None:
            folders = self.migrations_directory.folder_names()
        kept = Migration.objects.filter(kept_on_disk=True).values_list("id", flat=True)
        candidates = set(kept) - folders
        if not candidates:
            return set()
        ever_applied = VersionRecord.objects.filter(
            migration_id__in=candidates, status=VersionRecord.Status.APPLIED
        ).values_list("migration_id", flat=True)
        return candidates - set(ever_applied)

    def order_gate(self, target: Target) -> policy.OrderGate:
        """The migration-order gate of ``target`` (see ``policy.OrderGate``)."""

        def read() -> tuple[set[str], set[str]]:
            # From history, reconciled with the ledger when the operation began: reading
            # the whole ledger for each apply would grow with it.
            pending, catalogue = catalogue_pending(target.environment)
            return pending - self.missing_on_disk(), catalogue - pending

        return policy.OrderGate(target, read)

    def prune_missing(self) -> list[str]:
        """Delete the catalogue entries ``missing_on_disk`` names (their history stays), as
        ``migrate --prune`` forgets migrations whose files are gone; return their ids."""
        gone = sorted(self.missing_on_disk())
        if gone:
            Migration.objects.filter(pk__in=gone, kept_on_disk=True).delete()
            for migration_id in gone:
                logger.info("Removed %s: its folder is gone and it was never applied", migration_id)
        return gone

    @contextmanager
    def deferred_schema_sync(self) -> Iterator[None]:
        """Sync ``schema.prisma`` once when a batch of applies or rollbacks ends, not after each
        one: a sync introspects the whole target, so per migration it would grow with N."""
        if self._sync_pending is not None:  # an enclosing batch syncs when it ends
            yield
            return
        self._sync_pending = {}
        try:
            yield
        finally:
            pending, self._sync_pending = self._sync_pending, None
            for result, target in pending.values():
                sync_after(result, target, self.prisma_schema_path)

    # -- internals ---------------------------------------------------------------------------

    def _sync_after(self, result: MigrationResult, target: Target) -> None:
        if self._sync_pending is None:
            sync_after(result, target, self.prisma_schema_path)
        elif result.success and not result.skipped:
            self._sync_pending[target.environment] = (result, target)

    def _history(self, environment: str | None, limit: int | None = None) -> list[VersionRecord]:
        records = VersionRecord.objects.all()
        if environment is not None:
            records = records.for_environment(resolve(environment).environment)
        return list(records if limit is None else records[: max(limit, 0)])

    def _catch_up(self, target: Target, executor: MigrationExecutor) -> tuple[int, int, int]:
        """Reconcile, unless the ledger is as this manager's last operation left it; return
        the ledger's fingerprint. Keeps each apply's reads constant as history grows."""
        fingerprint = executor.ledger.fingerprint()
        # Popped: if the operation fails midway, the next one reconciles in full.
        if self._in_sync.pop((target.environment, target.alias), None) != fingerprint:
            self._reconcile(target, executor)
        return fingerprint

    def _reconcile(self, target: Target, executor: MigrationExecutor) -> list[LedgerRow]:
        """Bring history up to the ledger's truth; return the ledger's rows."""
        rows = executor.ledger.rows()
        if not rows:
            return rows

        def catalogue_entries(migration_ids: set[str]) -> dict[str, tuple[str, str]]:
            # Ids missing here were applied by another tool: history.reconcile names them.
            return {
                migration.id: (
                    migration.name,
                    rollback_choice.script_for(migration, target.vendor)[0],
                )
                for migration in Migration.objects.in_bulk(migration_ids).values()
            }

        history.reconcile(
            target.environment,
            target.alias,
            rows,
            catalogue_entries,
            KeptRecords(executor.connection),
        )
        return rows

    def _update_from_disk(self, stored: Migration, folder: FolderChecksum) -> None:
        applied = VersionRecord.objects.applied_environments(stored.id)
        if applied:
            logger.warning(
                "Migration %s changed on disk after it was applied in %s (applied checksum %s, "
                "file checksum %s); it will not be applied until the file is restored.",
                stored.id,
                ", ".join(sorted(applied)),
                stored.checksum,
                folder.checksum,
            )
            return
        stored.sql = folder.read(MIGRATION_FILE)
        stored.rollback_sql = folder.read(ROLLBACK_FILE) or stored.rollback_sql
        stored.save(update_fields=["sql", "rollback_sql", "updated_at"])
        logger.info("Updated migration %s from %s", stored.id, folder.path)

    def _export(
        self, migration: Migration, rollback_script: str, target: Target, result: MigrationResult
    ) -> None:
        """Write the migration's folder (development); a write error never undoes the apply."""
        try:
            self.migrations_directory.export(
                migration.id, migration.sql, rollback_script, target.vendor
            )
        except (OSError, SchemaManagerError) as exc:
            message = f"Applied, but could not write its folder under migrations/: {exc}"
            logger.warning("Migration %s: %s", migration.id, message)
            result.warnings.append(message)


def _canonicalise(migration: Migration) -> None:
    """Give a migration built in code (not yet stored) its canonical SQL text."""
    if migration._state.adding:
        migration.sql = canonical_sql(migration.sql)


def _mark_kept_on_disk(migration_ids: list[str]) -> None:
    if migration_ids:
        Migration.objects.filter(pk__in=migration_ids).update(kept_on_disk=True)


def _applied_after(to_id: str, target: Target, rows: list[LedgerRow]) -> list[str]:
    """The migrations applied after ``to_id`` in the ledger ``rows``, newest first."""
    names = [row.migration_name for row in rows if row.is_applied]
    if to_id not in names:
        raise MigrationStateError(
            f"Migration {to_id!r} is not applied in {target.environment}, so there is no "
            "point to roll back to."
        )
    return list(reversed(names[names.index(to_id) + 1 :]))


def _executor(target: Target) -> MigrationExecutor:
    return MigrationExecutor(
        target.alias,
        app_settings.LOCK_WAIT,
        timeouts=app_settings.timeouts_for(target.environment),
        lock_retries=app_settings.LOCK_TIMEOUT_RETRIES,
    )


def _not_run(
    migration_id: str, target: Target, operation: str, exc: MigrationStateError | LockTimeoutError
) -> MigrationResult:
    logger.warning("%s", exc)
    return results.not_run(migration_id, target.environment, operation, str(exc))


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
