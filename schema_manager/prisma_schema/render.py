"""The ``model``, ``view`` and ``enum`` blocks of a database, laid out like ``prisma format``."""

from __future__ import annotations

from dataclasses import replace

from .comments import model_comments, renamed_comment
from .defaults import default_argument
from .identifiers import enum_value_name, identifier, quoted
from .indexes import block_attributes, custom_name, field_unique, unique_attribute
from .kept_names import Naming
from .model import Database, Enum, Table
from .relations import Field, implicit_many_to_many, relation_fields
from .relations import ignored as model_ignored
from .types import field_type, usable_identifier

# `prisma format` sorts a field's or block's attributes in this order (others keep theirs, last).
ATTRIBUTE_ORDER: tuple[str, ...] = ("id", "unique", "default", "updatedAt", "index", "fulltext")
ATTRIBUTE_ORDER += ("map", "relation", "ignore")


def render_blocks(database: Database, *, views: bool, naming: Naming | None = None) -> list[str]:
    """Models (by table name), then views when the ``views`` preview feature is on, then enums."""
    naming = naming or Naming()
    provider = database.provider
    relations = relation_fields(provider, database.tables, naming)
    by_name = {table.name: table for table in database.tables}
    blocks = [
        _model(provider, by_name[name], relations.get(name, []), naming)
        for name in naming.order(list(by_name))
        if implicit_many_to_many(by_name[name]) is None
    ]
    if views:
        for view in naming.views_order(database.views):
            fields = _scalar_fields(provider, view, naming)
            block = _block("view", naming.model(view.name), view.name, fields, [])
            known = naming.exists(view.name)
            docs = naming.docs(view.name) if known else renamed_comment("view", view.name)
            blocks.append("\n".join([*docs, block]))
    enums = {enum.name: enum for enum in database.enums}
    blocks += [_enum(enums[name], naming.enum(name)) for name in naming.enum_order(list(enums))]
    return blocks


def notes(database: Database) -> list[str]:
    """What ``db pull`` warns about on the console: ignored models, unsupported column types."""
    found = []
    for table in database.tables:
        if implicit_many_to_many(table) is None and not usable_identifier(database.provider, table):
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
        custom = custom_name(provider, table, key.name, (), "pkey")
        columns = naming.fields(table.name, key.columns)
        attributes.append(f"@@id([{columns}]{_map_argument(custom, first=False)})")
    attributes += block_attributes(provider, table, naming)
    ignored = model_ignored(provider, table, naming)
    block = _block(
        "model", naming.model(table.name), table.name, fields, attributes, ignore=ignored
    )
    # db pull's note on a table without identifier, unless the file ignores the model itself.
    unusable = not usable_identifier(provider, table) and not naming.ignored(table.name)
    return "\n".join([*model_comments(table, unusable, naming), block])


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
            custom = custom_name(provider, table, key.name, (), "pkey")
            attributes.append("@id" + _map_argument(custom, first=True))
        unique = field_unique(table, column.name)
        if unique is not None:
            attributes.append(unique_attribute(provider, table, unique))
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


def _map_argument(name: str | None, *, first: bool) -> str:
    if name is None:
        return ""
    return f'(map: "{name}")' if first else f', map: "{name}"'


def sort_attributes(attributes: list[str]) -> list[str]:
    """The order ``prisma format`` gives attributes (``@id``, ``@unique``, ``@default``...)."""

    def rank(attribute: str) -> int:
        name = attribute.lstrip("@").split("(", 1)[0]
        return ATTRIBUTE_ORDER.index(name) if name in ATTRIBUTE_ORDER else len(ATTRIBUTE_ORDER)

    return sorted(attributes, key=rank)


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
        lines += [f"  {attribute}" for attribute in sort_attributes(attributes)]
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
            f"  {f.name:<{name_width}} {f.type:<{type_width}} "
            f"{' '.join(sort_attributes(list(f.attributes)))}".rstrip()
        )
    return lines


def _enum(enum: Enum, name: str) -> str:
    names = [enum_value_name(value) for value in enum.values]
    mapped = [n != value for n, value in zip(names, enum.values, strict=True)]
    width = max((len(n) for n, m in zip(names, mapped, strict=True) if m), default=0)
    lines = [f"enum {name} {{"]
    for n, value, is_mapped in zip(names, enum.values, mapped, strict=True):
        line = f"{n:<{width}} @map({quoted(value)})" if is_mapped else n
        # A value with no valid name left is commented out, as db pull does.
        lines.append(f"  // {line.strip()}" if not n else f"  {line}")
    if name != enum.name:
        lines += ["", f"  @@map({quoted(enum.name)})"]
    lines.append("}")
    return "\n".join(lines)
