"""The ledger rows of attempts outside the one-transaction path: a fake apply's, and the
unfinished row committed before a script that runs outside one transaction. (A failed attempt
that left nothing has no row: see ``Ledger.remove``.)"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

from django.db import transaction

from ..ledger import Ledger
from ..ledger_rows import utc_now
from ..security import get_logger
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
    transaction; where the row's insert is one statement with its guard in it, a lone write
    needs none (no BEGIN and COMMIT round trips around it)."""
    alone = ledger.writes_carry_the_guard
    with nullcontext() if alone else transaction.atomic(using=alias):
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
