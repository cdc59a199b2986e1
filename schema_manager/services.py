"""The synchronous API that the façade, the commands and the admin all call: validate, apply
and roll back plans on an environment's target, and read history.

Each function takes an optional ``workspace``: where the migrations live and what the
caller's earlier operations learned (see ``workspace``); a fresh one when not given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from . import confirmations, disk_import, planning, policy, rehearsal
from .analyses import Analyses
from .change_requests import gate
from .change_requests.gate import BreakGlass
from .change_requests.models import ChangeRequest
from .checksums import canonical_sql, migration_checksum
from .execution.apply_run import ApplyRun
from .execution.runner import Plan, run_plan
from .ledger_rows import LedgerRow
from .models import Migration, VersionRecord
from .operators import recorded_as
from .results import FolderImport, MigrationResult, PlanCheck, ValidationResult

# The API's rollbacks, each a plan run as an apply is (re-exported: this is the one API).
from .rollback_service import rollback as rollback
from .rollback_service import rollback_to as rollback_to
from .rollback_service import rollback_where_applied as rollback_where_applied

# The API's rollbacks, each a plan run as ``apply`` runs one.
from .security import get_logger
from .sql import generate_rollback
from .status import MigrationState
from .targets import resolve
from .validation import KnownMigrations
from .validation import validate as validate_one
from .workspace import Workspace, executor_for, reconcile

logger = get_logger("schema_manager.manager")


def validate(
    migrations: Iterable[Migration],
    environment: str | None = None,
    *,
    allow_destructive: bool = False,
    rehearse: bool = False,
) -> list[ValidationResult]:
    """Each migration of a plan validated, reading the ledger, catalogue and history once for
    all of them; ``rehearse`` also runs a valid one in a transaction rolled back."""
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
    checksums = [migration_checksum(migration.sql) for migration in plan]
    known = KnownMigrations.read([migration.id for migration in plan], checksums)
    analyses = Analyses.read(target, checksums)
    validations = []
    for migration, checksum in zip(plan, checksums, strict=True):
        result = validate_one(
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
    plan: list[Migration],
    environment: str | None = None,
    *,
    workspace: Workspace | None = None,
    allow_destructive: bool = False,
    allow_out_of_order: bool = False,
    fake: bool = False,
    rehearse: bool = False,
) -> list[PlanCheck]:
    """What applying ``plan`` in order would meet, without applying it: for each migration,
    its validation and every gate an apply passes (drift, PROMOTION_ORDER, migration order),
    each earlier one assumed applied. What ``--dry-run`` shows and ``validate_schema_migration``
    gates on."""
    directory = (workspace or Workspace()).directory
    target = resolve(environment)
    # A fake runs nothing, so destructive statements cannot block it.
    validations = validate(
        plan, environment, allow_destructive=allow_destructive or fake, rehearse=rehearse
    )
    promotion = policy.PromotionGate(target)
    reconcile(executor_for(target).session)  # the order gate reads history
    order = planning.order_gate(target, directory)
    checks = []
    for migration, validation in zip(plan, validations, strict=True):
        check = PlanCheck(migration.id, validation, [*validation.errors], [*validation.warnings])
        checksum = migration_checksum(migration.sql)
        for problem in (
            planning.drift_problem(directory, migration),
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


def apply(
    migrations: Iterable[Migration],
    environment: str | None = None,
    *,
    workspace: Workspace | None = None,
    allow_destructive: bool = False,
    applied_by: str | None = None,
    fake: bool = False,
    before_apply: Callable[[Migration, ValidationResult], None] | None = None,
    after_apply: Callable[[MigrationResult], None] | None = None,
    allow_out_of_order: bool = False,
    confirmed: confirmations.Confirmed = None,
    change_request: int | str | ChangeRequest | None = None,
    break_glass: BreakGlass | None = None,
) -> list[MigrationResult]:
    """Apply ``migrations`` in order, stopping at the first that does not succeed.

    Returns one result per migration attempted (a failure is the last). The plan shares one
    target connection, one hold of the migration lock and one read each of the ledger, the
    catalogue and the history, so each migration costs its own statements, its ledger row
    and its history record. ``fake`` records them as applied without running their SQL;
    ``allow_out_of_order`` lets a protected environment apply one while a migration before
    it is pending there (elsewhere that is a warning). ``before_apply`` is called with each
    valid migration and its validation just before it runs (a command's prompt may raise to
    stop there); ``after_apply`` with each result as soon as it is known (in a long plan with
    the app's database on PostgreSQL, its history record may still be on its way: it is
    committed before the next migration commits, see ``history_writes``). ``confirmed``
    (from a confirmation page: migration id -> ``confirmations.Shown``) binds the run to what
    was shown: a migration whose SQL or rollback script is not the one confirmed, compared
    under the lock just before it runs, is refused and nothing of it runs
    (``result.not_as_confirmed``).

    In an environment with an approval policy (``APPROVALS``) the plan must be that of an
    approved ``change_request`` whose pinned checksums are the scripts that run, or a
    ``break_glass`` run (see ``change_requests.gate``); else ``ChangeRequestError``.
    """
    plan = list(migrations)
    for migration in plan:
        _canonicalise(migration)
    who = recorded_as(applied_by)
    admission = gate.admit(
        "apply",
        resolve(environment).environment,
        [migration.id for migration in plan],
        migrations=plan,
        change_request=change_request,
        break_glass=break_glass,
        executor=break_glass.user.get_username() if break_glass else who,
        confirmed=confirmed,
    )
    confirmed = admission.confirmed

    def step(run: ApplyRun, migration: Migration) -> MigrationResult:
        return run.apply(
            migration,
            allow_destructive=allow_destructive,
            applied_by=who,
            fake=fake,
            before_apply=before_apply,
            allow_out_of_order=allow_out_of_order,
            confirmed=confirmed,
        )

    known = Plan.of(plan, [migration.id for migration in plan])
    return gate.guarded(
        admission,
        lambda: run_plan(workspace or Workspace(), environment, known, ApplyRun, step, after_apply),
    )


def generate_rollback_script(migration: Migration, environment: str | None = None) -> str:
    """The rollback for ``migration.sql`` in the dialect of the environment's target."""
    return generate_rollback(migration.sql, resolve(environment).vendor).text


def history(environment: str | None = None, limit: int | None = None) -> list[VersionRecord]:
    """Every attempt in every environment, or in ``environment`` only (or the newest
    ``limit``), newest first, in one query."""
    records = VersionRecord.objects.all()
    if environment is not None:
        records = records.for_environment(resolve(environment).environment)
    return list(records if limit is None else records[: max(limit, 0)])


def import_folders(workspace: Workspace | None = None) -> FolderImport:
    """Import the migration folders the catalogue lacks or that changed (see ``disk_import``)."""
    return disk_import.import_folders((workspace or Workspace()).directory)


def pending(environment: str | None = None, workspace: Workspace | None = None) -> list[Migration]:
    """What ``apply_schema_migration --all`` would apply (see ``planning.pending``)."""
    return planning.pending((workspace or Workspace()).directory, resolve(environment))


def status(
    environment: str | None = None, workspace: Workspace | None = None
) -> list[MigrationState]:
    """Each migration with its state in the environment (see ``planning.status``)."""
    return planning.status((workspace or Workspace()).directory, resolve(environment))


def _canonicalise(migration: Migration) -> None:
    """Give a migration built in code (not yet stored) its canonical SQL text."""
    if migration._state.adding:
        migration.sql = canonical_sql(migration.sql)
