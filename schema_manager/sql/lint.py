"""Which safety rules a statement breaks: ``hits(statement, context)`` -> (rule id, what).

The rule table (severity, advice) is ``rule_table.RULES``; this module only detects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from .names import QualifiedName, unquote
from .operations import (
    AddColumn,
    AddConstraint,
    AlterColumn,
    AlterTable,
    CreateIndex,
    CreateTable,
    DataChange,
    Drop,
    DropColumn,
    Operation,
    OtherAction,
    Rename,
    RenameTo,
    Truncate,
)
from .statements import Statement, Word

Hit = tuple[str, str]  # rule id, what the statement does (a phrase after "Statement N (...)")

# Functions whose value differs per row: as a column DEFAULT they make ADD COLUMN rewrite
# the table (PostgreSQL evaluates stable ones like now() once).
_VOLATILE = frozenset(
    {
        "RANDOM", "CLOCK_TIMESTAMP", "TIMEOFDAY", "GEN_RANDOM_UUID", "UUID_GENERATE_V1",
        "UUID_GENERATE_V1MC", "UUID_GENERATE_V4", "NEXTVAL", "TXID_CURRENT",
    }
)  # fmt: skip
_SERIAL = frozenset({"SMALLSERIAL", "SERIAL", "BIGSERIAL", "SERIAL2", "SERIAL4", "SERIAL8"})
_TRANSACTION_WORDS = frozenset(
    {"TRANSACTION", "WORK", "DEFERRED", "IMMEDIATE", "EXCLUSIVE", "ISOLATION", "READ", "AND"}
)
_MYSQL_COPY = ("MODIFY", "CHANGE", "CONVERT", "ENGINE", "ORDER", "FORCE")


@dataclass
class Context:
    """What the script has done so far, for rules about *existing* tables."""

    dialect: str | None
    transactional: bool = True
    created_tables: set[str] = field(default_factory=set)


def table_key(name: QualifiedName) -> str:
    value, quoted = unquote(name.object)
    return value if quoted else value.lower()


def hits(statement: Statement, operation: Operation, context: Context) -> list[Hit]:
    """Every rule ``statement`` breaks, given what the script did before it."""
    found: list[Hit] = []
    if isinstance(operation, Drop):
        found += _drop(operation, context)
    elif isinstance(operation, Truncate):
        found.append(("truncate", "deletes every row of a table"))
        if operation.cascade:
            found.append(("truncate-cascade", "also empties every table referencing it"))
    elif isinstance(operation, DataChange) and not operation.has_where:
        verb = "deletes" if operation.verb == "DELETE" else "updates"
        found.append((f"{operation.verb.lower()}-without-where", f"{verb} every row (no WHERE)"))
    elif isinstance(operation, CreateTable):
        context.created_tables.add(table_key(operation.table))
    elif isinstance(operation, CreateIndex):
        found += _create_index(operation, context)
    elif isinstance(operation, AlterTable):
        found += _alter(operation, context)
    found += _statement_level(statement, context)
    return found


def _drop(operation: Drop, context: Context) -> list[Hit]:
    kind = operation.object_type
    if kind == "DATABASE":
        return [("drop-database", "drops a whole database")]
    if kind == "TABLE":
        return [("drop-table", "drops a table and all its rows")]
    if kind == "SCHEMA":
        return [("drop-schema", "drops a schema and everything in it")]
    if kind == "INDEX" and operation.concurrently and context.transactional:
        return [("concurrently-in-transaction", "drops an index CONCURRENTLY in a transaction")]
    if kind == "INDEX" and not operation.concurrently:
        return [("drop-index-not-concurrently", "drops an index without CONCURRENTLY")]
    return []


def _create_index(operation: CreateIndex, context: Context) -> list[Hit]:
    if operation.concurrently and context.transactional:
        return [("concurrently-in-transaction", "creates an index CONCURRENTLY in a transaction")]
    if not operation.concurrently and table_key(operation.table) not in context.created_tables:
        return [("create-index-not-concurrently", "indexes an existing table without CONCURRENTLY")]
    return []


def _alter(operation: AlterTable, context: Context) -> list[Hit]:
    found: list[Hit] = []
    existing = table_key(operation.table) not in context.created_tables
    for action in operation.actions:
        if isinstance(action, DropColumn):
            found.append(("drop-column", "drops a column and its data"))
        elif isinstance(action, Rename) and action.what == "COLUMN" and existing:
            found.append(("rename-column", f"renames column {action.old} to {action.new}"))
        elif isinstance(action, RenameTo) and existing:
            found.append(("rename-table", f"renames the table to {action.new}"))
        elif existing:
            found += _alter_existing(action)
    if context.dialect == "mysql" and _copies_table(operation):
        found.append(("mysql-table-copy", "makes MySQL copy the whole table"))
    for action in operation.actions:
        if isinstance(action, RenameTo):
            context.created_tables.discard(table_key(operation.table))
            if not existing:
                context.created_tables.add(table_key(QualifiedName((action.new,))))
    return found


def _alter_existing(action: object) -> list[Hit]:
    if isinstance(action, AddColumn):
        return _add_column(action)
    if isinstance(action, AlterColumn) and action.change == "SET NOT NULL":
        return [("set-not-null", f"sets NOT NULL on column {action.column}")]
    if isinstance(action, AlterColumn) and action.change == "TYPE":
        return [("alter-column-type", f"changes the type of column {action.column}")]
    if isinstance(action, AddConstraint):
        return _add_constraint(action)
    return []


def _add_column(action: AddColumn) -> list[Hit]:
    words = [word.upper for word in action.definition]
    found: list[Hit] = []
    default = _after(words, "DEFAULT")
    calls = {word for word, following in pairwise(default) if following == "("}
    rewrites = bool(calls & _VOLATILE or _SERIAL.intersection(words)) or "GENERATED" in words
    if rewrites:
        found.append(("volatile-default", f"adds column {action.column} with a per-row default"))
    has_default = "DEFAULT" in words or rewrites
    if _has_sequence(words, "NOT", "NULL") and not has_default:
        found.append(
            ("add-column-not-null-without-default", f"adds NOT NULL column {action.column}")
        )
    return found


def _add_constraint(action: AddConstraint) -> list[Hit]:
    words = [word.upper for word in action.definition]
    not_valid = _has_sequence(words, "NOT", "VALID")
    if action.kind == "FOREIGN KEY" and not not_valid:
        return [("foreign-key-without-not-valid", "adds a foreign key that is validated at once")]
    if action.kind == "CHECK" and not not_valid:
        return [("check-without-not-valid", "adds a CHECK constraint that is validated at once")]
    if action.kind in ("UNIQUE", "PRIMARY KEY") and not _has_sequence(words, "USING", "INDEX"):
        return [("unique-without-using-index", f"adds a {action.kind} constraint and its index")]
    return []


def _copies_table(operation: AlterTable) -> bool:
    for action in operation.actions:
        if isinstance(action, AddConstraint) and action.kind == "PRIMARY KEY":
            return True
        if isinstance(action, OtherAction):
            text = action.text.upper()
            if text.startswith(_MYSQL_COPY) or text.startswith("DROP PRIMARY KEY"):
                return True
            if "ALGORITHM = COPY" in text or "ALGORITHM=COPY" in text:
                return True
    return False


def _statement_level(statement: Statement, context: Context) -> list[Hit]:
    words = statement.words
    first = words[0].upper if words else ""
    uppers = [word.upper for word in words[:4]]
    if first == "VACUUM" and "FULL" in [word.upper for word in words]:
        return [("vacuum-full", "rewrites tables (VACUUM FULL)")]
    if first == "CLUSTER":
        return [("cluster", "rewrites a table in index order (CLUSTER)")]
    if first == "OPTIMIZE" and context.dialect == "mysql":
        return [("mysql-table-copy", "makes MySQL copy the whole table")]
    if first == "REINDEX" and "CONCURRENTLY" in uppers and context.transactional:
        return [("concurrently-in-transaction", "reindexes CONCURRENTLY in a transaction")]
    if context.transactional and _is_transaction_control(words):
        return [("transaction-control", f"controls the transaction itself ({first})")]
    return []


def _is_transaction_control(words: tuple[Word, ...]) -> bool:
    uppers = [word.upper for word in words if word.text != ";"]
    if not uppers:
        return False
    if uppers[:2] == ["START", "TRANSACTION"]:
        return True
    if uppers[0] == "ROLLBACK":
        return "TO" not in uppers  # ROLLBACK TO SAVEPOINT stays inside the transaction
    if uppers[0] in ("BEGIN", "COMMIT", "END", "ABORT"):
        return len(uppers) == 1 or uppers[1] in _TRANSACTION_WORDS
    return False


def _after(words: list[str], keyword: str) -> list[str]:
    return words[words.index(keyword) + 1 :] if keyword in words else []


def _has_sequence(words: list[str], *sequence: str) -> bool:
    size = len(sequence)
    return any(tuple(words[i : i + size]) == sequence for i in range(len(words) - size + 1))
