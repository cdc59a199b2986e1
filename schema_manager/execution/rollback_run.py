"""Rolling back a plan: each live row's rollback script and name are read once."""

from __future__ import annotations

from .. import confirmations, history, results, rollback_choice
from ..archive import records as archive_records
from ..checksums import migration_checksum
from ..exceptions import CommitWithheld, LockTimeoutError, MigrationStateError, NotAppliedError
from ..models import Migration, id_chunks
from ..results import MigrationResult
from ..security import get_logger
from .runner import PlanRun
from .session import ExecutionSession, PlanWorkspace

logger = get_logger("schema_manager.manager")


class RollbackRun(PlanRun):
    """Rolls back a plan: each live row's rollback script and name are read once."""

    operation = "rollback"

    def __init__(
        self, workspace: PlanWorkspace, session: ExecutionSession, plan: list[str]
    ) -> None:
        super().__init__(workspace, session, plan)
        target, executor = self.target, self.executor
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
        if outcome.success and archive_records.restores_archives(script):
            archive_records.mark_restored(target.environment, migration_id, script)
        return self._finished(result, outcome)

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


class RollbackToRun(RollbackRun):
    """Rolls back what ``services.rollback_to`` planned under the lock: a migration of the plan
    that another process rolled back meanwhile (SQLite, without a session lock) is skipped."""

    skips_not_applied = True
