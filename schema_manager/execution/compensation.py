"""Undoing what a migration that ran outside a transaction is known to have done.

On MySQL/MariaDB every DDL statement commits by itself, and a ``no-transaction`` migration
commits statement by statement on any engine. When such a migration fails (or its process
dies), the statements that ran are undone by their inverses, newest first ("compensated").
An inverse comes from the same generator as rollback scripts, one statement at a time.

Only effects this attempt is known to have caused are undone: each statement's footprint
(``footprints``), read before it ran, says which of the objects it creates were missing, and
only those are dropped; a statement that found its object already there (``IF NOT EXISTS``)
or nothing to drop (``IF EXISTS``) changed nothing and is left alone. A statement that alters
a value in place (a column's default or nullability, a comment) is undone by putting back
the value read before it ran (``restores``), never a guessed one. Where the tool cannot know
what a statement did, or what it altered, nothing at all is undone, and the result says what
to check.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.db.backends.base.base import BaseDatabaseWrapper

from ..backends import TargetBackend
from ..security import get_logger, scrub
from ..sql import Statement, generate_rollback
from ..sql.operations import AlterTable, DataChange, DataStatement, Operation
from ..sql.reading import describe
from ..sql.rollback import WARNING_PREFIX, invert_operation
from .footprints import Footprint, Target, exists_now, targets_of
from .restores import alters_in_place

logger = get_logger("schema_manager.compensation")

# Statements that commit with the transaction they run in, on every engine.
_DATA_CHANGES = {"INSERT", "UPDATE", "DELETE", "REPLACE", "SELECT", "WITH"}


@dataclass(frozen=True)
class Step:
    """A statement of a step-by-step attempt and its footprint before it ran (None: unread);
    for one that alters values in place, the statements putting them back (None: unread)."""

    statement: Statement
    footprint: Footprint | None = None
    restore: tuple[str, ...] | None = None


@dataclass
class Compensation:
    """What compensating a failed migration did: ``remaining`` names what is still applied."""

    undone: list[Statement] = field(default_factory=list)
    remaining: list[Statement] = field(default_factory=list)
    problem: str = ""
    # Nothing was undone because what one statement did cannot be known.
    untouched: bool = False

    @property
    def complete(self) -> bool:
        return not self.remaining and not self.problem

    def describe_remaining(self) -> str:
        """One sentence naming what an operator must check or undo by hand."""
        if self.untouched:
            return f"nothing was undone: {self.problem}"
        names = "; ".join(f"statement {s.index + 1} ({s.summary})" for s in self.remaining)
        return f"still applied: {names}. {self.problem}".strip()


class _Unknown(Exception):
    """What a statement did cannot be known: compensation must not touch anything."""


def commits_with_its_progress(statement: Statement, backend: TargetBackend) -> bool:
    """Whether ``statement`` commits in the transaction that counts it, so that a process
    dying mid-statement leaves it either run and counted, or neither."""
    if backend.refuses_transaction(statement):
        return False
    if backend.can_rollback_ddl:
        return True
    return bool(statement.words) and statement.words[0].upper in _DATA_CHANGES


def inverse(statement: Statement, vendor: str) -> list[str] | None:
    """The statements undoing ``statement``, or None when it has no known inverse (a
    statement that changes rows has none: a rollback script leaves data as it is, but
    compensation must not count the rows as undone)."""
    if isinstance(describe(statement), (DataChange, DataStatement)):
        return None
    script = generate_rollback(statement.text, vendor)
    if script.warnings:
        return None
    return _concurrently(
        [line for line in script.lines if not line.startswith(WARNING_PREFIX)], statement, vendor
    )


def _concurrently(lines: list[str], statement: Statement, vendor: str) -> list[str]:
    if vendor == "postgresql" and _is_concurrent_index(statement):
        # Never take the ACCESS EXCLUSIVE lock of a plain DROP INDEX on a live table.
        return [
            line.replace("DROP INDEX IF EXISTS", "DROP INDEX CONCURRENTLY IF EXISTS", 1)
            for line in lines
        ]
    return lines


def undo_completed(step: Step, vendor: str) -> list[str] | str:
    """The statements undoing what ``step`` (which ran to completion) changed, or why they
    cannot be run (a sentence). Raises ``_Unknown`` if what it changed cannot be known."""
    statement, footprint = step.statement, step.footprint
    if step.restore is not None:
        return list(step.restore)
    if footprint is None:
        if alters_in_place(statement):
            raise _Unknown(_unread(statement))
        if _conditional(statement):
            raise _Unknown(
                f"statement {statement.index + 1} ({statement.summary}) may have changed "
                "nothing (IF [NOT] EXISTS) and the catalogue was not read before it ran; "
                "check which of its objects existed before this migration"
            )
        lines = inverse(statement, vendor)
        if lines is None:
            return f"Statement {statement.index + 1} has no automatic inverse"
        return lines
    return _undo_footprint(statement, footprint, None, vendor)


def undo_uncertain(connection: BaseDatabaseWrapper, step: Step) -> list[str] | str:
    """The statements undoing whatever ``step`` (which failed, or was running when its
    process died) created, read from the catalogue now. Raises ``_Unknown`` if the catalogue
    cannot tell."""
    statement, footprint, vendor = step.statement, step.footprint, connection.vendor
    if step.restore is not None:
        # Putting back the values it found is right whether or not it ran.
        return list(step.restore)
    if footprint is None:
        raise _Unknown(_unknowable(connection, statement))
    with connection.cursor() as cursor:
        now = exists_now(cursor, footprint.targets, vendor)
    return _undo_footprint(statement, footprint, now, vendor)


def _unread(statement: Statement) -> str:
    """Why what ``statement`` altered in place cannot be put back, and what to check."""
    return (
        f"statement {statement.index + 1} ({statement.summary}) altered in place (a column's "
        "default, nullability or definition, or a comment) something whose earlier value was "
        "not read before it ran (this tool reads PostgreSQL column defaults and nullability "
        "and comments on tables, views, indexes, sequences and columns, and MySQL column "
        "definitions not moved by FIRST/AFTER); check what it was before this migration"
    )


def _unknowable(connection: BaseDatabaseWrapper, statement: Statement) -> str:
    """Why what ``statement`` did before its process died cannot be known, and what to check."""
    said = (
        f"statement {statement.index + 1} ({statement.summary}) may have run before the "
        "process died"
    )
    targets = targets_of(statement, connection.vendor)
    if not targets:
        return (
            f"{said}, and the catalogue cannot tell; check on {connection.alias!r} whether it "
            "took effect"
        )
    with connection.cursor() as cursor:
        now = exists_now(cursor, targets, connection.vendor)
    found = ", ".join(
        f"{target.label} {'exists' if present else 'does not exist'}"
        for target, present in zip(targets, now, strict=True)
    )
    return (
        f"{said}, and what it found was not recorded (an attempt by an earlier version); "
        f"on {connection.alias!r} {found} now: check whether this migration created or dropped "
        "it, or whether it was already so before"
    )


def _undo_footprint(
    statement: Statement, footprint: Footprint, now: tuple[bool, ...] | None, vendor: str
) -> list[str] | str:
    dropped = footprint.dropped(now)
    if dropped:
        return (
            f"Statement {statement.index + 1} dropped {_labels(dropped)}, which no "
            "automatic inverse restores"
        )
    created = footprint.created(now)
    if not created:
        return []  # it found its objects there (or nothing to drop): it changed nothing
    lines, why = invert_operation(_only(statement, footprint.targets, created), vendor)
    if why:
        return f"Statement {statement.index + 1} has no automatic inverse"
    return _concurrently(lines, statement, vendor)


def _only(statement: Statement, targets: tuple[Target, ...], created: list[Target]) -> Operation:
    """The statement's operation, narrowed to the ALTER TABLE actions that created
    ``created`` when it created only some of its targets."""
    operation = describe(statement)
    if isinstance(operation, AlterTable) and len(created) < len(targets):
        actions = tuple(operation.actions[t.action] for t in created if t.action is not None)
        return replace(operation, actions=actions)
    return operation


def compensate(
    connection: BaseDatabaseWrapper, completed: list[Step], last: Step | None
) -> Compensation:
    """Undo ``completed`` newest first, after whatever ``last`` (the statement that failed,
    or was running when its process died; None if it cannot have done anything) created.

    What every statement did is settled before anything runs: if one cannot be known,
    nothing is undone. Otherwise compensation stops at the first statement that cannot be
    undone, so an older statement is never undone while a newer one that may depend on it
    is still in place.
    """
    vendor = connection.vendor
    result = Compensation()
    try:
        plans = [(step, undo_completed(step, vendor)) for step in reversed(completed)]
        first = undo_uncertain(connection, last) if last is not None else []
    except _Unknown as unknown:
        result.problem = (
            f"{unknown}, then undo by hand what ran of this migration and resolve its ledger row."
        )
        result.untouched = True
        result.remaining = [step.statement for step in completed]
        logger.error("Compensation not attempted: %s", result.problem)
        return result
    if isinstance(first, str) or not _run(connection, first, result):
        result.problem = result.problem or f"{first}."
        result.remaining = [step.statement for step in completed]
        if last is not None:
            result.remaining.append(last.statement)
        return result
    pending = list(plans)
    while pending:
        step, lines = pending[0]
        if isinstance(lines, str):
            result.problem = f"{lines}; undo it and the older ones by hand."
            break
        if not _run(connection, lines, result):
            break
        result.undone.append(step.statement)
        pending.pop(0)
    result.remaining = sorted((step.statement for step, _ in pending), key=lambda s: s.index)
    if result.remaining:
        logger.error("Compensation incomplete: %s", result.describe_remaining())
    return result


def _run(connection: BaseDatabaseWrapper, lines: list[str], result: Compensation) -> bool:
    try:
        with connection.cursor() as cursor:
            for line in lines:
                cursor.execute(line)
    except Exception as exc:
        result.problem = (
            f"Its inverse ({' '.join(lines)}) failed: "
            f"{scrub(str(exc).strip()) or type(exc).__name__}."
        )
        return False
    return True


def execute_quietly(connection: BaseDatabaseWrapper, sql: str) -> None:
    """Best-effort cleanup: the object may never have been created."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    except Exception as exc:  # best effort: the object may simply not exist
        logger.info("Cleanup %r did not run: %s", sql, exc)


def _labels(targets: list[Target]) -> str:
    return ", ".join(target.label for target in targets)


def _conditional(statement: Statement) -> bool:
    """Whether the statement may succeed without doing anything (IF [NOT] EXISTS)."""
    words = [word.upper for word in statement.words]
    return any(
        word == "IF" and words[i + 1 : i + 2] in (["EXISTS"], ["NOT"])
        for i, word in enumerate(words)
    )


def _is_concurrent_index(statement: Statement) -> bool:
    words = [word.upper for word in statement.words[:4]]
    return words[:1] == ["CREATE"] and "INDEX" in words and "CONCURRENTLY" in words
