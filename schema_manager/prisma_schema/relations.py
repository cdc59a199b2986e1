"""Relation fields on both sides of each foreign key, named as ``prisma db pull`` names them.

Prisma's rules: a relation between two models is *ambiguous* when another relation joins the
same two models (another foreign key on other columns, in either direction, or an implicit
many-to-many table), or when a foreign key column has the name the relation field would get.
An unambiguous relation has no name (a self relation: ``<Model>To<Model>``) and its fields are
named after the other model (the back field of a self relation: ``other_<Model>``). An
ambiguous one is named ``<Model>_<columns>To<Other>`` and its fields get that name as a suffix.
A foreign key repeating an earlier one (same columns, same referenced columns) gets no fields.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .identifiers import default_constraint_name
from .kept_names import Naming
from .model import CASCADE, RESTRICT, SET_NULL, ForeignKey, Table
from .types import usable_identifier


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    attributes: tuple[str, ...] = ()
    docs: tuple[str, ...] = ()  # "///" lines above the field


def relation_fields(
    provider: str, tables: list[Table], naming: Naming | None = None
) -> dict[str, list[Field]]:
    """Per table name, its relation fields in Prisma's order: foreign keys (by table, then
    constraint name; each adds the forward field then the back field), then many-to-many."""
    naming = naming or Naming()
    by_name = {table.name: table for table in tables}
    joins = {t.name: joined for t in tables if (joined := implicit_many_to_many(t))}
    ambiguous = _ambiguous_pairs(tables, joins, naming)
    fields: dict[str, list[Field]] = defaultdict(list)
    for table in sorted(tables, key=lambda t: t.name):
        if table.name in joins:
            continue
        seen: set[tuple[tuple[str, ...], str, tuple[str, ...]]] = set()
        for key in table.foreign_keys:
            identity = (key.columns, key.referenced_table, key.referenced_columns)
            referenced = by_name.get(key.referenced_table)
            if referenced is None or identity in seen:
                continue
            seen.add(identity)
            pair = frozenset((table.name, referenced.name))
            forward, back = _inline(provider, table, referenced, key, pair in ambiguous, naming)
            fields[table.name].append(forward)
            fields[referenced.name].append(back)
    for name in sorted(joins):
        a_side, b_side = joins[name]
        pair = frozenset((a_side, b_side))
        for own, other, field in _many_to_many(name, a_side, b_side, pair in ambiguous, naming):
            fields[own].append(Field(field[0], f"{naming.model(other)}[]", field[1]))
    return fields


def _ambiguous_pairs(
    tables: list[Table], joins: dict[str, tuple[str, str]], naming: Naming
) -> set[frozenset[str]]:
    by_name = {table.name: table for table in tables}
    pairs: set[frozenset[str]] = set()
    join_pairs = [frozenset(pair) for pair in joins.values()]
    for joined in join_pairs:
        if join_pairs.count(joined) > 1:
            pairs.add(joined)
        for model in joined:
            keys = by_name[model].foreign_keys if model in by_name else []
            if any(frozenset((model, key.referenced_table)) == joined for key in keys):
                pairs.add(joined)
    for table in tables:
        if table.name in joins:
            continue
        for key in table.foreign_keys:
            pair = frozenset((table.name, key.referenced_table))
            referenced = by_name.get(key.referenced_table)
            others = [(table.name, other) for other in table.foreign_keys]
            if referenced is not None:
                others += [(referenced.name, other) for other in referenced.foreign_keys]
            if any(
                (owner, other.columns) != (table.name, key.columns)
                and frozenset((owner, other.referenced_table)) == pair
                for owner, other in others
            ):
                pairs.add(pair)
            # A field named like the relation field would be: the relation gets a name.
            default_name = naming.model(key.referenced_table)
            if any(naming.field(table.name, column) == default_name for column in key.columns):
                pairs.add(pair)
    return pairs


def _inline(
    provider: str,
    table: Table,
    referenced: Table,
    key: ForeignKey,
    ambiguous: bool,
    naming: Naming,
) -> tuple[Field, Field]:
    own, other = naming.model(table.name), naming.model(referenced.name)
    self_relation = table.name == referenced.name
    prefix = "other_" if self_relation else ""
    if ambiguous:
        columns = "_".join(naming.field(table.name, column) for column in key.columns)
        name: str | None = f"{own}_{columns}To{other}"
        forward_name, back_name = f"{other}_{name}", f"{prefix}{own}_{name}"
    else:
        name = f"{own}To{other}" if self_relation else None
        forward_name, back_name = other, f"{prefix}{own}"
    if naming.has_forward(table.name, key.columns):  # re-introspection keeps the file's names
        name = naming.relation(table.name, key.columns)
        forward_name = naming.forward(table.name, key.columns, forward_name)
        back_name = naming.back(referenced.name, table.name, name, back_name)
    required = any(not table.column(column).nullable for column in key.columns)
    optional = any(table.column(column).nullable for column in key.columns)
    arguments = [f'"{name}"'] if name else []
    arguments += [
        f"fields: [{naming.fields(table.name, key.columns)}]",
        f"references: [{naming.fields(referenced.name, key.referenced_columns)}]",
    ]
    if key.on_delete != (RESTRICT if required else SET_NULL):
        arguments.append(f"onDelete: {key.on_delete}")
    if key.on_update != CASCADE:
        arguments.append(f"onUpdate: {key.on_update}")
    if key.name and key.name != default_constraint_name(provider, table.name, key.columns, "fkey"):
        arguments.append(f'map: "{key.name}"')
    # A side whose model Prisma ignores is @ignore on the other side, unless the model holding
    # the field is ignored itself. (Re-introspecting its own file, db pull drops that @ignore
    # when the model at the other end is @@ignore there; the sync keeps it, so that a second
    # sync changes nothing.)
    missing = not usable_identifier(provider, table) or not usable_identifier(provider, referenced)
    forward_ignored = ignored(provider, table, naming)
    back_ignored = ignored(provider, referenced, naming)
    forward_attributes = [f"@relation({', '.join(arguments)})"]
    if missing and not forward_ignored:
        forward_attributes.append("@ignore")
    back_attributes = [f'@relation("{name}")'] if name else []
    if missing and not back_ignored:
        back_attributes.append("@ignore")
    forward = Field(forward_name, other + ("?" if optional else ""), tuple(forward_attributes))
    back_type = own + ("?" if _is_unique(table, key.columns) else "[]")
    return forward, Field(back_name, back_type, tuple(back_attributes))


def ignored(provider: str, table: Table, naming: Naming) -> bool:
    """db pull writes @@ignore: the file has it, or the table has no usable identifier."""
    return naming.ignored(table.name) or not usable_identifier(provider, table)


def _is_unique(table: Table, columns: tuple[str, ...]) -> bool:
    """A key or unique index on exactly ``columns``, in their order: a one-to-one relation.

    ``db pull`` also makes it one-to-one where the index lists the columns in another order,
    or only some of them; ``prisma validate`` then refuses the file it wrote (a one-to-one
    relation's fields must be a unique criteria as they are listed), and so does every
    command that reads it. There the sync writes the one-to-many relation, which is valid.
    """
    wanted = tuple(columns)
    keys = [table.primary_key.columns] if table.primary_key else []
    keys += [index.column_names for index in table.indexes if index.unique]
    return any(tuple(key) == wanted for key in keys)


def implicit_many_to_many(table: Table) -> tuple[str, str] | None:
    """The tables (``A``'s, ``B``'s) of a Prisma implicit many-to-many table, else None.

    Prisma makes ``_<Name>`` with columns ``A`` and ``B``, a foreign key on each (``A`` to the
    model first by name), a unique index or primary key on (A, B) and an index on B; ``db
    pull`` writes list fields on both models instead of a model for it.
    """
    names = [column.name.lower() for column in table.columns]
    if not table.name.startswith("_") or sorted(names) != ["a", "b"]:
        return None
    if len(table.foreign_keys) != 2 or any(len(k.columns) != 1 for k in table.foreign_keys):
        return None
    targets = {key.columns[0].lower(): key.referenced_table for key in table.foreign_keys}
    if set(targets) != {"a", "b"} or targets["a"] > targets["b"]:
        return None
    keys = [index.column_names for index in table.indexes if index.unique]
    keys += [table.primary_key.columns] if table.primary_key else []
    if not any(tuple(c.lower() for c in key) == ("a", "b") for key in keys):
        return None
    plain = [index.column_names for index in table.indexes if not index.unique]
    if not any(tuple(c.lower() for c in key) == ("b",) for key in plain):
        return None
    return targets["a"], targets["b"]


def _many_to_many(
    join_table: str, a_side: str, b_side: str, ambiguous: bool, naming: Naming
) -> list[tuple[str, str, tuple[str, tuple[str, ...]]]]:
    """(model, other model, (field name, attributes)) for A's side, then B's side."""
    a_model, b_model = naming.model(a_side), naming.model(b_side)
    self_relation = a_side == b_side
    name, suffix = join_table[1:], join_table if ambiguous else ""
    kept: tuple[str | None, str | None] = (None, None)
    if not ambiguous and not self_relation:
        # The existing file's fields of this relation, unnamed (Prisma's default) or named:
        # db pull leaves the default name out of a relation it finds, but writes it where
        # the file has the relation already (re-introspection names it).
        kept = (naming.kept_list(a_side, b_side, name), naming.kept_list(b_side, a_side, name))
        if name == f"{a_model}To{b_model}" and None in kept:
            name = ""
    attributes = (f'@relation("{name}")',) if name else ()
    a_name = f"{b_model}{suffix}{'_A' if self_relation else ''}"
    b_name = f"{a_model}{suffix}{'_B' if self_relation else ''}"
    a_name = kept[0] or naming.back(a_side, b_side, name or None, a_name)
    b_name = kept[1] or naming.back(b_side, a_side, name or None, b_name)
    return [
        (a_side, b_side, (a_name, attributes)),
        (b_side, a_side, (b_name, attributes)),
    ]
