"""Column defaults as Prisma ``@default`` arguments."""

from __future__ import annotations

import base64
import re
from decimal import Decimal

from . import postgres_defaults
from .default_tokens import Parser
from .identifiers import enum_value_name, identifier, quoted
from .list_defaults import parse_list
from .model import Column
from .postgres_defaults import PARSERS, Value, nothing
from .types import FieldType

_CAST_LITERAL = re.compile(r"^'((?:[^']|'')*)'(?:::[\w .\"\[\]()-]+)?$", re.DOTALL)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_NOW = {"now()", "current_timestamp", "current_timestamp()", "datetime('now')"}
_BOOLEANS = {"true": "true", "false": "false", "1": "true", "0": "false"}
_NUMERIC_SCALARS = {"Int", "BigInt", "Float", "Decimal"}
_ARRAY_CONSTRUCTOR = re.compile(r"^ARRAY\[(.*)\](?:::[\w .\"\[\]()-]+)?$", re.DOTALL)
# PostgreSQL types whose quoted defaults Prisma reads as string literals (others: dbgenerated).
_POSTGRES_STRINGS = {"text", "varchar", "bpchar", "char", "citext", "json", "jsonb"}


def default_argument(provider: str, column: Column, field_type: FieldType) -> str | None:
    """What goes inside ``@default(...)`` for ``column``, or None when it has no default."""
    if provider == "postgresql":
        return _postgresql(column, field_type)
    if column.autoincrement:
        return "autoincrement()"
    expression = column.default
    if expression is None or expression.strip().upper().split("::")[0] == "NULL":
        return None
    scalar = field_type.scalar
    text = expression.strip()
    literal = _literal(text)
    if column.array:
        values = _array_values(text, literal)
        if values is None:
            return _generated(text)
        element = FieldType(scalar)
        literals = [_scalar_literal(value, element, column) for value in values]
        rendered = [literal for literal in literals if literal is not None]
        if len(rendered) < len(literals):  # an element is not a literal of its type
            return _generated(text)
        return f"[{', '.join(rendered)}]"
    if scalar == "DateTime" and text.lower() in _NOW:
        return "now()"
    if scalar == "Bytes" and literal is not None and literal.startswith("\\x"):
        try:
            return quoted(base64.b64encode(bytes.fromhex(literal[2:])).decode())
        except ValueError:
            return _generated(text)
    if scalar in ("String", "Json"):
        # A uuid, inet, bit... literal is not a plain string for Prisma.
        plain = provider != "postgresql" or column.db_type in _POSTGRES_STRINGS
        return quoted(literal) if literal is not None and plain else _generated(text)
    if column.is_enum and literal is None:
        return _generated(text)
    value = _scalar_literal(literal if literal is not None else text, field_type, column)
    return value if value is not None else _generated(text)


_FAMILIES = {
    "Int": postgres_defaults.INT,
    "BigInt": postgres_defaults.INT,
    "Float": postgres_defaults.FLOAT,
    "Decimal": postgres_defaults.FLOAT,
    "Boolean": postgres_defaults.BOOLEAN,
    "String": postgres_defaults.STRING_FAMILY,
    "DateTime": postgres_defaults.DATETIME,
    "Bytes": postgres_defaults.BINARY,
    "Json": postgres_defaults.JSON,
}


def _postgresql(column: Column, field_type: FieldType) -> str | None:
    if column.is_enum:
        family = postgres_defaults.ENUM
    elif column.db_type == "uuid":  # Prisma's Uuid family: its defaults are never literals
        family = postgres_defaults.OTHER
    else:
        family = _FAMILIES.get(field_type.scalar, postgres_defaults.OTHER)
    if column.identity and family == postgres_defaults.INT:
        return "autoincrement()"
    if column.default is None:
        return None
    parsed = _parse(column.default, family, column.array)
    if parsed is None:
        return None
    if isinstance(parsed, str):
        return _generated(parsed)
    if parsed.kind == "sequence":
        return "autoincrement()"
    if parsed.kind == "enum":
        name = enum_value_name(str(parsed.value))
        return name if name else _generated(str(parsed.value))
    return _render_value(parsed)


def _scalar_literal(value: str, field_type: FieldType, column: Column) -> str | None:
    """A literal of the field's scalar type, or None when ``value`` is not one."""
    scalar = field_type.scalar
    if scalar in _NUMERIC_SCALARS and _NUMBER.match(value):
        return value
    if scalar == "Boolean" and value.lower() in _BOOLEANS:
        return _BOOLEANS[value.lower()]
    if scalar in ("String", "Json"):
        return quoted(value)
    if column.is_enum:
        return identifier(value)
    return None


def _array_values(text: str, literal: str | None) -> list[str] | None:
    """The elements of ``'{a,b}'::t[]`` or ``ARRAY['a'::t, 'b'::t]`` (simple values only)."""
    if literal is not None:
        inner = literal.strip()
        if not (inner.startswith("{") and inner.endswith("}")):
            return None
        inner = inner[1:-1].strip()
        if any(mark in inner for mark in '"{}\\'):
            return None
        return [part.strip() for part in inner.split(",")] if inner else []
    match = _ARRAY_CONSTRUCTOR.match(text)
    if match is None:
        return None
    values = []
    for part in match.group(1).split(","):
        part = part.strip()
        value = _literal(part)
        if value is None and not _NUMBER.match(part):
            return None
        values.append(value if value is not None else part)
    return values


def _literal(text: str) -> str | None:
    """The value of a quoted literal (PostgreSQL may add a ``::type`` cast), else None."""
    match = _CAST_LITERAL.match(text)
    return match.group(1).replace("''", "'") if match else None


def _generated(text: str) -> str:
    return f"dbgenerated({quoted(text)})" if text.strip("\0") else "dbgenerated()"


def _parse(text: str, family: str, is_list: bool) -> Value | str | None:
    """The default as a Value, or the text for ``dbgenerated``; None: no default."""
    if text.strip().startswith("NULL"):
        return None
    parser = Parser(text)
    if is_list:
        values = parse_list(parser, family)
        return text if values is None else Value("list", values)
    parsed = PARSERS.get(family, nothing)(parser)
    return parsed if parsed is not None and parser.finished() else text


def _render_value(value: Value, enum_name=None) -> str:
    """A parsed default as Prisma writes it inside ``@default(...)``."""
    if value.kind == "string":
        return quoted(str(value.value))
    if value.kind == "bool":
        return "true" if value.value else "false"
    if value.kind == "now":
        return "now()"
    if value.kind == "int":
        return str(value.value)
    if value.kind == "float":
        return _decimal(value.value)  # type: ignore[arg-type]
    if value.kind == "bytes":
        return quoted(base64.b64encode(value.value).decode())  # type: ignore[arg-type]
    if value.kind == "enum":
        return enum_name(value.value) if enum_name else str(value.value)
    if value.kind == "list":
        items = value.value or []
        return "[" + ", ".join(_render_value(item) for item in items) + "]"  # type: ignore[attr-defined]
    raise ValueError(value.kind)


def _decimal(number: Decimal) -> str:
    text = format(number, "f")
    return "0" if text in ("-0", "0") else text
