"""Reading the actions of an ``ALTER TABLE`` (ADD / DROP / RENAME / ALTER COLUMN, constraints
and indexes) into the typed actions of ``operations``; the rest of a statement's reading is
``reading``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .names import WordCursor, catalog_name, split_top_level
from .operations import (
    AddColumn,
    AddConstraint,
    AlterAction,
    AlterColumn,
    AlterTable,
    DropColumn,
    OtherAction,
    Rename,
    RenameTo,
)
from .statements import Statement, Word

_NON_COLUMN_ADDS = (
    "CONSTRAINT",
    "PRIMARY",
    "UNIQUE",
    "FOREIGN",
    "CHECK",
    "EXCLUDE",
    "INDEX",
    "KEY",
)


def read_alter_table(statement: Statement, cursor: WordCursor) -> AlterTable | None:
    """``ALTER TABLE name action, ...`` read into its typed actions; None if it is not one."""
    if not cursor.take_keywords("ALTER", "TABLE"):
        return None
    cursor.take_keywords("IF", "EXISTS")
    cursor.take_keywords("ONLY")
    table = cursor.take_name()
    if table is None:
        return None
    actions = tuple(_alter_action(words) for words in split_top_level(cursor.rest()))
    return AlterTable(statement, table, actions)


_CONSTRAINT_KINDS = ("PRIMARY KEY", "UNIQUE", "FOREIGN KEY", "CHECK", "EXCLUDE")


def _alter_action(words: list[Word]) -> AlterAction:
    cursor = WordCursor(words)
    text = " ".join(word.text for word in words)
    if cursor.take_keywords("ADD"):
        return _add(cursor, text)
    if cursor.take_keywords("DROP"):
        explicit = cursor.take_keywords("COLUMN")
        next_word = cursor.peek()
        if next_word is None or (not explicit and next_word.upper in _NON_COLUMN_ADDS):
            return OtherAction(text)
        if_exists = cursor.take_keywords("IF", "EXISTS")
        column = cursor.take_name()
        return DropColumn(column.object, if_exists) if column else OtherAction(text)
    if cursor.take_keywords("RENAME"):
        return _rename(cursor, text)
    if cursor.take_keywords("ALTER"):
        cursor.take_keywords("COLUMN")
        column = cursor.take_name()
        if column is None:
            return OtherAction(text)
        change = cursor.take_any(
            "SET DEFAULT", "DROP DEFAULT", "SET NOT NULL", "DROP NOT NULL", "TYPE",
            "SET DATA TYPE",
        )  # fmt: skip
        change = "TYPE" if change == "SET DATA TYPE" else change
        return AlterColumn(column.object, change or "OTHER", tuple(cursor.rest()))
    return OtherAction(text)


def _add(cursor: WordCursor, text: str) -> AlterAction:
    explicit = cursor.take_keywords("COLUMN")
    next_word = cursor.peek()
    if next_word is None:
        return OtherAction(text)
    if not explicit and next_word.upper in _NON_COLUMN_ADDS:
        name = None
        if cursor.take_keywords("CONSTRAINT"):
            name = cursor.take_name()
        kind = cursor.take_any("UNIQUE INDEX", "UNIQUE KEY", *_CONSTRAINT_KINDS, "INDEX", "KEY")
        if kind in ("INDEX", "KEY", "UNIQUE INDEX", "UNIQUE KEY"):
            # MySQL: ADD [UNIQUE] INDEX name (...)
            kind, name = "INDEX", name or cursor.take_name()
        if kind is None:
            return OtherAction(text)
        definition = tuple(cursor.rest())
        return AddConstraint(name.object if name else None, kind, definition)
    if_not_exists = cursor.take_keywords("IF", "NOT", "EXISTS")
    column = cursor.take_name()
    if column is None:
        return OtherAction(text)
    return AddColumn(column.object, tuple(cursor.rest()), if_not_exists)


def _rename(cursor: WordCursor, text: str) -> AlterAction:
    if cursor.take_keywords("TO") or cursor.take_keywords("AS"):
        new = cursor.take_name()
        return RenameTo(new.object) if new and cursor.done else OtherAction(text)
    what = "CONSTRAINT" if cursor.take_keywords("CONSTRAINT") else "COLUMN"
    if what == "COLUMN":
        cursor.take_keywords("COLUMN")
    old = cursor.take_name()
    if old is None or not cursor.take_keywords("TO"):
        return OtherAction(text)
    new = cursor.take_name()
    return Rename(what, old.object, new.object) if new and cursor.done else OtherAction(text)


def using_index(action: AddConstraint) -> str | None:
    """The index ``ADD … PRIMARY KEY / UNIQUE USING INDEX <index>`` takes over, as written."""
    words = [word.text for word in action.definition[:3]]
    return words[2] if [w.upper() for w in words[:2]] == ["USING", "INDEX"] else None


def undone_by_sql_alone(operation: AlterTable) -> bool:
    """Whether every action's inverse read from the SQL alone is exact, so that the target's
    catalog has nothing to add: a column added without IF NOT EXISTS (it was not there), a
    named constraint added without taking over an index, a column or constraint renamed.
    What changes a column, drops, renames the table or adds an unnamed constraint is read."""
    return all(
        (isinstance(action, AddColumn) and not action.if_not_exists)
        or (
            isinstance(action, AddConstraint)
            and action.name is not None
            and using_index(action) is None
        )
        or isinstance(action, Rename)
        for action in operation.actions
    )


_ROW_SECURITY = re.compile(
    r"(?P<switch>ENABLE|DISABLE|FORCE|NO\s+FORCE)\s+ROW\s+LEVEL\s+SECURITY", re.IGNORECASE
)


@dataclass(frozen=True)
class RowSecurity:
    """``ENABLE`` / ``DISABLE ROW LEVEL SECURITY`` (``forced`` False) or ``FORCE`` / ``NO FORCE
    ROW LEVEL SECURITY`` (True): a switch of the table's, set ``on`` or off."""

    forced: bool
    on: bool

    def clause(self, on: bool) -> str:
        """The action setting this switch ``on`` (or off)."""
        if self.forced:
            return "FORCE ROW LEVEL SECURITY" if on else "NO FORCE ROW LEVEL SECURITY"
        return "ENABLE ROW LEVEL SECURITY" if on else "DISABLE ROW LEVEL SECURITY"


def row_security(action: AlterAction) -> RowSecurity | None:
    """The row security switch ``action`` sets (PostgreSQL), None if it sets none."""
    if not isinstance(action, OtherAction):
        return None
    found = _ROW_SECURITY.fullmatch(action.text.strip())
    if found is None:
        return None
    switch = " ".join(found.group("switch").upper().split())
    return RowSecurity(forced=switch.endswith("FORCE"), on=switch in ("ENABLE", "FORCE"))


DROP_CONSTRAINT = re.compile(
    r'DROP CONSTRAINT (?P<if_exists>IF EXISTS )?(?P<name>"(?:[^"]|"")*"|[^\s"]+)', re.IGNORECASE
)


VALIDATE_CONSTRAINT = re.compile(
    r'VALIDATE CONSTRAINT (?P<name>"(?:[^"]|"")*"|[^\s"]+)$', re.IGNORECASE
)


def dropped_constraint(action: AlterAction) -> str | None:
    """The catalog name of the constraint a ``DROP CONSTRAINT`` action drops, else None."""
    if not isinstance(action, OtherAction):
        return None
    dropped = DROP_CONSTRAINT.match(action.text)
    return None if dropped is None else catalog_name(dropped.group("name"))


def validated_constraint(action: AlterAction) -> str | None:
    """The catalog name of the constraint a ``VALIDATE CONSTRAINT`` action validates."""
    if not isinstance(action, OtherAction):
        return None
    validated = VALIDATE_CONSTRAINT.match(action.text.strip())
    return None if validated is None else catalog_name(validated.group("name"))
