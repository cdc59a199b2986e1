"""A plan of applies or rollbacks on one target, run inside one ``MigrationExecutor.session``.

What every migration of the plan needs from the app's database (catalogue entries, history,
rollback scripts) and from the target (the ledger, reconciled once) is read when the batch
starts, so each migration then costs its own statements, one ledger row and one history
record, however long the plan and the history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sized
from typing import TYPE_CHECKING

from django.db import DatabaseError
from django.utils import timezone

from . import confirmations, history, history_writes, planning, policy, results, rollback_choice
from .analyses import Analyses
from .checksums import migration_checksum
from .exceptions import (
    CommitWithheld,
    HistoryNotWritten,
    LedgerUnusable,
    LockTimeoutError,
    MigrationFileError,
    MigrationStateError,
    NotAppliedError,
)
from .execution.executor import MigrationExecutor
from .execution.outcome import Outcome
from .kept_records import KeptRecords
from .models import Migration, VersionRecord, id_chunks
from .results import MigrationResult, ValidationResult
from .security import get_logger
from .targets import Target
from .validation import KnownMigrations, validate

if TYPE_CHECKING:
    from .files import FolderChecksum
    from .workspace import Workspace

logger = get_logger("schema_manager.manager")


class _Batch:
    """What applies and rollbacks share: the reconcile at the start, and keeping the
    workspace's record of the ledger's fingerprint up to date as the batch writes it."""

    operation = ""  # "apply" or "rollback": for results and the ledger's fingerprint

    def __init__(
        self, workspace: Workspace, target: Target, executor: MigrationExecutor, plan: Sized
    ) -> None:
        self.workspace, self.target, self.executor = workspace, target, executor
        # The ledger as history last matched it; kept up to date by each operation so that
        # the workspace's next operation need not reconcile.
        self.fingerprint = workspace.catch_up(target, executor)
        self.plan_length = len(plan)
        # Results by ledger row id, so that a record refused later (as it settles) is told
        # on the result of the operation it belongs to.
        self.results: dict[str, MigrationResult] = {}
        self.history_failed = False  # a record was refused: the batch stops

    @property
    def records(self) -> history_writes.RecordWriter:
        """How this batch writes its history records: the session's writer, each record
        settled before the target's next commit (see history_writes)."""
        return self.executor.session.records(self.plan_length)

    def close(self) -> None:
        """Called last, whatever happened: every history record of the batch is written (or,
        refused, kept on the target and told on its result)."""
        try:
            self.executor.session.close_records()
        except HistoryNotWritten as exc:
            self._history_refused(exc)

    def _done(self, outcome: Outcome) -> None:
        if self.history_failed:  # history lacks a record: the next operation reconciles
            self.workspace.forget(self.target)
            return
        self.fingerprint = history.fingerprint_after(self.fingerprint, self.operation, outcome)
        self.workspace.remember(self.target, self.fingerprint)

    def _record(
        self, result: MigrationResult, outcome: Outcome, write: Callable[[], VersionRecord]
    ) -> None:
        """``write()`` the history record of ``result``; if the app's database refuses it,
        the result says so (the target has committed: the operation stands)."""
        if outcome.ledger_id:
            self.results[outcome.ledger_id] = result
        try:
            result.record = write()
        except HistoryNotWritten as exc:
            self._history_refused(exc, result)

    def _history_refused(
        self, exc: HistoryNotWritten, result: MigrationResult | None = None
    ) -> str:
        """Keep the refused record on the target (for reconciliation), and tell it on the
        result of its operation; return the sentence that tells it."""
        self.history_failed = True
        self.workspace.forget(self.target)
        ledger_id = exc.key.get("ledger_id") or ""
        result = result or self.results.get(ledger_id)
        rebuilt = bool(ledger_id) and not (
            exc.key["operation"] == "rollback" and exc.fields.get("rolled_back_at") is None
        )
        kept_error = self._keep(exc) if rebuilt else None
        sentence = results.history_refused(
            exc.fields["migration_id"],
            self.target.environment,
            exc.key["operation"],
            success=result.success if result else True,
            cause=exc.cause,
            rebuilt=rebuilt,
            kept_error=kept_error,
        )
        logger.warning("%s", sentence)
        if result is not None:
            result.history_error = exc.cause
            result.message = sentence if result.success else f"{result.message} {sentence}"
        return sentence

    def _keep(self, exc: HistoryNotWritten) -> str | None:
        """Write the refused record on the target; the error if that fails too."""
        try:
            KeptRecords(self.executor.connection).keep(
                exc.key["ledger_id"], exc.key["operation"], exc.fields
            )
        except DatabaseError as error:
            return " ".join(str(error).split())
        return None

    def _withheld(self, migration_id: str, exc: CommitWithheld) -> MigrationResult:
        """The migration was rolled back before its commit because the previous record was
        refused (see ``history_writes``): both are told."""
        if not isinstance(exc.__cause__, HistoryNotWritten):
            raise exc
        sentence = self._history_refused(exc.__cause__)
        done = "applied to" if self.operation == "apply" else "rolled back in"
        message = (
            f"Migration {migration_id} was not {done} {self.target.environment} (it was "
            f"rolled back before its commit, as history could not be written): {sentence}"
        )
        return results.not_run(
            migration_id, self.target.environment, self.operation, message, exc.__cause__.cause
        )

    def finish(self) -> None:
        """Called once the plan has run (or stopped at a failure)."""

    def _not_run(
        self, migration_id: str, exc: MigrationStateError | LockTimeoutError
    ) -> MigrationResult:
        logger.warning("%s", exc)
        return results.not_run(migration_id, self.target.environment, self.operation, str(exc))

    def _not_as_confirmed(self, migration_id: str, reason: str) -> MigrationResult:
        """Refused: a script about to run is not the one its confirmation showed."""
        done = "applied to" if self.operation == "apply" else "rolled back in"
        message = (
            f"Migration {migration_id} was not {done} {self.target.environment}: {reason}; "
            "nothing ran. Review it and confirm again."
        )
        logger.warning("%s", message)
        result = results.not_run(migration_id, self.target.environment, self.operation, message)
        result.not_as_confirmed = True
        return result


class ApplyBatch(_Batch):
    """Applies a plan: validation, drift, promotion and storing read what they need once."""

    operation = "apply"

    def __init__(
        self,
        workspace: Workspace,
        target: Target,
        executor: MigrationExecutor,
        plan: list[Migration],
    ) -> None:
        super().__init__(workspace, target, executor, plan)
        self.known = KnownMigrations.read([migration.id for migration in plan])
        # Each script hashed once, for its stored analysis, drift, promotion and storing (a
        # data migration can be megabytes).
        self.checksums = {id(migration): migration_checksum(migration.sql) for migration in plan}
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
            message = results.with_cause(
                f"Migration {migration.id} was not applied to {target.environment}: "
                f"validation failed ({len(validation.errors)} error(s)).",
                validation.errors[0],
            )
            logger.warning("%s", " ".join([message, *validation.errors[1:]]))
            result = results.not_run(
                migration.id, target.environment, "apply", message, "\n".join(validation.errors)
            )
            result.warnings = validation.warnings
            return result
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
                self.known.record_applied(stored.id, target.environment, stored.checksum)
                self.order.applied(stored.id)
            if outcome.success and fake:
                result.faked = True
                if not result.history_error:
                    result.message = (
                        f"Migration {stored.id} recorded as applied in {target.environment} "
                        "without running its SQL (fake)."
                    )
            if outcome.success and on_disk is None and policy.writes_files(target):
                self.workspace.export(stored, rollback_script, target, result)
        self._done(outcome)
        _log(result)
        self.workspace.sync_after(result, target)
        return result

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


class RollbackBatch(_Batch):
    """Rolls back a plan: each live row's rollback script and name are read once."""

    operation = "rollback"

    def __init__(
        self, workspace: Workspace, target: Target, executor: MigrationExecutor, plan: list[str]
    ) -> None:
        super().__init__(workspace, target, executor, plan)
        live = {
            migration_id: row.id
            for migration_id in plan
            if (row := executor.live_row(migration_id)) is not None
        }
        self.scripts = rollback_choice.scripts_in_force(target.environment, live, target.vendor)
        self.names: dict[str, str] = {}
        for chunk in id_chunks(plan):
            self.names.update(Migration.objects.filter(pk__in=chunk).values_list("id", "name"))

    # Whether a migration of the plan found not applied when its turn comes is skipped (it
    # was rolled back meanwhile) rather than refused.
    skips_not_applied = False

    def rollback(
        self, migration_id: str, *, applied_by: str, confirmed: confirmations.Confirmed = None
    ) -> MigrationResult:
        target, executor = self.target, self.executor
        live = executor.live_row(migration_id)
        if live is None and self.skips_not_applied:
            return self._skipped(migration_id)
        if live is None:
            message = (
                f"Migration {migration_id!r} is not applied in {target.environment}; "
                "nothing to roll back."
            )
            return self._not_run(migration_id, MigrationStateError(message))
        script = self.scripts.get(live.id)
        if script is None:  # applied again since the batch started (engines without a lock)
            script = rollback_choice.script_in_force(
                target.environment, live.id, migration_id, target.vendor
            )
        # Under the lock: the script that runs is the script confirmed.
        rollback = migration_checksum(script)
        if reason := confirmations.difference(confirmed, migration_id, rollback=rollback):
            return self._not_as_confirmed(migration_id, reason)
        problem = rollback_choice.why_unusable(migration_id, script, target.vendor)
        if problem and not script.strip():  # unless the migration itself ran nothing
            sql = Migration.objects.filter(pk=migration_id).values_list("sql", flat=True).first()
            problem = rollback_choice.why_unusable(
                migration_id, script, target.vendor, migration_sql=sql or ""
            )
        if problem:
            return self._not_run(migration_id, MigrationStateError(problem))
        logger.info("Rolling back %s in %s (%s)", migration_id, target.environment, target.alias)
        try:
            outcome = executor.rollback(migration_id, script)
        except CommitWithheld as exc:
            return self._withheld(migration_id, exc)
        except NotAppliedError as exc:  # rolled back since it was read (no session lock)
            if self.skips_not_applied:
                return self._skipped(migration_id)
            return self._not_run(migration_id, exc)
        except (MigrationStateError, LockTimeoutError) as exc:
            return self._not_run(migration_id, exc)
        result = results.rolled_back(
            migration_id, target.environment, outcome, rollback_script=script
        )
        self._record(
            result,
            outcome,
            lambda: history.record_rollback(
                target,
                migration_id,
                outcome,
                script,
                applied_by=applied_by,
                name=self.names.get(migration_id, migration_id),
                writer=self.records,
            ),
        )
        self._done(outcome)
        _log(result)
        self.workspace.sync_after(result, target)
        return result

    def _skipped(self, migration_id: str) -> MigrationResult:
        message = (
            f"Migration {migration_id} is no longer applied in {self.target.environment} "
            "(rolled back meanwhile); nothing to do."
        )
        logger.info(message)
        return MigrationResult(
            success=True,
            migration_id=migration_id,
            environment=self.target.environment,
            message=message,
            operation=self.operation,
            skipped=True,
        )


class RollbackToBatch(RollbackBatch):
    """Rolls back what ``rollback_to_sync`` planned under the lock: a migration of the plan
    that another process rolled back meanwhile (SQLite, without a session lock) is skipped."""

    skips_not_applied = True


def _log(result: MigrationResult) -> None:
    """A finished apply or rollback: its message, as a warning if it failed."""
    logger.log(logging.INFO if result.success else logging.WARNING, "%s", result.message)
