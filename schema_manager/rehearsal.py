"""Rehearsal: run a migration (then its rollback) on the real target in a transaction that is
always rolled back, so the database itself reports what no parser can see (missing tables,
wrong types, failing casts, a rollback that does not undo the migration).

Only engines with transactional DDL (PostgreSQL, SQLite) rehearse: elsewhere the DDL would
commit. On PostgreSQL the rehearsal waits at most ``LOCK_TIMEOUT`` for each lock, so it fails
fast instead of queueing behind (and in front of) live traffic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections, transaction

from . import rollback_choice
from .backends import get_backend
from .execution.archive_capture import Archive, with_archive
from .models import Migration
from .results import ValidationResult
from .security import get_logger, scrub
from .sql import parse_statements
from .sql.session_detection import is_transaction_control
from .sql.statements import Statement
from .sql.transactional import Engine, atomicity
from .targets import Target

logger = get_logger("schema_manager.rehearsal")

LOCK_TIMEOUT = "5s"


@dataclass
class Rehearsal:
    ran: bool  # False: the engine cannot rehearse (``notes`` says why)
    error: str | None = None  # the database's own error, naming the statement
    rollback_error: str | None = None
    elapsed: float = 0.0  # seconds, migration and rollback
    statements_run: int = 0
    notes: list[str] = field(default_factory=list)


class _AlwaysRollBack(Exception):
    """Raised at the end of the rehearsal transaction so that it rolls back."""


def rehearse(
    alias: str, sql: str, rollback_sql: str | None = None, archive: Archive | None = None
) -> Rehearsal:
    """Run ``sql`` (then ``rollback_sql``, if given) on ``alias`` and roll everything back;
    with the ``archive``'s captures where the apply takes one (its restores are in the
    rollback)."""
    connection = connections[alias]
    if not connection.features.can_rollback_ddl:
        return Rehearsal(
            ran=False,
            notes=[f"{connection.vendor} cannot roll back DDL, so it cannot be rehearsed."],
        )
    if connection.in_atomic_block:
        return Rehearsal(ran=False, notes=[f"{alias!r} is inside an open transaction."])
    result = Rehearsal(ran=True)
    statements = _rehearsable(sql, get_backend(connection).engine, result)
    if archive is not None:
        statements = list(with_archive(statements, archive, connection.vendor))
    rollback = parse_statements(rollback_sql, connection.vendor) if rollback_sql else []
    clock = time.perf_counter()
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            result.error = _run(cursor, statements, result, "")
            if result.error is None and rollback:
                result.rollback_error = _run(cursor, rollback, result, "Rollback: ")
            raise _AlwaysRollBack
    except _AlwaysRollBack:
        pass
    result.elapsed = time.perf_counter() - clock
    logger.info("Rehearsed on %r in %.3f s: %s", alias, result.elapsed, result.error or "no error")
    return result


def _rehearsable(sql: str, engine: Engine, result: Rehearsal) -> list[Statement]:
    """The statements the rehearsal's transaction can hold: the script's own transaction
    control is left out, and where the script runs outside a transaction (``atomicity``),
    so are those the engine refuses in one (each named in the notes)."""
    statements = parse_statements(sql, engine.dialect)
    outside = atomicity(sql, engine, statements).stepwise
    kept = []
    for statement in statements:
        if is_transaction_control(statement.words):  # its COMMIT would end the rehearsal's
            result.notes.append(
                f"Statement {statement.index + 1} ({statement.summary}) controls the "
                "transaction and was left out: the rest was rehearsed in one transaction."
            )
        elif outside and engine.refuses_transaction(statement):
            result.notes.append(
                f"Statement {statement.index + 1} ({statement.summary}) runs outside a "
                "transaction and was not rehearsed."
            )
        else:
            kept.append(statement)
    return kept


def _run(cursor: Any, statements: list[Statement], result: Rehearsal, prefix: str) -> str | None:
    """Run ``statements`` in a savepoint-free sequence; the first error, as the database said."""
    for statement in statements:
        try:
            cursor.execute(statement.text)
        except DatabaseError as exc:
            detail = " ".join((scrub(str(exc).strip()) or exc.__class__.__name__).split())
            return f"{prefix}statement {statement.index + 1} ({statement.summary}) failed: {detail}"
        result.statements_run += 1
    return None


def rehearse_into(result: ValidationResult, migration: Migration, target: Target) -> None:
    """Rehearse ``migration`` (and its rollback script, when usable) on ``target``, and add
    the outcome to ``result``: a database error makes it invalid."""
    script = result.rollback_script  # the one apply would store
    usable = rollback_choice.why_unusable(migration.id, script) is None
    rehearsal = rehearse(
        target.alias, migration.sql, script if usable else None, archive=result.archive
    )
    result.rehearsed = rehearsal.ran
    result.rehearsal_time = rehearsal.elapsed if rehearsal.ran else None
    result.rehearsal_error = rehearsal.error or rehearsal.rollback_error
    where = f"Rehearsal on {target.environment}"
    if rehearsal.error:
        result.errors.append(f"{where}: {rehearsal.error}")
    if rehearsal.rollback_error:
        result.warnings.append(f"{where}: {rehearsal.rollback_error}")
    result.warnings.extend(f"{where}: {note}" for note in rehearsal.notes)
    result.is_valid = not result.errors
