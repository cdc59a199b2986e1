"""Live capture: before a migration runs, read from the target's catalog what its DROP INDEX,
DROP VIEW, DROP COLUMN, DROP CONSTRAINT, ALTER COLUMN TYPE and DROP DEFAULT statements will
remove, so the generated rollback can recreate the definitions. PostgreSQL only.

Definitions come back; data does not (a dropped column returns empty). The catalog is read
before the migration's lock is taken, so a concurrent change can make a capture stale.
"""

from __future__ import annotations

import re

from django.db import DatabaseError, connections

from .security import get_logger
from .sql import parse_statements
from .sql.names import QualifiedName, render_name, render_part, unquote
from .sql.operations import AlterColumn, AlterTable, Drop, DropColumn, OtherAction, describe

logger = get_logger("schema_manager.capture")

_DROP_CONSTRAINT = re.compile(
    r'DROP CONSTRAINT (?:IF EXISTS )?(?P<name>"(?:[^"]|"")*"|[^\s"]+)', re.IGNORECASE
)
Captured = dict[int, list[str]]  # statement index -> statements recreating what it removes


def capture(sql: str, alias: str) -> Captured:
    """Inverse statements, read from ``alias``'s catalog, for the statements of ``sql`` that
    remove definitions. Statements it cannot fully capture are left out (and keep their
    ``-- WARNING``)."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return {}
    captured: Captured = {}
    seen = _Seen()
    try:
        with connection.cursor() as cursor:
            for statement in parse_statements(sql, "postgresql"):
                lines = _capture(cursor, describe(statement), seen)
                if lines:
                    captured[statement.index] = lines
    except DatabaseError:  # capture is best effort: the SQL-only rollback still stands
        logger.warning("Could not read the catalog of %r for the rollback", alias, exc_info=True)
        return {}
    return captured


def _capture(cursor, operation, seen: _Seen) -> list[str] | None:
    if isinstance(operation, Drop) and operation.object_type == "INDEX":
        return _all([_index(cursor, name, seen) for name in operation.names])
    if isinstance(operation, Drop) and operation.object_type in ("VIEW", "MATERIALIZED VIEW"):
        return _all([_view(cursor, name, operation.object_type) for name in operation.names])
    if isinstance(operation, AlterTable):
        return _alter(cursor, operation, seen)
    return None


def _all(parts: list[list[str] | None]) -> list[str] | None:
    if not parts or any(part is None for part in parts):
        return None
    return [line for part in parts for line in part or ()]


def _one(cursor, query: str, params: list) -> tuple | None:
    cursor.execute(query, params)
    return cursor.fetchone()


def _index(cursor, name: QualifiedName, seen: _Seen) -> list[str] | None:
    row = _one(
        cursor,
        "SELECT to_regclass(%s)::text, pg_get_indexdef(to_regclass(%s))",
        [str(name), str(name)],
    )
    if not row or not row[1]:
        return None
    seen.add(("index", row[0]))
    return [f"{row[1]};"]


def _view(cursor, name: QualifiedName, kind: str) -> list[str] | None:
    row = _one(cursor, "SELECT pg_get_viewdef(to_regclass(%s))", [str(name)])
    if not row or not row[0]:
        return None
    query = row[0].strip().rstrip(";")
    return [f"CREATE {kind} {render_name(name, 'postgresql')} AS {query};"]


def _column_name(part: str) -> str:
    value, quoted = unquote(part)
    return value if quoted else value.lower()


def _alter(cursor, operation: AlterTable, seen: _Seen) -> list[str] | None:
    table = render_name(operation.table, "postgresql")
    row = _one(cursor, "SELECT to_regclass(%s)::oid", [str(operation.table)])
    if not row or row[0] is None:
        return None
    oid = row[0]
    lines: list[str] = []
    for action in reversed(operation.actions):
        part = _action(cursor, oid, table, action, seen)
        if part is None:
            return None
        lines += part
    return lines


def _action(cursor, oid: int, table: str, action, seen: _Seen) -> list[str] | None:
    if isinstance(action, DropColumn):
        return _dropped_column(cursor, oid, table, _column_name(action.column), seen)
    if isinstance(action, AlterColumn) and action.change in ("TYPE", "DROP DEFAULT"):
        column = _column(cursor, oid, _column_name(action.column))
        if column is None:
            return None
        name, column_type, default, _ = column
        quoted = _quoted(name)
        if action.change == "TYPE":
            return [
                f"ALTER TABLE {table} ALTER COLUMN {quoted} TYPE {column_type} "
                f"USING {quoted}::{column_type};"
            ]
        return (
            [f"ALTER TABLE {table} ALTER COLUMN {quoted} SET DEFAULT {default};"] if default else []
        )
    dropped = _DROP_CONSTRAINT.match(action.text) if isinstance(action, OtherAction) else None
    if dropped:
        name = _column_name(dropped.group("name"))
        definition = _constraint(cursor, oid, name)
        if definition is None:
            return None
        seen.add(("constraint", oid, name))
        return [f"ALTER TABLE {table} ADD CONSTRAINT {_quoted(name)} {definition};"]
    return None


def _column(cursor, oid: int, name: str) -> tuple | None:
    return _one(
        cursor,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
        "pg_get_expr(d.adbin, d.adrelid), a.attnum FROM pg_attribute a "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = %s AND a.attname = %s AND a.attnum > 0 AND NOT a.attisdropped",
        [oid, name],
    )


def _constraint(cursor, oid: int, name: str) -> str | None:
    row = _one(
        cursor,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s AND conname = %s",
        [oid, name],
    )
    return row[0] if row else None


def _dropped_column(cursor, oid: int, table: str, name: str, seen: _Seen) -> list[str] | None:
    column = _column(cursor, oid, name)
    if column is None:
        return None
    attname, column_type, default, attnum = column
    quoted = _quoted(attname)
    # NOT NULL only comes back with a default: the re-added column has no data.
    definition = f"{column_type} DEFAULT {default}" if default else column_type
    lines = [f"ALTER TABLE {table} ADD COLUMN {quoted} {definition};"]
    # Constraints and indexes using the column (keys, expressions, predicates) go with it.
    cursor.execute(
        "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_depend d "
        "ON d.classid = 'pg_constraint'::regclass AND d.objid = c.oid "
        "WHERE d.refobjid = %s AND d.refobjsubid = %s ORDER BY 1",
        [oid, attnum],
    )
    lines += [
        f"ALTER TABLE {table} ADD CONSTRAINT {_quoted(conname)} {definition};"
        for conname, definition in cursor.fetchall()
        if seen.add_new(("constraint", oid, conname))
    ]
    cursor.execute(
        "SELECT DISTINCT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i JOIN pg_depend d ON d.classid = 'pg_class'::regclass "
        "AND d.objid = i.indexrelid WHERE d.refobjid = %s AND d.refobjsubid = %s "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
        "ORDER BY 1",
        [oid, attnum],
    )
    lines += [
        f"{indexdef};" for index, indexdef in cursor.fetchall() if seen.add_new(("index", index))
    ]
    return lines


class _Seen(set):
    """Definitions already captured for an earlier statement of the same migration: a DROP
    COLUMN also removes the column's constraints and indexes, which an earlier DROP may have
    captured already (recreating them twice would fail)."""

    def add_new(self, key: tuple) -> bool:
        new = key not in self
        self.add(key)
        return new


def _quoted(name: str) -> str:
    """A catalog name (exact spelling) quoted for PostgreSQL only if it needs it."""
    return render_part('"' + name.replace('"', '""') + '"', "postgresql")
