"""What the public API returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .sql.transactional import Atomicity

if TYPE_CHECKING:
    from .execution.outcome import Outcome
    from .files import FolderChecksum, UnreadableFolder
    from .models import Migration, VersionRecord
    from .sql import Finding


@dataclass
class MigrationResult:
    """The outcome of one apply or rollback in one environment."""

    success: bool
    migration_id: str
    environment: str
    message: str
    error: str | None = None
    execution_time: float = 0.0
    operation: str = "apply"
    statements_run: int = 0
    # True when a failure's changes were undone (the transaction was rolled back).
    rollback_executed: bool = False
    # True when a failure outside a transaction was undone by running inverses (MySQL DDL).
    compensated: bool = False
    # True when nothing had to be done (already applied with the same checksum).
    skipped: bool = False
    rollback_script: str = ""
    # True when the migration was recorded as applied without running (apply --fake).
    faked: bool = False
    # True when refused because a script was not the one its confirmation showed (see
    # ``confirmations``): nothing ran.
    not_as_confirmed: bool = False
    warnings: list[str] = field(default_factory=list)
    record: VersionRecord | None = field(default=None, repr=False)
    # The operation committed on the target, but the app's database refused its history
    # record (this is the database's error); ``message`` says what became of the record.
    history_error: str | None = None


@dataclass(frozen=True)
class FolderImport:
    """What an import from the migrations directory added, and the folders it could not read."""

    imported: list[Migration]
    unreadable: list[UnreadableFolder]
    # The folders it found readable, by checksum: the admin's states read them too.
    folders: list[FolderChecksum] = field(default_factory=list)


@dataclass
class ValidationResult:
    """Errors block an apply; warnings are shown and (outside protected environments) allowed."""

    is_valid: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list, repr=False)
    # Findings the migration acknowledges (``-- schema-manager: allow <rule>``): shown only.
    acknowledged: list[str] = field(default_factory=list)
    # validate_migration(..., rehearse=True): ran in a rolled-back transaction on the target.
    rehearsed: bool = False
    rehearsal_time: float | None = None  # seconds
    rehearsal_error: str | None = None  # the database's own error
    # The rollback script an apply would store (given, or generated for the target).
    rollback_script: str = field(default="", repr=False)
    rollback_generated: bool = False
    # How many statements the script has (from its analysis; 0 if it could not be read).
    statements: int = 0
    # What the apply archives of what it removes (``sql.archive_plan.ArchivePlan``), if any.
    archive: Any = field(default=None, repr=False)
    # How the script runs on the target: in one transaction, or statement by statement.
    atomicity: Atomicity = Atomicity.ONE_TRANSACTION


@dataclass
class PlanCheck:
    """What applying one migration of a plan now would meet: every reason it would be
    refused (``errors``) and what would only be reported (``warnings``)."""

    migration_id: str
    validation: ValidationResult
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return bool(self.errors)


def applied(migration_id: str, environment: str, outcome: Outcome, **fields) -> MigrationResult:
    """The result of an apply that ran (or found the migration already applied)."""
    if outcome.already_applied:
        message = f"Migration {migration_id} is already applied in {environment}; nothing to do."
    elif outcome.success:
        message = (
            f"Migration {migration_id} applied to {environment} "
            f"({outcome.statements_run} statement(s))."
        )
    elif outcome.own_transactions:
        message = (
            f"Migration {migration_id} failed in {environment}; the script controls its own "
            "transactions, so what its COMMITs committed before the failure stays applied. "
            "Its ledger row stays unfinished, as Prisma leaves it, until an operator has "
            "checked the database and resolved it."
        )
    elif outcome.remaining:
        message = (
            f"Migration {migration_id} failed in {environment} and could not be fully "
            f"compensated; {outcome.remaining} Its ledger row stays unfinished until an "
            "operator has undone that and resolved it."
        )
    elif outcome.stepwise:
        message = (
            f"Migration {migration_id} failed in {environment}; it ran statement by statement "
            "without a transaction, and what its statements created was compensated (undone "
            "newest first; what existed before it is left as it was), so nothing of it remains."
        )
    else:
        message = (
            f"Migration {migration_id} failed in {environment}; its transaction was rolled back "
            "and nothing of it remains."
        )
    if not outcome.success:
        message = with_cause(message, outcome.error)
    return _from_outcome(
        migration_id,
        environment,
        outcome,
        message,
        rollback_executed=not outcome.success and not outcome.remaining,
        compensated=outcome.compensated,
        skipped=outcome.already_applied,
        **fields,
    )


def rolled_back(migration_id: str, environment: str, outcome: Outcome, **fields) -> MigrationResult:
    """The result of a rollback that ran."""
    if outcome.success:
        message = f"Migration {migration_id} rolled back in {environment}."
    elif outcome.remaining:
        message = (
            f"Rollback of {migration_id} failed in {environment}; {outcome.remaining} (no "
            "transaction could undo them), and the migration is still recorded as applied."
        )
    else:
        message = (
            f"Rollback of {migration_id} failed in {environment}; its transaction was rolled "
            "back and the migration is still applied."
        )
    if not outcome.success:
        message = with_cause(message, outcome.error)
    return _from_outcome(
        migration_id,
        environment,
        outcome,
        message,
        operation="rollback",
        rollback_executed=outcome.success,
        **fields,
    )


def with_cause(message: str, error: str | None) -> str:
    """``message`` followed by its cause in one sentence: the first line of ``error``."""
    cause = next((line.strip() for line in (error or "").splitlines() if line.strip()), "")
    if not cause:
        return message
    return f"{message} {cause if cause.endswith(('.', '!', '?')) else cause + '.'}"


def _from_outcome(
    migration_id: str, environment: str, outcome: Outcome, message: str, **fields
) -> MigrationResult:
    return MigrationResult(
        success=outcome.success,
        migration_id=migration_id,
        environment=environment,
        message=message,
        error=outcome.error,
        execution_time=outcome.elapsed,
        statements_run=outcome.statements_run,
        **fields,
    )


def not_run(
    migration_id: str, environment: str, operation: str, message: str, error: str | None = None
) -> MigrationResult:
    """The result of an operation refused before it touched the target."""
    return MigrationResult(
        success=False,
        migration_id=migration_id,
        environment=environment,
        message=message,
        error=error if error is not None else message,
        operation=operation,
    )


def refused(migration_id: str, environment: str, operation: str, cause: str) -> MigrationResult:
    """``not_run`` for a cause that does not name the migration (the target's ledger)."""
    done = "applied to" if operation == "apply" else "rolled back in"
    message = f"Migration {migration_id} was not {done} {environment}: {cause}"
    return not_run(migration_id, environment, operation, message, cause)


def history_refused(
    migration_id: str,
    environment: str,
    operation: str,
    *,
    success: bool,
    cause: str,
    rebuilt: bool,
    kept_error: str | None,
) -> str:
    """What became of an operation whose history record the app's database refused: the
    target has committed it, and (where the ledger shows it) reconciliation rebuilds the
    record, with the details kept on the target."""
    if success:
        done = "applied in" if operation == "apply" else "rolled back in"
        sentence = (
            f"Migration {migration_id} {done} {environment}; its history record could not be "
            f"written: {cause}"
        )
    else:
        sentence = f"Its history record could not be written: {cause}"
    if not rebuilt:
        return f"{sentence}."
    if kept_error is None:
        return f"{sentence}; it will be rebuilt from the ledger."
    return (
        f"{sentence}; it will be rebuilt from the ledger, without who ran it, how long it took "
        f"and the rollback script in force, which could not be kept on the target either "
        f"({kept_error})."
    )
