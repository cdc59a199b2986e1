"""What a script creates as it goes: the tables it creates, the columns and the named
constraints it adds and the sequences it makes. A later statement's change to them needs no
inverse, since undoing the creation removes it (a column added with a temporary default that
is then dropped, a table created and then altered, the sequence of a serial column dropped
with its default)."""

from __future__ import annotations

from dataclasses import replace

from .names import QualifiedName, WordCursor, catalog_name
from .operations import (
    AddColumn,
    AddConstraint,
    AlterAction,
    AlterColumn,
    AlterTable,
    CreateIndex,
    CreateObject,
    CreateTable,
    Drop,
    DropColumn,
    Operation,
    OtherAction,
    Rename,
    RenameTo,
)
from .reading import describe
from .statements import Statement
from .table_actions import dropped_constraint, validated_constraint

# Column types that make a sequence of their own, named <table>_<column>_seq when that fits in
# PostgreSQL's 63 bytes (and no relation has the name: see ``made_sequence``).
SERIAL_TYPES = frozenset({"SMALLSERIAL", "SERIAL", "BIGSERIAL", "SERIAL2", "SERIAL4", "SERIAL8"})
_MAX_NAME_BYTES = 63


class Created:
    """Fed every statement's operation in script order (``note``), it tells which actions of
    an ALTER TABLE act on what the script itself created before (``needs_no_inverse``)."""

    def __init__(self) -> None:
        # Tables by (schema as written, or None; name): ``users`` and ``s.users`` may be two.
        self.tables: set[_Table] = set()
        self.columns: set[tuple[_Table, str]] = set()
        self.sequences: set[str] = set()
        self.constraints: set[tuple[_Table, str]] = set()

    def needs_no_inverse(self, table: QualifiedName, action: AlterAction) -> bool:
        """True for an action whose inverse needs what the SQL does not say (a dropped
        column's definition, a previous default or type, an unnamed constraint's name) on
        what the script created: the inverse of its creation removes it anyway. Actions with
        an inverse of their own (and renaming the table, which its drop needs) keep it."""
        key = _table_key(table)
        if isinstance(action, (DropColumn, AlterColumn)):
            return key in self.tables or (key, catalog_name(action.column)) in self.columns
        name = dropped_constraint(action) or validated_constraint(action)
        if name is not None and (key, name) in self.constraints:
            # The script added it: before the script there was none of it to bring back.
            return True
        if isinstance(action, OtherAction) or (
            isinstance(action, AddConstraint) and action.name is None
        ):
            return key in self.tables
        return False

    def made_table(self, table: QualifiedName) -> bool:
        """Whether the script created ``table`` before (not merely IF NOT EXISTS)."""
        return _table_key(table) in self.tables

    def made_sequence(self, name: QualifiedName) -> bool:
        """Whether the script made a sequence of this name before: with CREATE SEQUENCE, or
        as a serial column's. (Only the catalog can tell that no sequence had the name
        before, so that the serial column's is the one: asked where it is read.)"""
        return catalog_name(name.object) in self.sequences

    def alters_made_sequence(self, statement: Statement) -> bool:
        """Whether ``statement`` is an ALTER SEQUENCE (but a rename) of a sequence the script
        made before: dropping the sequence undoes it (Prisma's ``OWNED BY`` after making a
        field autoincrement)."""
        altered = _altered_sequence(statement)
        return altered is not None and self.made_sequence(altered)

    def drops_made(self, operation: Operation) -> bool:
        """Whether ``operation`` drops only tables the script created before: before the
        script there was nothing to bring back (and the catalog's table of that name, if
        any, is another one, which a temporary table shadowed)."""
        if not (isinstance(operation, Drop) and operation.object_type == "TABLE"):
            return False
        return all(self.made_table(name) for name in operation.names)

    def skipped(self, operation: Operation) -> frozenset[int]:
        """The positions of ``operation``'s actions that need no inverse."""
        if not isinstance(operation, AlterTable):
            return frozenset()
        return frozenset(
            position
            for position, action in enumerate(operation.actions)
            if self.needs_no_inverse(operation.table, action)
        )

    def note(self, operation: Operation) -> None:
        # IF NOT EXISTS may have created nothing: what it names may hold data from before.
        if isinstance(operation, CreateTable) and not operation.if_not_exists:
            self.tables.add(_table_key(operation.table))
        if (sequence := _sequence_made(operation)) is not None:
            self.sequences.add(sequence)
        if not isinstance(operation, AlterTable):
            return
        key = _table_key(operation.table)
        for action in operation.actions:
            if isinstance(action, AddColumn) and not action.if_not_exists:
                self.columns.add((key, catalog_name(action.column)))
                self.sequences.update(_serial_sequence(key[1], action))
            elif isinstance(action, AddConstraint) and action.name is not None:
                self.constraints.add((key, catalog_name(action.name)))
            elif isinstance(action, Rename) and action.what == "CONSTRAINT":
                if (key, catalog_name(action.old)) in self.constraints:
                    self.constraints.discard((key, catalog_name(action.old)))
                    self.constraints.add((key, catalog_name(action.new)))
            elif isinstance(action, RenameTo) and key in self.tables:
                self.tables.add((key[0], catalog_name(action.new)))
            elif isinstance(action, Rename) and action.what == "COLUMN":
                if (key, catalog_name(action.old)) not in self.columns:
                    continue
                # A column the script added keeps being its own under its new name (a
                # temporary column renamed to the name of the one it replaces).
                self.columns.discard((key, catalog_name(action.old)))
                self.columns.add((key, catalog_name(action.new)))


_Table = tuple[str | None, str]


def _table_key(table: QualifiedName) -> _Table:
    schema = table.schema
    return (catalog_name(schema) if schema else None, catalog_name(table.object))


def if_not_exists(statement: Statement) -> bool:
    """Whether the statement's head says IF NOT EXISTS (it may then have made nothing)."""
    heads = [word.upper for word in statement.words[:12]]
    return any(heads[i : i + 3] == ["IF", "NOT", "EXISTS"] for i in range(len(heads)))


def _sequence_made(operation: Operation) -> str | None:
    """The sequence a CREATE SEQUENCE makes (none with IF NOT EXISTS: it may make none)."""
    if not isinstance(operation, CreateObject) or operation.kind != "SEQUENCE":
        return None
    return None if if_not_exists(operation.statement) else catalog_name(operation.name.object)


def _altered_sequence(statement: Statement) -> QualifiedName | None:
    """The sequence an ALTER SEQUENCE changes in place (None for a rename, whose
    inverse the sequence's drop needs, and for any other statement)."""
    cursor = WordCursor(statement.words)
    if not cursor.take_keywords("ALTER", "SEQUENCE"):
        return None
    cursor.take_keywords("IF", "EXISTS")
    name = cursor.take_name()
    return None if name is None or cursor.take_keywords("RENAME") else name


def _serial_sequence(table: str, action: AddColumn) -> list[str]:
    """The sequence a serial column added to ``table`` makes, by the name PostgreSQL gives it
    when that name fits (none for another type, or a longer name, which it shortens)."""
    if not action.definition or action.definition[0].upper not in SERIAL_TYPES:
        return []
    name = f"{table}_{catalog_name(action.column)}_seq"
    return [name] if len(name.encode()) <= _MAX_NAME_BYTES else []


def to_undo(statements: list[Statement], vendor: str) -> list[Operation | None]:
    """Each statement's operation, an ALTER TABLE without the actions that changed what the
    script created before it (they need no inverse), None for dropping such tables and for
    an index on one that needs no inverse of its own: an unnamed one (dropping the table
    drops it), and a unique one where dropping a column takes the column's indexes with it
    (not SQLite, which refuses): a foreign key made later may depend on it, and dropping it
    first would fail. (Other indexes are dropped as written: one may depend on an extension
    the script created after the table, whose inverse runs before the table's.)"""
    unique_go_with_columns = vendor != "sqlite"
    created = Created()
    operations: list[Operation | None] = []
    for statement in statements:
        operation = describe(statement)
        if (
            (
                isinstance(operation, CreateIndex)
                and (operation.index is None or (unique_go_with_columns and _unique(statement)))
                and created.made_table(operation.table)
            )
            or created.drops_made(operation)
            or created.alters_made_sequence(statement)
        ):
            # made by the script: nothing to bring back
            operations.append(None)
            continue
        skipped = created.skipped(operation)
        created.note(operation)
        if skipped and isinstance(operation, AlterTable):
            kept = tuple(a for i, a in enumerate(operation.actions) if i not in skipped)
            operation = replace(operation, actions=kept)
        operations.append(operation)
    return operations


def _unique(statement: Statement) -> bool:
    """Whether a CREATE INDEX statement makes a unique index."""
    return any(word.upper == "UNIQUE" for word in statement.words[1:3])
