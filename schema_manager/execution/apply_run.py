"""Applying a plan: validation, drift, promotion and storing read what they need once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.utils import timezone

from .. import confirmations, history, planning, policy, results
from ..analyses import Analyses
from ..archive import records as archive_records
from ..checksums import migration_checksum
from ..exceptions import (
    CommitWithheld,
    LedgerUnusable,
    LockTimeoutError,
    MigrationFileError,
    MigrationStateError,
)
from ..models import Migration
from ..results import MigrationResult, ValidationResult
from ..security import get_logger
from ..validation import KnownMigrations, validate
from .runner import PlanRun
from .session import ExecutionSession, PlanWorkspace

if TYPE_CHECKING:
    from ..files import FolderChecksum

logger = get_logger("schema_manager.manager")


class ApplyRun(PlanRun):
    """Applies a plan: validation, drift, promotion and storing read what they need once."""

    operation = "apply"

    def __init__(
        self, workspace: PlanWorkspace, session: ExecutionSession, plan: list[Migration]
    ) -> None:
        super().__init__(workspace, session, plan)
        target = self.target
        # Each script hashed once, for its stored analysis, drift, promotion and storing (a
        # data migration can be megabytes).
        self.checksums = {id(migration): migration_checksum(migration.sql) for migration in plan}
        self.known = KnownMigrations.read(
            [migration.id for migration in plan], [self.checksums[id(m)] for m in plan]
        )
        self.analyses = Analyses.read(target, self.checksums.values())
        self.promotion = policy.PromotionGate(target)
        self.order = planning.order_gate(target, workspace.directory)
        # Each migration's folder, by checksum, once for the drift check and the export; a
        # folder that cannot be read refuses its migration only.
        self.on_disk: dict[str, FolderChecksum | None] = {}
        self.unreadable: dict[str, str] = {}
        directory = workspace.directory
        for migration_id in (m.id for m in plan if m.id):
            try:
                self.on_disk[migration_id] = directory.checksum_of(migration_id)
            except MigrationFileError as exc:
                self.unreadable[migration_id] = str(exc)
        # Last, as nothing after it may fail before ``close`` stops it: the scripts not
        # analysed before are analysed on a thread while the first ones run.
        self.analyses.analyse_ahead((m.sql, self.checksums[id(m)]) for m in plan)

    def apply(
        self,
        migration: Migration,
        *,
        allow_destructive: bool,
        applied_by: str,
        fake: bool,
        before_apply: Callable[[Migration, ValidationResult], None] | None,
        allow_out_of_order: bool = False,
        confirmed: confirmations.Confirmed = None,
    ) -> MigrationResult:
        target, executor = self.target, self.executor
        checksum = self.checksums.get(id(migration)) or migration_checksum(migration.sql)
        # Under the lock, before anything else: the SQL that runs is the SQL confirmed.
        if reason := confirmations.difference(confirmed, migration.id, sql=checksum):
            return self._not_as_confirmed(migration.id, reason)
        validation = validate(
            migration,
            target,
            executor.ledger.rows(migration.id),
            # A fake runs nothing, so destructive statements cannot block it.
            allow_destructive=allow_destructive or fake,
            known=self.known,
            analyses=self.analyses,
            checksum=checksum,
        )
        if not validation.is_valid:
            return self._invalid(migration.id, validation)
        # The rollback stored with it is the one confirmed (generated again, it may differ).
        rollback_checksum = migration_checksum(validation.rollback_script)
        if reason := confirmations.difference(confirmed, migration.id, rollback=rollback_checksum):
            if validation.rollback_generated:
                reason += (
                    "; it is generated from the SQL and what the target holds now, which an "
                    "earlier migration may have changed"
                )
            return self._not_as_confirmed(migration.id, reason)
        on_disk = self.on_disk.get(migration.id)
        problem = (
            self._unreadable(migration.id)
            or planning.drift(migration.id, checksum, on_disk)
            or self.promotion.problem(migration.id, checksum)
        )
        if problem:
            return self._not_run(migration.id, MigrationStateError(problem))
        out_of_order, order_warning = self.order.check(migration.id, allowed=allow_out_of_order)
        if out_of_order:
            return self._not_run(migration.id, MigrationStateError(out_of_order))
        if order_warning:
            logger.warning("Migration %s: %s", migration.id, order_warning)
            validation.warnings.append(order_warning)
        if before_apply is not None:
            before_apply(migration, validation)
        for warning in validation.warnings:  # the apply goes ahead with them: say so
            logger.warning("Migration %s (%s): %s", migration.id, target.environment, warning)
        rollback_script, generated = validation.rollback_script, validation.rollback_generated
        try:
            stored = self._store(migration, checksum)
            logger.info("Applying %s to %s (%s)", stored.id, target.environment, target.alias)
            outcome = executor.apply(
                stored.id,
                stored.sql,
                stored.checksum,
                fake=fake,
                analysis=self.analyses.get(stored.sql, stored.checksum),
                archive=validation.archive,
            )
        except LedgerUnusable as exc:
            logger.warning("%s", exc)
            return results.refused(migration.id, target.environment, "apply", str(exc))
        except CommitWithheld as exc:
            return self._withheld(migration.id, exc)
        except (MigrationStateError, LockTimeoutError) as exc:
            return self._not_run(migration.id, exc)
        result = results.applied(
            stored.id,
            target.environment,
            outcome,
            rollback_script=rollback_script,
            warnings=validation.warnings,
        )
        if not outcome.already_applied:
            self._record(
                result,
                outcome,
                lambda: history.record_apply(
                    target,
                    stored,
                    outcome,
                    rollback_script,
                    rollback_generated=generated,
                    applied_by=applied_by,
                    faked=fake,
                    writer=self.records,
                ),
            )
            if outcome.success:
                self._applied(
                    result, stored, rollback_script, fake=fake, has_folder=on_disk is not None
                )
                if validation.archive is not None and not fake:
                    archive_records.record_archived(target, stored.id, validation.archive)
        return self._finished(result, outcome)

    def _invalid(self, migration_id: str, validation: ValidationResult) -> MigrationResult:
        """Refused by validation: nothing ran."""
        environment = self.target.environment
        message = results.with_cause(
            f"Migration {migration_id} was not applied to {environment}: "
            f"validation failed ({len(validation.errors)} error(s)).",
            validation.errors[0],
        )
        logger.warning("%s", " ".join([message, *validation.errors[1:]]))
        result = results.not_run(
            migration_id, environment, "apply", message, "\n".join(validation.errors)
        )
        result.warnings = validation.warnings
        return result

    def _applied(
        self,
        result: MigrationResult,
        stored: Migration,
        rollback_script: str,
        *,
        fake: bool,
        has_folder: bool,
    ) -> None:
        """Applied (or recorded, for a fake): the plan's later checks learn of it, and its
        folder is written where the environment writes files and none holds it yet."""
        target = self.target
        self.known.record_applied(stored.id, target.environment, stored.checksum)
        self.order.applied(stored.id)
        if fake:
            result.faked = True
            if not result.history_error:
                result.message = (
                    f"Migration {stored.id} recorded as applied in {target.environment} "
                    "without running its SQL (fake)."
                )
        if not has_folder and policy.writes_files(target):
            self.workspace.export(stored, rollback_script, target, result)

    def _unreadable(self, migration_id: str) -> str | None:
        """Why ``migration_id`` must not run: its folder cannot be read, so whether it still
        holds the SQL to apply cannot be told."""
        error = self.unreadable.get(migration_id)
        if error is None:
            return None
        return (
            f"Migration {migration_id!r} was not applied to {self.target.environment}: its "
            f"folder cannot be read: {error}"
        )

    def finish(self) -> None:
        self.analyses.save()  # for the applies of the same scripts in other environments

    def close(self) -> None:
        try:
            self.analyses.close()
        finally:
            super().close()

    def _store(self, migration: Migration, checksum: str) -> Migration:
        """Save ``migration``, whose SQL has ``checksum``, in the catalogue (validation has ruled
        out a different SQL).

        Against the entry read when the batch started: no query when the catalogue already
        holds it as given.
        """
        stored = self.known.stored.get(migration.id)
        if stored is None:
            migration.name = migration.name or migration.id.split("_", 1)[-1]
            migration.save(force_insert=True)
            self.known.record_stored(migration)
            return migration
        stale = MigrationStateError(
            f"Migration {migration.id!r} was stored with different SQL meanwhile; "
            "validate it again."
        )
        if stored.checksum != checksum:
            # Stored by someone else since validation: never apply SQL nobody asked for.
            raise stale
        changed = {
            field: getattr(migration, field)
            for field in ("name", "rollback_sql")
            if getattr(migration, field) and getattr(migration, field) != getattr(stored, field)
        }
        entry = Migration(
            id=migration.id,
            sql=migration.sql,  # the same text (same checksum): shared, not read again
            checksum=checksum,
            name=changed.get("name", stored.name),
            rollback_sql=changed.get("rollback_sql", stored.rollback_sql),
        )
        entry._state.adding = False
        if changed:
            # Only while the stored SQL is still the one checked: no row lock to wait for.
            entry.updated_at = timezone.now()
            same_sql = Migration.objects.filter(pk=migration.id, checksum=checksum)
            if not same_sql.update(**changed, updated_at=entry.updated_at):
                raise stale
            self.known.record_stored(entry)
        return entry
