"""``DROP TRIGGER`` and ``DROP EXTENSION`` undone from the catalog: each made again as it was
before the migration. What was not there before the migration (``IF EXISTS`` of nothing, or
made by the migration itself) needs nothing: the rollback ends where the migration began.

An extension comes back at the version and in the schema it had; one dropped with
``CASCADE`` is left to its warning, since what depended on it went with it.
"""

from __future__ import annotations

from collections.abc import Callable

from . import catalog_definitions as catalog
from .sql.names import catalog_name
from .sql.operations import Drop

_TRIGGER = (
    f"SELECT t.tgrelid::regclass::text, {catalog.TRIGGER_FIELDS} FROM pg_trigger t "
    "WHERE t.tgrelid = to_regclass(%s) AND t.tgname = %s AND NOT t.tgisinternal"
)
_EXTENSION = (
    "SELECT e.extnamespace::regnamespace::text, e.extversion FROM pg_extension e "
    "WHERE e.extname = %s"
)
_ENDS = frozenset({";", "CASCADE", "RESTRICT"})


def dropped_trigger(cursor, operation: Drop, seen: catalog.Seen) -> list[str] | None:
    """The statements making the dropped trigger again; None where the statement is not read
    (no table named after ``ON``)."""
    words = operation.statement.words
    at = next((i for i, word in enumerate(words) if word.upper == "ON"), None)
    if at is None or len(operation.names) != 1:
        return None
    table = "".join(word.text for word in words[at + 1 :] if word.upper not in _ENDS)
    row = trigger_before(cursor, table, catalog_name(operation.names[0].object))
    if row is None:
        return []
    seen.add(("dropped trigger", row[0], row[1]))  # a later OR REPLACE made it anew
    return catalog.trigger(*row)


def trigger_before(cursor, table: str, name: str) -> tuple | None:
    """(table, name, definition, firing, comment) of the trigger ``name`` on ``table`` as it
    was before the migration; None if there was none."""
    cursor.execute(_TRIGGER, [table, name])
    return cursor.fetchone()


def dropped_extension(cursor, operation: Drop, seen: catalog.Seen) -> list[str] | None:
    """CREATE EXTENSION of each extension dropped, as it was; None after ``CASCADE``."""
    lines: list[str] = []
    for name in reversed(operation.names):
        extension = catalog_name(name.object)
        cursor.execute(_EXTENSION, [extension])
        row = cursor.fetchone()
        if row is None:
            continue
        if operation.cascade:
            return None
        schema, version = row
        lines.append(
            f"CREATE EXTENSION {catalog.quoted(extension)} WITH SCHEMA {schema} "
            f"VERSION {catalog.literal(version)};"
        )
    return lines


DROPPED: dict[str, Callable[..., list[str] | None]] = {
    "TRIGGER": dropped_trigger,
    "EXTENSION": dropped_extension,
}
