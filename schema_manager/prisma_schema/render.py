"""The ``model``, ``view`` and ``enum`` blocks of a database, laid out like ``prisma format``."""

from __future__ import annotations

from dataclasses import replace

from .defaults import default_argument
from .identifiers import default_constraint_name, identifier, quoted
from .kept_names import Naming
from .model import Database, Enum, Index, Table
from .relations import Field, implicit_many_to_many, relation_fields
from .types import field_type

EXPRESSION_INDEX_COMMENT = (
    "/// This model contains an expression index which requires additional setup for "
    "migrations. Visit https://pris.ly/d/expression-indexes for more info."
)
PARTITION_COMMENT = (
    "/// This table is a partition table and requires additional setup for migrations. "
    "Visit https://pris.ly/d/partition-tables for more info."
)
INDEX_TYPES = {"hash": "Hash", "gin": "Gin", "gist": "Gist", "spgist": "SpGist", "brin": "Brin"}
IGNORED_MODEL_COMMENT = (
    "/// The underlying table does not contain a valid unique identifier and can therefore "
    "currently not be handled by Prisma Client."
)


def render_blocks(database: Database, *, views: bool, naming: Naming | None = None) -> list[str]:
    """Models (by name), then views when the ``views`` preview feature is on, then enums."""
    naming = naming or Naming()
    relations = relation_fields(database.provider, database.tables, naming)
    by_name = {table.name: table for table in database.tables}
    blocks = [
        _model(database.provider, by_name[name], relations.get(name, []), naming)
        for name in naming.order(list(by_name))
        if implicit_many_to_many(by_name[name]) is None
    ]
    if views:
        blocks += [
            _block(
                "view",
                identifier(view.name),
                view.name,
                _scalar_fields(database.provider, view, naming),
                [],
            )
            for view in sorted(database.views, key=lambda v: identifier(v.name))
        ]
    enums = {enum.name: enum for enum in database.enums}
    blocks += [_enum(enums[name], naming.enum(name)) for name in naming.enum_order(list(enums))]
    return blocks


def notes(database: Database) -> list[str]:
    """What ``db pull`` warns about on the console: ignored models, unsupported column types."""
    found = []
    for table in database.tables:
        if implicit_many_to_many(table) is None and not table.has_identifier():
            found.append(
                f"Model {identifier(table.name)!r} is ignored (@@ignore): its table has no "
                "valid unique identifier."
            )
        for column in table.columns:
            kind = field_type(database.provider, column)
            if kind.unsupported:
                found.append(
                    f"Field {identifier(table.name)}.{identifier(column.name)} has a type "
                    f"Prisma does not support: {kind.scalar}."
                )
    return found


def _model(provider: str, table: Table, relations: list[Field], naming: Naming) -> str:
    fields = _scalar_fields(provider, table, naming) + relations
    attributes = []
    key = table.primary_key
    if key and len(key.columns) > 1:
        custom = _custom_name(provider, table, key.name, (), "pkey")
        columns = naming.fields(table.name, key.columns)
        attributes.append(f"@@id([{columns}]{_map_argument(custom, first=False)})")
    for index in table.indexes:
        if (
            index.unique
            and len(index.columns) == 1
            and _column_unique(table, index.columns[0].name) is index
        ):
            continue
        kind, suffix = ("@@unique", "key") if index.unique else ("@@index", "idx")
        columns = ", ".join(
            naming.field(table.name, c.name) + ("(sort: Desc)" if c.descending else "")
            for c in index.columns
        )
        custom = _custom_name(provider, table, index.name, index.column_names, suffix)
        method = f", type: {INDEX_TYPES[index.method]}" if index.method in INDEX_TYPES else ""
        attributes.append(f"{kind}([{columns}]{_map_argument(custom, first=False)}{method})")
    ignored = not table.has_identifier()
    block = _block(
        "model", naming.model(table.name), table.name, fields, attributes, ignore=ignored
    )
    generated = (IGNORED_MODEL_COMMENT, PARTITION_COMMENT, EXPRESSION_INDEX_COMMENT)
    comments = [doc for doc in naming.docs(table.name) if doc not in generated]
    # Prisma keeps a table without a unique identifier, ignored and with a warning.
    if ignored:
        comments.append(IGNORED_MODEL_COMMENT)
    if table.is_partitioned:
        comments.append(PARTITION_COMMENT)
    if table.has_expression_index:
        comments.append(EXPRESSION_INDEX_COMMENT)
    return "\n".join([*comments, block])


def _scalar_fields(provider: str, table: Table, naming: Naming) -> list[Field]:
    fields = []
    key = table.primary_key
    single_key = key.columns if key else ()
    for column in table.columns:
        kind = field_type(provider, column)
        if column.is_enum:
            kind = replace(kind, scalar=naming.enum(column.db_type))
        name = naming.field(table.name, column.name)
        arity = "[]" if column.array else "?" if column.nullable else ""
        attributes = []
        if key and single_key == (column.name,):
            custom = _custom_name(provider, table, key.name, (), "pkey")
            attributes.append("@id" + _map_argument(custom, first=True))
        unique = _column_unique(table, column.name)
        if unique is not None:
            custom = _custom_name(provider, table, unique.name, unique.column_names, "key")
            arguments = [f'map: "{custom}"'] if custom else []
            if unique.columns[0].descending:
                arguments.append("sort: Desc")
            attributes.append("@unique" + (f"({', '.join(arguments)})" if arguments else ""))
        default = default_argument(provider, column, kind)
        kept = naming.kept_attributes(table.name, column.name)
        if default is None:
            attributes += [a for a in kept if a.startswith("@default(")]
        else:
            attributes.append(f"@default({default})")
        attributes += [a for a in kept if a == "@updatedAt"]
        if name != column.name:
            attributes.append(f"@map({quoted(column.name)})")
        if kind.native:
            attributes.append(kind.native)
        docs = naming.field_docs(table.name, column.name)
        fields.append(Field(name, kind.scalar + arity, tuple(attributes), docs))
    return fields


def _column_unique(table: Table, column: str) -> Index | None:
    """The first single-column unique index on ``column`` (written as a field's ``@unique``)."""
    return next(
        (
            index
            for index in table.indexes
            if index.unique and index.column_names == (column,) and index.method == "btree"
        ),
        None,
    )


def _custom_name(
    provider: str, table: Table, name: str | None, columns: tuple[str, ...], suffix: str
) -> str | None:
    """The constraint's name when it is not the one Prisma would choose (then ``map:``)."""
    default = default_constraint_name(provider, table.name, columns, suffix)
    return name if name and name != default else None


def _map_argument(name: str | None, *, first: bool) -> str:
    if name is None:
        return ""
    return f'(map: "{name}")' if first else f', map: "{name}"'


def _block(
    keyword: str,
    name: str,
    db_name: str,
    fields: list[Field],
    attributes: list[str],
    *,
    ignore: bool = False,
) -> str:
    if name != db_name:
        attributes = [*attributes, f"@@map({quoted(db_name)})"]
    if ignore:
        attributes = [*attributes, "@@ignore"]
    lines = [f"{keyword} {name} {{", *_aligned(fields)]
    if attributes:
        lines.append("")
        lines += [f"  {attribute}" for attribute in attributes]
    lines.append("}")
    return "\n".join(lines)


def _aligned(fields: list[Field]) -> list[str]:
    """Fields in three columns (name, type, attributes), as ``prisma format`` aligns them."""
    name_width = max((len(field.name) for field in fields), default=0)
    type_width = max((len(field.type) for field in fields), default=0)
    lines = []
    for f in fields:
        lines += [f"  {doc}" for doc in f.docs]
        lines.append(
            f"  {f.name:<{name_width}} {f.type:<{type_width}} {' '.join(f.attributes)}".rstrip()
        )
    return lines


def _enum(enum: Enum, name: str) -> str:
    values = [identifier(value) for value in enum.values]
    width = max(
        (len(v) for v, value in zip(values, enum.values, strict=True) if v != value),
        default=0,
    )
    lines = [f"enum {name} {{"]
    for v, value in zip(values, enum.values, strict=True):
        lines.append(f"  {v:<{width}} @map({quoted(value)})" if v != value else f"  {v}")
    if name != enum.name:
        lines += ["", f"  @@map({quoted(enum.name)})"]
    lines.append("}")
    return "\n".join(lines)
