"""Definitions read back from a PostgreSQL catalog as the DDL that recreates them: a column, a
table with its sequences, keys, indexes and comments, an enum type, a sequence, a function.

Each reader returns the statements, or None when the object holds something it does not
recreate (then the rollback keeps its ``-- WARNING`` and is written by hand).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .capture_renames import Renames
from .sql.names import render_part

# A column as ``Column`` holds it.
# Scalar subqueries, not joins: the server plans this query each time it is sent, and a join
# of six catalogs cost more to plan than the rows cost to read.
COLUMN_FIELDS = """a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
        WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum),
       a.attidentity, a.attgenerated,
       CASE WHEN a.attcollation <> (SELECT t.typcollation FROM pg_type t WHERE t.oid = a.atttypid)
            AND a.attcollation <> 0
            THEN (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
                  FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                  WHERE co.oid = a.attcollation) END,
       a.attnum, col_description(a.attrelid, a.attnum),
       (SELECT pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname),
                                      a.attname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = a.attrelid)"""
COLUMN_SOURCE = "FROM pg_attribute a"
_COLUMNS = f"""
SELECT {COLUMN_FIELDS}
{COLUMN_SOURCE}
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
"""
CONSTRAINT_FIELDS = (
    "c.conrelid::regclass::text, c.conname, c.contype::text, pg_get_constraintdef(c.oid)"
)
CONSTRAINT_ORDER = "c.contype <> 'p', c.contype <> 'u', c.contype = 'f', c.conname"
OF_TABLE = "c.conrelid = %s"
OF_TABLE_NAMED = "c.conrelid = %s AND c.conname = %s"
# Lookups by name, each one query of the capture (and one key of the bulk read's answers).
OID_BY_NAME = "SELECT to_regclass(%s)::oid"
TYPE_OID_BY_NAME = "SELECT to_regtype(%s)::oid"
RELATION_BY_NAME = (
    "SELECT c.oid, c.oid::regclass::text, c.relname FROM pg_class c WHERE c.oid = to_regclass(%s)"
)
TYPE_BY_NAME = (
    "SELECT t.oid, t.oid::regtype::text, t.typname, t.typarray, t.typtype::text "
    "FROM pg_type t WHERE t.oid = to_regtype(%s)"
)
INDEX_DEFINITION = "SELECT %s::regclass::text, pg_get_indexdef(%s)"
ENUM_VALUES = "SELECT enumlabel FROM pg_enum WHERE enumtypid = %s ORDER BY enumsortorder"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool
    default: str | None
    identity: str  # '' , 'a' (ALWAYS) or 'd' (BY DEFAULT)
    generated: str  # '' or 's' (STORED)
    collation: str | None
    number: int
    comment: str | None
    sequence: str | None  # the sequence it owns (serial or identity)

    def definition(self, identity_options: str = "", not_null: bool = True) -> str:
        """Type, collation, default or generation, identity and (if ``not_null``) NOT NULL."""
        parts = [self.type]
        if self.collation:
            parts.append(f"COLLATE {self.collation}")
        if self.generated == "s" and self.default:
            parts.append(f"GENERATED ALWAYS AS ({self.default}) STORED")
        elif self.default:
            parts.append(f"DEFAULT {self.default}")
        if self.identity:
            kind = "ALWAYS" if self.identity == "a" else "BY DEFAULT"
            options = f" ({identity_options})" if identity_options else ""
            parts.append(f"GENERATED {kind} AS IDENTITY{options}")
        if self.not_null and not_null:
            parts.append("NOT NULL")
        return " ".join(parts)


def quoted(name: str) -> str:
    """A catalog name (exact spelling) quoted for PostgreSQL only if it needs it."""
    return render_part('"' + name.replace('"', '""') + '"', "postgresql")


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# A trigger as ``trigger`` makes it again: its definition, whether it fires, its comment.
TRIGGER_FIELDS = (
    "t.tgname, pg_get_triggerdef(t.oid), t.tgenabled::text, obj_description(t.oid, 'pg_trigger')"
)
_FIRING = {"D": "DISABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER", "A": "ENABLE ALWAYS TRIGGER"}


def trigger(table: str, name: str, definition: str, enabled: str, comment: str | None) -> list[str]:
    """The statements that make a trigger of ``table`` again as it was (a trigger is made
    enabled and without a comment: the others say so where it was not)."""
    lines = [f"{definition};"]
    if firing := _FIRING.get(enabled):
        lines.append(f"ALTER TABLE {table} {firing} {quoted(name)};")
    if comment is not None:
        lines.append(f"COMMENT ON TRIGGER {quoted(name)} ON {table} IS {literal(comment)};")
    return lines


def columns_query(named: bool) -> str:
    return _COLUMNS + (" AND a.attname = %s" if named else "") + " ORDER BY a.attnum"


def columns(cursor, oid: int, name: str | None = None) -> list[Column]:
    cursor.execute(columns_query(bool(name)), [oid, name] if name else [oid])
    return [Column(*row) for row in cursor.fetchall()]


def sequence_options(cursor, sequence: str, typed: bool = True) -> str | None:
    """``AS type START WITH … CYCLE`` for ``sequence`` (a regclass text), None if missing;
    without ``AS type`` unless ``typed`` (an identity's sequence has its column's type)."""
    cursor.execute(
        "SELECT format_type(seqtypid, NULL), seqstart, seqincrement, seqmin, seqmax, seqcache, "
        "seqcycle FROM pg_sequence WHERE seqrelid = to_regclass(%s)",
        [sequence],
    )
    row = cursor.fetchone()
    if row is None:
        return None
    kind, start, increment, minimum, maximum, cache, cycle = row
    return (
        (f"AS {kind} " if typed else "")
        + f"START WITH {start} INCREMENT BY {increment} MINVALUE {minimum} "
        f"MAXVALUE {maximum} CACHE {cache}{' CYCLE' if cycle else ' NO CYCLE'}"
    )


def constraints(cursor, where: str, params: list) -> list[tuple[str, str, str, str]]:
    """(table, name, type, definition) of the constraints ``where`` selects, keys first."""
    cursor.execute(constraints_query(where), params)
    return list(cursor.fetchall())


def constraints_query(where: str) -> str:
    return (
        f"SELECT {CONSTRAINT_FIELDS} FROM pg_constraint c WHERE {where} ORDER BY {CONSTRAINT_ORDER}"
    )


def add_constraint(table: str, name: str, definition: str) -> str:
    return f"ALTER TABLE {table} ADD CONSTRAINT {quoted(name)} {definition};"


def table(cursor, oid: int, seen: Seen) -> list[str] | None:
    """CREATE TABLE with its columns' sequences, constraints, indexes, triggers, row security
    switches and comments; None for what it does not recreate (partitions, inheritance,
    policies, options). Constraints and indexes in ``seen`` are left to the earlier statement
    that dropped them."""
    cursor.execute(
        "SELECT c.oid::regclass::text, c.relkind::text, c.relpersistence::text, c.reloptions, "
        "c.relrowsecurity, c.relforcerowsecurity, c.relispartition, "
        "obj_description(c.oid, 'pg_class'), "
        "EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid) "
        "OR EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) "
        "FROM pg_class c WHERE c.oid = %s",
        [oid],
    )
    row = cursor.fetchone()
    if row is None:
        return None
    name, kind, persistence, options, secured, forced, partition, comment, held = row
    if kind != "r" or persistence != "p" or options or partition or held:
        return None
    before: list[str] = []
    after: list[str] = []
    definitions = []
    for column in columns(cursor, oid):
        identity_options = ""
        if column.sequence:
            options = sequence_options(cursor, column.sequence, typed=not column.identity)
            if options is None:
                return None
            if column.identity:
                identity_options = f"SEQUENCE NAME {column.sequence} {options}"
            else:  # serial: the sequence exists before the default that names it
                before.append(f"CREATE SEQUENCE {column.sequence} {options};")
                after.append(
                    f"ALTER SEQUENCE {column.sequence} OWNED BY {name}.{quoted(column.name)};"
                )
        definitions.append(f"{quoted(column.name)} {column.definition(identity_options)}")
        if column.comment is not None:
            after.append(
                f"COMMENT ON COLUMN {name}.{quoted(column.name)} IS {literal(column.comment)};"
            )
    lines = [*before, f"CREATE TABLE {name} ({', '.join(definitions)});"]
    keys = constraints(cursor, OF_TABLE, [oid])
    keys = [key for key in keys if seen.add_new(("constraint", key[0], key[1]))]
    # Foreign keys last: one may reference a unique index made just before it.
    lines += [add_constraint(name, n, d) for _, n, kind, d in keys if kind != "f"]
    lines += [
        definition for index, definition in indexes(cursor, oid) if seen.add_new(("index", index))
    ]
    lines += [add_constraint(name, n, d) for _, n, kind, d in keys if kind == "f"]
    cursor.execute(
        f"SELECT {TRIGGER_FIELDS} FROM pg_trigger t WHERE t.tgrelid = %s AND NOT t.tgisinternal "
        "ORDER BY t.tgname",
        [oid],
    )
    for row in cursor.fetchall():
        lines += trigger(name, *row)
    if secured:
        lines.append(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;")
    if forced:
        lines.append(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY;")
    if comment is not None:
        lines.append(f"COMMENT ON TABLE {name} IS {literal(comment)};")
    return lines + after


def indexes(cursor, table_oid: int, column: int | None = None) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes that no constraint owns: all of them, or
    those using its ``column`` (number) in a key, an expression or a predicate."""
    cursor.execute(*indexes_query(table_oid, column))
    return index_definitions(cursor.fetchall())


def indexes_query(table_oid: int, column: int | None = None) -> tuple[str, list[int]]:
    """The query (and its parameters) of ``indexes``."""
    # Every lookup goes through an index of the catalog (pg_depend by what is referenced, a
    # table's constraints by the table): a large schema costs no more than a small one.
    unowned = (
        "NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = i.indrelid "
        "AND c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))"
    )
    if column is None:
        return (
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            f"WHERE i.indrelid = %s AND {unowned} ORDER BY 1",
            [table_oid],
        )
    return (
        "SELECT DISTINCT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
        "FROM pg_depend d JOIN pg_index i ON i.indexrelid = d.objid "
        "WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = %s "
        f"AND d.refobjsubid = %s AND d.classid = 'pg_class'::regclass AND {unowned} "
        "ORDER BY 1",
        [table_oid, column],
    )


def index_definitions(rows: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``indexes_query``'s rows as (name, definition) statements."""
    return [(name, f"{definition};") for name, definition in rows]


def enum_values(cursor, type_oid: int) -> list[str]:
    cursor.execute(ENUM_VALUES, [type_oid])
    return [label for (label,) in cursor.fetchall()]


def create_enum(name: str, values: list[str]) -> str:
    return f"CREATE TYPE {name} AS ENUM ({', '.join(literal(value) for value in values)});"


class Seen(set):
    """Definitions already captured for an earlier statement of the same migration: a DROP
    COLUMN also removes the column's constraints and indexes, which an earlier DROP may have
    captured already (recreating them twice would fail)."""

    def __init__(self) -> None:
        super().__init__()
        # Names chosen for unnamed CHECKs added earlier in the migration (taken by then).
        self.check_names: set[str] = set()
        # Column defaults set (the expression) or dropped (None) earlier in the migration.
        self.defaults: dict[tuple[int, str], str | None] = {}
        # Types renamed earlier in the migration: name before (catalog name) -> name now.
        self.renamed_types: dict[str, str] = {}
        # Enum values renamed earlier, per type as the migration names it: before -> now.
        self.renamed_values: dict[tuple[str | None, str], dict[str, str]] = {}
        # Tables and columns renamed earlier (``capture_renames``).
        self.renamed_relations = Renames()

    def type_now(self, type_text: str) -> str:
        """A type as ``format_type`` wrote it before the migration, named as it is now (an
        earlier statement may have renamed it); arrays keep their ``[]``."""
        base = type_text.removesuffix("[]")
        name = base[1:-1].replace('""', '"') if base.startswith('"') else base
        now = self.renamed_types.get(name)
        return type_text if now is None else now + type_text[len(base) :]

    def add_new(self, key: tuple) -> bool:
        new = key not in self
        self.add(key)
        return new
