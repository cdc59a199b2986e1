"""Relation fields on both sides of each foreign key, named as ``prisma db pull`` names them."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from .identifiers import default_constraint_name, identifier
from .kept_names import Naming
from .model import RESTRICT, SET_NULL, ForeignKey, Table

CASCADE_ON_UPDATE = "Cascade"


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    attributes: tuple[str, ...] = ()
    docs: tuple[str, ...] = ()  # "///" lines above the field


def relation_fields(
    provider: str, tables: list[Table], naming: Naming | None = None
) -> dict[str, list[Field]]:
    """Per table name, its relation fields in Prisma's order (foreign keys by table, then key)."""
    naming = naming or Naming()
    by_name = {table.name: table for table in tables}
    pairs = Counter(
        frozenset((table.name, key.referenced_table))
        for table in tables
        for key in table.foreign_keys
        if key.referenced_table in by_name
    )
    fields: dict[str, list[Field]] = defaultdict(list)
    for table in tables:
        joined = implicit_many_to_many(table)
        if joined is not None:
            for own, other in (joined, joined[::-1]):
                fields[own].append(_implicit_field(table.name, own, other, naming))
            continue
        for key in table.foreign_keys:
            referenced = by_name.get(key.referenced_table)
            if referenced is None:
                continue
            ambiguous = pairs[frozenset((table.name, referenced.name))] > 1
            forward, back = _relation(provider, table, referenced, key, ambiguous, naming)
            if not table.has_identifier():  # Prisma Client cannot read an ignored model
                back = Field(back.name, back.type, (*back.attributes, "@ignore"))
            fields[table.name].append(forward)
            fields[referenced.name].append(back)
    return fields


def _relation(
    provider: str,
    table: Table,
    referenced: Table,
    key: ForeignKey,
    ambiguous: bool,
    naming: Naming,
) -> tuple[Field, Field]:
    own, other = identifier(table.name), identifier(referenced.name)
    self_relation = table.name == referenced.name
    name = None
    if ambiguous:
        name = f"{own}_{'_'.join(identifier(c) for c in key.columns)}To{other}"
    elif self_relation:
        name = f"{own}To{other}"
    name = naming.relation(table.name, key.columns, name)
    forward_name = f"{other}_{name}" if ambiguous else other
    back_name = f"{own}_{name}" if ambiguous else own
    if self_relation:
        back_name = f"other_{back_name}"
    # Relation names and default field names follow the tables; types follow the models.
    forward_name = naming.forward(table.name, key.columns, forward_name)
    back_name = naming.back(referenced.name, table.name, name, back_name)
    own_model, other_model = naming.model(table.name), naming.model(referenced.name)
    optional = any(table.column(column).nullable for column in key.columns)
    arguments = [f'"{name}"'] if name else []
    arguments += [
        f"fields: [{naming.fields(table.name, key.columns)}]",
        f"references: [{naming.fields(referenced.name, key.referenced_columns)}]",
    ]
    if key.on_delete != (SET_NULL if optional else RESTRICT):
        arguments.append(f"onDelete: {key.on_delete}")
    if key.on_update != CASCADE_ON_UPDATE:
        arguments.append(f"onUpdate: {key.on_update}")
    if key.name and key.name != default_constraint_name(provider, table.name, key.columns, "fkey"):
        arguments.append(f'map: "{key.name}"')
    forward = Field(
        forward_name,
        other_model + ("?" if optional else ""),
        (f"@relation({', '.join(arguments)})",),
    )
    back_type = own_model + ("?" if _is_unique(table, key.columns) else "[]")
    back = Field(back_name, back_type, (f'@relation("{name}")',) if name else ())
    return forward, back


def _is_unique(table: Table, columns: tuple[str, ...]) -> bool:
    """One row at most per value of ``columns``: a one-to-one relation."""
    wanted = set(columns)
    if table.primary_key and set(table.primary_key.columns) == wanted:
        return True
    return any(index.unique and set(index.column_names) == wanted for index in table.indexes)


def implicit_many_to_many(table: Table) -> tuple[str, str] | None:
    """The two tables Prisma's implicit many-to-many table ``_<A>To<B>`` joins, else None.

    Prisma creates it with columns ``A`` and ``B``, each a foreign key, and a unique index on
    (A, B); ``db pull`` writes list fields on both models instead of a model for it.
    """
    if not table.name.startswith("_") or [c.name for c in table.columns] != ["A", "B"]:
        return None
    targets = {key.columns: key.referenced_table for key in table.foreign_keys}
    if set(targets) != {("A",), ("B",)} or targets[("A",)] == targets[("B",)]:
        return None
    if not any(index.unique and index.column_names == ("A", "B") for index in table.indexes):
        return None
    return targets[("A",)], targets[("B",)]


def _implicit_field(join_table: str, own: str, other: str, naming: Naming) -> Field:
    name = join_table[1:]
    first, second = sorted((naming.model(own), naming.model(other)))
    attributes = () if name == f"{first}To{second}" else (f'@relation("{name}")',)
    field_name = naming.back(own, other, name if attributes else None, identifier(other))
    return Field(field_name, f"{naming.model(other)}[]", attributes)
