"""PostgreSQL catalogue queries for the current schema (``current_schema()``)."""

from __future__ import annotations

from collections import defaultdict

from .model import (
    CASCADE,
    NO_ACTION,
    RESTRICT,
    SET_DEFAULT,
    SET_NULL,
    Column,
    Database,
    Enum,
    ForeignKey,
    Index,
    IndexColumn,
    PrimaryKey,
    Table,
)

ACTIONS = {"a": NO_ACTION, "r": RESTRICT, "c": CASCADE, "n": SET_NULL, "d": SET_DEFAULT}

COLUMNS = """
SELECT c.relname, a.attname, a.attnotnull, a.atttypmod, a.attidentity,
       b.typname, b.typtype, t.typcategory = 'A', format_type(b.oid, a.atttypmod),
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON t.typcategory = 'A' AND et.oid = t.typelem
-- A domain is described as its base type, as Prisma does.
JOIN pg_type b ON b.oid = CASE
    WHEN COALESCE(et.typtype, t.typtype) = 'd' THEN COALESCE(et.typbasetype, t.typbasetype)
    ELSE COALESCE(et.oid, t.oid) END
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = current_schema() AND c.relname = ANY(%s)
ORDER BY c.relname, a.attnum
"""

# What Prisma notes above a model: partitions, inheritance, check and exclusion constraints,
# row level security, comments on the table or its columns.
TABLE_FEATURES = """
SELECT c.relname, c.relhassubclass AND c.relkind = 'p', c.relhassubclass AND c.relkind = 'r',
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'c'),
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'x'),
       c.relrowsecurity,
       obj_description(c.oid, 'pg_class') IS NOT NULL OR EXISTS (
           SELECT 1 FROM pg_description d
           WHERE d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid > 0)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = ANY(%s)
"""

# Expression and partial indexes are left out (db pull notes the expression ones, unless
# partial: it skips a partial index before looking at its keys); so are exclusion
# constraints' indexes, as Prisma leaves them out.
INDEXES = """
SELECT t.relname, i.relname, ix.indisunique, ix.indisprimary,
       array_agg(a.attname ORDER BY k.ord), array_agg(ix.indoption[k.ord - 1] & 1 ORDER BY k.ord),
       bool_or(k.attnum = 0), ix.indpred IS NOT NULL, am.amname,
       array_agg(CASE WHEN opc.opcdefault THEN NULL ELSE opc.opcname END ORDER BY k.ord),
       array_agg((ix.indoption[k.ord - 1] & 1) * 2 + (ix.indoption[k.ord - 1] & 2) / 2
                 ORDER BY k.ord),
       COALESCE(bool_or(con.condeferrable OR con.condeferred), false)
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
-- INCLUDE columns too, as Prisma lists them (with no operator class or order).
CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
LEFT JOIN pg_opclass opc ON opc.oid = ix.indclass[k.ord - 1]
LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
LEFT JOIN pg_constraint con ON con.conindid = ix.indexrelid AND con.contype <> 'f'
WHERE n.nspname = current_schema() AND t.relname = ANY(%s) AND NOT ix.indisexclusion
GROUP BY t.relname, i.relname, ix.indisunique, ix.indisprimary, ix.indpred, am.amname
ORDER BY t.relname, i.relname
"""

FOREIGN_KEYS = """
SELECT t.relname, con.conname, r.relname, con.confdeltype, con.confupdtype,
       con.condeferrable OR con.condeferred,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord),
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.ord)
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_class r ON r.oid = con.confrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE con.contype = 'f' AND n.nspname = current_schema() AND t.relname = ANY(%s)
ORDER BY t.relname, con.conname
"""

# In Prisma's order (pg_views, no ORDER BY); materialized views are not among them.
VIEWS = "SELECT viewname FROM pg_views WHERE schemaname = current_schema()"

ENUMS = """
SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = current_schema()
GROUP BY t.typname
ORDER BY t.typname
"""


def read(cursor, tables: list[str], views: list[str]) -> Database:
    columns = _columns(cursor, tables + views)
    by_name = {name: Table(name, columns[name]) for name in tables if name in columns}
    for row in _fetch(cursor, INDEXES, list(by_name)):
        table, index_name, unique, primary, names, descending, expression, partial, method = row[:9]
        opclasses, nulls, deferrable = row[9:]
        if expression:
            by_name[table].has_expression_index |= not partial
        elif primary:
            by_name[table].primary_key = PrimaryKey(tuple(names), index_name)
        elif not partial:
            # Prisma writes an operator class only for GIN, GiST, SP-GiST and BRIN indexes.
            with_ops = method not in ("btree", "hash")
            index_columns = tuple(
                IndexColumn(
                    name,
                    bool(desc),
                    opclass if with_ops else None,
                    method == "btree" and flags in (1, 2),  # asc nulls first, desc nulls last
                )
                for name, desc, opclass, flags in zip(
                    names, descending, opclasses, nulls, strict=True
                )
            )
            by_name[table].indexes.append(
                Index(index_name, index_columns, unique, method, bool(deferrable))
            )
    for table, name, referenced, on_delete, on_update, deferrable, own, other in _fetch(
        cursor, FOREIGN_KEYS, list(by_name)
    ):
        by_name[table].foreign_keys.append(
            ForeignKey(
                tuple(own),
                referenced,
                tuple(other),
                ACTIONS[on_delete],
                ACTIONS[on_update],
                name,
                bool(deferrable),
            )
        )
    for name, partitioned, subclass, checks, exclusions, security, comments in _fetch(
        cursor, TABLE_FEATURES, list(by_name)
    ):
        table = by_name[name]
        table.is_partitioned, table.has_subclass = partitioned, subclass
        table.has_check_constraints, table.has_exclusion_constraints = checks, exclusions
        table.has_row_level_security, table.has_comments = security, comments
    cursor.execute(ENUMS)
    enums = [Enum(name, tuple(values)) for name, values in cursor.fetchall()]
    return Database(
        provider="postgresql",
        tables=list(by_name.values()),
        views=[Table(name, columns[name]) for name in _views(cursor) if name in columns],
        enums=enums,
    )


def _views(cursor) -> list[str]:
    cursor.execute(VIEWS)
    return [name for (name,) in cursor.fetchall()]


def _fetch(cursor, sql: str, names: list[str]) -> list[tuple]:
    cursor.execute(sql, [names])
    return cursor.fetchall()


def _columns(cursor, relations: list[str]) -> dict[str, list[Column]]:
    columns: dict[str, list[Column]] = defaultdict(list)
    for row in _fetch(cursor, COLUMNS, relations):
        relation, name, not_null, typmod, identity, typname, typtype, array, full, default = row
        columns[relation].append(
            Column(
                name=name,
                db_type=typname,
                nullable=not not_null,
                default=default,
                autoincrement=bool(identity) or (default or "").startswith("nextval("),
                identity=bool(identity),
                array=array,
                params=_params(typname, typmod),
                full_type=full,
                is_enum=typtype == "e",
            )
        )
    return columns


def _params(typname: str, typmod: int) -> tuple[int, ...]:
    """Decode ``atttypmod`` the way ``format_type`` does (-1: no modifier)."""
    if typmod < 0:
        return ()
    if typname in ("varchar", "bpchar"):
        return (typmod - 4,)
    if typname == "numeric":
        return ((typmod - 4) >> 16 & 0xFFFF, (typmod - 4) & 0xFFFF)
    if typname in ("time", "timetz", "timestamp", "timestamptz", "bit", "varbit"):
        return (typmod,)
    return ()
