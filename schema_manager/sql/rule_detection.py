"""Which safety rules a statement breaks: ``hits(statement, context)`` -> (rule id, what).

The rule table (severity, advice) is ``rule_table.RULES``; this module only detects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

from . import bodies
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
    describe,
)
from .statements import Statement, Word, WordKind

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

LEDGER_NAME = "_prisma_migrations"
# Functions that end a session-level lock held by the migration's session: Prisma's own
# deploy holds its migration lock on the session that runs the script.
_UNLOCK_FUNCTIONS = frozenset(
    {
        "pg_advisory_unlock", "pg_advisory_unlock_all", "pg_advisory_unlock_shared",
        "release_lock", "release_all_locks",
    }
)  # fmt: skip
# One search of a statement's text (comments included) finds the statements worth reading
# word by word: most statements of a large data migration name neither.
_LEDGER_OR_UNLOCK = re.compile(
    r"_prisma_migrations|pg_advisory_unlock|release_lock|release_all_locks", re.IGNORECASE
)
_UNLOCK_CALL = re.compile(
    r"\b(?:pg_advisory_unlock(?:_all|_shared)?|release_lock|release_all_locks)\s*\(",
    re.IGNORECASE,
)


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
    value, quoted = unquote(name.object)
    return value if quoted else value.lower()


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
    if _LEDGER_OR_UNLOCK.search(statement.text):
        found += _ledger_and_locks(statement.words)
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
            setting = _session_setting(inner.words, None)
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
    if is_transaction_control(words):
        if context.own_transactions:
            return []
        context.own_transactions = True
        return [("transaction-control", "starts the script's control of its own transactions")]
    setting = _session_setting(words, context.dialect)
    if setting:
        return [("session-setting", setting)]
    return _savepoint(words, context)


# Session settings the ledger's reads and writes, and the next migrations, would run under.
_READ_ONLY = "READ_ONLY"


def _session_setting(words: tuple[Word, ...], dialect: str | None) -> str | None:
    """What ``words`` change about the session the tool works in, if anything."""
    uppers = [word.upper for word in words if word.text != ";"]
    if not uppers:
        return None
    if uppers[0] == "SET":
        rest = uppers[2:] if uppers[1:2] in (["SESSION"], ["LOCAL"]) else uppers[1:]
        if rest[:1] == ["AUTHORIZATION"] or rest[:1] == ["ROLE"]:
            return "changes the role the session runs as"
        if rest[:1] in (["SEARCH_PATH"], ["SCHEMA"]):
            return "changes the session's search_path"
        if rest[:1] == ["CHARACTERISTICS"]:
            return "changes the transaction characteristics of the session"
        if _has_sequence(rest, "READ", "ONLY") or any(_READ_ONLY in word for word in rest):
            return "makes transactions read-only"
        return None
    if "SET_CONFIG" in uppers:
        settings = [w.text.strip("'").upper() for w in words if w.kind is WordKind.STRING]
        if any(s in ("SEARCH_PATH", "ROLE") or _READ_ONLY in s for s in settings):
            return "changes the session's settings with set_config()"
    if uppers[0] == "USE" and dialect == "mysql":
        return "changes the session's default database (USE)"
    if uppers[0] == "PRAGMA" and any("QUERY_ONLY" in word for word in uppers):
        return "makes the connection read-only (PRAGMA query_only)"
    return None


def _savepoint(words: tuple[Word, ...], context: Context) -> list[Hit]:
    """SAVEPOINT names what the script may release; releasing any other is the tool's."""
    uppers = [word.upper for word in words if word.text != ";"]
    if not uppers or uppers[0] not in ("SAVEPOINT", "RELEASE", "ROLLBACK") or len(uppers) < 2:
        return []
    if uppers[0] == "ROLLBACK" and "TO" not in uppers:
        return []
    spelled = [word.text for word in words if word.text != ";"][-1]
    value, quoted = unquote(spelled)
    name = value if quoted else value.lower()
    if uppers[0] == "SAVEPOINT":
        context.savepoints.add(name)
        return []
    if name in context.savepoints:
        if uppers[0] == "RELEASE":
            context.savepoints.discard(name)
        return []
    verb = "releases" if uppers[0] == "RELEASE" else "rolls back to"
    return [("foreign-savepoint", f"{verb} savepoint {spelled}, which it did not create")]


def _ledger_and_locks(words: tuple[Word, ...]) -> list[Hit]:
    """A statement naming the ledger or calling an unlock function, in its own words or in a
    string it may run (a routine body, an EXECUTE): the migration's SQL must leave both to
    the applier. Comments do not count."""
    ledger = unlock = False
    for position, word in enumerate(words):
        if word.kind is WordKind.STRING:
            ledger = ledger or LEDGER_NAME in word.text.lower()
            unlock = unlock or bool(_UNLOCK_CALL.search(word.text))
            continue
        name = unquote(word.text)[0].lower()
        ledger = ledger or name == LEDGER_NAME
        following = words[position + 1].text if position + 1 < len(words) else ""
        unlock = unlock or (name in _UNLOCK_FUNCTIONS and following == "(")
    found: list[Hit] = []
    if ledger:
        found.append(("ledger-table", f"names the ledger table {LEDGER_NAME}"))
    if unlock:
        found.append(("advisory-unlock", "releases session-level locks"))
    return found


def is_transaction_control(words: tuple[Word, ...]) -> bool:
    """BEGIN, START TRANSACTION, COMMIT, END, ABORT or ROLLBACK (not ROLLBACK TO a savepoint)."""
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
