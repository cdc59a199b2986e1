"""Which statements keep a later ``DROP COLUMN`` of the same migration from bringing its
columns back in place (``capture_dropped_column``): the capture notes each as it reads the
script (``("touched", table)`` in ``catalog.Seen``), and the column move, which recreates the
columns as they were before the migration, stays away from a table an earlier statement
changed in a way the move cannot see."""

from __future__ import annotations

from .capture_alter import leaves_columns_movable
from .sql.names import catalog_name
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
from .sql.session_detection import is_transaction_control


def touches(operation: Operation) -> str | None:
    """The table (its catalog name) whose columns an undone DROP COLUMN may no longer move
    back in place after ``operation`` ran (``capture_dropped_column``); ``*`` for any table."""
    if isinstance(operation, AlterTable):
        if any(isinstance(action, RenameTo) for action in operation.actions):
            return "*"
        if all(leaves_columns_movable(action) for action in operation.actions):
            return None
        return catalog_name(operation.table.object)
    if isinstance(operation, CreateIndex):
        return catalog_name(operation.table.object)
    if isinstance(operation, (CreateTable, Drop, DataChange, DataStatement, CommentOn)):
        return None
    if isinstance(operation, CreateObject) and _uses_no_column(operation):
        return None
    if isinstance(operation, AlterObject) and operation.action == "ADD VALUE":
        return None  # a column of the enum keeps its type and values: it moves as it was
    if is_transaction_control(operation.statement.words):  # the script's own BEGIN / COMMIT
        return None
    return "*"  # a view, trigger, policy, type change or DO block may use any column


def _uses_no_column(operation: CreateObject) -> bool:
    """A new sequence, schema or enum: nothing in it can hang on a column (a composite type
    or a range may be of a table's row type; a view, function or trigger may read columns)."""
    uppers = [word.upper for word in operation.statement.words]
    if operation.kind == "SCHEMA":  # not one with elements (CREATE SCHEMA s CREATE VIEW ...)
        return "CREATE" not in uppers[1:]
    if operation.kind == "SEQUENCE":  # not one owned by a column (OWNED BY t.c)
        return "OWNED" not in uppers
    return (
        operation.kind == "TYPE"
        and "AS" in uppers
        and uppers.index("AS") + 1 < len(uppers)
        and uppers[uppers.index("AS") + 1] == "ENUM"
    )
