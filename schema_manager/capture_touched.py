"""Which statements keep a later ``DROP COLUMN`` of the same migration from bringing its
columns back in place (``capture_dropped_column``): the capture notes each as it reads the
script (``("touched", table)`` in ``catalog.Seen``), and the column move, which recreates the
columns as they were before the migration, stays away from a table an earlier statement
changed in a way the move cannot see."""

from __future__ import annotations

from .capture_alter import touched_by
from .sql.bodies import do_block
from .sql.names import WordCursor, catalog_name, has_sequence
from .sql.operations import (
    AlterObject,
    AlterTable,
    CommentOn,
    CreateIndex,
    CreateObject,
    CreateTable,
    DataChange,
    DataStatement,
    Drop,
    Operation,
    RenameTo,
)
from .sql.reading import describe
from .sql.session_detection import is_transaction_control


def touches(operation: Operation) -> list[tuple[str, ...]]:
    """What ``operation`` keeps an undone DROP COLUMN from moving back in place, noted in
    ``catalog.Seen``: ``("touched", table)`` (also for a table a foreign key it makes
    references without naming columns), ``("touched", "*")`` for any table,
    ``("touched", table, column)`` for a column whose type changed (or that a foreign key it
    makes references), ``("renamed type", name)`` for a type renamed (a column of it would be
    made again with the type now of that name)."""
    if isinstance(operation, AlterTable):
        if any(isinstance(action, RenameTo) for action in operation.actions):
            return [_ANY]
        table = catalog_name(operation.table.object)
        marks = [touched_by(table, action) for action in operation.actions]
        return [mark for mark in marks if mark is not None] + _referenced(operation)
    if isinstance(operation, CreateIndex):
        # An index the migration makes on a moved column goes with the old column as the move
        # drops it, and its own inverse then finds nothing to drop.
        return []
    if isinstance(operation, CreateTable):
        return _referenced(operation)
    if isinstance(operation, (Drop, DataChange, DataStatement, CommentOn)):
        return []
    if isinstance(operation, CreateObject) and _uses_no_column(operation):
        return []
    if isinstance(operation, AlterObject) and operation.kind == "INDEX":
        # The move makes an index again under its name then (``capture_renames``).
        return [] if operation.action == "RENAME TO" else [_ANY]
    if isinstance(operation, AlterObject) and operation.kind == "TYPE":
        if operation.action == "ADD VALUE":
            return []  # a column of the enum keeps its type and values: it moves as it was
        if operation.action == "RENAME TO":
            return [("renamed type", catalog_name(operation.name.object))]
    if is_transaction_control(operation.statement.words):  # the script's own BEGIN / COMMIT
        return []
    if (block := do_block(operation.statement)) is not None and not block.dynamic:
        # A block touches what its statements touch (a guard's reads and row changes: none).
        return [
            mark
            for inner in block.statements
            if inner.words[0].upper not in _READS
            for mark in touches(describe(inner))
        ]
    return [_ANY]  # a view, trigger or policy, or a DO block running SQL built at run time


_ANY = ("touched", "*")
# A block's queries (a guard's count before its IF … RAISE) change nothing; a PERFORM or a
# CALL runs a routine, which may alter any table.
_READS = frozenset({"SELECT"})


def _referenced(operation: Operation) -> list[tuple[str, ...]]:
    """The columns a foreign key the statement makes references (its table's, where it names
    none: its primary key's): the key is not in the catalog before the migration, and is
    still there when a later DROP COLUMN's inverse runs, so they cannot be made again."""
    words = operation.statement.words
    marks: list[tuple[str, ...]] = []
    for position, word in enumerate(words):
        if word.upper != "REFERENCES":
            continue
        cursor = WordCursor(words[position + 1 :])
        name = cursor.take_name()
        if name is None:
            continue
        table = catalog_name(name.object)
        columns = _column_list(cursor.rest())
        if columns:
            marks += [("touched", table, column) for column in columns]
        else:
            marks.append(("touched", table))
    return marks


def _column_list(words: list) -> list[str]:
    """The names of a ``(a, b)`` list at the head of ``words``; [] if there is none (or it is
    not a plain list of names)."""
    if not words or words[0].text != "(":
        return []
    names: list[str] = []
    for word in words[1:]:
        if word.text == ")":
            return names
        if word.text != ",":
            if word.text.startswith("'") or word.text == "(":
                return []
            names.append(catalog_name(word.text))
    return []


def _uses_no_column(operation: CreateObject) -> bool:
    """A new sequence, schema, enum or extension: nothing in it can hang on a column of a
    table from before (a composite type or a range may be of a table's row type; a view,
    function or trigger may read columns; an extension makes objects of its own)."""
    if operation.kind == "EXTENSION":
        return True
    uppers = [word.upper for word in operation.statement.words]
    if operation.kind == "SCHEMA":  # not one with elements (CREATE SCHEMA s CREATE VIEW ...)
        return "CREATE" not in uppers[1:]
    if operation.kind == "SEQUENCE":  # not one owned by a column (OWNED BY t.c)
        return "OWNED" not in uppers
    return operation.kind == "TYPE" and has_sequence(uppers, "AS", "ENUM")
