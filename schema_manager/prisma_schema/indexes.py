"""Index attributes as ``prisma db pull`` writes them: ``@@unique``/``@@index`` and ``@unique``."""

from __future__ import annotations

from .identifiers import default_constraint_name, quoted
from .kept_names import Naming
from .model import Index, IndexColumn, Table

INDEX_TYPES = {"hash": "Hash", "gin": "Gin", "gist": "Gist", "spgist": "SpGist", "brin": "Brin"}
# Operator classes Prisma names itself (`ops: JsonbPathOps`); any other is `ops: raw("...")`.
_BRIN_TYPES = {
    "bpchar": ("bloom", "minmax"),
    "bytea": ("bloom", "minmax"),
    "text": ("bloom", "minmax"),
    "inet": ("inclusion", "bloom", "minmax", "minmax_multi"),
    **{
        name: ("bloom", "minmax", "minmax_multi")
        for name in (
            *("date", "float4", "float8", "int2", "int4", "int8", "numeric", "oid", "uuid"),
            *("timestamp", "timestamptz", "time", "timetz"),
        )
    },
}
MANAGED_OPS = frozenset(
    {"array_ops", "jsonb_ops", "jsonb_path_ops", "text_ops", "inet_ops"}
    | {"bit_minmax_ops", "varbit_minmax_ops"}
    | {f"{name}_{kind}_ops" for name, kinds in _BRIN_TYPES.items() for kind in kinds}
)
_WORDS = {"varbit": "VarBit", "timestamptz": "TimestampTz", "timetz": "TimeTz", "minmax": "MinMax"}


def ops_argument(opclass: str) -> str:
    """``JsonbPathOps`` for ``jsonb_path_ops``; ``raw("gin_trgm_ops")`` for the others."""
    if opclass in MANAGED_OPS:
        return "".join(_WORDS.get(word, word.capitalize()) for word in opclass.split("_"))
    return f"raw({quoted(opclass)})"


def field_unique(table: Table, column: str) -> Index | None:
    """The first single-column unique index on ``column``: the field's ``@unique``."""
    return next(
        (i for i in table.indexes if i.unique and i.column_names == (column,)),
        None,
    )


def unique_attribute(provider: str, table: Table, index: Index) -> str:
    custom = custom_name(provider, table, index.name, index.column_names, "key")
    arguments = [f"map: {quoted(custom)}"] if custom else []
    if index.columns[0].descending:
        arguments.append("sort: Desc")
    return "@unique" + (f"({', '.join(arguments)})" if arguments else "")


def block_attributes(provider: str, table: Table, naming: Naming) -> list[str]:
    """``@@unique`` and ``@@index`` lines (single-column uniques are field attributes)."""
    lines = []
    # Re-introspection: the file's indexes keep their places, new ones follow.
    positions = [naming.index_position(provider, table.name, i.name) for i in table.indexes]
    order = sorted(
        range(len(table.indexes)), key=lambda n: (positions[n] is None, positions[n] or 0)
    )
    for index in (table.indexes[n] for n in order):
        if index.unique and len(index.columns) == 1:
            continue
        kind, suffix = ("@@unique", "key") if index.unique else ("@@index", "idx")
        columns = ", ".join(_column(naming, table, column) for column in index.columns)
        arguments = [f"[{columns}]"]
        custom = custom_name(provider, table, index.name, index.column_names, suffix)
        if custom:
            arguments.append(f"map: {quoted(custom)}")
        if index.method in INDEX_TYPES:
            arguments.append(f"type: {INDEX_TYPES[index.method]}")
        lines.append(f"{kind}({', '.join(arguments)})")
    return lines


def _column(naming: Naming, table: Table, column: IndexColumn) -> str:
    arguments = ["sort: Desc"] if column.descending else []
    if column.opclass:
        arguments.append(f"ops: {ops_argument(column.opclass)}")
    name = naming.field(table.name, column.name)
    return f"{name}({', '.join(arguments)})" if arguments else name


def custom_name(
    provider: str, table: Table, name: str | None, columns: tuple[str, ...], suffix: str
) -> str | None:
    """The constraint's name when it is not the one Prisma would choose (then ``map:``)."""
    default = default_constraint_name(provider, table.name, columns, suffix)
    return name if name and name != default else None
