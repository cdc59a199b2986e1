"""``ALTER TYPE … ADD VALUE`` undone on PostgreSQL, which cannot drop an enum value: the
type is rebuilt with the values it had before and every column using it converted back.
And the types a migration renames, followed to what ``DROP TYPE`` of a renamed one drops.

The rebuild fails, and nothing of the rollback stays, if a row still holds an added value
(the cast to the rebuilt type refuses it, naming the value). Indexes, checks and triggers
that name a column of the type are dropped and made again around it. What it cannot handle
(views or functions that use the type, domains over it) is said in a ``-- WARNING``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from functools import cache

from . import catalog_definitions as catalog
from .capture_replaced import views_around
from .sql.names import QualifiedName, catalog_name, render_name
from .sql.operations import AlterObject, AlterTable, Drop, Operation
from .sql.rollback import WARNING_PREFIX


def added_value(cursor, operation: AlterObject, seen: catalog.Seen) -> list[str] | None:
    """The rebuild undoing every value the migration adds to the type (made once, for the
    first ``ADD VALUE`` of that type); [] when the type or the value existed already."""
    cursor.execute(catalog.TYPE_BY_NAME, [str(operation.name)])
    row = cursor.fetchone()
    if row is None:  # created by the same migration: its DROP TYPE undoes it
        return []
    oid, name, typname, array_oid, kind = row
    if kind != "e":
        return None
    # The rebuild runs before the inverses of the migration's earlier renames of values: it
    # makes the values (and what names them) as those renames left them.
    now = seen.renamed_values.get(_key(operation.name), {})
    values = [now.get(value, value) for value in catalog.enum_values(cursor, oid)]
    added = _label(operation.new)
    if added in values or not seen.add_new(("enum", oid)):
        return []
    # What stops the rebuild, and what it must make again, read in one round trip.
    dependents, checks, keys, indexes, columns, triggers, views = cursor.read_together(
        [
            (_OBSTACLES, [oid, array_oid, oid, array_oid, oid, array_oid]),
            (catalog.constraints_query(_CHECKS), [oid, array_oid]),
            (catalog.constraints_query(_FOREIGN_KEYS), [oid, array_oid]),
            (_INDEXES, [oid, array_oid]),
            (_COLUMNS, [oid, oid, array_oid, oid, array_oid]),
            (_TRIGGERS, [oid, array_oid]),
            (_VIEWS, [oid, array_oid, oid, array_oid, oid, array_oid]),
        ],
    )
    if now:
        checks = [(t, n, k, _relabelled(d, name, now)) for t, n, k, d in checks]
        indexes = [(i, _relabelled(d, name, now)) for i, d in indexes]
        columns = [(t, c, s, d and _relabelled(d, name, now)) for t, c, s, d in columns]
        triggers = [(t, n, _relabelled(d, name, now), *rest) for t, n, d, *rest in triggers]
    if dependents:
        statement = operation.statement
        why = f"other objects use it ({', '.join(d for (d,) in dependents)})"
        return [
            f"{WARNING_PREFIX} cannot roll back statement {statement.index + 1} "
            f"({statement.summary}): PostgreSQL cannot drop an enum value, and the type cannot "
            f"be rebuilt without it because {why}; write the rollback by hand."
        ]
    old = catalog.quoted(f"{typname}_before_rollback"[:63])
    # Indexes and checks that name the type (a predicate's 'VALUE'::type), triggers on a
    # column of it (PostgreSQL will not change such a column's type) and foreign keys from or
    # to one (changed one at a time, its two ends would have two types) are made again over
    # the rebuilt type, from their definitions read now.
    lines = [f"ALTER TABLE {t} DROP CONSTRAINT {catalog.quoted(n)};" for t, n, _, _ in keys]
    lines += [f"DROP TRIGGER {catalog.quoted(n)} ON {t};" for t, n, *_ in triggers]
    lines += [f"ALTER TABLE {t} DROP CONSTRAINT {catalog.quoted(n)};" for t, n, _, _ in checks]
    lines += [f"DROP INDEX {index};" for index, _ in indexes]
    lines += [f"ALTER TYPE {name} RENAME TO {old};", catalog.create_enum(name, values)]
    for table, column, scalar, default in columns:
        alter = f"ALTER TABLE {table} ALTER COLUMN {catalog.quoted(column)}"
        target = name if scalar else f"{name}[]"
        via = "text" if scalar else "text[]"
        if default:
            lines.append(f"{alter} DROP DEFAULT;")
        lines.append(f"{alter} TYPE {target} USING {catalog.quoted(column)}::{via}::{target};")
        if default:
            lines.append(f"{alter} SET DEFAULT {default};")
    lines.append(f"DROP TYPE {old};")
    lines += [f"{definition};" for _, definition in indexes]
    lines += [catalog.add_constraint(t, n, d) for t, n, _, d in checks]
    for table, *trigger in triggers:
        lines += catalog.trigger(table, *trigger)
    lines += [catalog.add_constraint(t, n, d) for t, n, _, d in keys]
    if not views:
        return lines
    # (Their definitions name values as they were: not rewritten after a rename.)
    around = (
        None if now else views_around(cursor, [v for (v,) in views], seen, lines, roots_too=True)
    )
    if around is None:
        statement = operation.statement
        return [
            f"{WARNING_PREFIX} cannot roll back statement {statement.index + 1} "
            f"({statement.summary}): PostgreSQL cannot drop an enum value, and the type cannot "
            "be rebuilt without it because views use it that cannot be made again around "
            "the rebuild; write the rollback by hand."
        ]
    return around


_USES_TYPE = (
    "SELECT d.objid FROM pg_depend d WHERE d.classid = '{}'::regclass "
    "AND d.refclassid = 'pg_type'::regclass AND d.refobjid IN (%s, %s) AND d.deptype = 'n'"
)


_OF_A_VIEW = (
    "EXISTS (SELECT 1 FROM pg_rewrite w JOIN pg_class v ON v.oid = w.ev_class "
    "WHERE w.oid = r.objid AND v.relkind IN ('v', 'm'))"
)
# Why the type cannot be swapped for a rebuilt one: what else uses it, and the views and
# rules that read a column of it (PostgreSQL will not change such a column's type); 3 at
# most, named.
_OBSTACLES = (
    "SELECT * FROM (SELECT pg_describe_object(r.classid, r.objid, 0) FROM pg_depend r "
    "WHERE r.classid = 'pg_rewrite'::regclass AND r.refclassid = 'pg_class'::regclass "
    "AND (r.refobjid, r.refobjsubid) IN (SELECT u.objid, u.objsubid FROM pg_depend u "
    "WHERE u.classid = 'pg_class'::regclass AND u.refclassid = 'pg_type'::regclass "
    f"AND u.refobjid IN (%s, %s) AND u.objsubid > 0) AND NOT {_OF_A_VIEW} "
    "UNION SELECT pg_describe_object(d.classid, d.objid, d.objsubid) FROM pg_depend d "
    "WHERE d.refclassid = 'pg_type'::regclass AND d.refobjid IN (%s, %s) "
    "AND d.deptype = 'n' AND NOT ("
    "d.classid = 'pg_class'::regclass AND d.objsubid > 0 AND EXISTS (SELECT 1 FROM pg_class c "
    "WHERE c.oid = d.objid AND c.relkind IN ('r', 'p'))) "
    "AND d.classid <> 'pg_attrdef'::regclass AND NOT (d.classid = 'pg_constraint'::regclass "
    "AND EXISTS (SELECT 1 FROM pg_constraint c WHERE c.oid = d.objid AND c.contype = 'c')) "
    "AND NOT (d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND EXISTS (SELECT 1 "
    "FROM pg_class c WHERE c.oid = d.objid AND c.relkind = 'i')) "
    "AND NOT (d.classid = 'pg_type'::regclass AND d.objid IN (%s, %s)) "
    "AND NOT (d.classid = 'pg_rewrite'::regclass AND EXISTS (SELECT 1 FROM pg_rewrite r "
    "JOIN pg_class v ON v.oid = r.ev_class WHERE r.oid = d.objid AND v.relkind IN ('v', 'm'))) "
    "AND NOT (d.classid = 'pg_class'::regclass AND d.objsubid > 0 AND EXISTS (SELECT 1 "
    "FROM pg_class v WHERE v.oid = d.objid AND v.relkind IN ('v', 'm')))"
    ") o ORDER BY 1 LIMIT 3"
)
# The views (and materialized views) that show a column of the type, name it, or read a table
# column of it: made again around the rebuild (with the views that read them).
_VIEWS = (
    "SELECT d.objid FROM pg_depend d JOIN pg_class v ON v.oid = d.objid "
    "WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_type'::regclass "
    "AND d.refobjid IN (%s, %s) AND d.objsubid > 0 AND v.relkind IN ('v', 'm') "
    "UNION SELECT r.ev_class FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
    "JOIN pg_class v ON v.oid = r.ev_class AND v.relkind IN ('v', 'm') "
    "WHERE d.classid = 'pg_rewrite'::regclass AND ((d.refclassid = 'pg_type'::regclass "
    "AND d.refobjid IN (%s, %s)) OR (d.refclassid = 'pg_class'::regclass "
    "AND (d.refobjid, d.refobjsubid) IN (SELECT u.objid, u.objsubid FROM pg_depend u "
    "WHERE u.classid = 'pg_class'::regclass AND u.refclassid = 'pg_type'::regclass "
    "AND u.refobjid IN (%s, %s) AND u.objsubid > 0))) ORDER BY 1"
)
# The checks and the indexes that name the type.
_CHECKS = "c.contype = 'c' AND c.oid IN (" + _USES_TYPE.format("pg_constraint") + ")"
# The foreign keys on a column of the type or referencing one (each records its columns).
_FOREIGN_KEYS = (
    "c.contype = 'f' AND c.oid IN (SELECT d.objid FROM pg_depend d "
    "WHERE d.classid = 'pg_constraint'::regclass AND d.refclassid = 'pg_class'::regclass "
    "AND (d.refobjid, d.refobjsubid) IN (SELECT u.objid, u.objsubid FROM pg_depend u "
    "WHERE u.classid = 'pg_class'::regclass AND u.refclassid = 'pg_type'::regclass "
    "AND u.refobjid IN (%s, %s) AND u.objsubid > 0))"
)
_INDEXES = (
    "SELECT i.oid::regclass::text, pg_get_indexdef(i.oid) FROM pg_class i WHERE i.oid IN ("
    + _USES_TYPE.format("pg_class")
    + ") AND i.relkind = 'i'"
)
# The table columns of the type or of its array type, with their defaults. Found through the
# columns' dependencies on the type (each column records one): pg_attribute has no index by
# type, and a large schema has many columns.
_COLUMNS = (
    "SELECT a.attrelid::regclass::text, a.attname, a.atttypid = %s, "
    "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p') "
    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    "WHERE (a.attrelid, a.attnum) IN (SELECT u.objid, u.objsubid FROM pg_depend u "
    "WHERE u.classid = 'pg_class'::regclass AND u.refclassid = 'pg_type'::regclass "
    "AND u.refobjid IN (%s, %s) AND u.objsubid > 0) "
    "AND a.atttypid IN (%s, %s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 2"
)

# The triggers that name a column of the type or of its array type (``UPDATE OF``, ``WHEN``).
_TRIGGERS = (
    f"SELECT DISTINCT t.tgrelid::regclass::text, {catalog.TRIGGER_FIELDS} FROM pg_trigger t "
    "JOIN pg_depend d ON d.classid = 'pg_trigger'::regclass AND d.objid = t.oid "
    "AND d.refclassid = 'pg_class'::regclass WHERE NOT t.tgisinternal "
    "AND (d.refobjid, d.refobjsubid) IN (SELECT u.objid, u.objsubid FROM pg_depend u "
    "WHERE u.classid = 'pg_class'::regclass AND u.refclassid = 'pg_type'::regclass "
    "AND u.refobjid IN (%s, %s) AND u.objsubid > 0) ORDER BY 1, 2"
)


def _label(literal: str) -> str:
    """An enum label as written in a string literal (``'it''s'``), unquoted."""
    return literal[1:-1].replace("''", "'")


def _relabelled(definition: str, type_name: str, now: dict[str, str]) -> str:
    """``definition`` (as the catalog wrote it) with each ``'label'::type`` of a renamed label
    spelled as it is now; in one pass, so that swapped labels stay swapped."""
    pattern = r"'((?:[^']|'')*)'::" + re.escape(type_name) + r"(?![\w$\[])"

    def now_spelled(match: re.Match[str]) -> str:
        label = match.group(1).replace("''", "'")
        return f"{catalog.literal(now.get(label, label))}::{type_name}"

    return re.sub(pattern, now_spelled, definition)


class TypeRenames:
    """The types the migration renamed so far, by their new name: ``DROP TYPE`` of a type it
    renamed (Prisma's enum change renames the old type away, then drops it) recreates the
    type it had before the migration, under the name it dropped. And the enum values it
    renamed so far (``catalog.Seen.renamed_values``), for the rebuild that removes a value;
    the capture's one place that is told of every statement, it hands the tables' and
    columns' renames to ``catalog.Seen.renamed_relations``."""

    def __init__(self, seen: catalog.Seen, current_schema: Callable[[], str | None]) -> None:
        # Keyed by name, a schema that is the target's current one left out: Prisma names the
        # schema in some statements of a migration and not in others ("public"."Role_old").
        self._before: dict[tuple[str | None, str], QualifiedName] = {}
        self._current_schema = cache(current_schema)  # read once, where a name has a schema
        # An unqualified type's name before the migration -> its name now (rendered), for
        # the inverses that name a column's previous type (``catalog.Seen.renamed_types``).
        self.now_named = seen.renamed_types
        self.values = seen.renamed_values
        self.relations = seen.renamed_relations

    def note(self, operation: Operation) -> None:
        if isinstance(operation, (AlterTable, AlterObject)):
            self.relations.note(operation)
        if not (isinstance(operation, AlterObject) and operation.kind == "TYPE"):
            return
        if operation.action == "RENAME VALUE":
            labels = self.values.setdefault(_key(operation.name), {})
            old, new = _label(operation.old), _label(operation.new)
            before = next((b for b, now in labels.items() if now == old), old)
            labels[before] = new
            return
        if operation.action != "RENAME TO":
            return
        original = self._before.pop(self._key(operation.name), operation.name)
        renamed = QualifiedName((*operation.name.parts[:-1], operation.new))
        self._before[self._key(renamed)] = original
        if self._key(original)[0] is None:
            self.now_named[catalog_name(original.object)] = render_name(renamed, "postgresql")

    def before(self, operation: Drop) -> Drop:
        """``operation`` naming each type as it was named before the migration."""
        names = tuple(self._before.get(self._key(name), name) for name in operation.names)
        return replace(operation, names=names)

    def _key(self, name: QualifiedName) -> tuple[str | None, str]:
        schema, object_name = _key(name)
        if schema is not None and schema == self._current_schema():
            return None, object_name
        return schema, object_name


def _key(name: QualifiedName) -> tuple[str | None, str]:
    schema = name.schema
    return (catalog_name(schema) if schema else None), catalog_name(name.object)
