"""The ledger rows of attempts that run nothing or leave nothing: a fake apply's, and a
rolled-back attempt's (written after its transaction was rolled back)."""

from __future__ import annotations

from django.db import DatabaseError

from ..backends import LEDGER_TABLE
from ..ledger import Ledger
from ..ledger_rows import utc_now
from ..security import get_logger, scrub
from .outcome import Outcome

logger = get_logger("schema_manager.executor")


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
