"""The archive step of each kind of destructive statement (see ``archive_plan``)."""

from __future__ import annotations

from collections.abc import Mapping

from . import archive_sql as sql
from .archive_plan import (
    ArchivePlan,
    TableInfo,
    _Table,
    _Walk,
    follow_alter,
    forget,
    table_key,
)
from .archive_rows import NOT_KEPT, data_change, keep_rows, step
from .archive_target import DataTarget
from .lexer import DIALECTS
from .names import render_name
from .operations import (
    AlterColumn,
    AlterTable,
    CreateTable,
    DataChange,
    Drop,
    DropColumn,
    Operation,
    Truncate,
)
from .reading import describe
from .statements import Statement, parse_statements


def plan_archive(
    sql_text: str, vendor: str, migration_id: str, tables: Mapping[str, TableInfo]
) -> ArchivePlan:
    """The archive steps of ``sql_text``'s destructive statements; ``tables`` (by
    ``archive_plan.table_key``) holds the catalog entries of ``tables_named``, as found."""
    dialect = vendor if vendor in DIALECTS else "postgresql"
    walk = _Walk(
        migration_id,
        dialect,
        {key: _Table(info, dialect) for key, info in tables.items()},
        ArchivePlan(migration_id, dialect),
    )
    for statement in parse_statements(sql_text, vendor):
        plan_statement(walk, statement, describe(statement))
    return walk.plan


def plan_statement(walk: _Walk, statement: Statement, operation: Operation) -> None:
    if isinstance(operation, DataChange):
        data_change(walk, statement, operation)
    elif isinstance(operation, Truncate):
        _truncate(walk, statement, operation)
    elif isinstance(operation, Drop) and operation.object_type == "TABLE":
        _drop_table(walk, statement, operation)
    elif isinstance(operation, AlterTable):
        _alter(walk, statement, operation)
        follow_alter(walk, operation)
    elif isinstance(operation, CreateTable):
        forget(walk, (operation.table,))  # a new table of that name: nothing to restore
        walk.created.add(table_key(operation.table, walk.dialect))


def _truncate(walk: _Walk, statement: Statement, operation: Truncate) -> None:
    if operation.cascade and walk.dialect != "postgresql":
        walk.gap(statement, "CASCADE empties tables the statement does not name")
        return
    tables = [(name, walk.table(name)) for name in operation.tables]
    if missing := [
        str(name)
        for name, table in tables
        if table is None and table_key(name, walk.dialect) not in walk.created
    ]:
        walk.gap(statement, f"{', '.join(missing)} is not on the target before the migration")
        return
    emptied = {
        _identity(table): (render_name(name, walk.dialect), table)
        for name, table in tables
        if table is not None  # created by the script: the catalogue step drops it
    }
    if operation.cascade:  # and the tables whose foreign keys reference them, and so on
        pending = list(emptied.values())
        while pending:
            _, table = pending.pop()
            for pair in table.info.referencing:
                if pair in emptied:
                    continue
                found = walk.table_at(pair)
                if found is None:
                    why = f"{'.'.join(pair)}, which CASCADE empties, cannot be read"
                    walk.gap(statement, why)
                    return
                emptied[pair] = (sql.qualified(pair, walk.dialect), found)
                pending.append(emptied[pair])
    ordered = referencing_first(list(emptied.values()))
    if ordered is None:
        walk.gap(statement, "its tables reference each other in a cycle")
        return
    for part, (rendered, table) in enumerate(ordered):
        keep_rows(walk, statement, rendered, table, DataTarget(rendered, "", ()), part)


def _identity(table: _Table) -> tuple[str, str]:
    return (table.info.schema or "", table.info.name)


def referencing_first(tables: list[tuple[str, _Table]]) -> list[tuple[str, _Table]] | None:
    """``tables`` with each one before the tables its foreign keys reference: restores run
    in reverse, so a referenced row is back before the rows that reference it. None for a
    cycle."""
    by = {_identity(table): (rendered, table) for rendered, table in tables}
    referencing = {
        key: {pair for pair in table.info.referencing if pair in by and pair != key}
        for key, (_, table) in by.items()
    }
    ordered: list[tuple[str, _Table]] = []
    done: set[tuple[str, str]] = set()
    while len(ordered) < len(by):
        ready = [key for key in by if key not in done and referencing[key] <= done]
        if not ready:
            return None
        done.update(ready)
        ordered += [by[key] for key in ready]
    return ordered


def _drop_table(walk: _Walk, statement: Statement, operation: Drop) -> None:
    tables = [(name, walk.table(name)) for name in operation.names]
    present = [(name, table) for name, table in tables if table is not None]
    if not present:
        return  # DROP TABLE IF EXISTS of tables that are not there: nothing is lost
    if len(present) < len(tables) and not statement.starts_with("DROP", "TABLE", "IF"):
        return  # the statement fails as written: nothing is lost either
    if blocked := [
        f"{name}: {table.info.unmovable}" for name, table in present if table.info.unmovable
    ]:
        walk.gap(statement, "; ".join(blocked))
        return
    if operation.cascade and (
        blocked := [
            f"{name}: {', '.join(table.info.dependents)} depend(s) on it, and CASCADE would "
            "drop them (views) or their foreign keys with it"
            for name, table in present
            if table.info.dependents
        ]
    ):
        walk.gap(statement, "; ".join(blocked))
        return
    for part, (name, table) in enumerate(present):
        bare, archive = walk.archive_name(statement, part, table)
        rendered = render_name(name, walk.dialect)
        info = table.info
        # PostgreSQL: what DROP TABLE does that a move does not: refuse while views or other
        # tables' foreign keys depend on it, and drop its own foreign keys to other tables.
        guard = sql.refuse_dependents(rendered, walk.dialect)
        foreign_keys = [
            f"ALTER TABLE {rendered} DROP CONSTRAINT {name};" for name, _ in info.foreign_keys
        ]
        walk.plan.steps.append(
            step(
                statement,
                kind="table",
                table=rendered,
                archive=archive,
                capture=(
                    *guard,
                    *foreign_keys,
                    *sql.move_table(rendered, bare, info.schema, walk.dialect),
                ),
                replaces=True,
                inverse=tuple(sql.move_back(rendered, info.name, bare, info.schema, walk.dialect)),
                restore=tuple(
                    f"ALTER TABLE {rendered} ADD CONSTRAINT {name} {definition};"
                    for name, definition in info.foreign_keys
                ),
                estimate=sql.estimate(rendered, [c.name for c in info.columns], walk.dialect),
                copies=False,
                note=(
                    f"table {rendered}, dropped by statement {statement.index + 1}, comes back "
                    f"from {archive} whole (moved, not copied: rows, indexes, constraints, "
                    "triggers and owned sequences as they were when it was dropped"
                    + (", its foreign keys to other tables added again" if foreign_keys else "")
                    + ")."
                ),
            )
        )
    forget(walk, operation.names)


def _alter(walk: _Walk, statement: Statement, operation: AlterTable) -> None:
    table = walk.table(operation.table)
    destructive = [
        action
        for action in operation.actions
        if isinstance(action, DropColumn)
        or (isinstance(action, AlterColumn) and action.change == "TYPE")
    ]
    if not destructive:
        return
    if table is None:
        why = f"{operation.table} is not on the target before the migration"
        walk.gap(statement, why, operation.table)
        return
    primary = table.key_columns()
    rendered = render_name(operation.table, walk.dialect)
    if primary is None and table.unique_key() is None:
        walk.gap(statement, f"{rendered} has no primary key to put the values back by")
        return
    # Our own inverse undoes the statement only when it does nothing but drop columns.
    only_drops = all(isinstance(action, DropColumn) for action in operation.actions)
    for part, action in enumerate(destructive):
        assert isinstance(action, DropColumn | AlterColumn)
        column = table.column(action.column)
        if column is None or column[1] is None:
            continue  # added by the script itself: the catalogue step removes it
        key = primary
        if key is None or any(column[1] == orig for _, orig in key):
            key = table.unique_key(without=column[1])  # put back by another key
        if key is None:
            walk.gap(
                statement,
                f"column {column[1]} is part of the primary key and {rendered} has no other "
                "unique key of NOT NULL columns to put the values back by",
            )
            continue
        _column(walk, statement, rendered, table, key, column, part, only_drops, action)


def _column(
    walk: _Walk,
    statement: Statement,
    rendered: str,
    table: _Table,
    key: list[tuple[str, str]],
    column: tuple[str, str | None],
    part: int,
    only_drops: bool,
    action: DropColumn | AlterColumn,
) -> None:
    current, original = column
    assert original is not None
    info = table.column_info(original)
    _, archive = walk.archive_name(statement, part, table)
    dropped = isinstance(action, DropColumn)
    quoted = sql.quote(original, walk.dialect)
    if dropped:
        default = f" DEFAULT {info.default}" if info.default else ""
        inverse = (f"ALTER TABLE {rendered} ADD COLUMN {quoted} {info.type}{default};",)
    else:
        inverse = (
            f"ALTER TABLE {rendered} ALTER COLUMN {quoted} TYPE {info.type} "
            f"USING {quoted}::{info.type};",
        )
    restore = [
        sql.update_back(rendered, archive, [o for _, o in key], [original], walk.dialect),
        sql.drop_archive(archive),
    ]
    kept_not_null = dropped and info.not_null and walk.dialect == "postgresql"
    if kept_not_null:
        restore.insert(1, f"ALTER TABLE {rendered} ALTER COLUMN {quoted} SET NOT NULL;")
    walk.plan.steps.append(
        step(
            statement,
            kind="column" if dropped else "old values",
            table=rendered,
            archive=archive,
            # The ALTER's own lock first: the values copied are the values it drops or converts.
            capture=(
                *sql.lock_table(rendered, walk.dialect),
                *sql.copy_lines(archive, rendered, [*key, (current, original)], walk.dialect),
            ),
            inverse=inverse,
            inverse_complete=only_drops if dropped else walk.dialect == "postgresql",
            restore=tuple(restore),
            estimate=sql.estimate(rendered, [k for k, _ in key] + [current], walk.dialect),
            note=(
                f"the values of column {original} of {rendered} "
                f"{'dropped' if dropped else 'converted'} by statement {statement.index + 1} "
                f"come back by primary key from {archive}; rows inserted since get "
                f"{'NULL (or its default)' if dropped else 'the converted value'}"
                f"{' (then NOT NULL, set again, fails the rollback)' if kept_not_null else ''}; "
                f"{NOT_KEPT}."
            ),
        )
    )
