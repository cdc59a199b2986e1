"""Column defaults as Prisma ``@default`` arguments."""

from __future__ import annotations

import re

from .model import Column
from .names import identifier, quoted
from .types import FieldType

_CAST_LITERAL = re.compile(r"^'((?:[^']|'')*)'(?:::[\w .\"\[\]()-]+)?$", re.DOTALL)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_NOW = {"now()", "current_timestamp", "current_timestamp()", "datetime('now')"}
_BOOLEANS = {"true": "true", "false": "false", "1": "true", "0": "false"}
_NUMERIC_SCALARS = {"Int", "BigInt", "Float", "Decimal"}


def default_argument(column: Column, field_type: FieldType) -> str | None:
    """What goes inside ``@default(...)`` for ``column``, or None when it has no default."""
    if column.autoincrement:
        return "autoincrement()"
    expression = column.default
    if expression is None or expression.strip().upper().split("::")[0] == "NULL":
        return None
    scalar = field_type.scalar
    text = expression.strip()
    literal = _literal(text)
    if column.array:
        return "[]" if literal == "{}" else _generated(text)
    if scalar == "DateTime" and text.lower() in _NOW:
        return "now()"
    value = literal if literal is not None else text
    if scalar in _NUMERIC_SCALARS and _NUMBER.match(value):
        return value
    if scalar == "Boolean" and value.lower() in _BOOLEANS:
        return _BOOLEANS[value.lower()]
    if literal is not None and scalar in ("String", "Json"):
        return quoted(literal)
    if literal is not None and column.is_enum:
        return identifier(literal)
    return _generated(text)


def _literal(text: str) -> str | None:
    """The value of a quoted literal (PostgreSQL may add a ``::type`` cast), else None."""
    match = _CAST_LITERAL.match(text)
    return match.group(1).replace("''", "'") if match else None


def _generated(text: str) -> str:
    return f"dbgenerated({quoted(text)})"
