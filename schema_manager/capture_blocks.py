"""DO blocks that make what did not exist, undone from the catalog.

Scripts guard a constraint, a column, an index, a type or a table in a DO block (``IF NOT
EXISTS (…) THEN …``, or an ``EXCEPTION WHEN duplicate_object`` handler) so that they can run
twice. Whatever the guard tests, each object the block names is as it was if it existed before
the migration (the block left it, or failed and took the migration with it), and is new if it
did not: the inverse drops, ``IF EXISTS``, what the catalog did not have. Rows the block
changes stay as they are (a ``-- NOTE:`` says so, as for the same statements outside a block);
any other statement (a drop, SQL built at run time) leaves the block to the generator, which
says why it cannot undo it.
"""

from __future__ import annotations

from . import catalog_definitions as catalog
from .sql.bodies import do_block
from .sql.names import QualifiedName, catalog_name, render_name, render_part
from .sql.operations import (
    AddColumn,
    AddConstraint,
    AlterTable,
    CreateIndex,
    CreateObject,
    CreateTable,
    DataChange,
    DataStatement,
    Drop,
    Operation,
)
from .sql.reading import describe
from .sql.rollback import NOTE_PREFIX
from .sql.statements import Statement
from .sql.table_actions import using_index

_DIALECT = "postgresql"
_READS = frozenset({"SELECT", "PERFORM"})  # the guard's own queries


def is_do_block(operation: Operation) -> bool:
    words = operation.statement.words
    return type(operation) is Operation and bool(words) and words[0].upper == "DO"


def drops(operation: Operation) -> bool:
    """Whether ``operation`` may drop something: a DO block after it is then not undone here
    (what it re-creates existed before the migration, yet is new when the block runs)."""
    if isinstance(operation, Drop):
        return True
    if isinstance(operation, AlterTable):
        return not all(isinstance(a, (AddColumn, AddConstraint)) for a in operation.actions)
    if type(operation) is not Operation:
        return False
    block = do_block(operation.statement)
    if block is None or block.dynamic:
        return True  # a statement the reading does not know: it may
    return any(
        drops(describe(inner)) for inner in block.statements if inner.words[0].upper not in _READS
    )


def undo_block(cursor, statement: Statement) -> list[str] | None:
    """The statements undoing the DO block ``statement``, newest first, read from the
    catalog before the migration; None where the block does more than make named objects."""
    block = do_block(statement)
    if block is None or block.dynamic or not block.statements:
        return None
    lines: list[str] = []
    rows = made = False
    for inner in block.statements:
        if inner.words[0].upper in _READS:
            continue
        operation = describe(inner)
        if isinstance(operation, (DataChange, DataStatement)):
            rows = True  # as at the top level: the rollback leaves the data as it is
            continue
        part = _undo_if_new(cursor, operation)
        if part is None:
            return None
        made = True
        lines = part + lines
    if not made:  # rows only: the generator's own note says which statements
        return None
    if rows:
        lines.insert(
            0,
            f"{NOTE_PREFIX} statement {statement.index + 1} ({statement.summary}) also changes "
            "rows in its DO block; the rollback leaves the data as it is.",
        )
    elif not lines:  # said, so that a rollback of this block alone is not an empty script
        lines.append(
            f"{NOTE_PREFIX} statement {statement.index + 1} ({statement.summary}) made nothing: "
            "what it names was there before the migration."
        )
    return lines


def _undo_if_new(cursor, operation: Operation) -> list[str] | None:
    if isinstance(operation, AlterTable):
        return _added(cursor, operation)
    if isinstance(operation, CreateIndex) and operation.index is not None:
        name = operation.index
        if not name.schema and operation.table.schema:  # an index lives in its table's schema
            name = QualifiedName((operation.table.schema, name.object))
        if _oid(cursor, catalog.OID_BY_NAME, name) is not None:
            return []
        return [f"DROP INDEX IF EXISTS {render_name(name, _DIALECT)};"]
    if isinstance(operation, CreateTable):
        if _oid(cursor, catalog.OID_BY_NAME, operation.table) is not None:
            return []
        return [f"DROP TABLE IF EXISTS {render_name(operation.table, _DIALECT)} CASCADE;"]
    if isinstance(operation, CreateObject) and operation.kind == "TYPE":
        if _oid(cursor, catalog.TYPE_OID_BY_NAME, operation.name) is not None:
            return []
        return [f"DROP TYPE IF EXISTS {render_name(operation.name, _DIALECT)};"]
    return None


def _added(cursor, operation: AlterTable) -> list[str] | None:
    """Each column or named constraint the ALTER TABLE adds that the table did not have."""
    table = render_name(operation.table, _DIALECT)
    oid = _oid(cursor, catalog.OID_BY_NAME, operation.table)
    if oid is None:  # made earlier in the migration, or never (the guard tested for it)
        table = f"IF EXISTS {table}"
    lines: list[str] = []
    for action in operation.actions:
        if isinstance(action, AddColumn):
            column = catalog_name(action.column)
            there = oid is not None and bool(catalog.columns(cursor, oid, column))
            undo = f"DROP COLUMN IF EXISTS {render_part(action.column, _DIALECT)}"
        elif (
            isinstance(action, AddConstraint)
            and action.name is not None
            and using_index(action) is None
        ):
            name = catalog_name(action.name)
            there = oid is not None and bool(
                catalog.constraints(cursor, catalog.OF_TABLE_NAMED, [oid, name])
            )
            undo = f"DROP CONSTRAINT IF EXISTS {render_part(action.name, _DIALECT)}"
        else:
            return None
        if not there:
            lines.insert(0, f"ALTER TABLE {table} {undo};")
    return lines


def _oid(cursor, query: str, name: QualifiedName) -> int | None:
    cursor.execute(query, [str(name)])
    row = cursor.fetchone()
    return row[0] if row else None
