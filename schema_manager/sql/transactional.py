"""Whether a script runs in one transaction on an engine: the one decision (``atomicity``)
that the analysis stores and the executor, the rehearsal and the admin read (pure: no
database).

A script runs in one transaction, with its ledger row, where the engine rolls DDL back
(PostgreSQL, SQLite), unless it declares ``-- schema-manager: no-transaction`` or is made of
statements the engine refuses inside a transaction block (``CREATE INDEX CONCURRENTLY``,
``VACUUM``): then it runs statement by statement, each committing on its own. Where DDL
commits implicitly (MySQL/MariaDB), every script runs so. A transactional script that mixes
refused statements with others is an error (``TransactionMix.mixed``). A script with its own
BEGIN / COMMIT (``controls_transactions``) runs as written, on every engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from itertools import islice, pairwise

from .directives import parse_directives
from .lexer import WordKind
from .session_detection import is_transaction_control
from .statements import Statement, is_streamed, iter_statements, parse_statements


class Atomicity(Enum):
    """How a script runs on one engine, and so what a failure leaves behind."""

    # All statements and the ledger row commit together, or nothing of it remains.
    ONE_TRANSACTION = "one-transaction"
    # The engine commits each DDL statement as it runs (MySQL/MariaDB): statement by statement.
    DDL_COMMITS = "ddl-commits"
    # The script declares no-transaction, or its statements refuse a transaction block.
    OUTSIDE_TRANSACTION = "outside-transaction"

    @property
    def stepwise(self) -> bool:
        """Runs statement by statement, each committed with its progress in the ledger row; a
        failure is compensated (``execution.stepwise``)."""
        return self is not Atomicity.ONE_TRANSACTION

    @classmethod
    def of_stepwise(cls, stepwise: bool, engine: Engine) -> Atomicity:
        """Read back from what a stored analysis keeps (``stepwise``) for ``engine``."""
        if not stepwise:
            return cls.ONE_TRANSACTION
        return cls.OUTSIDE_TRANSACTION if engine.can_rollback_ddl else cls.DDL_COMMITS


@dataclass(frozen=True)
class Engine:
    """The facts of one target that the decision depends on (read from its connection once)."""

    dialect: str | None
    can_rollback_ddl: bool
    server_version: int | None = None  # PostgreSQL's ``server_version_num``; None: current

    def refuses_transaction(self, statement: Statement) -> str | None:
        """Why ``statement`` cannot run in a transaction here (None: it can)."""
        return refuses_transaction(statement, self.dialect, self.server_version)


class TransactionMix:
    """The decision, from the statements as they are read (``see``): the analysis feeds it
    while the rules read the script, so the script is read once. Statements the engine
    refuses in a transaction must not silently un-wrap the others (``mixed``)."""

    def __init__(self, engine: Engine, sql: str) -> None:
        self.engine = engine
        self.declared = parse_directives(sql).no_transaction
        self.applies = engine.can_rollback_ddl and not self.declared
        self.first: tuple[Statement, str] | None = None  # the first refusing statement
        self.others = False  # whether any other statement would have shared its transaction

    def see(self, statement: Statement) -> None:
        if not self.applies or (self.first is not None and self.others):
            return
        why = self.engine.refuses_transaction(statement)
        if why and self.first is None:
            self.first = (statement, why)
        self.others = self.others or not why

    @property
    def atomicity(self) -> Atomicity:
        """The decision: where the engine commits DDL, stepwise; where it rolls DDL back,
        stepwise if the script says so or a statement refuses a transaction."""
        if not self.engine.can_rollback_ddl:
            return Atomicity.DDL_COMMITS
        if self.declared or self.first is not None:
            return Atomicity.OUTSIDE_TRANSACTION
        return Atomicity.ONE_TRANSACTION

    @property
    def mixed(self) -> tuple[Statement, str] | None:
        """The first statement refused in a transaction, and why, if others would share it."""
        return self.first if self.others else None


def atomicity(sql: str, engine: Engine, statements: Iterable[Statement] | None = None) -> Atomicity:
    """How ``sql`` runs on ``engine``, for a script without a stored analysis (a rollback
    script); ``statements``: its statements, if already parsed."""
    mix = TransactionMix(engine, sql)
    if not mix.applies:
        return mix.atomicity
    if statements is None:
        # A large script is not held in memory: its first statement decides, since validation
        # refuses a script that mixes statements the engine refuses in a transaction with
        # others (and the engine would refuse such a mix anyway).
        streamed = is_streamed(sql)
        statements = (
            islice(iter_statements(sql, engine.dialect), 1)
            if streamed
            else parse_statements(sql, engine.dialect)
        )
    for statement in statements:
        mix.see(statement)
        if mix.first is not None:
            break
    return mix.atomicity


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


# The words that open a transaction-control statement (``is_transaction_control``): a
# statement's first word follows a separator, never a letter, digit, ``_`` or ``$``.
_CONTROL_WORD = re.compile(r"(?<![\w$])(?:BEGIN|START|COMMIT|END|ABORT|ROLLBACK)(?![\w$])", re.I)


def may_control_transactions(sql: str) -> bool:
    """False when ``sql`` cannot have its own BEGIN / COMMIT / ROLLBACK: none of their words
    is in its text, so ``controls_transactions`` need not split it (most scripts)."""
    return _CONTROL_WORD.search(sql) is not None


def controls_transactions(statements: Iterable[Statement]) -> bool:
    """Whether the script has its own BEGIN / COMMIT / ROLLBACK: it then runs as written,
    outside the tool's transaction (``execution.script_transactions``), on every engine."""
    return any(is_transaction_control(statement.words) for statement in statements)
