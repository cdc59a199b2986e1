"""A dropped column brought back: its definition, its keys and indexes, and its place.

A serial column's sequence, which went with it, comes back first, owned by it again.
PostgreSQL adds a column at the end of its table. To bring a dropped column back in its place,
the columns that came after it are made again after it: each renamed aside, added anew, the
values copied in one ``UPDATE``, the old ones dropped, and the keys and indexes using them
made again, with other tables' foreign keys to them (dropped first). That rewrites the table,
so it is done only where it is small (and so is every table whose foreign key is made again)
and the columns moved have nothing else hanging on them; elsewhere the column comes back last
and the rollback says so (``-- CAUTION:``).

What may not hang on a moved column (read from the catalog before the migration): rules,
triggers, policies, statistics, a larger table's foreign key, an identity or a generated
value, column privileges or a statistics target (a serial's sequence moves with it). The
views reading the table go around the move (``capture_replaced.views_reading``: dropped
first, made again last). Nor may the table have triggers (the copy would fire them), row
security forced on its owner (only the owner alters a table, and row security does not hold
it back unless forced: the copy would leave rows out), inheritance or partitions, or be
another column's type; nor may an earlier statement of the migration have changed it
otherwise than by adding or dropping columns or constraints, or changing defaults,
nullability or the type of a column that is not moved, nor renamed the type of a column that
is (``capture_touched`` notes them in ``Seen``; a new enum, sequence or schema, or a value
added to an enum, touches no table): the rollback moves the columns as they were before the
migration.
"""

from __future__ import annotations

from dataclasses import replace

from . import catalog_definitions as catalog
from .capture_renames import table_of, views_read_renamed
from .capture_replaced import VIEWS_READING, views_reading
from .sql.names import catalog_name
from .sql.rollback import CAUTION_PREFIX, NOTE_PREFIX

# The largest table (its heap, in bytes) whose columns a rollback rewrites to restore their
# order: a development or staging copy, not a production table that the rewrite would lock
# for minutes.
MOVABLE_BYTES = 8 * 1024 * 1024

_TABLE = """
SELECT c.relkind::text = 'r' AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
       AND NOT c.relhassubclass AND NOT c.relispartition
       AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
       AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal)
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.atttypid = c.reltype)
       AND pg_relation_size(c.oid) <= %s
FROM pg_class c WHERE c.oid = %s
"""
# Anything on the columns but their table's own indexes, constraints and defaults, other
# tables' foreign keys to them (from tables no larger than the moved one: each key is checked
# again when it is made), and any privilege or statistics target of theirs. (Per-column
# options, as n_distinct, are not carried over: planner hints, not schema.)
_HELD = """
SELECT EXISTS (
    SELECT 1 FROM pg_depend d
    WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = %s
      AND d.refobjsubid = ANY(%s)
      AND NOT (d.classid = 'pg_class'::regclass AND EXISTS (
                   SELECT 1 FROM pg_index i WHERE i.indexrelid = d.objid AND i.indrelid = %s))
      AND NOT (d.classid = 'pg_constraint'::regclass AND EXISTS (
                   SELECT 1 FROM pg_constraint k WHERE k.oid = d.objid AND (k.conrelid = %s
                   OR k.contype = 'f' AND pg_relation_size(k.conrelid) <= %s)))
      AND NOT (d.classid = 'pg_rewrite'::regclass AND EXISTS (
                   SELECT 1 FROM pg_rewrite w JOIN pg_class v ON v.oid = w.ev_class
                   WHERE w.oid = d.objid AND v.relkind IN ('v', 'm')))
      AND NOT (d.classid = 'pg_attrdef'::regclass AND EXISTS (
                   SELECT 1 FROM pg_attrdef f WHERE f.oid = d.objid AND f.adrelid = %s
                   AND f.adnum = d.refobjsubid))
      AND NOT (d.classid = 'pg_class'::regclass AND d.deptype = 'a' AND EXISTS (
                   SELECT 1 FROM pg_class s WHERE s.oid = d.objid AND s.relkind = 'S'))
) OR EXISTS (
    SELECT 1 FROM pg_attribute a WHERE a.attrelid = %s AND a.attnum = ANY(%s)
      AND (a.attacl IS NOT NULL OR a.attstattarget <> -1)
)
"""


def _put_back(
    cursor, oid: int, table: str, relname: str, column: catalog.Column, every, seen
) -> tuple[list[str], list[tuple], list[tuple[str, str]], list[str]] | None:
    """The statements that move the columns after ``column`` (just added back, last) behind
    it, with the constraints and indexes (rows as ``catalog`` reads them) that the move
    drops, to be made again with the dropped column's own; None where they cannot be moved
    (see the module's docstring). ``every``: the table's columns before the migration."""
    if ("touched", relname) in seen or ("touched", "*") in seen:
        return None
    later = [c for c in every if c.number > column.number and ("dropped", oid, c.name) not in seen]
    if not later:  # those after it went before it (their inverses put them back after it)
        return [], [], [], []
    if any(
        ("touched", relname, c.name) in seen or ("renamed type", _type_name(c.type)) in seen
        for c in later
    ):
        return None
    if any(c.identity or c.generated for c in later):
        return None
    numbers = [c.number for c in later]
    if views_read_renamed(cursor, oid, relname, every, seen):
        return None
    (movable,), (held,), keys, referencing, views, *indexes = cursor.read_together(
        [
            (_TABLE, [MOVABLE_BYTES, oid]),
            (_HELD, [oid, numbers, oid, oid, MOVABLE_BYTES, oid, oid, numbers]),
            (
                # A foreign key of the table to itself counts the columns it references too.
                catalog.constraints_query(
                    "c.conrelid = %s AND (c.conkey && %s::int2[] "
                    "OR (c.confrelid = c.conrelid AND c.confkey && %s::int2[]))"
                ),
                [oid, numbers, numbers],
            ),
            (
                # Other tables' foreign keys to a moved column: dropped before the move, made
                # again after it.
                catalog.constraints_query(
                    "c.contype = 'f' AND c.confrelid = %s AND c.conrelid <> %s "
                    "AND c.confkey && %s::int2[]"
                ),
                [oid, oid, numbers],
            ),
            (VIEWS_READING, [[oid]]),
            *(catalog.indexes_query(oid, number) for number in numbers),
        ]
    )
    if not movable[0] or held[0]:
        return None
    # The views reading the table go around the move (dropped first, made again last).
    around = views_reading(cursor, [oid], seen, roots_stay=True, found=views)
    if around is None:
        return None
    # Those there when the move runs: not the dropped column's own (made again after it),
    # nor what an earlier statement dropped. (Not noted in ``seen``: each move makes again
    # what it drops, a later one included.)
    keys = [key for key in keys if ("constraint", key[0], key[1]) not in seen]
    referencing = [key for key in referencing if ("constraint", key[0], key[1]) not in seen]
    indexes = sorted({row for rows in indexes for row in rows if ("index", row[0]) not in seen})
    # Each column named as it is when the move runs (an earlier rename's inverse runs after).
    now = seen.renamed_relations.columns.get(relname, {})
    taken = {c.name for c in every} | set(now.values())
    moves = [(catalog.quoted(now.get(c.name, c.name)), c, _aside(taken)) for c in later]
    view_drops, view_makes = around
    lines = [
        f"{NOTE_PREFIX} the columns after {catalog.quoted(column.name)} "
        f"({', '.join(name for name, _, _ in moves)}) are made again after it, their values "
        f"copied, so that it comes back where it was (a rewrite of {table})."
    ]
    lines += [f"ALTER TABLE {table} RENAME COLUMN {n} TO {a};" for n, _, a in moves]
    # Defaults are set once the values are copied: set at the ADD, a volatile one would be
    # run for each row (a serial column's would take a value of its sequence for each). A
    # serial column's sequence is handed over to it (owned by the column set aside, it would
    # go with it).
    added = (f"ADD COLUMN {n} {_made(c).definition(not_null=False)}" for n, c, _ in moves)
    lines.append(f"ALTER TABLE {table} {', '.join(added)};")
    lines.append(f"UPDATE {table} SET {', '.join(f'{n} = {a}' for n, _, a in moves)};")
    defaults = [f"ALTER COLUMN {n} SET DEFAULT {c.default}" for n, c, _ in moves if _made(c) != c]
    if defaults:
        lines.append(f"ALTER TABLE {table} {', '.join(defaults)};")
    lines += [
        f"ALTER SEQUENCE {c.sequence} OWNED BY {table}.{n};" for n, c, _ in moves if c.sequence
    ]
    # Dropping them takes their keys and indexes along (made again by the caller); a foreign
    # key to a moved column goes first (another table's before the key it references).
    lines += view_drops
    lines += [f"ALTER TABLE {o} DROP CONSTRAINT {catalog.quoted(n)};" for o, n, _, _ in referencing]
    drops = [f"DROP CONSTRAINT {catalog.quoted(n)}" for _, n, kind, _ in keys if kind == "f"]
    drops += [f"DROP COLUMN {a}" for _, _, a in moves]
    lines.append(f"ALTER TABLE {table} {', '.join(drops)};")
    not_null = [f"ALTER COLUMN {n} SET NOT NULL" for n, c, _ in moves if c.not_null]
    if not_null:
        lines.append(f"ALTER TABLE {table} {', '.join(not_null)};")
    lines += [
        f"COMMENT ON COLUMN {table}.{n} IS {catalog.literal(c.comment)};"
        for n, c, _ in moves
        if c.comment is not None
    ]
    return lines, keys + referencing, indexes, view_makes


def _made(column: catalog.Column) -> catalog.Column:
    """``column`` as the move adds it: without its default (set after the copy), unless it
    is generated (its expression is its definition)."""
    return column if column.generated or column.default is None else replace(column, default=None)


def _type_name(written: str) -> str:
    """The catalog name of a column's type as ``format_type`` writes it (``"Role"[]``,
    ``public."Role"``: ``Role``)."""
    name = written
    while name.endswith("[]"):
        name = name[:-2]
    return catalog_name(name.rsplit(".", 1)[-1])


def _aside(taken: set[str]) -> str:
    """A name for a moved column while its copy is made (not one the table has)."""
    number = 0
    while f"schema_manager_moved_{number}" in taken:
        number += 1
    taken.add(f"schema_manager_moved_{number}")
    return f"schema_manager_moved_{number}"


def dropped_column(
    cursor,
    oid,
    table: str,
    relname: str,
    names: tuple[str, str],
    seen,
    notes,
    statement,
    if_exists: bool = False,
) -> list[str] | None:
    """``names``: the column's name before the migration (to read it) and now (to name it:
    an earlier statement may have renamed it, and its inverse runs after this one)."""
    before, now = names
    every = catalog.columns(cursor, oid)  # one read: the column, and whether it is the last
    found = [column for column in every if column.name == before]
    if not found:  # DROP COLUMN IF EXISTS of a column the table did not have dropped nothing
        return [] if if_exists else None
    column = replace(found[0], name=now)
    if column.identity or column.generated:
        return None
    lines = []
    if column.sequence:  # a serial's, owned by it, went with it: made again before its default
        options = catalog.sequence_options(cursor, column.sequence)
        if options is None:
            return None
        lines.append(f"CREATE SEQUENCE {column.sequence} {options};")
    seen.add(("dropped", oid, before))
    quoted = catalog.quoted(column.name)
    lines.append(f"ALTER TABLE {table} ADD COLUMN {quoted} {column.definition(not_null=False)};")
    if column.not_null:  # after the column is back (its rows have the default, or none)
        lines.append(f"ALTER TABLE {table} ALTER COLUMN {quoted} SET NOT NULL;")
    if column.sequence:
        lines.append(f"ALTER SEQUENCE {column.sequence} OWNED BY {table}.{quoted};")
    if column.comment is not None:
        lines.append(f"COMMENT ON COLUMN {table}.{quoted} IS {catalog.literal(column.comment)};")
    note = (
        f"{NOTE_PREFIX} statement {statement.index + 1} ({statement.summary}) drops the column "
        f"{quoted} of {table}: it comes back from its definition captured before the migration; "
        "the data it held does not come back."
    )
    if column.not_null and column.default is None:
        # Said before the rollback is run: its failure then is no surprise.
        note += (
            " It is NOT NULL without a default, so while the table has rows this rollback "
            "fails at its SET NOT NULL and changes nothing (with ARCHIVE_ENVIRONMENTS, the "
            "column's values are kept when the migration runs, and put back)."
        )
    notes.append(note)
    # Constraints and indexes using the column (keys, expressions, predicates, other tables'
    # foreign keys) went with it.
    # (Both read in one round trip.)
    keys, indexes = cursor.read_together(
        [
            (
                catalog.constraints_query(
                    "c.oid IN (SELECT d.objid FROM pg_depend d "
                    "WHERE d.classid = 'pg_constraint'::regclass "
                    "AND d.refclassid = 'pg_class'::regclass AND d.refobjid = %s "
                    "AND d.refobjsubid = %s)"
                ),
                [oid, column.number],
            ),
            catalog.indexes_query(oid, column.number),
        ],
    )
    keys = [key for key in keys if seen.add_new(("constraint", key[0], key[1]))]
    indexes = [row for row in indexes if seen.add_new(("index", row[0]))]
    views: list[str] = []
    if column.number != max(c.number for c in every):
        moved = _put_back(cursor, oid, table, relname, column, every, seen)
        if moved is None:
            notes.append(
                f"{CAUTION_PREFIX} the column {quoted} comes back as the last column of "
                f"{table} (PostgreSQL adds columns at the end), not where it was."
            )
        else:  # what the move drops comes back with the column's own
            lines += moved[0]
            keys, indexes, views = keys + moved[1], indexes + moved[2], moved[3]
    # Spelled with the names earlier renames gave (the dropped column's too: its inverse
    # runs before theirs).
    renames = seen.renamed_relations
    keys = [(o, n, kind, renames.constraint_now(table_of(o), d)) for o, n, kind, d in keys]
    # Foreign keys last: one may reference a unique index made just before it.
    lines += [catalog.add_constraint(o, n, d) for o, n, kind, d in keys if kind != "f"]
    for _, definition in catalog.index_definitions(indexes):
        lines.append(seen.renamed_relations.index_now(definition))
    lines += [catalog.add_constraint(o, n, d) for o, n, kind, d in keys if kind == "f"]
    return lines + views  # a view may group by a key made again just before
