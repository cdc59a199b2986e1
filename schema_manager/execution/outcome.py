"""What one apply or rollback on a target did: the executor's answer to its caller, and
how a failure is put on it."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DatabaseError

from ..ledger_rows import LedgerRow
from ..security import get_logger, scrub
from ..sql import Statement

logger = get_logger("schema_manager.executor")


@dataclass
class Outcome:
    success: bool
    started_at: datetime
    finished_at: datetime | None = None
    ledger_id: str = ""
    error: str | None = None
    statements_run: int = 0
    elapsed: float = 0.0
    already_applied: bool = False
    applied_row: LedgerRow | None = None
    notes: list[str] = field(default_factory=list)
    # Ran statement by statement outside a transaction (MySQL DDL, or no-transaction SQL).
    stepwise: bool = False
    # A stepwise failure whose completed statements were all undone by their inverses.
    compensated: bool = False
    # What a failed stepwise run left applied, for an operator (empty: nothing).
    remaining: str = ""
    # The script controls its own transactions and ran as written (``script_transactions``).
    own_transactions: bool = False
    attempts: int = 1
    # Stale attempts of this migration, left by a process that died, recovered before this run.
    recovered: list[LedgerRow] = field(default_factory=list)


def record_failure(outcome: Outcome, exc: Exception, migration_id: str, alias: str) -> None:
    """Put the failure on ``outcome`` and log it."""
    # Scrubbed once here: the error goes on to the ledger, history, results and logs.
    outcome.error = scrub(str(exc).strip()) or exc.__class__.__name__
    outcome.finished_at = None
    # A failing statement, or any error the database reports (the ledger row refused, a
    # savepoint gone), is an expected outcome (WARNING); anything else is a bug (ERROR),
    # logged with its traceback, scrubbed too (driver errors may quote a DSN).
    expected = isinstance(exc, (StatementError, DatabaseError))
    logger.log(
        logging.WARNING if expected else logging.ERROR,
        "Migration %s failed on %r%s: %s%s",
        migration_id,
        alias,
        "" if outcome.stepwise else " and was rolled back",
        outcome.error,
        "" if expected else "\n" + scrub(traceback.format_exc()),
    )


class StatementError(Exception):
    """A statement failed; the message names it and carries the database's own error."""

    def __init__(self, statement: Statement, cause: Exception) -> None:
        detail = str(cause).strip() or cause.__class__.__name__
        super().__init__(f"Statement {statement.index + 1} ({statement.summary}) failed: {detail}")
        self.statement = statement
