"""The ``ALTER TABLE`` actions on a table's constraints and switches rather than its columns,
undone from the catalog as it was before the migration: a dropped constraint made again, a
validated one made again ``NOT VALID``, a row security switch set back."""

from __future__ import annotations

from . import catalog_definitions as catalog
from .sql.names import catalog_name
from .sql.operations import OtherAction
from .sql.table_actions import DROP_CONSTRAINT, RowSecurity, row_security, validated_constraint


def other_action(
    cursor, oid, relname: str, table: str, action: OtherAction, seen
) -> list[str] | None:
    """The inverse of ``action``, None where it has none. A constraint is made again under the
    table's name ``table`` now, its definition spelled with the names that earlier renames of
    the migration gave (it was read with those of before, ``relname`` the table's)."""
    if (switch := row_security(action)) is not None:
        return _row_security(cursor, oid, table, switch)
    if (validated := validated_constraint(action)) is not None:
        return _validated(cursor, oid, relname, table, validated, seen)
    dropped = DROP_CONSTRAINT.match(action.text)
    if dropped is None:
        return None
    name = catalog_name(dropped.group("name"))
    found = catalog.constraints(cursor, catalog.OF_TABLE_NAMED, [oid, name])
    if not found:
        return [] if dropped.group("if_exists") else None
    if not seen.add_new(("constraint", found[0][0], name)):
        return []  # an earlier drop of its column brings it back
    definition = seen.renamed_relations.constraint_now(relname, found[0][3])
    return [catalog.add_constraint(table, name, definition)]


def _validated(cursor, oid, relname: str, table: str, name: str, seen) -> list[str] | None:
    """A constraint that was NOT VALID made again as it was (PostgreSQL cannot mark a valid
    one not valid); nothing for one that was valid already."""
    found = catalog.constraints(cursor, catalog.OF_TABLE_NAMED, [oid, name])
    if not found:
        return None
    definition = found[0][3]
    if not definition.endswith(" NOT VALID"):
        return []
    definition = seen.renamed_relations.constraint_now(relname, definition)
    quoted = catalog.quoted(name)
    return [
        f"ALTER TABLE {table} DROP CONSTRAINT {quoted};",
        catalog.add_constraint(table, name, definition),
    ]


def _row_security(cursor, oid, table: str, switch: RowSecurity) -> list[str]:
    """The switch set back as it was before the migration; nothing if it already was so."""
    flag = "relforcerowsecurity" if switch.forced else "relrowsecurity"
    cursor.execute(f"SELECT {flag} FROM pg_class WHERE oid = %s", [oid])
    was = cursor.fetchone()[0]
    return [] if was == switch.on else [f"ALTER TABLE {table} {switch.clause(was)};"]
