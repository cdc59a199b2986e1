"""What a statement creates or drops, and whether each of those objects exists, read from the
target's catalogue.

Compensation undoes only what an attempt is known to have created. A ``CREATE TABLE IF NOT
EXISTS`` that found its table, an ``ADD COLUMN IF NOT EXISTS`` that found its column or a
``DROP ... IF EXISTS`` that found nothing changed nothing, and the executor can tell only by
looking before the statement runs: ``probe`` does that, and ``exists_now`` looks again (after
a failure, or after the process died). Statements this module does not recognise have no
footprint (None); the caller then decides without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..sql import Statement
from ..sql.names import QualifiedName, catalog_name, unquote
from ..sql.operations import (
    AddColumn,
    AddConstraint,
    AlterTable,
    CreateIndex,
    CreateObject,
    CreateTable,
    Drop,
    Operation,
)
from ..sql.reading import describe

_RELATIONS = {"TABLE", "VIEW", "MATERIALIZED VIEW", "SEQUENCE", "INDEX"}
# Statements that change no definition: nothing of them is ever to be undone.
_NO_DEFINITIONS = {"VACUUM", "ANALYZE"}


@dataclass(frozen=True)
class Target:
    """One object a statement creates (``creates``) or drops (not ``creates``); or, for a
    ``guard``, the object without which the statement does nothing (ALTER TABLE IF EXISTS)."""

    kind: str  # TABLE, INDEX, VIEW, ..., COLUMN, CONSTRAINT, SCHEMA
    name: QualifiedName
    creates: bool
    table: QualifiedName | None = None  # COLUMN, CONSTRAINT, and an index's table
    action: int | None = None  # the ALTER TABLE action that creates it
    constraint: str = ""  # a constraint's kind: PRIMARY KEY, UNIQUE, FOREIGN KEY, INDEX...
    guard: bool = False

    @property
    def label(self) -> str:
        """The object for a message: ``table users``, ``column email of users``."""
        of = f" of {self.table}" if self.table is not None and self.kind != "INDEX" else ""
        return f"{self.kind.lower()} {self.name}{of}"


@dataclass(frozen=True)
class Footprint:
    """A statement's targets and, for each, whether it existed when it was read."""

    targets: tuple[Target, ...]
    existed: tuple[bool, ...]

    def created(self, exists_after: tuple[bool, ...] | None = None) -> list[Target]:
        """The created targets that did not exist before; ``exists_after`` (read again after
        a failure or a crash) narrows them to those that exist now (by default: all, as a
        statement that succeeded created each of its missing targets)."""
        if self._guarded():
            return []
        after = exists_after or (True,) * len(self.targets)
        return [
            target
            for target, before, now in zip(self.targets, self.existed, after, strict=True)
            if target.creates and not before and now
        ]

    def dropped(self, exists_after: tuple[bool, ...] | None = None) -> list[Target]:
        """The dropped targets that existed before (and, if read again, are gone now)."""
        if self._guarded():
            return []
        after = exists_after or (False,) * len(self.targets)
        return [
            target
            for target, before, now in zip(self.targets, self.existed, after, strict=True)
            if not target.creates and not target.guard and before and not now
        ]

    def _guarded(self) -> bool:
        """Whether a guard was missing, so that the statement did nothing."""
        return any(
            target.guard and not before
            for target, before in zip(self.targets, self.existed, strict=True)
        )


def targets_of(statement: Statement, vendor: str) -> tuple[Target, ...] | None:
    """What ``statement`` creates or drops; None when this module cannot say."""
    first = statement.words[0].upper if statement.words else ""
    if first in _NO_DEFINITIONS:
        return ()
    operation = describe(statement)
    found = _targets(operation, vendor)
    if found is None or any(not _probed(target, vendor) for target in found):
        return None
    return found


def _targets(operation: Operation, vendor: str) -> tuple[Target, ...] | None:
    if isinstance(operation, CreateTable):
        return (Target("TABLE", operation.table, True),)
    if isinstance(operation, CreateIndex):
        if operation.index is None:
            return None
        return (Target("INDEX", operation.index, True, table=operation.table),)
    if isinstance(operation, CreateObject) and not operation.or_replace:
        return (Target(operation.kind, operation.name, True),)
    if isinstance(operation, AlterTable):
        return _alter_targets(operation)
    if isinstance(operation, Drop) and operation.names:
        if vendor == "mysql" and operation.object_type == "INDEX":
            return None  # MySQL's DROP INDEX names its table after ON
        return tuple(Target(operation.object_type, name, False) for name in operation.names)
    return None


def _alter_targets(operation: AlterTable) -> tuple[Target, ...] | None:
    found = []
    if [word.upper for word in operation.statement.words[2:4]] == ["IF", "EXISTS"]:
        found.append(Target("TABLE", operation.table, False, guard=True))
    for position, action in enumerate(operation.actions):
        if isinstance(action, AddColumn):
            name = QualifiedName((action.column,))
            found.append(Target("COLUMN", name, True, operation.table, position))
        elif isinstance(action, AddConstraint) and action.name is not None:
            name = QualifiedName((action.name,))
            found.append(Target("CONSTRAINT", name, True, operation.table, position, action.kind))
        else:
            return None  # an action whose effect the catalogue is not read for
    return tuple(found)


def _probed(target: Target, vendor: str) -> bool:
    """Whether ``exists`` can answer for ``target`` on ``vendor``."""
    if vendor == "postgresql":
        return target.kind in _RELATIONS | {"COLUMN", "CONSTRAINT", "SCHEMA", "TYPE", "EXTENSION"}
    if vendor == "mysql":
        return target.kind in {"TABLE", "VIEW", "INDEX", "COLUMN", "CONSTRAINT"}
    if vendor == "sqlite":
        in_main = all(unquote(part)[0].lower() == "main" for part in target.name.parts[:-1])
        return in_main and target.kind in {"TABLE", "VIEW", "INDEX", "COLUMN"}
    return False


def probe(cursor: Any, statement: Statement, vendor: str) -> Footprint | None:
    """``statement``'s footprint as the catalogue is now (before it runs)."""
    found = targets_of(statement, vendor)
    if found is None:
        return None
    return Footprint(found, exists_now(cursor, found, vendor))


def exists_now(cursor: Any, found: tuple[Target, ...], vendor: str) -> tuple[bool, ...]:
    """Whether each of ``found`` exists in the catalogue now."""
    reader = {"postgresql": _exists_postgresql, "mysql": _exists_mysql}.get(vendor, _exists_sqlite)
    return tuple(reader(cursor, target) for target in found)


def _one(cursor: Any, sql: str, params: Sequence[object]) -> Any:
    cursor.execute(sql, params)
    row = cursor.fetchone()
    return row[0] if row else None


# -- PostgreSQL: names as written go through to_regclass & co, which fold and quote them as the
# statement itself would.


def _pg_relation(cursor: Any, target: Target) -> bool:
    name = target.name
    if name.schema is None and target.creates:
        # CREATE puts an unqualified relation in current_schema() (an index: in its table's
        # schema), where a same-named relation makes IF NOT EXISTS a no-op.
        if target.kind == "INDEX" and target.table is not None:
            home = (
                "SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = to_regclass(%s)"
            )
            params = [str(target.table), str(name)]
        else:
            home, params = "SELECT quote_ident(current_schema())", [str(name)]
        sql = f"SELECT to_regclass(({home}) || '.' || %s) IS NOT NULL"
        return _one(cursor, sql, params) is True
    return _one(cursor, "SELECT to_regclass(%s) IS NOT NULL", [str(name)]) is True


def _exists_postgresql(cursor: Any, target: Target) -> bool:
    if target.kind in _RELATIONS:
        return _pg_relation(cursor, target)
    if target.kind == "SCHEMA":
        return _one(cursor, "SELECT to_regnamespace(%s) IS NOT NULL", [str(target.name)]) is True
    if target.kind == "TYPE":
        return _one(cursor, "SELECT to_regtype(%s) IS NOT NULL", [str(target.name)]) is True
    if target.kind == "EXTENSION":
        sql = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = %s)"
        return _one(cursor, sql, [catalog_name(target.name.object)]) is True
    if target.kind == "COLUMN":
        sql = (
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) "
            "AND attname = %s AND attnum > 0 AND NOT attisdropped)"
        )
    else:
        sql = (
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass(%s) "
            "AND conname = %s)"
        )
    return _one(cursor, sql, [str(target.table), catalog_name(target.name.object)]) is True


# -- MySQL/MariaDB: information_schema, in the named database or the connection's.


def _my_parts(name: QualifiedName) -> tuple[str | None, str]:
    schema = unquote(name.schema)[0] if name.schema else None
    return schema, unquote(name.object)[0]


def _exists_mysql(cursor: Any, target: Target) -> bool:
    if target.kind in ("TABLE", "VIEW"):
        schema, table = _my_parts(target.name)
        sql = (
            "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema = COALESCE(%s, DATABASE()) AND table_name = %s"
        )
        return bool(_one(cursor, sql, [schema, table]))
    assert target.table is not None
    schema, table = _my_parts(target.table)
    name = unquote(target.name.object)[0]
    if target.kind == "COLUMN":
        view, column = "columns", "column_name"
    elif target.kind == "INDEX" or target.constraint in ("INDEX", "UNIQUE", "PRIMARY KEY"):
        # Keys and indexes are indexes here; a primary key's is always named PRIMARY.
        view, column = "statistics", "index_name"
        name = "PRIMARY" if target.constraint == "PRIMARY KEY" else name
    else:
        view, column = "table_constraints", "constraint_name"
    sql = (
        f"SELECT COUNT(*) FROM information_schema.{view} WHERE table_schema = "
        f"COALESCE(%s, DATABASE()) AND table_name = %s AND {column} = %s"
    )
    return bool(_one(cursor, sql, [schema, table, name]))


# -- SQLite: sqlite_master of the main database; names compare without case, as SQLite's do.


def _exists_sqlite(cursor: Any, target: Target) -> bool:
    name = unquote(target.name.object)[0]
    if target.kind == "COLUMN":
        assert target.table is not None
        sql = "SELECT COUNT(*) FROM pragma_table_info(%s) WHERE name = %s COLLATE NOCASE"
        return bool(_one(cursor, sql, [unquote(target.table.object)[0], name]))
    sql = "SELECT COUNT(*) FROM sqlite_master WHERE name = %s COLLATE NOCASE"
    return bool(_one(cursor, sql, [name]))
