"""A migration's catalog lookups answered from a few bulk reads: the relations and the enum
types its statements name, the columns and the constraints its ALTER TABLEs read, all in one
round trip before the capture asks for them one by one.

The capture reads the catalog as it is before the migration runs, and nothing changes it
while it reads, so every answer to a query is fixed: ``CatalogReads`` answers the capture's
most frequent queries from what it read ahead, with the rows the query would return, and
sends any other query to the server once (its rows answer it again). Only what a statement
reads is read ahead (a column by name, not its table's every column): the server plans and
runs each query, and on a loaded machine every round trip waits for the processes on both
sides to be scheduled."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeGuard

from . import catalog_definitions as catalog
from .backends.postgresql import is_psycopg3
from .sql.names import catalog_name
from .sql.operations import (
    AddColumn,
    AlterColumn,
    AlterObject,
    AlterTable,
    CreateTable,
    Drop,
    DropColumn,
    Operation,
    OtherAction,
)
from .sql.table_actions import dropped_constraint, undone_by_sql_alone

_RELATION_KINDS = ("TABLE", "INDEX", "VIEW", "MATERIALIZED VIEW", "SEQUENCE")


# One row per name: the relation it names (an index with its definition).
_RELATIONS = """
SELECT n.name, k.oid, k.oid::regclass::text, k.relname,
  CASE WHEN k.relkind IN ('i', 'I') THEN pg_get_indexdef(k.oid) END
FROM unnest(%s::text[]) AS n(name) LEFT JOIN pg_class k ON k.oid = to_regclass(n.name)
"""
# The columns the migration's ALTER TABLEs read: one by name (``col``), or every column of a
# table whose column is dropped (``col`` NULL); the same rows as ``catalog.columns``.
_COLUMNS = f"""
SELECT k.oid, n.col, a.attnum IS NOT NULL, {catalog.COLUMN_FIELDS}
FROM unnest(%s::text[], %s::text[]) AS n(tab, col)
JOIN pg_class k ON k.oid = to_regclass(n.tab)
LEFT JOIN pg_attribute a ON a.attrelid = k.oid AND (n.col IS NULL OR a.attname = n.col)
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
# The constraints the migration's ALTER TABLEs drop by name.
_CONSTRAINTS = f"""
SELECT k.oid, n.con, c.oid IS NOT NULL, {catalog.CONSTRAINT_FIELDS}
FROM unnest(%s::text[], %s::text[]) AS n(tab, con)
JOIN pg_class k ON k.oid = to_regclass(n.tab)
LEFT JOIN pg_constraint c ON c.conrelid = k.oid AND c.conname = n.con
"""
_TYPES_AHEAD = """
SELECT n.name, t.oid, t.oid::regtype::text, t.typname, t.typarray, t.typtype::text,
  (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
   WHERE e.enumtypid = t.oid)
FROM unnest(%s::text[]) AS n(name)
LEFT JOIN pg_type t ON t.oid = to_regtype(n.name)
"""


class CatalogReads:
    """A cursor whose queries are answered from the bulk read where it has their rows."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        # Several statements in one query string need psycopg 3's client-side binding (its
        # ``mogrify``, the simple query protocol): with psycopg2, or server-side binding (an
        # OPTIONS choice), reads that belong together go one after the other.
        self.together = is_psycopg3() and hasattr(cursor, "mogrify")
        self.answers: dict[tuple[str, tuple], list[tuple]] = {}
        self._rows: list[tuple] | None = None

    def execute(self, query: str, params: Sequence = ()) -> None:
        key = (query, _frozen(params))
        rows = self.answers.get(key)
        if rows is None:
            # Asked of the server once: a migration's statements often look up the same
            # table (four ALTER TABLEs of one table asked for it four times).
            self.cursor.execute(query, params)
            if self.cursor.description is None:  # no rows to keep (not a read)
                self._rows = None
                return
            rows = self.answers[key] = [tuple(row) for row in self.cursor.fetchall()]
        self._rows = list(rows)

    def read_together(self, queries: list[tuple[str, list]]) -> list[list[tuple]]:
        """The rows of each (query, parameters): those not answered yet are asked of the
        server in one query string (literal SQL, each statement's rows its own result)."""
        keys = [(query, _frozen(params)) for query, params in queries]
        asked = dict(zip(keys, queries, strict=True))  # each key with its parameters as given
        missing = [key for key in asked if key not in self.answers]
        if len(missing) == 1 or not self.together:
            for key in missing:
                self.execute(*asked[key])
        elif missing:
            text = ";\n".join(self.cursor.mogrify(*asked[key]) for key in missing)
            self.cursor.execute(text)
            for number, key in enumerate(missing):
                if number:
                    self.cursor.nextset()
                self.answers[key] = [tuple(row) for row in self.cursor.fetchall()]
        return [list(self.answers[key]) for key in keys]

    def fetchone(self) -> Any:
        if self._rows is None:
            return self.cursor.fetchone()
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list:
        if self._rows is None:
            return self.cursor.fetchall()
        rows, self._rows = self._rows, []
        return rows

    def read_ahead(self, operations: Iterable[Operation]) -> None:
        """Read in bulk, in one round trip, what ``operations`` look up: the relations and the
        types they name, the columns and the constraints their ALTER TABLEs read (each name
        here is looked up by the capture: a read ahead never adds a query)."""
        operations = list(operations)
        relations, types = _names(operations)
        reads: list[tuple[str, list, Callable[[list], None]]] = []
        if relations:
            reads.append((_RELATIONS, [relations], self._relations))
        if types:
            reads.append((_TYPES_AHEAD, [types], self._types))
        columns, constraints = _parts(operations)
        if columns:
            reads.append(
                (_COLUMNS, [[t for t, _ in columns], [c for _, c in columns]], self._columns)
            )
        if constraints:
            tables, names = [t for t, _ in constraints], [c for _, c in constraints]
            reads.append((_CONSTRAINTS, [tables, names], self._constraints))
        rows = self.read_together([(query, params) for query, params, _ in reads])
        for (_, _, answer), found in zip(reads, rows, strict=True):
            answer(found)

    def _relations(self, rows: list) -> None:
        for row in rows:
            self._relation(*row)

    def _types(self, rows: list) -> None:
        for row in rows:
            self._type(*row)

    def _constraints(self, rows: list) -> None:
        query = catalog.constraints_query(catalog.OF_TABLE_NAMED)
        for oid, name, found, *key in rows:
            self.answers[(query, (oid, name))] = [tuple(key)] if found else []

    def _columns(self, rows: list) -> None:
        named, every = catalog.columns_query(named=True), catalog.columns_query(named=False)
        answers = self.answers
        for oid, name, found, *column in rows:
            if name is not None:
                answers[(named, (oid, name))] = [tuple(column)] if found else []
                continue
            table = answers.setdefault((every, (oid,)), [])
            if found:
                table.append(tuple(column))
                answers[(named, (oid, column[0]))] = [tuple(column)]

    def _relation(self, name, oid, regclass, relname, index) -> None:
        answers = self.answers
        answers[(catalog.OID_BY_NAME, (name,))] = [(oid,)]
        if oid is None:
            answers[(catalog.RELATION_BY_NAME, (name,))] = []
            return
        answers[(catalog.RELATION_BY_NAME, (name,))] = [(oid, regclass, relname)]
        if index is not None:
            answers[(catalog.INDEX_DEFINITION, (oid, oid))] = [(regclass, index)]

    def _type(self, name, oid, regtype, typname, array_oid, kind, values) -> None:
        answers = self.answers
        answers[(catalog.TYPE_OID_BY_NAME, (name,))] = [(oid,)]
        if oid is None:
            answers[(catalog.TYPE_BY_NAME, (name,))] = []
            return
        answers[(catalog.TYPE_BY_NAME, (name,))] = [(oid, regtype, typname, array_oid, kind)]
        answers[(catalog.ENUM_VALUES, (oid,))] = [(value,) for value in _loaded(values)]


def _frozen(params: Sequence) -> tuple:
    """Parameters as a key of ``answers`` (a bulk read's lists of names as tuples)."""
    return tuple(tuple(p) if isinstance(p, list) else p for p in params)


def _loaded(value: Any) -> list:
    """A ``json_agg`` as the driver returns it (parsed, or text), [] for none."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else value


def _names(operations: Iterable[Operation]) -> tuple[list[str], list[str]]:
    """The relations and the types the capture will look up by name, each once."""
    relations: dict[str, None] = {}
    types: dict[str, None] = {}
    for operation in operations:
        if isinstance(operation, AlterTable) and not undone_by_sql_alone(operation):
            relations[str(operation.table)] = None
        elif isinstance(operation, Drop) and operation.object_type in _RELATION_KINDS:
            relations.update((str(name), None) for name in operation.names)
        elif isinstance(operation, Drop) and operation.object_type == "TYPE":
            types.update((str(name), None) for name in operation.names)
        elif isinstance(operation, CreateTable) and operation.if_not_exists:
            relations[str(operation.table)] = None
        elif isinstance(operation, AlterObject) and operation.action == "ADD VALUE":
            types[str(operation.name)] = None
    return list(relations), list(types)


def _parts(operations: Iterable[Operation]) -> tuple[list[tuple], list[tuple]]:
    """(table, column) pairs whose column the ALTER TABLEs read (column None: every column of
    the table, for a dropped one), and (table, constraint) pairs they drop, each once."""
    columns: dict[tuple, None] = {}
    constraints: dict[tuple, None] = {}
    for operation in operations:
        if not isinstance(operation, AlterTable):
            continue
        table = str(operation.table)
        for action in operation.actions:
            if isinstance(action, DropColumn):
                columns[(table, None)] = None
            elif _reads_column(action):
                columns[(table, catalog_name(action.column))] = None
            elif isinstance(action, OtherAction) and (name := dropped_constraint(action)):
                constraints[(table, name)] = None
    return list(columns), list(constraints)


def _reads_column(action: object) -> TypeGuard[AlterColumn | AddColumn]:
    """A change of a column whose inverse reads it: a default, type or nullability, or an
    ADD COLUMN IF NOT EXISTS (was it there?)."""
    if isinstance(action, AlterColumn):
        return action.change != "OTHER"
    return isinstance(action, AddColumn) and action.if_not_exists
