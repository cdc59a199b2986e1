"""ALTER TABLE undone from the catalog: each action's inverse, read before the migration runs
where the SQL alone does not say what was there (the previous default, type, nullability, a
dropped column's whole definition, a dropped constraint), and from the SQL otherwise."""

from __future__ import annotations

from dataclasses import replace

from django.db import DatabaseError, transaction

from . import catalog_definitions as catalog
from .capture_dropped_column import dropped_column
from .capture_other_actions import other_action
from .constraint_names import check_name, constraint_name
from .sql.names import catalog_name, render_name, render_part, render_words
from .sql.operations import (
    AddColumn,
    AddConstraint,
    AlterColumn,
    AlterTable,
    DropColumn,
    OtherAction,
    Rename,
    RenameTo,
)
from .sql.rollback import WARNING_PREFIX, invert_action
from .sql.table_actions import dropped_constraint, using_index

_DIALECT = "postgresql"


def alter_table(
    cursor, operation: AlterTable, seen: catalog.Seen, skipped: frozenset[int] = frozenset()
) -> list[str] | None:
    """The statements undoing ``operation``, newest action first; None if one action has no
    inverse (the generator then says which). The actions at ``skipped`` positions changed
    what the migration created before: they need none."""
    # Read under its name before the migration (an earlier statement may have renamed it).
    looked_up = seen.renamed_relations.as_before(operation.table)
    cursor.execute(catalog.RELATION_BY_NAME, [str(looked_up)])
    row = cursor.fetchone()
    if row is None:  # the migration created the table earlier: the SQL alone undoes it
        return None
    oid, table, relname = row
    # The table keeps its name until its own RENAME TO is undone (the last inverse), or an
    # earlier statement's.
    current = table if looked_up is operation.table else render_name(operation.table, _DIALECT)
    renamed = next((a for a in operation.actions if isinstance(a, RenameTo)), None)
    if renamed is not None:
        current = render_part(renamed.new, _DIALECT)
        if operation.table.schema:
            current = f"{render_part(operation.table.schema, _DIALECT)}.{current}"
    notes: list[str] = []
    parts: list[list[str]] = []
    # Read in the order the actions run (what an earlier one restores, a later one does not
    # restore again), undone in the reverse order.
    for position, action in enumerate(operation.actions):
        if position in skipped:
            continue
        added = [
            catalog_name(a.column) for a in operation.actions[:position] if isinstance(a, AddColumn)
        ]
        part = _action(
            cursor, oid, relname, current, action, seen, notes, operation.statement, added
        )
        if part is None:
            return None
        parts.append(part)
        if (mark := touched_by(relname, action)) is not None:  # see capture_dropped_column
            seen.add(mark)
    return notes + [line for part in reversed(parts) for line in part]


def _action(
    cursor, oid, relname, current, action, seen, notes, statement, added
) -> list[str] | None:
    if isinstance(action, DropColumn):
        column = catalog_name(action.column)
        before = seen.renamed_relations.column_before(relname, column)
        names = (before, column)
        return dropped_column(
            cursor, oid, current, relname, names, seen, notes, statement, action.if_exists
        )
    if isinstance(action, AlterColumn) and action.change != "OTHER":
        before = seen.renamed_relations.column_before(relname, catalog_name(action.column))
        return _altered_column(cursor, oid, current, action, seen, before, statement)
    if isinstance(action, OtherAction):
        return other_action(cursor, oid, relname, current, action, seen)
    if isinstance(action, RenameTo):
        return [f"ALTER TABLE {current} RENAME TO {catalog.quoted(relname)};"]
    if isinstance(action, AddConstraint) and (index := using_index(action)) is not None:
        return _key_from_index(cursor, oid, current, action, index)
    if isinstance(action, AddConstraint) and action.name is None:
        cursor.execute("SELECT relnamespace FROM pg_class WHERE oid = %s", [oid])
        namespace = cursor.fetchone()[0]
        if action.kind == "CHECK":
            known = [c.name for c in catalog.columns(cursor, oid)] + added
            name = check_name(cursor, namespace, relname, action, known, seen.check_names)
        else:
            name = constraint_name(cursor, namespace, relname, action)
        if name is None:
            return None
        # Without IF EXISTS: were the name not the one chosen, the rollback fails, loudly.
        return [f"ALTER TABLE {current} DROP CONSTRAINT {catalog.quoted(name)};"]
    if isinstance(action, AddColumn) and _column_was_there(cursor, oid, relname, action, seen):
        return []  # ADD COLUMN IF NOT EXISTS of a column it had: nothing was added
    if isinstance(action, (AddColumn, AddConstraint, Rename)):
        clause, _ = invert_action(action, _DIALECT)
        return None if clause is None else [f"ALTER TABLE {current} {clause};"]
    return None


def _column_was_there(cursor, oid: int, relname: str, action: AddColumn, seen) -> bool:
    if not action.if_not_exists:
        return False  # it would have failed
    name = seen.renamed_relations.column_before(relname, catalog_name(action.column))
    return bool(catalog.columns(cursor, oid, name)) and ("dropped", oid, name) not in seen


def _altered_column(
    cursor, oid, table: str, action: AlterColumn, seen, before: str, statement
) -> list[str] | None:
    """Read under its name ``before`` the migration, named as it is now (an earlier
    statement may have renamed it; its inverse runs after this one)."""
    found = catalog.columns(cursor, oid, before)
    if not found:
        return None
    column = replace(found[0], name=catalog_name(action.column))
    alter = f"ALTER TABLE {table} ALTER COLUMN {catalog.quoted(column.name)}"
    if action.change in ("SET DEFAULT", "DROP DEFAULT"):
        if column.generated or column.identity:
            return None
        # An earlier statement of the migration changed it: what that one left comes back.
        default = seen.defaults.get((oid, before), _default_now(seen, column))
        seen.defaults[oid, before] = (
            render_words(list(action.rest), _DIALECT) if action.change == "SET DEFAULT" else None
        )
        previous = f"SET DEFAULT {default}" if default else "DROP DEFAULT"
        return [f"{alter} {previous};"]
    if action.change in ("SET NOT NULL", "DROP NOT NULL"):
        return [f"{alter} {'SET' if column.not_null else 'DROP'} NOT NULL;"]
    if action.change == "TYPE":
        # The default and type it had where this statement runs: an earlier statement may
        # have dropped the default, or renamed the type away (Prisma's enum change).
        default = seen.defaults.get((oid, before), _default_now(seen, column))
        previous = seen.type_now(column.type)
        lines = [f"{alter} DROP DEFAULT;"] if default else []
        collation = f" COLLATE {column.collation}" if column.collation else ""
        # From one enum to another there is no cast: through text, as Prisma converts.
        via = "::text" if _is_enum(cursor, column.type) else ""
        if not via and (new := _type_now(action)) and not _casts(cursor, new, previous):
            return [
                f"{WARNING_PREFIX} cannot roll back statement {statement.index + 1} "
                f"({statement.summary}): PostgreSQL has no cast from {new} back to "
                f"{previous}, so its inverse would fail when run; write the rollback by hand."
            ]
        using = f"{catalog.quoted(column.name)}{via}::{previous}"
        lines.append(f"{alter} TYPE {previous}{collation} USING {using};")
        if default:
            lines.append(f"{alter} SET DEFAULT {default};")
        return lines
    return None


def touched_by(relname: str, action: object) -> tuple[str, ...] | None:
    """What an action of an ALTER TABLE of ``relname`` keeps from moving back in place, for
    ``capture_dropped_column``: nothing, the column whose type it changed (the move makes a
    column as it was before the migration), or the whole table."""
    if leaves_columns_movable(action):
        return None
    if isinstance(action, AlterColumn) and action.change == "TYPE":
        return ("touched", relname, catalog_name(action.column))
    return ("touched", relname)


def leaves_columns_movable(action: object) -> bool:
    """Whether, after ``action`` ran, an undone DROP COLUMN of the same table may still move
    the columns after it back in place (``capture_dropped_column``): it adds or drops a
    column, drops a constraint (which the move then leaves out: its own inverse makes it
    again), changes a default or the nullability (its inverse, after the move, sets them as
    they were, as the move does), or renames a column (the move names the columns, and spells
    the keys and indexes it makes again, as renames left them: ``capture_renames``, which
    also tells whether a view reads a renamed column)."""
    if isinstance(action, (AddColumn, DropColumn)):
        return True
    if isinstance(action, Rename):
        return action.what == "COLUMN"
    if isinstance(action, AlterColumn):
        return action.change in ("SET DEFAULT", "DROP DEFAULT", "SET NOT NULL", "DROP NOT NULL")
    return isinstance(action, OtherAction) and dropped_constraint(action) is not None


def _type_now(action: AlterColumn) -> str | None:
    """The type an ``ALTER COLUMN … TYPE`` gives the column, as written (before its USING or
    COLLATE)."""
    words = []
    for word in action.rest:
        if word.upper in ("USING", "COLLATE") or word.text == ";":
            break
        words.append(word)
    return render_words(words, _DIALECT) if words else None


def _casts(cursor, source: str, target: str) -> bool:
    """Whether PostgreSQL casts ``source`` to ``target`` (as the inverse's USING does); True
    when it cannot tell (a type the migration itself makes). Asked of the parser in a
    savepoint: a cast that does not exist fails as the statement is read."""
    reads = getattr(cursor, "cursor", cursor)
    try:
        with transaction.atomic(using=reads.db.alias):
            reads.execute(f"SELECT NULL::{source}::{target}")
    except DatabaseError as exc:  # 42846 cannot_coerce; anything else: cannot tell
        return getattr(exc.__cause__, "sqlstate", None) != "42846"
    return True


def _is_enum(cursor, type_name: str) -> bool:
    """Whether ``type_name`` (as ``format_type`` writes it) is an enum or an enum's array."""
    cursor.execute(
        "SELECT 'e' IN (t.typtype, e.typtype) FROM pg_type t "
        "LEFT JOIN pg_type e ON e.oid = t.typelem WHERE t.oid = to_regtype(%s)",
        [type_name],
    )
    row = cursor.fetchone()
    return bool(row and row[0])


def _key_from_index(cursor, oid, current, action: AddConstraint, index: str) -> list[str] | None:
    """``ADD … USING INDEX``: the key took the index over (named after it, unless named), so
    dropping the key drops the index: it is made again as it was."""
    cursor.execute(
        "SELECT pg_get_indexdef(i.oid) FROM pg_class i JOIN pg_class t "
        "ON t.relnamespace = i.relnamespace WHERE t.oid = %s AND i.relname = %s",
        [oid, catalog_name(index)],
    )
    row = cursor.fetchone()
    if row is None:
        return None
    key = catalog.quoted(catalog_name(action.name or index))
    return [f"ALTER TABLE {current} DROP CONSTRAINT {key};", f"{row[0]};"]


def _default_now(seen, column: catalog.Column) -> str | None:
    """The column's default from before the migration, its cast to a type an earlier
    statement renamed naming the type as it is now."""
    if not column.default or seen.type_now(column.type) == column.type:
        return column.default
    return column.default.replace(f"::{column.type}", f"::{seen.type_now(column.type)}")
