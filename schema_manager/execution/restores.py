"""What a statement alters in place, read from the catalogue before it runs, as the statements
that put it back exactly.

A column's default, its nullability, its whole definition (MySQL's ``MODIFY``/``CHANGE``) and
a comment (PostgreSQL's ``COMMENT ON``) are altered on an object that usually existed before
the migration. Their inverse cannot be derived from the SQL (the earlier default is not in
``SET DEFAULT 'y'``), so compensation puts back what ``read_restore`` read just before the
statement ran. Where this module cannot read it (another kind of object, a column moved with
``FIRST``/``AFTER``, a generated column...), it says None and compensation touches nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..sql import Statement
from ..sql.mysql_tables import column_definitions
from ..sql.names import QualifiedName, WordCursor, catalog_name, unquote
from ..sql.operations import AlterColumn, AlterTable, CommentOn, OtherAction
from ..sql.reading import describe

_NULLABILITY_AND_DEFAULT = {"SET DEFAULT", "DROP DEFAULT", "SET NOT NULL", "DROP NOT NULL"}
# Relations whose comment lives in pg_description under pg_class.
_PG_RELATIONS = {"TABLE", "VIEW", "MATERIALIZED VIEW", "INDEX", "SEQUENCE", "FOREIGN TABLE"}


def alters_in_place(statement: Statement) -> bool:
    """Whether ``statement`` changes a value of an object rather than creating or dropping
    one: its undo must put back the earlier value, which only the catalogue knew."""
    operation = describe(statement)
    if isinstance(operation, CommentOn):
        return True
    if not isinstance(operation, AlterTable):
        return False
    return any(
        isinstance(action, AlterColumn) or _redefined(action) is not None
        for action in operation.actions
    )


def read_restore(cursor: Any, statement: Statement, vendor: str) -> tuple[str, ...] | None:
    """The statements putting back what ``statement`` alters, as the catalogue is now (before
    it runs); None when this module cannot read or write it back exactly."""
    operation = describe(statement)
    if vendor == "postgresql":
        if isinstance(operation, CommentOn):
            return _pg_comment(cursor, operation)
        if isinstance(operation, AlterTable):
            return _pg_columns(cursor, operation)
    if vendor == "mysql" and isinstance(operation, AlterTable):
        return _my_columns(cursor, operation)
    return None


def _one(cursor: Any, sql: str, params: Sequence[object]) -> Any:
    cursor.execute(sql, params)
    return cursor.fetchone()


# -- PostgreSQL ------------------------------------------------------------------------------


def _pg_columns(cursor: Any, operation: AlterTable) -> tuple[str, ...] | None:
    """One ALTER TABLE giving each altered column back its default and nullability."""
    columns: list[str] = []
    for action in operation.actions:
        if not isinstance(action, AlterColumn) or action.change not in _NULLABILITY_AND_DEFAULT:
            return None
        if catalog_name(action.column) not in columns:
            columns.append(catalog_name(action.column))
    clauses, table = [], None
    for column in columns:
        row = _one(
            cursor,
            "SELECT format('%%I.%%I', n.nspname, c.relname), quote_ident(a.attname), "
            "pg_get_expr(d.adbin, d.adrelid), a.attnotnull, a.attidentity <> '' "
            "OR a.attgenerated <> '' FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = %s "
            "AND a.attnum > 0 AND NOT a.attisdropped "
            "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
            "WHERE c.oid = to_regclass(%s)",
            [column, str(operation.table)],
        )
        if row is None or row[4]:
            return None  # no such column (yet), or one whose default is not a plain default
        table, name, default, not_null = row[0], row[1], row[2], row[3]
        default_clause = "DROP DEFAULT" if default is None else f"SET DEFAULT {default}"
        nullability = "SET NOT NULL" if not_null else "DROP NOT NULL"
        clauses += [f"ALTER COLUMN {name} {default_clause}", f"ALTER COLUMN {name} {nullability}"]
    return (f"ALTER TABLE {table} {', '.join(clauses)}",)


def _pg_comment(cursor: Any, operation: CommentOn) -> tuple[str, ...] | None:
    """The COMMENT ON giving the object back its comment (or none)."""
    words = WordCursor(operation.target)
    kind = words.take_any(*sorted(_PG_RELATIONS, key=len, reverse=True), "COLUMN")
    name = words.take_name()
    if kind is None or name is None or not words.done:
        return None  # another kind of object (function, type, schema...): not read
    if kind == "COLUMN":
        if len(name.parts) < 2:
            return None
        relation = QualifiedName(name.parts[:-1])
        row = _one(
            cursor,
            "SELECT format('%%I.%%I.%%I', n.nspname, c.relname, a.attname), "
            "quote_nullable(col_description(c.oid, a.attnum)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = %s "
            "AND a.attnum > 0 AND NOT a.attisdropped WHERE c.oid = to_regclass(%s)",
            [catalog_name(name.object), str(relation)],
        )
    else:
        row = _one(
            cursor,
            "SELECT format('%%I.%%I', n.nspname, c.relname), "
            "quote_nullable(obj_description(c.oid, 'pg_class')) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
            [str(name)],
        )
    if row is None:
        return None
    return (f"COMMENT ON {kind} {row[0]} IS {row[1]}",)


# -- MySQL/MariaDB: SHOW CREATE TABLE holds each column's definition as the server reads it
# back, so MODIFY with that line restores type, nullability, default and comment at once.


def _redefined(action: object) -> tuple[str, str] | None:
    """(the column as it was, as it will be) for MySQL's MODIFY/CHANGE; None otherwise, or
    when it also moves the column (FIRST/AFTER), which MODIFY back would not undo."""
    if not isinstance(action, OtherAction):
        return None
    words = action.text.split()
    verb = words[0].upper() if words else ""
    if verb not in ("MODIFY", "CHANGE"):
        return None
    rest = words[2:] if len(words) > 1 and words[1].upper() == "COLUMN" else words[1:]
    if verb == "MODIFY" and rest:
        return rest[0], rest[0]
    if verb == "CHANGE" and len(rest) > 1:
        return rest[0], rest[1]
    return None


def _moves(action: OtherAction) -> bool:
    return any(word.upper() in ("FIRST", "AFTER") for word in action.text.split())


def _my_quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _my_columns(cursor: Any, operation: AlterTable) -> tuple[str, ...] | None:
    """One ALTER TABLE redefining each altered column as SHOW CREATE TABLE shows it now."""
    changes: list[tuple[str, str]] = []  # (name before, name after)
    for action in operation.actions:
        if isinstance(action, AlterColumn) and action.change in ("SET DEFAULT", "DROP DEFAULT"):
            changes.append((action.column, action.column))
        elif isinstance(action, OtherAction) and not _moves(action) and _redefined(action):
            changes.append(_redefined(action) or ("", ""))
        else:
            return None
    befores = [unquote(before)[0].lower() for before, _ in changes]
    if len(set(befores)) < len(befores):
        return None  # one column altered twice in one statement: not put back here
    schema = unquote(operation.table.schema)[0] if operation.table.schema else None
    database = schema or _one(cursor, "SELECT DATABASE()", [])[0]
    table = f"{_my_quote(database)}.{_my_quote(unquote(operation.table.object)[0])}"
    try:
        cursor.execute(f"SHOW CREATE TABLE {table}")
        row = cursor.fetchone()
    except Exception:  # no such table: the statement will fail; nothing to put back is known
        return None
    definitions = {
        name: line
        for name, (line, _definition) in column_definitions(row[1] if row else "").items()
    }
    clauses = []
    for (before, after), key in zip(changes, befores, strict=True):
        line = definitions.get(key)
        if line is None:
            return None
        if unquote(before)[0].lower() == unquote(after)[0].lower():
            clauses.append(f"MODIFY {line}")
        else:
            clauses.append(f"CHANGE {_my_quote(unquote(after)[0])} {line}")
    return (f"ALTER TABLE {table} {', '.join(clauses)}",)
