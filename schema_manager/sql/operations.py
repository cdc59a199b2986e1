"""What a statement does: ``describe(statement)`` turns words into a typed operation.

The rollback generator and the safety rules both dispatch on these types, so the statement
grammar is read in one place only.
"""

from __future__ import annotations

from dataclasses import dataclass

from .names import QualifiedName, WordCursor, split_top_level, with_depth
from .statements import Statement, Word, WordKind

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


@dataclass(frozen=True)
class CreateIndex(Operation):
    index: QualifiedName | None  # None: PostgreSQL picks the name
    table: QualifiedName
    concurrently: bool


@dataclass(frozen=True)
class AddColumn:
    column: str


@dataclass(frozen=True)
class DropColumn:
    column: str


@dataclass(frozen=True)
class OtherAction:
    text: str


AlterAction = AddColumn | DropColumn | OtherAction


@dataclass(frozen=True)
class AlterTable(Operation):
    table: QualifiedName
    actions: tuple[AlterAction, ...]


@dataclass(frozen=True)
class Drop(Operation):
    object_type: str  # TABLE, INDEX, DATABASE, SCHEMA, VIEW...
    names: tuple[QualifiedName, ...]


@dataclass(frozen=True)
class Truncate(Operation):
    tables: tuple[QualifiedName, ...]


@dataclass(frozen=True)
class DataChange(Operation):
    verb: str  # DELETE or UPDATE
    table: QualifiedName | None
    has_where: bool


def describe(statement: Statement) -> Operation:
    """Recognise ``statement``; anything unrecognised comes back as a plain ``Operation``."""
    cursor = WordCursor(statement.words)
    for reader in (_create, _alter, _drop, _truncate, _data_change):
        cursor.position = 0
        operation = reader(statement, cursor)
        if operation is not None:
            return operation
    return Operation(statement)


def _create(statement: Statement, cursor: WordCursor) -> Operation | None:
    if not cursor.take_keywords("CREATE"):
        return None
    cursor.take_keywords("OR", "REPLACE")
    while cursor.take_any(*_TABLE_PREFIXES):
        pass
    if cursor.take_keywords("TABLE"):
        cursor.take_keywords("IF", "NOT", "EXISTS")
        table = cursor.take_name()
        return CreateTable(statement, table) if table else None
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


def _alter_action(words: list[Word]) -> AlterAction:
    cursor = WordCursor(words)
    text = " ".join(word.text for word in words)
    if cursor.take_keywords("ADD"):
        explicit = cursor.take_keywords("COLUMN")
        next_word = cursor.peek()
        if next_word is None or (not explicit and next_word.upper in _NON_COLUMN_ADDS):
            return OtherAction(text)
        cursor.take_keywords("IF", "NOT", "EXISTS")
        column = cursor.take_name()
        return AddColumn(column.object) if column else OtherAction(text)
    if cursor.take_keywords("DROP"):
        explicit = cursor.take_keywords("COLUMN")
        next_word = cursor.peek()
        if next_word is None or (not explicit and next_word.upper in _NON_COLUMN_ADDS):
            return OtherAction(text)
        cursor.take_keywords("IF", "EXISTS")
        column = cursor.take_name()
        return DropColumn(column.object) if column else OtherAction(text)
    return OtherAction(text)


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
    cursor.take_keywords("CONCURRENTLY")
    cursor.take_keywords("IF", "EXISTS")
    return Drop(statement, object_type, _names(cursor))


def _truncate(statement: Statement, cursor: WordCursor) -> Operation | None:
    if not cursor.take_keywords("TRUNCATE"):
        return None
    cursor.take_keywords("TABLE")
    cursor.take_keywords("ONLY")
    return Truncate(statement, _names(cursor))


def _data_change(statement: Statement, cursor: WordCursor) -> Operation | None:
    verb = cursor.take_any("DELETE", "UPDATE")
    if verb is None:
        return None
    if verb == "DELETE":
        cursor.take_keywords("FROM")
    cursor.take_keywords("ONLY")
    table = cursor.take_name()
    has_where = any(word.upper == "WHERE" for word in _outside_parentheses(cursor.rest()))
    return DataChange(statement, verb, table, has_where)


def _outside_parentheses(words: list[Word]) -> list[Word]:
    """The words at depth 0: a subquery's WHERE does not limit the outer statement's rows."""
    return [
        word
        for depth, word in with_depth(words)
        if depth == 0 and not (word.kind is WordKind.PUNCTUATION and word.text in ("(", ")"))
    ]
