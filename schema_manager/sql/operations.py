"""What a statement does, as types: ``reading.describe(statement)`` makes them from its words.

The rollback generator and the safety rules both dispatch on these types, so the statement
grammar is read in one place only (``reading``, with ``table_actions`` for ALTER TABLE).
"""

from __future__ import annotations

from dataclasses import dataclass

from .names import QualifiedName
from .statements import Statement, Word


@dataclass(frozen=True)
class Operation:
    """Base class: a statement this module recognises only by its leading keywords."""

    statement: Statement


@dataclass(frozen=True)
class CreateTable(Operation):
    table: QualifiedName
    if_not_exists: bool = False
    temporary: bool = False  # TEMP / TEMPORARY: the session's own, gone with it


@dataclass(frozen=True)
class CreateIndex(Operation):
    index: QualifiedName | None  # None: PostgreSQL picks the name
    table: QualifiedName
    concurrently: bool


@dataclass(frozen=True)
class CreateObject(Operation):
    """CREATE VIEW / MATERIALIZED VIEW / SEQUENCE / SCHEMA / TYPE / EXTENSION / FUNCTION /
    PROCEDURE / TRIGGER."""

    kind: str
    name: QualifiedName
    or_replace: bool = False
    arguments: tuple[Word, ...] | None = None  # FUNCTION / PROCEDURE, without parentheses
    table: QualifiedName | None = None  # TRIGGER ... ON table


@dataclass(frozen=True)
class CommentOn(Operation):
    target: tuple[Word, ...]  # e.g. TABLE users, COLUMN users.email


@dataclass(frozen=True)
class AddColumn:
    column: str
    definition: tuple[Word, ...] = ()  # type and constraints, after the name
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropColumn:
    column: str
    if_exists: bool = False


@dataclass(frozen=True)
class AddConstraint:
    name: str | None
    kind: str  # PRIMARY KEY, UNIQUE, FOREIGN KEY, CHECK, EXCLUDE, INDEX
    definition: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Rename:
    what: str  # COLUMN or CONSTRAINT
    old: str
    new: str


@dataclass(frozen=True)
class RenameTo:
    new: str


@dataclass(frozen=True)
class AlterColumn:
    column: str
    change: str  # SET DEFAULT, DROP DEFAULT, SET NOT NULL, DROP NOT NULL, TYPE, or OTHER
    rest: tuple[Word, ...] = ()


@dataclass(frozen=True)
class OtherAction:
    text: str


AlterAction = AddColumn | DropColumn | AddConstraint | Rename | RenameTo | AlterColumn | OtherAction


@dataclass(frozen=True)
class AlterTable(Operation):
    table: QualifiedName
    actions: tuple[AlterAction, ...]


@dataclass(frozen=True)
class Drop(Operation):
    object_type: str  # TABLE, INDEX, DATABASE, SCHEMA, VIEW...
    names: tuple[QualifiedName, ...]
    concurrently: bool = False
    if_exists: bool = False
    cascade: bool = False


@dataclass(frozen=True)
class Truncate(Operation):
    tables: tuple[QualifiedName, ...]
    cascade: bool = False


@dataclass(frozen=True)
class DataChange(Operation):
    verb: str  # DELETE or UPDATE
    table: QualifiedName | None
    has_where: bool
    # The WHERE holds for every row (``WHERE true``, ``1=1``...): it limits nothing.
    where_always_true: bool = False

    @property
    def limits_rows(self) -> bool:
        return self.has_where and not self.where_always_true


@dataclass(frozen=True)
class AlterObject(Operation):
    """ALTER INDEX / TYPE / SEQUENCE / VIEW / MATERIALIZED VIEW ``name`` with one action:
    ``RENAME TO new``; on a TYPE also ``ADD VALUE 'v'`` or ``RENAME VALUE 'a' TO 'b'``."""

    kind: str
    name: QualifiedName
    action: str  # RENAME TO, ADD VALUE, RENAME VALUE
    new: str = ""  # the new name, the value added, or the value's new spelling
    old: str = ""  # RENAME VALUE: the value's old spelling (a string literal, as written)


@dataclass(frozen=True)
class DataStatement(Operation):
    """INSERT, UPDATE, DELETE, MERGE (also after WITH): rows change, the schema does not."""
