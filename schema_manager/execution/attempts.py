"""The ledger rows of attempts outside the one-transaction path: a fake apply's, a rolled-back
attempt's (written after its transaction was rolled back), and the unfinished row committed
before a script that runs outside one transaction."""

from __future__ import annotations

from collections.abc import Callable

from django.db import DatabaseError, transaction

from ..backends import LEDGER_TABLE
from ..ledger import Ledger
from ..ledger_rows import utc_now
from ..security import get_logger, scrub
from .outcome import Outcome
from .standing import check_can_apply

logger = get_logger("schema_manager.executor")


def commit_unfinished_row(
    ledger: Ledger,
    alias: str,
    migration_id: str,
    checksum: str,
    outcome: Outcome,
    *,
    begin_locked: Callable[..., None],
    before_commit: Callable[[], None],
    logs: str,
) -> bool:
    """Commit the attempt's row unfinished, with ``logs``, before its first statement runs, so
    that whoever comes next (after a crash, too) sees the attempt. False, with ``outcome`` saying
    so, when the migration is applied already. ``begin_locked`` opens the executor's ledger
    transaction."""
    with transaction.atomic(using=alias):
        begin_locked(local_timeouts=False)
        live = check_can_apply(ledger, alias, migration_id, checksum)
        if live is not None:
            outcome.already_applied, outcome.applied_row = True, live
            outcome.success = True
            return False
        before_commit()
        outcome.ledger_id = ledger.insert(
            migration_id, checksum, outcome.started_at, finished_at=None, logs=logs
        )
    return True


def record_fake(ledger: Ledger, migration_id: str, checksum: str, outcome: Outcome) -> None:
    """The row ``prisma migrate resolve --applied`` writes: one instant, empty logs, no
    steps."""
    outcome.started_at = outcome.finished_at = utc_now()
    outcome.ledger_id = ledger.insert(
        migration_id,
        checksum,
        outcome.started_at,
        finished_at=outcome.finished_at,
        logs="",
        applied_steps_count=0,
    )


def record_failed_attempt(
    ledger: Ledger, migration_id: str, checksum: str, outcome: Outcome
) -> None:
    """The rolled-back attempt's ledger row; if the ledger refuses it too, its error joins
    the migration's own (neither hides the other) and history keeps the attempt."""
    try:
        outcome.ledger_id = ledger.insert(
            migration_id,
            checksum,
            outcome.started_at,
            finished_at=None,
            rolled_back_at=utc_now(),
            logs=outcome.error,
        )
    except DatabaseError as exc:
        refused = scrub(" ".join(str(exc).split())) or type(exc).__name__
        outcome.error = (
            f"{outcome.error}; and the failed attempt could not be recorded in "
            f"{LEDGER_TABLE} either: {refused}"
        )
        logger.warning("Migration %s: %s", migration_id, outcome.error)
