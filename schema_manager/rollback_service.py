"""Rolling back, as the service layer offers it (``services.rollback``, ``rollback_to``,
``rollback_where_applied``): the migrations given, everything applied after one, or one
where it is applied; each a plan run on one target under one lock, as an apply is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from . import confirmations, planning, results
from .change_requests import gate
from .change_requests.gate import BreakGlass
from .change_requests.models import ChangeRequest
from .execution.rollback_run import RollbackRun, RollbackToRun
from .execution.runner import Plan, run_plan
from .ledger import Ledger
from .operators import recorded_as
from .results import MigrationResult
from .security import get_logger
from .targets import resolve
from .workspace import Workspace

logger = get_logger("schema_manager.manager")


def rollback(
    migration_ids: Iterable[str],
    environment: str | None = None,
    *,
    workspace: Workspace | None = None,
    applied_by: str | None = None,
    after_rollback: Callable[[MigrationResult], None] | None = None,
    confirmed: confirmations.Confirmed = None,
    change_request: int | str | ChangeRequest | None = None,
    break_glass: BreakGlass | None = None,
) -> list[MigrationResult]:
    """Roll back ``migration_ids`` in the order given (newest first, normally), stopping at the
    first that does not succeed; one lock and one read of ledger and history, as for
    ``apply`` (``confirmed``, ``change_request`` and ``break_glass`` too: the rollback script
    that runs is the one confirmed or approved)."""
    plan = list(migration_ids)
    who = recorded_as(applied_by)
    admission = gate.admit(
        "rollback",
        resolve(environment).environment,
        plan,
        change_request=change_request,
        break_glass=break_glass,
        executor=break_glass.user.get_username() if break_glass else who,
        confirmed=confirmed,
    )
    confirmed = admission.confirmed

    def step(run: RollbackRun, migration_id: str) -> MigrationResult:
        return run.rollback(migration_id, applied_by=who, confirmed=confirmed)

    known = Plan.of(plan, plan)
    return gate.guarded(
        admission,
        lambda: run_plan(
            workspace or Workspace(), environment, known, RollbackRun, step, after_rollback
        ),
    )


def rollback_where_applied(
    migration_id: str, *, workspace: Workspace | None = None, applied_by: str | None = None
) -> MigrationResult:
    """Roll ``migration_id`` back in the one environment where it is applied (refused, naming
    them, if it is applied in several; saying so if in none)."""
    workspace = workspace or Workspace()
    environment, refusal = planning.where_applied(workspace.directory, migration_id)
    if refusal is not None:
        logger.warning("%s", refusal)
        return results.not_run(migration_id, environment or "", "rollback", refusal)
    [result] = rollback([migration_id], environment, workspace=workspace, applied_by=applied_by)
    return result


def rollback_to(
    to_id: str,
    environment: str | None = None,
    *,
    workspace: Workspace | None = None,
    applied_by: str | None = None,
    planned: Callable[[list[str]], None] | None = None,
    after_rollback: Callable[[MigrationResult], None] | None = None,
    change_request: int | str | ChangeRequest | None = None,
    break_glass: BreakGlass | None = None,
) -> list[MigrationResult]:
    """Roll back every migration applied after ``to_id``, newest first (``to_id`` stays).

    The plan is read from the ledger under the migration lock, and ``planned`` is called with
    it before the first rollback: a second caller that waited for the lock finds nothing left
    to do ([]). Without a session lock (SQLite) a migration of the plan that another process
    rolled back meanwhile is skipped (``result.skipped``).
    """
    target = resolve(environment)
    who = recorded_as(applied_by)
    # With an approval policy, the plan read under the lock must be the one approved.
    admitted: list[gate.Admission] = []

    def plan(ledger: Ledger) -> list[str]:
        ids = planning.applied_after(to_id, target, ledger.rows())
        if ids and (
            change_request is not None or break_glass is not None or gate.guards(target.environment)
        ):
            admitted.append(
                gate.admit(
                    "rollback",
                    target.environment,
                    ids,
                    change_request=change_request,
                    break_glass=break_glass,
                    executor=break_glass.user.get_username() if break_glass else who,
                )
            )
        if planned is not None:
            planned(ids)
        return ids

    def step(run: RollbackToRun, migration_id: str) -> MigrationResult:
        confirmed = admitted[0].confirmed if admitted else None
        return run.rollback(migration_id, applied_by=who, confirmed=confirmed)

    # Read under the lock, from the whole ledger.
    under_lock = Plan(plan, None, [to_id])
    try:
        results = run_plan(
            workspace or Workspace(), environment, under_lock, RollbackToRun, step, after_rollback
        )
    except BaseException as exc:
        if admitted and admitted[0].request is not None:
            gate.finish(admitted[0].request, [], error=f"{type(exc).__name__}: {exc}")
        raise
    if admitted and admitted[0].request is not None:
        gate.finish(admitted[0].request, results)
    return results
