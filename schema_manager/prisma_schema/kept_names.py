"""Names in the written schema, keeping what the existing file chose (re-introspection).

Like ``prisma db pull`` on a schema that already has models, a sync keeps the model and field
names given there (``@@map``/``@map``), relation field names, documentation comments, the
attributes the database cannot show (``@updatedAt``, ``@default(cuid())``...), and the order of
the existing models (new ones follow, by name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .blocks import Item
from .identifiers import default_constraint_name, identifier, type_name

_MODEL = re.compile(r"^\s*(?:model|view)\s+(\w+)\s*\{", re.MULTILINE)
_ENUM = re.compile(r"^\s*enum\s+(\w+)\s*\{", re.MULTILINE)
_BLOCK_MAP = re.compile(r'^\s*@@map\(\s*(?:name:\s*)?"((?:[^"\\]|\\.)*)"', re.MULTILINE)
_FIELD = re.compile(r"^(\w+)\s+(\w+)(\[\]|\?)?\s*(.*)$")
_MAP = re.compile(r'@@?map\(\s*(?:name:\s*)?"((?:[^"\\]|\\.)*)"')
_MAP_ARGUMENT = re.compile(r'\bmap:\s*"((?:[^"\\]|\\.)*)"')
_FIELDS = re.compile(r"fields:\s*\[([^\]]*)\]")
_RELATION_NAME = re.compile(r'@relation\(\s*(?:name:\s*)?"([^"]+)"')
# Attributes Prisma applies in the client, invisible in the database.
_CLIENT_ATTRIBUTES = re.compile(r"@updatedAt\b|@default\((?:cuid|uuid|nanoid|ulid)\([^)]*\)\)")


@dataclass
class _Model:
    name: str
    table: str
    docs: list[str]
    columns: dict[str, str] = field(default_factory=dict)  # field name -> column
    fields: dict[str, str] = field(default_factory=dict)  # column -> field name
    field_docs: dict[str, list[str]] = field(default_factory=dict)
    kept: dict[str, list[str]] = field(default_factory=dict)
    # name, field names, relation name
    forward: list[tuple[str, list[str], str | None]] = field(default_factory=list)
    back: list[tuple[str, str, str | None]] = field(default_factory=list)  # name, model, rel.
    ignored: bool = False  # @@ignore
    # @@index and @@unique in the file's order: (suffix "idx"/"key", field names, map)
    indexes: list[tuple[str, list[str], str | None]] = field(default_factory=list)


class Naming:
    """Model and field names for tables and columns: the existing file's, else Prisma's."""

    def __init__(self, items: list[Item] | None = None) -> None:
        texts = [item.text for item in items or [] if item.kind in ("model", "view")]
        names = {m.group(1) for text in texts for m in [_MODEL.search(text)] if m}
        models = [_read(text, names) for text in texts]
        self._by_table = {model.table: model for model in models}
        self._tables_by_model = {model.name: model.table for model in models}
        self._order = {model.table: index for index, model in enumerate(models)}
        self._enums: dict[str, str] = {}  # database type -> enum name
        self._enum_order: dict[str, int] = {}
        for item in items or []:
            enum = _ENUM.search(item.text) if item.kind == "enum" else None
            if enum:
                mapped = _BLOCK_MAP.search(item.text)
                db_name = mapped.group(1) if mapped else enum.group(1)
                self._enums[db_name] = enum.group(1)
                self._enum_order[db_name] = len(self._enum_order)

    def model(self, table: str) -> str:
        known = self._by_table.get(table)
        return known.name if known else type_name(table)

    def field(self, table: str, column: str) -> str:
        known = self._by_table.get(table)
        return known.fields.get(column, identifier(column)) if known else identifier(column)

    def fields(self, table: str, columns: tuple[str, ...]) -> str:
        return ", ".join(self.field(table, column) for column in columns)

    def enum(self, db_name: str) -> str:
        return self._enums.get(db_name, type_name(db_name))

    def enum_order(self, db_names: list[str]) -> list[str]:
        return sorted(
            db_names,
            key=lambda n: (n not in self._enum_order, self._enum_order.get(n, 0), n),
        )

    def order(self, tables: list[str]) -> list[str]:
        """The existing file's models in its order, then new tables by name (as PostgreSQL's
        ``name`` type sorts: by code point)."""
        return sorted(tables, key=lambda t: (t not in self._order, self._order.get(t, 0), t))

    def exists(self, table: str) -> bool:
        """The existing file has a model for ``table``."""
        return table in self._by_table

    def ignored(self, table: str) -> bool:
        """The existing file marks the model ``@@ignore``."""
        known = self._by_table.get(table)
        return bool(known and known.ignored)

    def index_position(self, provider: str, table: str, name: str) -> int | None:
        """Where the file has the index named ``name`` (by ``map:`` or Prisma's default name)."""
        known = self._by_table.get(table)
        for position, (suffix, names, mapped) in enumerate(known.indexes if known else []):
            columns = tuple(known.columns.get(n, n) for n in names)  # type: ignore[union-attr]
            if (mapped or default_constraint_name(provider, table, columns, suffix)) == name:
                return position
        return None

    def views_order(self, views: list) -> list:
        """The existing file's views in its order, then new ones in the database's order."""
        return sorted(views, key=lambda v: (v.name not in self._order, self._order.get(v.name, 0)))

    def docs(self, table: str) -> list[str]:
        known = self._by_table.get(table)
        return list(known.docs) if known else []

    def field_docs(self, table: str, column: str) -> tuple[str, ...]:
        known = self._by_table.get(table)
        return tuple(known.field_docs.get(column, ())) if known else ()

    def kept_attributes(self, table: str, column: str) -> list[str]:
        known = self._by_table.get(table)
        return list(known.kept.get(column, ())) if known else []

    def forward(self, table: str, columns: tuple[str, ...], default: str) -> str:
        previous = self._forward(table, columns)
        return previous[0] if previous else default

    def has_forward(self, table: str, columns: tuple[str, ...]) -> bool:
        """The existing file has the relation of this foreign key."""
        return self._forward(table, columns) is not None

    def relation(self, table: str, columns: tuple[str, ...]) -> str | None:
        """The name the existing file gave the relation (None: it gave none)."""
        previous = self._forward(table, columns)
        return previous[2] if previous else None

    def _forward(
        self, table: str, columns: tuple[str, ...]
    ) -> tuple[str, list[str], str | None] | None:
        known = self._by_table.get(table)
        if known is None:
            return None
        for entry in known.forward:
            if tuple(known.columns.get(f, f) for f in entry[1]) == columns:
                return entry
        return None

    def back(self, table: str, other_table: str, relation: str | None, default: str) -> str:
        known = self._by_table.get(table)
        candidates = [
            name
            for name, model, name_of_relation in (known.back if known else ())
            if self._tables_by_model.get(model, model) == other_table
            and name_of_relation == relation
        ]
        return candidates[0] if len(candidates) == 1 else default

    def kept_list(self, table: str, other_table: str, relation: str) -> str | None:
        """The field the existing file gives ``table``'s model for the many-to-many relation
        ``relation`` with ``other_table``'s model, named so or unnamed; None if it has none
        (only one relation joins two such models, or the relation is named apart)."""
        known = self._by_table.get(table)
        candidates = [
            name
            for name, model, name_of_relation in (known.back if known else ())
            if self._tables_by_model.get(model, model) == other_table
            and name_of_relation in (None, relation)
        ]
        return candidates[0] if len(candidates) == 1 else None


def _read(text: str, model_names: set[str]) -> _Model:
    lines = text.split("\n")
    start, name = next(
        (i, found.group(1)) for i, line in enumerate(lines) if (found := _MODEL.match(line))
    )
    docs = [line.strip() for line in lines[:start] if line.strip().startswith("///")]
    model = _Model(name, name, docs)
    pending: list[str] = []
    for line in lines[start + 1 : -1]:
        stripped = line.strip()
        if stripped.startswith("///"):
            pending.append(stripped)
            continue
        if not stripped or stripped.startswith("//"):
            pending = []
            continue
        if stripped.startswith("@@"):
            model.ignored = model.ignored or stripped.split("(")[0].split()[0] == "@@ignore"
            mapped = _MAP.match(stripped)
            if mapped:
                model.table = mapped.group(1)
            index = _index(stripped)
            if index:
                model.indexes.append(index)
            continue
        match = _FIELD.match(stripped)
        if match:
            _read_field(model, match, pending, model_names)
        pending = []
    return model


def _index(line: str) -> tuple[str, list[str], str | None] | None:
    """``@@index([a, b(sort: Desc)], map: "x")`` as ("idx", ["a", "b"], "x")."""
    kind = line[2:].split("(", 1)[0].strip()
    if kind not in ("index", "unique") or "[" not in line:
        return None
    start = line.index("[") + 1
    depth, quoted, end = 0, False, start
    parts, part = [], ""
    for end in range(start, len(line)):
        char = line[end]
        if char == '"' and line[end - 1] != "\\":
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            if depth == 0:
                break
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append(part)
            part = ""
            continue
        part += char
    parts.append(part)
    names = [p.split("(", 1)[0].strip() for p in parts if p.strip()]
    mapped = _MAP_ARGUMENT.search(line[end:])
    return ("key" if kind == "unique" else "idx", names, mapped.group(1) if mapped else None)


def _read_field(model: _Model, match: re.Match, docs: list[str], models: set[str]) -> None:
    name, type_name, _arity, attributes = match.groups()
    if type_name in models:
        fields = _FIELDS.search(attributes)
        relation = _RELATION_NAME.search(attributes)
        relation_name = relation.group(1) if relation else None
        if fields:
            names = [f.strip() for f in fields.group(1).split(",") if f.strip()]
            model.forward.append((name, names, relation_name))
        else:
            model.back.append((name, type_name, relation_name))
        return
    mapped = _MAP.search(attributes)
    column = mapped.group(1) if mapped else name
    model.columns[name] = column
    model.fields[column] = name
    if docs:
        model.field_docs[column] = list(docs)
    kept = _CLIENT_ATTRIBUTES.findall(attributes)
    if kept:
        model.kept[column] = kept
