"""Column types as Prisma scalar types and ``@db.*`` native types, per provider."""

from __future__ import annotations

from dataclasses import dataclass

from .identifiers import identifier
from .model import Column, Table


@dataclass(frozen=True)
class FieldType:
    scalar: str  # "Int", an enum's model name, or 'Unsupported("...")'
    native: str = ""  # "@db.VarChar(200)", or "" when the scalar's default native type fits

    @property
    def unsupported(self) -> bool:
        return self.scalar.startswith("Unsupported(")


# typname -> (scalar, native type name or "", whether the modifier is part of the native type)
_POSTGRES = {
    "int2": ("Int", "SmallInt"),
    "int4": ("Int", ""),
    "int8": ("BigInt", ""),
    "float4": ("Float", "Real"),
    "float8": ("Float", ""),
    "numeric": ("Decimal", "Decimal"),
    "bool": ("Boolean", ""),
    "bpchar": ("String", "Char"),
    "char": ("String", "Char"),
    "varchar": ("String", "VarChar"),
    "text": ("String", ""),
    "bytea": ("Bytes", ""),
    "date": ("DateTime", "Date"),
    "time": ("DateTime", "Time"),
    "timetz": ("DateTime", "Timetz"),
    "timestamp": ("DateTime", "Timestamp"),
    "timestamptz": ("DateTime", "Timestamptz"),
    "json": ("Json", "Json"),
    "jsonb": ("Json", ""),
    "uuid": ("String", "Uuid"),
    "inet": ("String", "Inet"),
    "xml": ("String", "Xml"),
    "money": ("Decimal", "Money"),
    "bit": ("String", "Bit"),
    "varbit": ("String", "VarBit"),
    "oid": ("Int", "Oid"),
    "citext": ("String", "Citext"),
}
# Types whose precision PostgreSQL defaults to 6 and Prisma always writes.
_PRECISION_SIX = {"time", "timetz", "timestamp", "timestamptz"}


def postgresql_type(column: Column) -> FieldType:
    if column.is_enum:
        return FieldType(identifier(column.db_type))
    if column.db_type not in _POSTGRES:
        name = f"_{column.db_type}" if column.array else column.full_type
        return FieldType(f'Unsupported("{name}")')
    scalar, native = _POSTGRES[column.db_type]
    if not native:
        return FieldType(scalar)
    params = column.params
    if column.db_type in _PRECISION_SIX:
        params = params or (6,)
        if column.db_type == "timestamp" and params == (3,):  # Prisma's own DateTime type
            return FieldType(scalar)
    if column.db_type == "numeric" and params == (65, 30):
        return FieldType(scalar)
    arguments = f"({', '.join(map(str, params))})" if params else ""
    return FieldType(scalar, f"@db.{native}{arguments}")


# Prisma's SQLite describer, by the whole declared type in lowercase ("datetime(3)" is not
# "datetime"); any other type holding "char", "numeric" or "decimal" is a String or a Decimal.
_SQLITE = {
    "int": "Int",
    "integer": "Int",
    "serial": "Int",
    "bigint": "BigInt",
    "real": "Float",
    "float": "Float",
    "double": "Float",
    "boolean": "Boolean",
    "text": "String",
    "date": "DateTime",
    "datetime": "DateTime",
    "timestamp": "DateTime",
    "blob": "Bytes",
    "binary": "Bytes",
    "jsonb": "Json",
}


def sqlite_type(column: Column) -> FieldType:
    name = column.full_type
    if name in _SQLITE:
        return FieldType(_SQLITE[name])
    if "char" in name:
        return FieldType("String")
    if "numeric" in name or "decimal" in name:
        return FieldType("Decimal")
    return FieldType(f'Unsupported("{name}")')


def field_type(provider: str, column: Column) -> FieldType:
    return postgresql_type(column) if provider == "postgresql" else sqlite_type(column)


def usable_identifier(provider: str, table: Table) -> bool:
    """A primary key or unique index over required columns of supported types (else @@ignore)."""
    return table.has_identifier(lambda column: not field_type(provider, column).unsupported)
