"""The archive steps that keep rows (see ``archive_plan``): the rows a DELETE, TRUNCATE or
DROP TABLE removes, and the old values of the columns an UPDATE overwrites (its pre-image).
"""

from __future__ import annotations

from typing import Any

from . import archive_sql as sql
from .archive_plan import ArchiveStep, _Table, _Walk
from .archive_target import DataTarget, data_target
from .names import render_name
from .operations import DataChange
from .statements import Statement

NOT_KEPT = (
    "changes the application made after the migration are not reconciled, sequences are "
    "not reset, and triggers fire again"
)


def step(statement: Statement, **values: Any) -> ArchiveStep:
    values.setdefault("replaces", False)
    values.setdefault("inverse", ())
    values.setdefault("inverse_complete", True)
    values.setdefault("copies", True)
    return ArchiveStep(index=statement.index, summary=statement.summary, **values)


def data_change(walk: _Walk, statement: Statement, operation: DataChange) -> None:
    table = walk.table(operation.table) if operation.table is not None else None
    if table is None or operation.table is None:
        if operation.table is not None:
            why = "its table is not on the target before the migration"
            walk.gap(statement, why, operation.table)
        return
    target = data_target(operation, walk.dialect)
    if isinstance(target, str):
        walk.gap(statement, target)
        return
    rendered = render_name(operation.table, walk.dialect)
    if operation.verb == "DELETE":
        keep_rows(walk, statement, rendered, table, target, 0, deletes=True)
    else:
        keep_pre_image(walk, statement, rendered, table, target)


def keep_rows(
    walk: _Walk,
    statement: Statement,
    rendered: str,
    table: _Table,
    target: DataTarget,
    part: int,
    *,
    deletes: bool = False,
) -> None:
    _, archive = walk.archive_name(statement, part, table)
    columns = table.original()
    listed = [orig for _, orig in columns]
    # On PostgreSQL a DELETE returns what it removes into the archive (exact under concurrent
    # writers); elsewhere the same condition selects the rows just before it.
    exact = deletes and walk.dialect == "postgresql"
    if exact:
        capture = sql.delete_into(
            archive,
            rendered,
            columns,
            walk.dialect,
            target.source,
            target.where,
            target.joined,
            target.qualifier,
        )
    else:  # a TRUNCATE's lock first: nothing changes between the copy and the statement
        capture = [
            *sql.lock_table(rendered, walk.dialect),
            *sql.copy_lines(archive, rendered, columns, walk.dialect, target.source, target.rows),
        ]
    walk.plan.steps.append(
        step(
            statement,
            kind="rows",
            table=rendered,
            archive=archive,
            capture=tuple(capture),
            replaces=exact,
            restore=(
                sql.reinsert(rendered, archive, listed, walk.dialect),
                sql.drop_archive(archive),
            ),
            estimate=sql.estimate(
                rendered, [cur for cur, _ in columns], walk.dialect, target.source, target.rows
            ),
            note=(
                f"the rows statement {statement.index + 1} ({statement.summary}) removed from "
                f"{rendered} are inserted again from {archive} (columns {', '.join(listed)}), "
                f"as they were; a key taken again since makes the rollback fail; {NOT_KEPT}."
            ),
        )
    )


def keep_pre_image(
    walk: _Walk, statement: Statement, rendered: str, table: _Table, target: DataTarget
) -> None:
    key = table.key_columns()
    if key is None:
        walk.gap(statement, f"{rendered} has no primary key to put the old values back by")
        return
    changed = []
    for written in target.set_columns:
        column = table.column(written)
        if column is not None and column[1] is not None:
            changed.append((column[0], column[1]))  # columns the script added go with it
    if not changed:
        return
    _, archive = walk.archive_name(statement, 0, table)
    copied = key + [pair for pair in changed if pair not in key]
    names = [orig for _, orig in changed]
    walk.plan.steps.append(
        step(
            statement,
            kind="pre-image",
            table=rendered,
            archive=archive,
            capture=tuple(  # the rows copied stay as copied until the UPDATE has run
                sql.copy_lines(
                    archive, rendered, copied, walk.dialect, target.source, target.rows, True
                )
            ),
            restore=(
                sql.update_back(rendered, archive, [o for _, o in key], names, walk.dialect),
                sql.drop_archive(archive),
            ),
            estimate=sql.estimate(
                rendered, [cur for cur, _ in copied], walk.dialect, target.source, target.rows
            ),
            note=(
                f"columns {', '.join(names)} of the rows statement {statement.index + 1} "
                f"({statement.summary}) changed are set back, by primary key, to their values "
                f"before it from {archive}; rows deleted since stay deleted; {NOT_KEPT}."
            ),
        )
    )
