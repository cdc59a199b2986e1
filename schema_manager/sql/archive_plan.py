"""Which statements of a script remove data, and how each is archived and put back.

Pure planning: given what the target's catalog says of the tables (``TableInfo``, read by
``schema_manager.archive.catalog``), ``archive_steps.plan_archive`` walks the script in
order, following the columns each table has at each statement (added, dropped, renamed
ones), and returns ``ArchiveStep``s: what to run before (or instead of) a statement, how the
rollback undoes it in place, what restores the data after the rollback's catalogue steps,
how to estimate its size, and a note saying exactly what comes back. What cannot be
archived is a gap, with why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import archive_sql as sql
from .names import (
    QualifiedName,
    unquote,
)
from .operations import (
    AddColumn,
    AlterTable,
    DataChange,
    Drop,
    DropColumn,
    Rename,
    RenameTo,
    Truncate,
)
from .reading import describe
from .statements import Statement, parse_statements


@dataclass(frozen=True)
class Column:
    name: str  # as the catalog spells it
    type: str
    not_null: bool = False
    default: str | None = None


@dataclass(frozen=True)
class TableInfo:
    """A table as the target holds it before the migration."""

    name: str
    schema: str | None
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    # Why moving it into the archive would change what the script does (views or foreign
    # keys of other tables on it); None if it can be moved.
    unmovable: str | None = None
    # PostgreSQL: the views and other tables' foreign keys on it (``v``, ``t.fk``), the
    # tables whose foreign keys reference it as (schema, name), its own foreign keys to other
    # tables as (name, definition), and its unique keys of NOT NULL columns but the primary.
    dependents: tuple[str, ...] = ()
    referencing: tuple[tuple[str, str], ...] = ()
    foreign_keys: tuple[tuple[str, str], ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class ArchiveStep:
    index: int  # the statement's
    summary: str
    kind: str  # table, column, old values, rows, pre-image
    table: str  # rendered as the statement names it
    archive: str  # rendered
    capture: tuple[str, ...]  # run before the statement (or instead of it: ``replaces``)
    replaces: bool
    inverse: tuple[str, ...]  # the rollback's catalogue step, where none is captured
    inverse_complete: bool  # ``inverse`` undoes the whole statement
    restore: tuple[str, ...]  # after the rollback's catalogue steps
    estimate: str  # SQL: one row (rows, bytes)
    copies: bool  # False for a move: nothing is copied
    note: str


@dataclass
class ArchivePlan:
    migration_id: str
    vendor: str
    steps: list[ArchiveStep] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # data removed that is not archived, why

    def steps_of(self, index: int) -> list[ArchiveStep]:
        return [step for step in self.steps if step.index == index]

    def moves_back(self, index: int) -> bool:
        """Whether the archive itself undoes statement ``index`` whole (dropped tables moved
        back), so no catalogue definition of it is needed; a dropped column's catalogue
        definition (its constraints and indexes) is still wanted before its values return."""
        steps = self.steps_of(index)
        return bool(steps) and all(step.kind == "table" for step in steps)

    def capture(self, statement: Statement) -> tuple[list[str], bool]:
        """(statements to run before ``statement``, whether they replace it)."""
        steps = self.steps_of(statement.index)
        if not steps:
            return [], False
        first = self.steps[0].index == statement.index
        lines = (sql.prelude(self.vendor) if first else []) + [
            line for step in steps for line in step.capture
        ]
        return lines, any(step.replaces for step in steps)

    def compensation(self, statement: Statement) -> tuple[str, ...] | None:
        """MySQL/MariaDB, statement by statement: what puts back what ``statement`` removed
        from its archive, right whether or not it ran (``IF [NOT] EXISTS``), for a failed or
        interrupted apply's compensation; None if it is not archived."""
        steps = self.steps_of(statement.index)
        if not steps:
            return None
        lines = [line for step in reversed(steps) for line in (*step.inverse, *step.restore)]
        return tuple(_whether_or_not_it_ran(line) for line in lines)


def _whether_or_not_it_ran(line: str) -> str:
    for plain, guarded in (
        ("RENAME TABLE ", "RENAME TABLE IF EXISTS "),
        ("DROP TABLE ", "DROP TABLE IF EXISTS "),
        (" ADD COLUMN ", " ADD COLUMN IF NOT EXISTS "),
    ):
        if plain in line and guarded not in line:
            return line.replace(plain, guarded, 1)
    return line


def table_key(name: QualifiedName, dialect: str) -> str:
    """How the target tells tables apart: PostgreSQL folds bare names to lower case, the
    others compare table names without case."""
    parts = []
    for part in name.parts:
        value, quoted = unquote(part)
        parts.append(value if quoted and dialect == "postgresql" else value.lower())
    return ".".join(parts)


def _column_key(name: str, dialect: str) -> str:
    value, quoted = unquote(name)
    return value if quoted and dialect == "postgresql" else value.lower()


def tables_named(sql_text: str, vendor: str) -> list[QualifiedName]:
    """The tables whose catalog entry ``plan_archive`` needs."""
    names: dict[str, QualifiedName] = {}
    for statement in parse_statements(sql_text, vendor):
        operation = describe(statement)
        found: tuple[QualifiedName, ...] = ()
        if isinstance(operation, DataChange) and operation.table is not None:
            found = (operation.table,)
        elif isinstance(operation, Truncate):
            found = operation.tables
        elif isinstance(operation, Drop) and operation.object_type == "TABLE":
            found = operation.names
        elif isinstance(operation, AlterTable):
            found = (operation.table,)
        for name in found:
            names.setdefault(table_key(name, vendor), name)
    return list(names.values())


class _Table:
    """A table as the script leaves it so far: its current columns, each with the name it
    had before the migration (None: added by the script)."""

    def __init__(self, info: TableInfo, dialect: str) -> None:
        self.info, self.dialect = info, dialect
        self.columns: dict[str, tuple[str, str | None]] = {
            _column_key(f'"{c.name}"', dialect): (c.name, c.name) for c in info.columns
        }

    def column(self, written: str) -> tuple[str, str | None] | None:
        return self.columns.get(_column_key(written, self.dialect))

    def original(self) -> list[tuple[str, str]]:
        """(current name, original name) of the columns the table had before."""
        return [(cur, orig) for cur, orig in self.columns.values() if orig is not None]

    def key_columns(self) -> list[tuple[str, str]] | None:
        """The primary key's (current, original) names; None if it has none now."""
        if not self.info.primary_key:
            return None
        by_original = {orig: cur for cur, orig in self.original()}
        if any(part not in by_original for part in self.info.primary_key):
            return None
        return [(by_original[part], part) for part in self.info.primary_key]

    def unique_key(self, without: str | None = None) -> list[tuple[str, str]] | None:
        """A unique key of NOT NULL columns but the primary one (PostgreSQL), all still
        there and none of them ``without``, as (current, original) names; None if none."""
        by_original = {orig: cur for cur, orig in self.original()}
        for key in self.info.unique_keys:
            if without not in key and all(part in by_original for part in key):
                return [(by_original[part], part) for part in key]
        return None

    def column_info(self, original: str) -> Column:
        return next(c for c in self.info.columns if c.name == original)


@dataclass
class _Walk:
    migration_id: str
    dialect: str
    tables: dict[str, _Table]
    plan: ArchivePlan
    created: set[str] = field(default_factory=set)  # tables the script itself created

    def archive_name(self, statement: Statement, part: int, table: _Table) -> tuple[str, str]:
        return sql.archive_table(
            self.migration_id, statement.index, part, self.dialect, table.info.schema
        )

    def gap(self, statement: Statement, why: str, name: QualifiedName | None = None) -> None:
        if name is not None and table_key(name, self.dialect) in self.created:
            return  # the script's own table: the catalogue step drops it again
        self.plan.gaps.append(
            f"statement {statement.index + 1} ({statement.summary}) is not archived: {why}"
        )

    def table(self, name: QualifiedName) -> _Table | None:
        return self.tables.get(table_key(name, self.dialect))

    def table_at(self, identity: tuple[str, str]) -> _Table | None:
        """The table the catalog knows as (schema, name), if the script left it there."""
        return next(
            (t for t in self.tables.values() if (t.info.schema or "", t.info.name) == identity),
            None,
        )


def follow_alter(walk: _Walk, operation: AlterTable) -> None:
    """Keep the tracked columns and names true after an ALTER TABLE."""
    key = table_key(operation.table, walk.dialect)
    table = walk.tables.get(key)
    if table is None:
        return
    for action in operation.actions:
        if isinstance(action, DropColumn):
            table.columns.pop(_column_key(action.column, walk.dialect), None)
        elif isinstance(action, AddColumn):
            name, _ = unquote(action.column)
            table.columns[_column_key(action.column, walk.dialect)] = (name, None)
        elif isinstance(action, Rename) and action.what == "COLUMN":
            old = table.columns.pop(_column_key(action.old, walk.dialect), None)
            if old is not None:
                table.columns[_column_key(action.new, walk.dialect)] = (
                    unquote(action.new)[0],
                    old[1],
                )
        elif isinstance(action, RenameTo):
            walk.tables.pop(key, None)
            renamed = QualifiedName((*operation.table.parts[:-1], action.new))
            walk.tables[table_key(renamed, walk.dialect)] = table


def forget(walk: _Walk, names: tuple[QualifiedName, ...]) -> None:
    for name in names:
        walk.tables.pop(table_key(name, walk.dialect), None)
