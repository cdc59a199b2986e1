"""``DROP TRIGGER name ON table`` undone from the catalog: the trigger made again as it was
before the migration (definition, whether it fired, comment); nothing for ``IF EXISTS`` of a
trigger that was not there."""

from __future__ import annotations

from . import catalog_definitions as catalog
from .capture_alter import catalog_name
from .sql.operations import Drop

_TRIGGER = (
    f"SELECT t.tgrelid::regclass::text, {catalog.TRIGGER_FIELDS} FROM pg_trigger t "
    "WHERE t.tgrelid = to_regclass(%s) AND t.tgname = %s AND NOT t.tgisinternal"
)
_ENDS = frozenset({";", "CASCADE", "RESTRICT"})


def dropped_trigger(cursor, operation: Drop) -> list[str] | None:
    """The statements making the dropped trigger again; None where the statement is not read
    (no table named after ``ON``), [] where nothing was dropped."""
    words = operation.statement.words
    at = next((i for i, word in enumerate(words) if word.upper == "ON"), None)
    if at is None or len(operation.names) != 1:
        return None
    table = "".join(word.text for word in words[at + 1 :] if word.upper not in _ENDS)
    cursor.execute(_TRIGGER, [table, catalog_name(operation.names[0].object)])
    row = cursor.fetchone()
    if row is None:  # IF EXISTS of nothing; else made earlier by the same migration
        return [] if operation.if_exists else None
    return catalog.trigger(*row)
