"""Rollback generation: each recognised statement's inverse, in reverse order, per dialect."""

from __future__ import annotations

from dataclasses import dataclass, field

from .operations import (
    AddColumn,
    AlterTable,
    CreateIndex,
    CreateTable,
    Drop,
    DropColumn,
    Operation,
    Truncate,
    describe,
)
from .statements import Statement, parse_statements

WARNING_PREFIX = "-- WARNING:"
_DATA_LOSS = "the data it removes cannot be restored; write the rollback by hand"


@dataclass
class RollbackScript:
    """The generated script as ordered lines: inverse statements and ``-- WARNING`` lines."""

    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def is_complete(self) -> bool:
        """True when every statement was inverted (no warning)."""
        return not self.warnings


def generate_rollback(sql: str, vendor: str) -> RollbackScript:
    """Invert the statements of ``sql`` for ``vendor`` ('postgresql', 'sqlite', 'mysql')."""
    script = RollbackScript()
    for statement in reversed(parse_statements(sql, vendor)):
        inverse, warning = invert(statement, vendor)
        script.lines.extend(inverse)
        if warning:
            line = f"{WARNING_PREFIX} cannot roll back statement {statement.index + 1} "
            line += f"({statement.summary}): {warning}."
            script.lines.append(line)
            script.warnings.append(line[len(WARNING_PREFIX) :].strip())
    return script


def invert(statement: Statement, vendor: str) -> tuple[list[str], str | None]:
    """The statements undoing ``statement`` and, if it cannot be fully undone, why."""
    operation = describe(statement)
    if isinstance(operation, CreateTable):
        cascade = " CASCADE" if vendor == "postgresql" else ""
        return [f"DROP TABLE IF EXISTS {operation.table}{cascade};"], None
    if isinstance(operation, CreateIndex):
        return _drop_index(operation, vendor)
    if isinstance(operation, AlterTable):
        return _invert_alter(operation, vendor)
    return [], _why_not(operation)


def _drop_index(operation: CreateIndex, vendor: str) -> tuple[list[str], str | None]:
    if operation.index is None:
        return [], "the index has no name (the database chose one), so it cannot be dropped by name"
    if vendor == "mysql":
        return [f"DROP INDEX {operation.index.object} ON {operation.table};"], None
    return [f"DROP INDEX IF EXISTS {operation.index};"], None


def _invert_alter(operation: AlterTable, vendor: str) -> tuple[list[str], str | None]:
    if not all(isinstance(action, AddColumn) for action in operation.actions):
        if any(isinstance(action, DropColumn) for action in operation.actions):
            return [], f"it drops a column; {_DATA_LOSS}"
        return (
            [],
            "this ALTER TABLE action has no automatic inverse yet; write the rollback by hand",
        )
    if_exists = " IF EXISTS" if vendor == "postgresql" else ""
    columns = [action.column for action in operation.actions if isinstance(action, AddColumn)]
    return [
        f"ALTER TABLE {operation.table} DROP COLUMN{if_exists} {column};"
        for column in reversed(columns)
    ], None


_HOLDS_DATA = {"TABLE", "SCHEMA", "DATABASE", "MATERIALIZED VIEW", "SEQUENCE"}


def _why_not(operation: Operation) -> str:
    if isinstance(operation, Drop):
        kind = operation.object_type.lower()
        article = "an" if kind[0] in "aeiou" else "a"
        if operation.object_type in _HOLDS_DATA:
            return f"it drops {article} {kind}; {_DATA_LOSS}"
        return (
            f"it drops {article} {kind} whose definition is not in this script; "
            "write the rollback by hand"
        )
    if isinstance(operation, Truncate):
        return f"it truncates a table; {_DATA_LOSS}"
    return "no automatic inverse is known for this statement; write the rollback by hand"
