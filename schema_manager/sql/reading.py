"""Reading a statement's words into the typed operation it is (``describe``), or a plain
``Operation`` when it is none that the rules and the rollback generator know.
"""

from __future__ import annotations

from .conditions import always_true
from .names import QualifiedName, WordCursor, with_depth
from .operations import (
    AlterObject,
    CommentOn,
    CreateIndex,
    CreateObject,
    CreateTable,
    DataChange,
    DataStatement,
    Drop,
    Operation,
    Truncate,
)
from .statements import Statement, Word
from .table_actions import read_alter_table

_TABLE_PREFIXES = ("GLOBAL", "LOCAL", "TEMPORARY", "TEMP", "UNLOGGED")


# The operations of the parse cache's statements read lately, by the statement's identity:
# one apply describes each statement in its rules, archive plan, capture, rollback and
# footprints, and the parse cache hands every reader the same (immutable) statements.
# Identity, not equality: hashing a statement would walk all its words. The statement is kept
# with its operation, so that its id cannot be reused while it is a key; a streamed script's
# statements (not ``shared``) are never kept, so that it is still read one at a time.
_DESCRIBED: dict[int, tuple[Statement, Operation]] = {}
_DESCRIBED_MAX = 8192


def describe(statement: Statement) -> Operation:
    """Recognise ``statement``; anything unrecognised comes back as a plain ``Operation``."""
    if not statement.shared:
        return _describe(statement)
    known = _DESCRIBED.get(id(statement))
    if known is not None and known[0] is statement:
        return known[1]
    operation = _describe(statement)
    if len(_DESCRIBED) >= _DESCRIBED_MAX:
        _DESCRIBED.clear()
    _DESCRIBED[id(statement)] = (statement, operation)
    return operation


def _describe(statement: Statement) -> Operation:
    cursor = WordCursor(statement.words)
    for reader in (
        _create,
        read_alter_table,
        _drop,
        _truncate,
        _data_change,
        _comment,
        _alter_object,
    ):
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
    temporary = False
    while prefix := cursor.take_any(*_TABLE_PREFIXES, "RECURSIVE"):
        temporary = temporary or prefix in ("TEMP", "TEMPORARY")
    if cursor.take_keywords("TABLE"):
        if_not_exists = cursor.take_keywords("IF", "NOT", "EXISTS")
        table = cursor.take_name()
        return CreateTable(statement, table, if_not_exists, temporary) if table else None
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


_READERS = (_create, read_alter_table, _drop, _truncate, _data_change, _comment, _alter_object)


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
