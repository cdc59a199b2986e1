"""Undoing the completed statements of a migration that ran outside a transaction.

On MySQL/MariaDB every DDL statement commits by itself, and a ``no-transaction`` migration
commits statement by statement on any engine. When such a migration fails, the statements
that did run are undone by their inverses, newest first ("compensated"). An inverse comes
from the same generator as rollback scripts, one statement at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.backends.base.base import BaseDatabaseWrapper

from .security import get_logger, scrub
from .sql import Statement, generate_rollback
from .sql.rollback import WARNING_PREFIX

logger = get_logger("schema_manager.compensation")


@dataclass
class Compensation:
    """What compensating a failed migration did: ``remaining`` names what is still applied."""

    undone: list[Statement] = field(default_factory=list)
    remaining: list[Statement] = field(default_factory=list)
    problem: str = ""

    @property
    def complete(self) -> bool:
        return not self.remaining

    def describe_remaining(self) -> str:
        """One sentence naming what an operator must undo by hand."""
        names = "; ".join(f"statement {s.index + 1} ({s.summary})" for s in self.remaining)
        return f"still applied: {names}. {self.problem}".strip()


def inverse(statement: Statement, vendor: str) -> list[str] | None:
    """The statements undoing ``statement``, or None when it has no known inverse."""
    script = generate_rollback(statement.text, vendor)
    if script.warnings:
        return None
    lines = [line for line in script.lines if not line.startswith(WARNING_PREFIX)]
    if vendor == "postgresql" and _is_concurrent_index(statement):
        # Never take the ACCESS EXCLUSIVE lock of a plain DROP INDEX on a live table.
        lines = [
            line.replace("DROP INDEX IF EXISTS", "DROP INDEX CONCURRENTLY IF EXISTS", 1)
            for line in lines
        ]
    return lines


def cleanup_after_failure(statement: Statement, vendor: str) -> list[str]:
    """Inverses that are safe to run after ``statement`` itself failed.

    A failed ``CREATE INDEX CONCURRENTLY`` leaves an INVALID index behind; dropping it
    ``IF EXISTS`` is harmless when there is none.
    """
    if vendor == "postgresql" and _is_concurrent_index(statement):
        return inverse(statement, vendor) or []
    return []


def compensate(
    connection: BaseDatabaseWrapper, completed: list[Statement], failed: Statement | None
) -> Compensation:
    """Run the inverses of ``completed`` newest first; stop at the first that cannot run.

    Stopping keeps the order honest: an older statement is never undone while a newer one
    that may depend on it is still in place.
    """
    vendor = connection.vendor
    result = Compensation()
    if failed is not None:
        for line in cleanup_after_failure(failed, vendor):
            execute_quietly(connection, line)
    pending = list(reversed(completed))
    while pending:
        statement = pending[0]
        lines = inverse(statement, vendor)
        if lines is None:
            result.problem = (
                f"Statement {statement.index + 1} has no automatic inverse; undo it and the "
                "older ones by hand."
            )
            break
        try:
            with connection.cursor() as cursor:
                for line in lines:
                    cursor.execute(line)
        except Exception as exc:
            result.problem = (
                f"Its inverse ({' '.join(lines)}) failed: "
                f"{scrub(str(exc).strip()) or type(exc).__name__}."
            )
            break
        result.undone.append(pending.pop(0))
    result.remaining = sorted(pending, key=lambda s: s.index)
    if result.remaining:
        logger.error("Compensation incomplete: %s", result.describe_remaining())
    return result


def execute_quietly(connection: BaseDatabaseWrapper, sql: str) -> None:
    """Best-effort cleanup: the object may never have been created."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    except Exception as exc:  # best effort: the object may simply not exist
        logger.info("Cleanup %r did not run: %s", sql, exc)


def _is_concurrent_index(statement: Statement) -> bool:
    words = [word.upper for word in statement.words[:4]]
    return words[:1] == ["CREATE"] and "INDEX" in words and "CONCURRENTLY" in words
