"""Live capture: before a migration runs, read from the target's catalog what the SQL alone
cannot undo — what its DROPs remove, the defaults, types and nullability its ALTERs change,
the definitions its CREATE OR REPLACE replaces, the enum values it adds — so that the
generated rollback restores the schema as it was. PostgreSQL only.

Definitions come back; data does not (a dropped column or table returns empty, and its
``-- NOTE:`` says so). The catalog is read before the migration's lock is taken, so a
concurrent change can make a capture stale.
"""

from __future__ import annotations

from django.db import DatabaseError, connections

from . import catalog_definitions as catalog
from .capture_alter import alter_table
from .capture_blocks import drops, is_do_block, undo_block
from .capture_dropped import DROPPED
from .capture_replaced import (
    around_dependents,
    dropped_function,
    function,
    materialized,
    replaced,
    view,
)
from .capture_touched import touches
from .capture_types import TypeRenames, added_value
from .catalog_reads import CatalogReads
from .security import get_logger
from .sql import parse_statements
from .sql.created import Created, if_not_exists
from .sql.names import QualifiedName, catalog_name, render_name
from .sql.operations import (
    AlterObject,
    AlterTable,
    CreateIndex,
    CreateObject,
    CreateTable,
    Drop,
    Operation,
)
from .sql.reading import describe
from .sql.rollback import NOTE_PREFIX
from .sql.statements import Statement
from .sql.table_actions import undone_by_sql_alone

logger = get_logger("schema_manager.capture")

Captured = dict[int, list[str]]  # statement index -> statements recreating what it removes


def capture(sql: str, alias: str) -> Captured:
    """Inverse statements, read from ``alias``'s catalog, for the statements of ``sql`` that
    the SQL alone cannot invert. Statements it cannot capture are left out (and keep their
    ``-- WARNING``)."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return {}
    captured: Captured = {}
    seen = catalog.Seen()
    created = Created()
    try:
        with connection.cursor() as cursor:
            statements = parse_statements(sql, "postgresql")
            operations = [describe(statement) for statement in statements]
            # The catalog does not change while it is read: what the statements name is
            # read in one round trip, not one per lookup.
            reads = CatalogReads(cursor)
            renames = TypeRenames(seen, lambda: _current_schema(reads))
            reads.read_ahead(operations)
            dropped = False  # by an earlier statement: a DO block after it is not undone
            for statement, operation in zip(statements, operations, strict=True):
                if is_do_block(operation) and not dropped:
                    lines = undo_block(reads, statement)
                elif isinstance(operation, AlterTable) and undone_by_sql_alone(operation):
                    lines = None  # its inverse from the SQL is exact: nothing read
                elif created.drops_made(operation):  # a TEMP one may shadow the catalog's
                    lines = None
                elif isinstance(operation, AlterTable):
                    lines = alter_table(reads, operation, seen, created.skipped(operation))
                elif isinstance(operation, Drop) and operation.object_type == "TYPE":
                    lines = _drop(reads, renames.before(operation), seen, operation, created)
                else:
                    lines = _capture(reads, operation, seen, created)
                dropped = dropped or drops(operation)
                for mark in touches(operation):
                    seen.add(mark)
                created.note(operation)
                renames.note(operation)
                if lines is not None:
                    captured[statement.index] = lines
    except DatabaseError:  # capture is best effort: the SQL-only rollback still stands
        logger.warning("Could not read the catalog of %r for the rollback", alias, exc_info=True)
        return {}
    return captured


def _capture(cursor, operation: Operation, seen: catalog.Seen, made: Created) -> list[str] | None:
    if isinstance(operation, Drop):
        if other := DROPPED.get(operation.object_type):
            return other(cursor, operation, seen)
        return _drop(cursor, operation, seen, None, made)
    if isinstance(operation, AlterObject) and operation.action == "ADD VALUE":
        return added_value(cursor, operation, seen)
    if isinstance(operation, CreateObject) and operation.or_replace:
        return replaced(cursor, operation, seen)
    if isinstance(operation, (CreateTable, CreateIndex, CreateObject)):
        return _already_there(cursor, operation, seen)
    return None


def _current_schema(reads: CatalogReads) -> str | None:
    reads.execute("SELECT current_schema()")
    return reads.fetchone()[0]


_LOOKUPS = {
    "TYPE": "to_regtype(%s)::oid",
    "SCHEMA": "to_regnamespace(%s)::oid",
    "EXTENSION": "(SELECT oid FROM pg_extension WHERE extname = %s)",
}


def _already_there(cursor, operation, seen: catalog.Seen) -> list[str] | None:
    """[] when what a CREATE … IF NOT EXISTS makes was there before the migration, and no
    earlier statement dropped it: the statement did nothing, and dropping it would be wrong.
    (Without IF NOT EXISTS it would have failed: nothing is read, and a plan's validation
    stays one read of the target.)"""
    if not if_not_exists(operation.statement):
        return None
    if isinstance(operation, CreateTable):
        name, lookup = operation.table, "to_regclass(%s)::oid"
    elif isinstance(operation, CreateIndex):
        if operation.index is None:
            return None
        name, lookup = operation.index, "to_regclass(%s)::oid"
    elif operation.kind in ("VIEW", "MATERIALIZED VIEW", "SEQUENCE"):
        name, lookup = operation.name, "to_regclass(%s)::oid"
    elif operation.kind in _LOOKUPS:
        name, lookup = operation.name, _LOOKUPS[operation.kind]
    else:
        return None
    extension = isinstance(operation, CreateObject) and operation.kind == "EXTENSION"
    value = catalog_name(name.object) if extension else str(name)
    oid = _one(cursor, f"SELECT {lookup}", [value])
    if oid is None or ("dropped", oid) in seen:
        return None
    return []


def data_note(statement: Statement) -> str:
    return (
        f"{NOTE_PREFIX} statement {statement.index + 1} ({statement.summary}) is undone from the "
        "definition captured before the migration; the data it removed does not come back."
    )


_READERS = {
    "INDEX": lambda cursor, oid, seen: _index(cursor, oid, seen),
    "VIEW": lambda cursor, oid, seen: view(cursor, oid, "VIEW"),
    "MATERIALIZED VIEW": lambda cursor, oid, seen: materialized(cursor, oid, seen),
    "TABLE": lambda cursor, oid, seen: _table(cursor, oid, seen),
    "SEQUENCE": lambda cursor, oid, seen: _sequence(cursor, oid),
}
_HOLDS_DATA = ("TABLE", "SEQUENCE", "MATERIALIZED VIEW")


def _drop(
    cursor, operation: Drop, seen: catalog.Seen, written: Drop | None, made: Created
) -> list[str] | None:
    """What ``operation`` drops, recreated; ``written``: the statement as written when
    ``operation`` names its types as they were before the migration (each is recreated
    under the name the statement dropped); ``made``: what the script made before (a serial
    column's sequence), which, not there before the migration, has nothing to bring back."""
    if operation.object_type in ("TYPE", "FUNCTION"):
        lookup = "to_regtype(%s)::oid" if operation.object_type == "TYPE" else None
    elif operation.object_type in _READERS:
        lookup = "to_regclass(%s)::oid"
    else:
        return None
    lines: list[str] = []
    dropped = dict(zip(operation.names, (written or operation).names, strict=True))
    for name in reversed(operation.names):
        if lookup is None:
            part = function(cursor, name, operation.if_exists)
            seen.add(dropped_function(name))
        else:
            if operation.object_type == "INDEX":  # under its name before the migration
                name = seen.renamed_relations.index_before(name)
            oid = _one(cursor, f"SELECT {lookup}", [str(name)])  # see catalog.OID_BY_NAME
            seen.add(("dropped", oid))
            if oid is None:  # DROP ... IF EXISTS of nothing, or of the script's own
                made_here = operation.object_type == "SEQUENCE" and made.made_sequence(name)
                part = [] if operation.if_exists or made_here else None
            elif operation.object_type == "TYPE":
                part = _enum(cursor, oid, dropped[name] if dropped[name] != name else None)
            else:
                part = _READERS[operation.object_type](cursor, oid, seen)
                if part is not None and operation.cascade and "VIEW" in operation.object_type:
                    part = around_dependents(cursor, oid, seen, part, cascaded=True)
        if part is None:
            return None
        lines += part
    if lines and operation.object_type in _HOLDS_DATA:
        lines.insert(0, data_note(operation.statement))
    return lines


def _one(cursor, query: str, params: list):
    cursor.execute(query, params)
    row = cursor.fetchone()
    return row[0] if row else None


def _index(cursor, oid: int, seen: catalog.Seen) -> list[str] | None:
    cursor.execute(catalog.INDEX_DEFINITION, [oid, oid])
    name, definition = cursor.fetchone()
    seen.add(("index", name))
    return [f"{seen.renamed_relations.index_now(definition)};"]


def _table(cursor, oid: int, seen: catalog.Seen) -> list[str] | None:
    lines = catalog.table(cursor, oid, seen)
    if lines is None:
        return None
    # Keys of other tables that pointed at it were dropped with it (CASCADE).
    # (Found through their dependencies on it: pg_constraint has no index by referenced table.)
    for table, name, _, definition in catalog.constraints(
        cursor,
        "c.oid IN (SELECT d.objid FROM pg_depend d WHERE d.classid = 'pg_constraint'::regclass "
        "AND d.refclassid = 'pg_class'::regclass AND d.refobjid = %s) "
        "AND c.confrelid = %s AND c.conrelid <> %s",
        [oid, oid, oid],
    ):
        if seen.add_new(("constraint", table, name)):
            lines.append(catalog.add_constraint(table, name, definition))
    return lines


def _sequence(cursor, oid: int) -> list[str] | None:
    name = _one(cursor, "SELECT %s::regclass::text", [oid])
    options = catalog.sequence_options(cursor, name)
    if options is None:
        return None
    lines = [f"CREATE SEQUENCE {name} {options};"]
    cursor.execute(
        "SELECT d.refobjid::regclass::text, a.attname FROM pg_depend d JOIN pg_attribute a "
        "ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
        "WHERE d.classid = 'pg_class'::regclass AND d.objid = %s AND d.deptype = 'a'",
        [oid],
    )
    lines += [
        f"ALTER SEQUENCE {name} OWNED BY {table}.{catalog.quoted(column)};"
        for table, column in cursor.fetchall()
    ]
    return lines


def _enum(cursor, oid: int, renamed: QualifiedName | None = None) -> list[str] | None:
    cursor.execute(
        "SELECT %s::regtype::text, typtype::text FROM pg_type WHERE oid = %s", [oid, oid]
    )
    name, kind = cursor.fetchone()
    if kind != "e":
        return None
    if renamed is not None:
        name = render_name(renamed, "postgresql")
    return [catalog.create_enum(name, catalog.enum_values(cursor, oid))]
