"""What a view or a function was before the migration, read from the catalog: the definition
a DROP removes, or the one a CREATE OR REPLACE replaces (see ``capture``)."""

from __future__ import annotations

from dataclasses import replace

from .sql.names import QualifiedName, catalog_name, render_name
from .sql.operations import CreateObject
from .sql.rollback import drop_object


def view(cursor, oid: int, kind: str) -> list[str] | None:
    """The view (or materialized view) ``oid`` made again; None if the relation is not of
    that kind (a table an earlier DO block dropped before a view took its name)."""
    relkind = "v" if kind == "VIEW" else "m"
    cursor.execute(
        "SELECT %s::regclass::text, pg_get_viewdef(%s) FROM pg_catalog.pg_class "
        "WHERE oid = %s AND relkind = %s",
        [oid, oid, oid, relkind],
    )
    row = cursor.fetchone()
    if row is None or row[1] is None:
        return None
    return [f"CREATE {kind} {row[0]} AS {row[1].strip().rstrip(';')};"]


def _functions(cursor, name: QualifiedName) -> list[tuple[str, str]]:
    """(identity arguments, definition) of every function named ``name``."""
    schema = name.schema
    cursor.execute(
        "SELECT pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid) "
        "FROM pg_proc p WHERE p.proname = %s AND p.pronamespace = "
        + ("to_regnamespace(%s)" if schema else "current_schema()::regnamespace"),
        [catalog_name(name.object), *([catalog_name(schema)] if schema else [])],
    )
    return list(cursor.fetchall())


def function(cursor, name: QualifiedName, if_exists: bool) -> list[str] | None:
    found = _functions(cursor, name)
    if not found:
        return [] if if_exists else None
    if len(found) > 1:  # which overload the statement names is not read here
        return None
    return [f"{found[0][1].strip()};"]


def replaced(cursor, operation: CreateObject) -> list[str] | None:
    """CREATE OR REPLACE: the definition it replaced, or dropping what it created."""
    created = drop_object(replace(operation, or_replace=False), "postgresql")[0]
    name = operation.name
    if operation.kind == "VIEW":
        cursor.execute("SELECT to_regclass(%s)::oid", [str(name)])
        oid = cursor.fetchone()[0]
        if oid is None:
            return created
        previous = view(cursor, oid, "VIEW")
        if previous is None:
            return None
        return [f"DROP VIEW {render_name(name, 'postgresql')};", *previous]
    if operation.kind == "FUNCTION":
        found = _functions(cursor, name)
        if not found:
            return created
        if len(found) > 1:
            return None
        # Dropping the function the migration made and recreating the one it replaced is
        # exact whether or not the signatures match (a different one made an overload).
        return [*created, f"{found[0][1].strip()};"]
    return None
