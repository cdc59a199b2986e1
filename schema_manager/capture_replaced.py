"""What a view or a function was before the migration, read from the catalog: the definition
a DROP removes, or the one a CREATE OR REPLACE replaces (see ``capture``; a trigger it
replaces too)."""

from __future__ import annotations

from dataclasses import replace

from . import catalog_definitions as catalog
from .capture_dropped import trigger_before
from .catalog_definitions import Seen
from .sql.names import QualifiedName, catalog_name, render_name
from .sql.operations import CreateObject
from .sql.rollback import drop_object


def view(cursor, oid: int, kind: str) -> list[str] | None:
    """The view (or materialized view) ``oid`` made again, with its options and comments;
    None if the relation is not of that kind (a table an earlier DO block dropped before a
    view took its name), or has privileges granted on it (not made again here)."""
    relkind = "v" if kind == "VIEW" else "m"
    cursor.execute(
        "SELECT %s::regclass::text, pg_get_viewdef(%s), reloptions, relacl IS NOT NULL, ARRAY("
        "  SELECT format('COMMENT ON COLUMN %%s.%%I IS %%L;', a.attrelid::regclass, a.attname, "
        "  col_description(a.attrelid, a.attnum)) FROM pg_catalog.pg_attribute a "
        "  WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped "
        "  AND col_description(a.attrelid, a.attnum) IS NOT NULL ORDER BY a.attnum), "
        "obj_description(%s, 'pg_class') "
        "FROM pg_catalog.pg_class WHERE oid = %s AND relkind = %s",
        [oid, oid, oid, oid, oid, relkind],
    )
    row = cursor.fetchone()
    if row is None or row[1] is None or row[3]:  # privileges granted on it: not made again
        return None
    name, query, options, _, column_comments, comment = row
    with_options = f" WITH ({', '.join(options)})" if options else ""
    lines = [f"CREATE {kind} {name}{with_options} AS {query.strip().rstrip(';')};"]
    if comment is not None:
        lines.append(f"COMMENT ON {kind} {name} IS {catalog.literal(comment)};")
    return lines + list(column_comments)


def materialized(cursor, oid: int, seen: Seen) -> list[str] | None:
    """A materialized view made again, then its indexes (those an earlier statement dropped
    are made again by that statement's inverse)."""
    lines = view(cursor, oid, "MATERIALIZED VIEW")
    if lines is None:
        return None
    cursor.execute(*catalog.indexes_query(oid))
    for name, definition in catalog.index_definitions(cursor.fetchall()):
        if seen.add_new(("index", name)):
            lines.append(seen.renamed_relations.index_now(definition))
    return lines


# The views and materialized views that read the roots, directly or through one another, with
# the roots themselves (depth 0), each at its greatest depth; and whether anything but a view
# depends on one of them.
VIEWS_READING = """
WITH RECURSIVE reading(oid, depth) AS (
    SELECT root, 0 FROM unnest(%s::oid[]) AS root
    UNION
    SELECT r.ev_class, reading.depth + 1 FROM reading
    JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = reading.oid
      AND d.classid = 'pg_rewrite'::regclass
    JOIN pg_rewrite r ON r.oid = d.objid AND r.ev_class <> reading.oid
)
SELECT reading.oid, c.relkind::text, max(reading.depth), c.oid::regclass::text FROM reading
JOIN pg_class c ON c.oid = reading.oid GROUP BY reading.oid, c.relkind, c.oid ORDER BY 3, 1
"""
_OTHER_DEPENDENTS = """
SELECT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass
    AND d.refobjid = ANY(%s::oid[]) AND d.deptype = 'n' AND d.classid <> 'pg_rewrite'::regclass)
"""


def around_dependents(
    cursor, oid: int, seen: Seen, lines: list[str], *, cascaded: bool = False
) -> list[str] | None:
    """``lines`` (which drop and make again the view ``oid``) between dropping the views that
    read it and making them again as they were (None if something else depends on one).
    ``cascaded``: a ``DROP … CASCADE`` dropped them with it, so ``lines`` (which make it
    again) are only followed by making them."""
    return views_around(cursor, [oid], seen, lines, roots_too=False, cascaded=cascaded)


def views_around(
    cursor,
    roots: list[int],
    seen: Seen,
    lines: list[str],
    *,
    roots_too: bool,
    cascaded: bool = False,
) -> list[str] | None:
    """``lines`` between dropping the views that read the relations ``roots`` (and, with
    ``roots_too``, the roots, views themselves) and making them again as they were, those
    read first; None if something else than a view depends on one. Those an earlier
    statement dropped are left to that statement's inverse."""
    around = views_reading(cursor, roots, seen, roots_too=roots_too, cascaded=cascaded)
    if around is None:
        return None
    drops, makes = around
    return drops + lines + makes


def views_reading(
    cursor,
    roots: list[int],
    seen: Seen,
    *,
    roots_too: bool = False,
    cascaded: bool = False,
    roots_stay: bool = False,
    found: list[tuple] | None = None,
) -> tuple[list[str], list[str]] | None:
    """The statements that drop the views reading ``roots`` and those that make them again
    (see ``views_around``); ``roots_stay``: the roots are not dropped (a table whose columns
    move), so only what hangs on the views counts; ``found``: the rows of ``VIEWS_READING``
    for ``roots``, where the caller read them with its own reads."""
    if found is None:
        found = cursor.read_together([(VIEWS_READING, [roots])])[0]
    found = [row for row in found if (roots_too or row[2] > 0) and ("dropped", row[0]) not in seen]
    if not found:
        return [], []
    # The roots too, unless they stay: each is dropped (by ``lines``, where not here).
    checked = [*([] if roots_stay else roots), *(r[0] for r in found)]
    [(other,)] = cursor.read_together([(_OTHER_DEPENDENTS, [checked])])[0]
    if other:
        return None
    drops: list[str] = []
    makes: list[str] = []
    for oid, relkind, _, name in found:
        kind = "MATERIALIZED VIEW" if relkind == "m" else "VIEW"
        made = materialized(cursor, oid, seen) if relkind == "m" else view(cursor, oid, kind)
        if made is None:
            return None
        makes += made
        if cascaded:  # gone with it: later statements find it dropped
            seen.add(("dropped", oid))
        else:
            drops.insert(0, f"DROP {kind} {name};")
    return drops, makes


def _functions(cursor, name: QualifiedName) -> list[tuple[str, str, str | None]]:
    """(identity arguments, definition, comment statement) of every function or procedure
    named ``name``."""
    schema = name.schema
    cursor.execute(
        "SELECT pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid), "
        "CASE WHEN obj_description(p.oid, 'pg_proc') IS NOT NULL THEN "
        "format('COMMENT ON %%s %%s IS %%L;', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' "
        "ELSE 'FUNCTION' END, p.oid::regprocedure, obj_description(p.oid, 'pg_proc')) END "
        "FROM pg_proc p WHERE p.proname = %s AND p.pronamespace = "
        + ("to_regnamespace(%s)" if schema else "current_schema()::regnamespace"),
        [catalog_name(name.object), *([catalog_name(schema)] if schema else [])],
    )
    return list(cursor.fetchall())


def _definition(found: tuple[str, str, str | None]) -> list[str]:
    """A function's statements: its definition, then its comment."""
    _, definition, comment = found
    return [f"{definition.strip()};", *([comment] if comment else [])]


def dropped_function(name: QualifiedName) -> tuple[str, ...]:
    """The key ``Seen`` keeps for a function an earlier statement dropped."""
    return ("dropped function", *(catalog_name(part) for part in name.parts))


def function(cursor, name: QualifiedName, if_exists: bool) -> list[str] | None:
    found = _functions(cursor, name)
    if not found:
        return [] if if_exists else None
    if len(found) > 1:  # which overload the statement names is not read here
        return None
    return _definition(found[0])


def replaced(cursor, operation: CreateObject, seen: Seen) -> list[str] | None:
    """CREATE OR REPLACE: the definition it replaced, or dropping what it created (also
    where an earlier statement of the migration dropped the one there before: that
    statement's inverse makes it again)."""
    created = drop_object(replace(operation, or_replace=False), "postgresql")[0]
    name = operation.name
    if operation.kind == "VIEW":
        cursor.execute("SELECT to_regclass(%s)::oid", [str(name)])
        oid = cursor.fetchone()[0]
        if oid is None or ("dropped", oid) in seen:
            return created
        previous = view(cursor, oid, "VIEW")
        if previous is None:
            return None
        return around_dependents(
            cursor, oid, seen, [f"DROP VIEW {render_name(name, 'postgresql')};", *previous]
        )
    if operation.kind == "FUNCTION":
        if dropped_function(name) in seen:
            return created
        found = _functions(cursor, name)
        if not found:
            return created
        if len(found) > 1:
            return None
        # Dropping the function the migration made and recreating the one it replaced is
        # exact whether or not the signatures match (a different one made an overload).
        return [*created, *_definition(found[0])]
    if operation.kind == "TRIGGER" and operation.table is not None:
        before = trigger_before(cursor, str(operation.table), catalog_name(name.object))
        if before is None or ("dropped trigger", before[0], before[1]) in seen:
            return created
        return [*created, *catalog.trigger(*before)]
    return None
