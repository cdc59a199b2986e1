"""What a statement does: ``describe(statement)`` turns words into a typed operation.

The rollback generator and the safety rules both dispatch on these types, so the statement
grammar is read in one place only.
"""

from __future__ import annotations

from dataclasses import dataclass

from .conditions import always_true
from .names import QualifiedName, WordCursor, split_top_level, with_depth
from .statements import Statement, Word

_TABLE_PREFIXES = ("GLOBAL", "LOCAL", "TEMPORARY", "TEMP", "UNLOGGED")
_NON_COLUMN_ADDS = (
    "CONSTRAINT",
    "PRIMARY",
    "UNIQUE",
    "FOREIGN",
    "CHECK",
    "EXCLUDE",
    "INDEX",
    "KEY",
)


@dataclass(frozen=True)
class Operation:
    """Base class: a statement this module recognises only by its leading keywords."""

    statement: Statement


@dataclass(frozen=True)
class CreateTable(Operation):
    table: QualifiedName
    if_not_exists: bool = False


@dataclass(frozen=True)
class CreateIndex(Operation):
    index: QualifiedName | None  # None: PostgreSQL picks the name
    table: QualifiedName
    concurrently: bool


@dataclass(frozen=True)
class CreateObject(Operation):
    """CREATE VIEW / MATERIALIZED VIEW / SEQUENCE / SCHEMA / TYPE / EXTENSION / FUNCTION /
    PROCEDURE / TRIGGER."""

    kind: str
    name: QualifiedName
    or_replace: bool = False
    arguments: tuple[Word, ...] | None = None  # FUNCTION / PROCEDURE, without parentheses
    table: QualifiedName | None = None  # TRIGGER ... ON table


@dataclass(frozen=True)
class CommentOn(Operation):
    target: tuple[Word, ...]  # e.g. TABLE users, COLUMN users.email


@dataclass(frozen=True)
class AddColumn:
    column: str
    definition: tuple[Word, ...] = ()  # type and constraints, after the name
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropColumn:
    column: str


@dataclass(frozen=True)
class AddConstraint:
    name: str | None
    kind: str  # PRIMARY KEY, UNIQUE, FOREIGN KEY, CHECK, EXCLUDE, INDEX
    definition: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Rename:
    what: str  # COLUMN or CONSTRAINT
    old: str
    new: str


@dataclass(frozen=True)
class RenameTo:
    new: str


@dataclass(frozen=True)
class AlterColumn:
    column: str
    change: str  # SET DEFAULT, DROP DEFAULT, SET NOT NULL, DROP NOT NULL, TYPE, or OTHER
    rest: tuple[Word, ...] = ()


@dataclass(frozen=True)
class OtherAction:
    text: str


AlterAction = AddColumn | DropColumn | AddConstraint | Rename | RenameTo | AlterColumn | OtherAction


@dataclass(frozen=True)
class AlterTable(Operation):
    table: QualifiedName
    actions: tuple[AlterAction, ...]


@dataclass(frozen=True)
class Drop(Operation):
    object_type: str  # TABLE, INDEX, DATABASE, SCHEMA, VIEW...
    names: tuple[QualifiedName, ...]
    concurrently: bool = False
    if_exists: bool = False
    cascade: bool = False


@dataclass(frozen=True)
class Truncate(Operation):
    tables: tuple[QualifiedName, ...]
    cascade: bool = False


@dataclass(frozen=True)
class DataChange(Operation):
    verb: str  # DELETE or UPDATE
    table: QualifiedName | None
    has_where: bool
    # The WHERE holds for every row (``WHERE true``, ``1=1``...): it limits nothing.
    where_always_true: bool = False

    @property
    def limits_rows(self) -> bool:
        return self.has_where and not self.where_always_true


@dataclass(frozen=True)
class AlterObject(Operation):
    """ALTER INDEX / TYPE / SEQUENCE / VIEW / MATERIALIZED VIEW ``name`` with one action:
    ``RENAME TO new``; on a TYPE also ``ADD VALUE 'v'`` or ``RENAME VALUE 'a' TO 'b'``."""

    kind: str
    name: QualifiedName
    action: str  # RENAME TO, ADD VALUE, RENAME VALUE
    new: str = ""  # the new name, the value added, or the value's new spelling
    old: str = ""  # RENAME VALUE: the value's old spelling (a string literal, as written)


@dataclass(frozen=True)
class DataStatement(Operation):
    """INSERT, UPDATE, DELETE, MERGE (also after WITH): rows change, the schema does not."""


def describe(statement: Statement) -> Operation:
    """Recognise ``statement``; anything unrecognised comes back as a plain ``Operation``."""
    cursor = WordCursor(statement.words)
    for reader in (_create, _alter, _drop, _truncate, _data_change, _comment, _alter_object):
        cursor.position = 0
        operation = reader(statement, cursor)
        if operation is not None:
            return operation
    if _changes_rows_only(statement):
        return DataStatement(statement)
    return Operation(statement)


_OBJECT_KINDS = (
    "MATERIALIZED VIEW", "VIEW", "SEQUENCE", "SCHEMA", "TYPE", "EXTENSION", "FUNCTION",
    "PROCEDURE", "TRIGGER", "CONSTRAINT TRIGGER",
)  # fmt: skip


def _create(statement: Statement, cursor: WordCursor) -> Operation | None:
    if not cursor.take_keywords("CREATE"):
        return None
    or_replace = cursor.take_keywords("OR", "REPLACE")
    while cursor.take_any(*_TABLE_PREFIXES, "RECURSIVE"):
        pass
    if cursor.take_keywords("TABLE"):
        if_not_exists = cursor.take_keywords("IF", "NOT", "EXISTS")
        table = cursor.take_name()
        return CreateTable(statement, table, if_not_exists) if table else None
    kind = cursor.take_any(*_OBJECT_KINDS)
    if kind is not None:
        return _create_object(statement, cursor, kind.removeprefix("CONSTRAINT "), or_replace)
    cursor.take_keywords("UNIQUE")
    if not cursor.take_keywords("INDEX"):
        return None
    concurrently = cursor.take_keywords("CONCURRENTLY")
    cursor.take_keywords("IF", "NOT", "EXISTS")
    index = None if cursor.take_keywords("ON") else cursor.take_name()
    if index is not None and not cursor.take_keywords("ON"):
        return None
    cursor.take_keywords("ONLY")
    table = cursor.take_name()
    if table is None:
        return None
    if index is not None and index.schema is None and table.schema is not None:
        # PostgreSQL creates the index in its table's schema.
        index = QualifiedName((table.schema, index.object))
    return CreateIndex(statement, index, table, concurrently)


def _create_object(
    statement: Statement, cursor: WordCursor, kind: str, or_replace: bool
) -> Operation | None:
    cursor.take_keywords("IF", "NOT", "EXISTS")
    name = cursor.take_name()
    if name is None:
        return None
    if kind in ("FUNCTION", "PROCEDURE"):
        arguments = _parenthesised(cursor)
        if arguments is None:
            return None
        return CreateObject(statement, kind, name, or_replace, arguments=arguments)
    if kind == "TRIGGER":
        table = None
        while not cursor.done and table is None:
            if cursor.take_keywords("ON"):
                table = cursor.take_name()
            else:
                cursor.position += 1
        return CreateObject(statement, kind, name, or_replace, table=table)
    return CreateObject(statement, kind, name, or_replace)


def _parenthesised(cursor: WordCursor) -> tuple[Word, ...] | None:
    """The words inside the parentheses that come next, or None if none come next."""
    if not cursor.next_is("("):
        return None
    inside: list[Word] = []
    for depth, word in with_depth(cursor.rest()):
        cursor.position += 1
        if depth == 0 and word.text == ")":
            return tuple(inside)
        if depth > 0 or word.text != "(":
            inside.append(word)
    return None


def _alter(statement: Statement, cursor: WordCursor) -> Operation | None:
    if not cursor.take_keywords("ALTER", "TABLE"):
        return None
    cursor.take_keywords("IF", "EXISTS")
    cursor.take_keywords("ONLY")
    table = cursor.take_name()
    if table is None:
        return None
    actions = tuple(_alter_action(words) for words in split_top_level(cursor.rest()))
    return AlterTable(statement, table, actions)


_CONSTRAINT_KINDS = ("PRIMARY KEY", "UNIQUE", "FOREIGN KEY", "CHECK", "EXCLUDE")


def _alter_action(words: list[Word]) -> AlterAction:
    cursor = WordCursor(words)
    text = " ".join(word.text for word in words)
    if cursor.take_keywords("ADD"):
        return _add(cursor, text)
    if cursor.take_keywords("DROP"):
        explicit = cursor.take_keywords("COLUMN")
        next_word = cursor.peek()
        if next_word is None or (not explicit and next_word.upper in _NON_COLUMN_ADDS):
            return OtherAction(text)
        cursor.take_keywords("IF", "EXISTS")
        column = cursor.take_name()
        return DropColumn(column.object) if column else OtherAction(text)
    if cursor.take_keywords("RENAME"):
        return _rename(cursor, text)
    if cursor.take_keywords("ALTER"):
        cursor.take_keywords("COLUMN")
        column = cursor.take_name()
        if column is None:
            return OtherAction(text)
        change = cursor.take_any(
            "SET DEFAULT", "DROP DEFAULT", "SET NOT NULL", "DROP NOT NULL", "TYPE",
            "SET DATA TYPE",
        )  # fmt: skip
        change = "TYPE" if change == "SET DATA TYPE" else change
        return AlterColumn(column.object, change or "OTHER", tuple(cursor.rest()))
    return OtherAction(text)


def _add(cursor: WordCursor, text: str) -> AlterAction:
    explicit = cursor.take_keywords("COLUMN")
    next_word = cursor.peek()
    if next_word is None:
        return OtherAction(text)
    if not explicit and next_word.upper in _NON_COLUMN_ADDS:
        name = None
        if cursor.take_keywords("CONSTRAINT"):
            name = cursor.take_name()
        kind = cursor.take_any("UNIQUE INDEX", "UNIQUE KEY", *_CONSTRAINT_KINDS, "INDEX", "KEY")
        if kind in ("INDEX", "KEY", "UNIQUE INDEX", "UNIQUE KEY"):
            # MySQL: ADD [UNIQUE] INDEX name (...)
            kind, name = "INDEX", name or cursor.take_name()
        if kind is None:
            return OtherAction(text)
        definition = tuple(cursor.rest())
        return AddConstraint(name.object if name else None, kind, definition)
    if_not_exists = cursor.take_keywords("IF", "NOT", "EXISTS")
    column = cursor.take_name()
    if column is None:
        return OtherAction(text)
    return AddColumn(column.object, tuple(cursor.rest()), if_not_exists)


def _rename(cursor: WordCursor, text: str) -> AlterAction:
    if cursor.take_keywords("TO") or cursor.take_keywords("AS"):
        new = cursor.take_name()
        return RenameTo(new.object) if new and cursor.done else OtherAction(text)
    what = "CONSTRAINT" if cursor.take_keywords("CONSTRAINT") else "COLUMN"
    if what == "COLUMN":
        cursor.take_keywords("COLUMN")
    old = cursor.take_name()
    if old is None or not cursor.take_keywords("TO"):
        return OtherAction(text)
    new = cursor.take_name()
    return Rename(what, old.object, new.object) if new and cursor.done else OtherAction(text)


def _names(cursor: WordCursor) -> tuple[QualifiedName, ...]:
    names = []
    while (name := cursor.take_name()) is not None:
        names.append(name)
        if not cursor.next_is(","):
            break
        cursor.position += 1
    return tuple(names)


def _drop(statement: Statement, cursor: WordCursor) -> Operation | None:
    if not cursor.take_keywords("DROP"):
        return None
    object_type = cursor.take_any(
        "TABLE", "INDEX", "DATABASE", "SCHEMA", "VIEW", "MATERIALIZED VIEW", "SEQUENCE",
        "TYPE", "FUNCTION", "TRIGGER", "EXTENSION", "PROCEDURE",
    )  # fmt: skip
    if object_type is None:
        return None
    concurrently = cursor.take_keywords("CONCURRENTLY")
    if_exists = cursor.take_keywords("IF", "EXISTS")
    names = _names(cursor)
    cascade = any(word.upper == "CASCADE" for word in cursor.rest())
    return Drop(statement, object_type, names, concurrently, if_exists, cascade)


def _truncate(statement: Statement, cursor: WordCursor) -> Operation | None:
    if not cursor.take_keywords("TRUNCATE"):
        return None
    cursor.take_keywords("TABLE")
    cursor.take_keywords("ONLY")
    tables = _names(cursor)
    cascade = any(word.upper == "CASCADE" for word in cursor.rest())
    return Truncate(statement, tables, cascade)


def _data_change(statement: Statement, cursor: WordCursor) -> Operation | None:
    verb = cursor.take_any("DELETE", "UPDATE")
    if verb is None:
        return None
    if verb == "DELETE":
        cursor.take_keywords("FROM")
    cursor.take_keywords("ONLY")
    table = cursor.take_name()
    condition = _where_condition(cursor.rest())
    if condition is None:
        return DataChange(statement, verb, table, has_where=False)
    return DataChange(statement, verb, table, True, where_always_true=always_true(condition))


# What may follow a DELETE's or UPDATE's condition.
_AFTER_CONDITION = frozenset({"RETURNING", "ORDER", "LIMIT"})


def _where_condition(words: list[Word]) -> list[Word] | None:
    """The words of the statement's own WHERE condition (not a subquery's); None if none."""
    condition: list[Word] | None = None
    for depth, word in with_depth(words):
        if depth == 0 and word.upper == "WHERE" and condition is None:
            condition = []
        elif condition is not None:
            if depth == 0 and word.upper in _AFTER_CONDITION:
                break
            if word.text != ";":
                condition.append(word)
    return condition


def _comment(statement: Statement, cursor: WordCursor) -> Operation | None:
    if not cursor.take_keywords("COMMENT", "ON"):
        return None
    target: list[Word] = []
    for depth, word in with_depth(cursor.rest()):
        if depth == 0 and word.upper == "IS":
            return CommentOn(statement, tuple(target)) if target else None
        target.append(word)
    return None


_ALTERED_KINDS = ("INDEX", "TYPE", "SEQUENCE", "VIEW", "MATERIALIZED VIEW")


def _alter_object(statement: Statement, cursor: WordCursor) -> Operation | None:
    if not cursor.take_keywords("ALTER"):
        return None
    kind = cursor.take_any(*_ALTERED_KINDS)
    if kind is None:
        return None
    cursor.take_keywords("IF", "EXISTS")
    name = cursor.take_name()
    if name is None:
        return None
    if cursor.take_keywords("RENAME", "TO"):
        renamed = cursor.take_name()
        return AlterObject(statement, kind, name, "RENAME TO", renamed.object) if renamed else None
    if kind != "TYPE":
        return None
    if cursor.take_keywords("ADD", "VALUE"):
        cursor.take_keywords("IF", "NOT", "EXISTS")
        value = cursor.peek()
        if value is not None and value.text.startswith("'"):
            return AlterObject(statement, kind, name, "ADD VALUE", value.text)
    if cursor.take_keywords("RENAME", "VALUE") and len(cursor.rest()) == 3:
        old, to, new = cursor.rest()
        if to.upper == "TO" and old.text.startswith("'") and new.text.startswith("'"):
            return AlterObject(statement, kind, name, "RENAME VALUE", new.text, old.text)
    return None


_DATA_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})


def _changes_rows_only(statement: Statement) -> bool:
    """INSERT, UPDATE, DELETE or MERGE, alone or after a WITH whose queries select only."""
    words = [word for word in statement.words if word.text != ";"]
    if not words:
        return False
    if words[0].upper in _DATA_VERBS:
        return True
    if words[0].upper != "WITH":
        return False
    top = [word.upper for depth, word in with_depth(words) if depth == 0]
    return any(verb in _DATA_VERBS for verb in top)
