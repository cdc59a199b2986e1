"""A migration's lookups by name answered from one bulk read: the relations and the enum
types its statements name, read in one round trip each before the capture asks for them one
by one.

The capture reads the catalog as it is before the migration runs, and nothing changes it
while it reads, so every answer to a query is fixed: ``CatalogReads`` answers the capture's
most frequent queries (a relation by name, an index's definition, a type by name with its
enum values) from what it read ahead, with the rows the query would return, and sends any
other query to the server. (Measured on one server over loopback, where a round trip costs
about 0.1 ms: a lookup costs about as much to plan as to send, so what is read ahead is only
what many statements of a migration look up, by name.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from . import catalog_definitions as catalog
from .sql.operations import AlterObject, AlterTable, CreateTable, Drop, Operation

_RELATION_KINDS = ("TABLE", "INDEX", "VIEW", "MATERIALIZED VIEW", "SEQUENCE")


# One row per name: the relation it names (an index with its definition). A table's columns
# and constraints are not read ahead: each is read where a statement needs it, as reading a
# table's every column and constraint costs the server more than the round trips it saves.
_RELATIONS = """
SELECT n.name, k.oid, k.oid::regclass::text, k.relname,
  CASE WHEN k.relkind IN ('i', 'I') THEN pg_get_indexdef(k.oid) END
FROM unnest(%s::text[]) AS n(name) LEFT JOIN pg_class k ON k.oid = to_regclass(n.name)
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
        self.answers: dict[tuple[str, tuple], list[tuple]] = {}
        self._rows: list[tuple] | None = None

    def execute(self, query: str, params: Sequence = ()) -> None:
        rows = self.answers.get((query, tuple(params)))
        self._rows = None if rows is None else list(rows)
        if rows is None:
            self.cursor.execute(query, params)

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
        """Read in bulk the relations and the types ``operations`` name, one round trip for
        each where it replaces more than one lookup."""
        relations, types = _names(operations)
        if len(relations) > 1:
            self.cursor.execute(_RELATIONS, [relations])
            for row in self.cursor.fetchall():
                self._relation(*row)
        if len(types) > 1:
            self.cursor.execute(_TYPES_AHEAD, [types])
            for row in self.cursor.fetchall():
                self._type(*row)

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
        if isinstance(operation, AlterTable):
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
