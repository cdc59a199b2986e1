"""Which safety rules a statement breaks: ``hits(statement, context)`` -> (rule id, what).

The rule table (severity, advice) is ``rule_table.RULES``; this module only detects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from . import bodies
from .created import SERIAL_TYPES
from .names import QualifiedName, catalog_name, has_sequence
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
from .reading import describe
from .session_detection import (
    LEDGER_OR_UNLOCK,
    Hit,
    is_transaction_control,
    ledger_and_locks,
    savepoint,
    session_setting,
)
from .statements import Statement

# Functions whose value differs per row: as a column DEFAULT they make ADD COLUMN rewrite
# the table (PostgreSQL evaluates stable ones like now() once).
_VOLATILE = frozenset(
    {
        "RANDOM", "CLOCK_TIMESTAMP", "TIMEOFDAY", "GEN_RANDOM_UUID", "UUID_GENERATE_V1",
        "UUID_GENERATE_V1MC", "UUID_GENERATE_V4", "NEXTVAL", "TXID_CURRENT",
    }
)  # fmt: skip
_MYSQL_COPY = ("MODIFY", "CHANGE", "CONVERT", "ENGINE", "ORDER", "FORCE")


@dataclass
class Context:
    """What the script has done so far, for rules about *existing* tables (and savepoints)."""

    dialect: str | None
    transactional: bool = True
    created_tables: set[str] = field(default_factory=set)
    # Columns and indexes the script added to tables it did not create: dropping them again
    # loses nothing and locks nothing more.
    added_columns: set[tuple[str, str]] = field(default_factory=set)
    created_indexes: set[str] = field(default_factory=set)
    savepoints: set[str] = field(default_factory=set)  # created by the script, not released
    # The script controls its own transactions (told once, at its first such statement).
    own_transactions: bool = False


def table_key(name: QualifiedName) -> str:
    return catalog_name(name.object)


def hits(statement: Statement, operation: Operation, context: Context) -> list[Hit]:
    """Every rule ``statement`` breaks, given what the script did before it."""
    found: list[Hit] = []
    if isinstance(operation, Drop):
        found += _drop(operation, context)
    elif isinstance(operation, (Truncate, DataChange)):
        found += _destroys(operation)
    elif isinstance(operation, CreateTable):
        context.created_tables.add(table_key(operation.table))
    elif isinstance(operation, CreateIndex):
        found += _create_index(operation, context)
        if operation.index is not None:
            context.created_indexes.add(table_key(operation.index))
    elif isinstance(operation, AlterTable):
        found += _alter(operation, context)
    found += _statement_level(statement, context)
    found += _unread_code(statement)
    if LEDGER_OR_UNLOCK.search(statement.text):
        found += ledger_and_locks(statement.words)
    return found


def _destroys(operation: Operation) -> list[Hit]:
    """The data-destroying rules ``operation`` breaks (whatever the context)."""
    if isinstance(operation, Drop):
        kinds = ("DATABASE", "TABLE", "SCHEMA")
        return _drop(operation, Context(None)) if operation.object_type in kinds else []
    if isinstance(operation, Truncate):
        found = [("truncate", "deletes every row of a table")]
        if operation.cascade:
            found.append(("truncate-cascade", "also empties every table referencing it"))
        return found
    if isinstance(operation, DataChange) and not operation.limits_rows:
        verb = "deletes" if operation.verb == "DELETE" else "updates"
        why = "its WHERE is always true" if operation.has_where else "no WHERE"
        return [(f"{operation.verb.lower()}-without-where", f"{verb} every row ({why})")]
    if isinstance(operation, AlterTable):
        return [
            ("drop-column", "drops a column and its data")
            for action in operation.actions
            if isinstance(action, DropColumn)
        ]
    return []


def _unread_code(statement: Statement, depth: int = 0) -> list[Hit]:
    """What ``statement`` runs beyond its own words: a prepared statement or a procedure
    (unreadable here), or a DO block's or routine's body (read: its destructive statements
    count, and SQL it builds at run time counts as possibly destructive)."""
    first = statement.words[0].upper if statement.words else ""
    if first == "EXECUTE":
        return [("dynamic-sql", "executes a prepared statement, whose SQL the rules cannot read")]
    if first == "CALL":
        name = statement.words[1].text if len(statement.words) > 1 else "a procedure"
        return [("dynamic-sql", f"calls {name}, whose statements the rules cannot read")]
    if first not in ("DO", "CREATE"):
        return []
    code = bodies.body(statement)
    if code is None:
        return []
    found: list[Hit] = []
    if code.dynamic or (depth >= bodies.MAX_DEPTH and code.statements):
        found.append(("dynamic-sql", f"runs SQL built at run time (EXECUTE) {code.where}"))
    if depth < bodies.MAX_DEPTH:
        for inner in code.statements:
            if inner.words[0].upper == "EXECUTE":
                continue  # ``code.dynamic`` says it
            inner_hits = _destroys(describe(inner)) + _unread_code(inner, depth + 1)
            setting = session_setting(inner.words, None)
            if setting:
                inner_hits.append(("session-setting", setting))
            found += [(rule, f"{what} {code.where}") for rule, what in inner_hits]
    return list(dict.fromkeys(found))  # each finding once, in order


def _drop(operation: Drop, context: Context) -> list[Hit]:
    kind = operation.object_type
    if kind == "DATABASE":
        return [("drop-database", "drops a whole database")]
    if kind == "TABLE" and not _all_in(operation.names, context.created_tables):
        return [("drop-table", "drops a table and all its rows")]
    if kind == "SCHEMA":
        return [("drop-schema", "drops a schema and everything in it")]
    if kind == "INDEX" and operation.concurrently and context.transactional:
        return [("concurrently-in-transaction", "drops an index CONCURRENTLY in a transaction")]
    if kind == "INDEX" and not operation.concurrently:
        if _all_in(operation.names, context.created_indexes):
            return []
        return [("drop-index-not-concurrently", "drops an index without CONCURRENTLY")]
    return []


def _all_in(names: tuple[QualifiedName, ...], created: set[str]) -> bool:
    return bool(names) and all(table_key(name) in created for name in names)


def _create_index(operation: CreateIndex, context: Context) -> list[Hit]:
    if operation.concurrently and context.transactional:
        return [("concurrently-in-transaction", "creates an index CONCURRENTLY in a transaction")]
    if not operation.concurrently and table_key(operation.table) not in context.created_tables:
        return [("create-index-not-concurrently", "indexes an existing table without CONCURRENTLY")]
    return []


def _alter(operation: AlterTable, context: Context) -> list[Hit]:
    found: list[Hit] = []
    existing = table_key(operation.table) not in context.created_tables
    table = table_key(operation.table)
    for action in operation.actions:
        if isinstance(action, AddColumn) and existing and not action.if_not_exists:
            context.added_columns.add((table, table_key(QualifiedName((action.column,)))))
        if isinstance(action, DropColumn):
            column = (table, table_key(QualifiedName((action.column,))))
            if existing and column not in context.added_columns:
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
    rewrites = bool(calls & _VOLATILE or SERIAL_TYPES.intersection(words)) or "GENERATED" in words
    if rewrites:
        found.append(("volatile-default", f"adds column {action.column} with a per-row default"))
    has_default = "DEFAULT" in words or rewrites
    if has_sequence(words, "NOT", "NULL") and not has_default:
        found.append(
            ("add-column-not-null-without-default", f"adds NOT NULL column {action.column}")
        )
    return found


def _add_constraint(action: AddConstraint) -> list[Hit]:
    words = [word.upper for word in action.definition]
    not_valid = has_sequence(words, "NOT", "VALID")
    if action.kind == "FOREIGN KEY" and not not_valid:
        return [("foreign-key-without-not-valid", "adds a foreign key that is validated at once")]
    if action.kind == "CHECK" and not not_valid:
        return [("check-without-not-valid", "adds a CHECK constraint that is validated at once")]
    if action.kind in ("UNIQUE", "PRIMARY KEY") and not has_sequence(words, "USING", "INDEX"):
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
    if is_transaction_control(words):
        if context.own_transactions:
            return []
        context.own_transactions = True
        return [("transaction-control", "starts the script's control of its own transactions")]
    setting = session_setting(words, context.dialect)
    if setting:
        return [("session-setting", setting)]
    return savepoint(words, context.savepoints)


def _after(words: list[str], keyword: str) -> list[str]:
    return words[words.index(keyword) + 1 :] if keyword in words else []
