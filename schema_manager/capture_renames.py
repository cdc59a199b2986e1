"""The tables and columns a migration renames, followed to the indexes and constraints it
drops after them (and to the views a column move would make again).

An index's or a constraint's definition is read before the migration runs, with the names of
then. Its inverse (making it again) runs before the inverses of the renames that came earlier
in the migration, so it must name the tables and the columns as those renames left them; the
renames' own inverses then give them back their names, and the definition follows them.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .sql.names import QualifiedName, catalog_name, quote_identifier, unquote
from .sql.operations import AlterObject, AlterTable, Rename, RenameTo

# A name as ``pg_get_indexdef`` writes it, and a string literal (passed over, never renamed).
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[A-Za-z_][A-Za-z0-9_$]*")
# The table of an index definition: CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING
_PART = r'(?:"(?:[^"]|"")*"|[^\s."]+)'
_ON = re.compile(rf"( ON (?:ONLY )?)(?:({_PART})\.)?({_PART})( USING )")
# The index an index definition makes: CREATE [UNIQUE] INDEX name ON
_INDEX = re.compile(rf"^(CREATE (?:UNIQUE )?INDEX )({_PART})( ON )")
# A foreign key's referenced table and columns, as ``pg_get_constraintdef`` writes them.
_REFERENCES = re.compile(rf"( REFERENCES )(?:({_PART})\.)?({_PART})\(([^)]*)\)")


class Renames:
    """Each table's and index's name now, and the tables' columns' names now, by their names
    before the migration."""

    def __init__(self) -> None:
        self.tables: dict[str, str] = {}  # catalog name before -> catalog name now
        self.columns: dict[str, dict[str, str]] = {}  # table before -> {column before: now}
        self.indexes: dict[str, str] = {}  # catalog name before -> catalog name now

    def note(self, operation: AlterTable | AlterObject) -> None:
        if isinstance(operation, AlterObject):
            if operation.kind == "INDEX" and operation.action == "RENAME TO":
                _rename(self.indexes, operation.name.object, operation.new)
            return
        table = _before(self.tables, catalog_name(operation.table.object))
        for action in operation.actions:
            if isinstance(action, RenameTo):
                _rename(self.tables, operation.table.object, action.new)
            elif isinstance(action, Rename) and action.what == "COLUMN":
                _rename(self.columns.setdefault(table, {}), action.old, action.new)

    def column_before(self, table: str, column: str) -> str:
        """The name before the migration of the column named ``column`` now, in the table
        named ``table`` before the migration."""
        return _before(self.columns.get(table, {}), column)

    def as_before(self, table: QualifiedName) -> QualifiedName:
        """``table`` (as a statement names it) under its name before the migration, for the
        catalog; itself where no earlier statement renamed it."""
        return _named_before(self.tables, table)

    def index_before(self, index: QualifiedName) -> QualifiedName:
        """``index`` (as a statement names it) under its name before the migration."""
        return _named_before(self.indexes, index)

    def index_now(self, definition: str) -> str:
        """An index definition read before the migration, spelled with today's names (its
        own, its table's and its columns')."""
        if not (self.tables or self.columns or self.indexes):
            return definition
        made = _INDEX.match(definition)
        if made is not None and _unquoted(made.group(2)) in self.indexes:
            name = _quoted(self.indexes[_unquoted(made.group(2))])
            definition = f"{made.group(1)}{name}{made.group(3)}{definition[made.end() :]}"
        found = _ON.search(definition)
        if found is None:
            return definition
        table = _unquoted(found.group(3))
        now = self.tables.get(table, table)
        columns = self.columns.get(table, {})
        schema = f"{found.group(2)}." if found.group(2) else ""
        head = definition[: found.start()] + found.group(1) + schema + _quoted(now)
        return head + found.group(4) + _columns_now(definition[found.end() :], columns)

    def constraint_now(self, table: str, definition: str) -> str:
        """A constraint's definition read before the migration (``pg_get_constraintdef``) on
        the table named ``table`` then, spelled with today's names: its own columns, and a
        foreign key's referenced table and columns."""
        if not (self.tables or self.columns):
            return definition
        found = _REFERENCES.search(definition)
        own = definition if found is None else definition[: found.start()]
        text = _columns_now(own, self.columns.get(table, {}))
        if found is None:
            return text
        referenced = _unquoted(found.group(3))
        schema = f"{found.group(2)}." if found.group(2) else ""
        now = _quoted(self.tables.get(referenced, referenced))
        columns = _columns_now(found.group(4), self.columns.get(referenced, {}))
        rest = definition[found.end() :]
        return f"{text}{found.group(1)}{schema}{now}({columns}){rest}"


def table_of(regclass: str) -> str:
    """The catalog name of the table a ``regclass`` text names (``s."T"``: ``T``)."""
    found = _TABLE.match(regclass)
    return _unquoted(found.group(2)) if found else regclass


_TABLE = re.compile(rf"^(?:({_PART})\.)?({_PART})$")


def _before(renamed: dict[str, str], now: str) -> str:
    """The name before the migration of what is named ``now`` (itself if not renamed)."""
    return next((before for before, name in renamed.items() if name == now), now)


def _rename(renamed: dict[str, str], old: str, new: str) -> None:
    """Note a rename from ``old`` to ``new`` (as a statement writes them)."""
    renamed[_before(renamed, catalog_name(old))] = catalog_name(new)


def _named_before(renamed: dict[str, str], name: QualifiedName) -> QualifiedName:
    """``name`` with its last part as it was before the migration."""
    before = _before(renamed, catalog_name(name.object))
    if before == catalog_name(name.object):
        return name
    return replace(name, parts=(*name.parts[:-1], _quoted(before)))


def _columns_now(text: str, columns: dict[str, str]) -> str:
    """``text`` with each name of a renamed column (by its name before) as it is now; string
    literals are passed over."""
    if not columns:
        return text

    def column_now(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith("'"):
            return token
        renamed = columns.get(_unquoted(token))
        return token if renamed is None else _quoted(renamed)

    return _TOKENS.sub(column_now, text)


def _unquoted(part: str) -> str:
    """A name as the catalog wrote it (bare, or quoted): the name."""
    return unquote(part)[0]


def _quoted(name: str) -> str:
    return quote_identifier(name, "postgresql")


def views_read_renamed(cursor, oid: int, relname: str, every, seen) -> bool:
    """Whether a view reads a column of the table an earlier statement renamed: every view
    reading the table goes around the move, made again from its definition read before the
    migration, which names the column as it was. (Keys and indexes are spelled anew.)"""
    before = seen.renamed_relations.columns.get(relname, {})
    renamed = [c.number for c in every if c.name in before]
    if not renamed:  # none renamed, or only columns the migration added
        return False
    [(found,)] = cursor.read_together([(_VIEWS_NAMING, [oid, renamed])])[0]
    return bool(found)


_VIEWS_NAMING = """
SELECT EXISTS (
    SELECT 1 FROM pg_depend r
    WHERE r.classid = 'pg_rewrite'::regclass AND r.refclassid = 'pg_class'::regclass
      AND r.refobjid = %s AND r.refobjsubid = ANY(%s::int4[])
)
"""
