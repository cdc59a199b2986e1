"""Statements an engine refuses to run inside a transaction block (pure: no database).

The executor runs a migration made only of such statements one statement at a time, and the
rules do not flag them there; mixed with ordinary statements they need the
``-- schema-manager: no-transaction`` directive.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

from .lexer import WordKind
from .rule_detection import is_transaction_control
from .statements import Statement


def refuses_transaction(
    statement: Statement, dialect: str | None, server_version: int | None = None
) -> str | None:
    """Why ``statement`` cannot run in a transaction on ``dialect`` (None: it can).

    ``server_version`` is PostgreSQL's ``server_version_num``; unknown means a current server.
    """
    if dialect not in ("sqlite", "postgresql"):
        return None
    # The first six words decide (every statement of every migration is asked, several
    # times: reading all the words of a long INSERT would be wasted).
    head: list[str] = []
    for word in statement.words:
        if word.kind is not WordKind.PUNCTUATION:
            head.append(word.upper)
            if len(head) == 6:
                break
    if dialect == "sqlite":
        return "VACUUM cannot run inside a transaction" if head[:1] == ["VACUUM"] else None
    if head[:1] == ["VACUUM"]:
        return "VACUUM cannot run inside a transaction block"
    if head[:1] in (["CREATE"], ["DROP"], ["REINDEX"]) and "CONCURRENTLY" in head:
        return f"{' '.join(head[:2])} ... CONCURRENTLY cannot run inside a transaction block"
    if (
        head[:2] == ["ALTER", "TYPE"]
        and any(a.upper == "ADD" and b.upper == "VALUE" for a, b in pairwise(statement.words))
        and server_version is not None
        and server_version < 120000
    ):
        return "ALTER TYPE ... ADD VALUE cannot run inside a transaction before PostgreSQL 12"
    if head[:2] in (["CREATE", "DATABASE"], ["ALTER", "SYSTEM"], ["CREATE", "TABLESPACE"]):
        return f"{' '.join(head[:2])} cannot run inside a transaction block"
    return None


def runs_outside_transaction(statements: Iterable[Statement], dialect: str | None) -> bool:
    """Whether every statement is one the engine refuses in a transaction (so none gets one).

    Stops at the first statement that may run in one: usually the first of the script."""
    seen = False
    for statement in statements:
        if not refuses_transaction(statement, dialect):
            return False
        seen = True
    return seen


def controls_transactions(statements: Iterable[Statement]) -> bool:
    """Whether the script has its own BEGIN / COMMIT / ROLLBACK: it then runs as written,
    outside the tool's transaction (``execution.script_transactions``), on every engine."""
    return any(is_transaction_control(statement.words) for statement in statements)
