"""PostgreSQL column defaults (``pg_get_expr``) read the way ``prisma db pull`` reads them.

Prisma tokenizes the default's text and tries one parser per type family; what does not parse
completely becomes ``dbgenerated("<the text>")``. The rules kept here, as Prisma applies them:
a default starting with ``NULL`` is no default; ``nextval(...)`` on an integer column and
identity columns are ``autoincrement()``; ``now()``/``CURRENT_TIMESTAMP`` on a timestamp is
``now()``; quoted literals (with an optional cast) of text, numeric, boolean, enum and bytea
columns are literals; list columns accept ``'{...}'`` and ``ARRAY[...]`` (and ignore anything
after them); uuid and unsupported types are always ``dbgenerated``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .default_tokens import (
    CAST,
    CLOSE,
    CSTRING,
    DIGITS,
    DOT,
    DQUOTED,
    IDENT,
    LSQUARE,
    MINUS,
    OPEN,
    RSQUARE,
    STRING,
    Parser,
)

INTEGER = re.compile(r"^[+-]?[0-9]+$")
_C_ESCAPES = {"a": "\x07", "b": "\x08", "v": "\x11", "f": "\x12", "n": "\n", "r": "\r", "t": "\t"}

# Families (what Prisma's describer makes of the column type).
INT, FLOAT, BOOLEAN, STRING_FAMILY, DATETIME, BINARY, JSON, ENUM, OTHER = (
    "int",
    "float",
    "boolean",
    "string",
    "datetime",
    "binary",
    "json",
    "enum",
    "other",
)


@dataclass(frozen=True)
class Value:
    kind: str  # "string", "int", "float", "bool", "enum", "bytes", "now", "sequence", "list"
    value: object = None


def nothing(parser: Parser) -> Value | None:
    return None


def eat_cast(parser: Parser) -> bool:
    """Consume ``::type name(precision)[]``; False when what follows ``::`` makes no sense."""
    if parser.peek() != CAST:
        return True
    parser.expect(CAST)
    while parser.peek() in (DQUOTED, IDENT, DOT):
        parser.next()
    if parser.peek() == OPEN:
        while True:
            token = parser.next()
            if token is None:
                return False
            if token == CLOSE:
                break
    if parser.peek() == LSQUARE:
        parser.expect(LSQUARE)
        if parser.expect(RSQUARE) is None:
            return False
    return True


def string_value(parser: Parser) -> str | None:
    kind = parser.peek()
    if kind == STRING:
        raw = parser.expect(STRING) or "''"
        value = raw[1:-1].replace("''", "'")
    elif kind == CSTRING:
        raw = parser.expect(CSTRING) or "E''"
        value = _c_style(raw[2:-1])
    else:
        return None
    return value if eat_cast(parser) else None


def _c_style(body: str) -> str:
    out, index = [], 0
    while index < len(body):
        char = body[index]
        index += 1
        if char != "\\" or index >= len(body):
            out.append(char)
            continue
        escaped = body[index]
        index += 1
        if escaped in ("u", "U"):
            digits = 4 if escaped == "u" else 8
            out.append(chr(int(body[index : index + digits], 16)))
            index += digits
        else:
            out.append(_C_ESCAPES.get(escaped, escaped))
    return "".join(out)


def _string(parser: Parser) -> Value | None:
    value = string_value(parser)
    return None if value is None else Value("string", value)


def parse_int(parser: Parser) -> Value | None:
    kind = parser.peek()
    if kind == DIGITS:
        return Value("int", int(parser.expect(DIGITS) or "0"))
    if kind == MINUS:
        parser.expect(MINUS)
        digits = parser.expect(DIGITS)
        return None if digits is None else Value("int", -int(digits))
    if kind == STRING:
        contents = string_value(parser)
        if contents is None or not INTEGER.match(contents):
            return None
        return Value("int", int(contents))
    if kind == IDENT:
        name = (parser.expect(IDENT) or "").lower()
        if name == "nextval":
            return _sequence(parser)
    return None


def _sequence(parser: Parser) -> Value | None:
    if parser.expect(OPEN) is None:
        return None
    if parser.peek() == OPEN:
        parser.expect(OPEN)
    if parser.peek() not in (STRING, CSTRING) or string_value(parser) is None:
        return None
    while True:
        token = parser.next()
        if token is None:
            return None
        if token == CLOSE:
            break
    if not eat_cast(parser):
        return None
    if parser.peek() == CLOSE:
        parser.expect(CLOSE)
    return Value("sequence") if eat_cast(parser) else None


def parse_float(parser: Parser) -> Value | None:
    value = _float_inner(parser)
    return value if value is not None and eat_cast(parser) else None


def _float_inner(parser: Parser) -> Value | None:
    opened = False
    kind = parser.peek()
    if kind == OPEN:
        parser.expect(OPEN)
        opened = True
    elif kind in (STRING, CSTRING):
        contents = string_value(parser)
        return None if contents is None else _float_inner(Parser(contents))
    sign = "-" if parser.peek() == MINUS and parser.expect(MINUS) else ""
    whole = parser.expect(DIGITS)
    if whole is None:
        return None
    fraction = ""
    if parser.peek() == DOT:
        parser.expect(DOT)
        digits = parser.expect(DIGITS)
        if digits is None:
            return None
        fraction = f".{digits}"
    if opened and parser.expect(CLOSE) is None:
        return None
    try:
        return Value("float", Decimal(f"{sign}{whole}{fraction}"))
    except InvalidOperation:
        return None


def _bool(parser: Parser) -> Value | None:
    word = (parser.expect(IDENT) or "").lower()
    if word in ("t", "true"):
        return Value("bool", True)
    if word in ("f", "false"):
        return Value("bool", False)
    return None


def _datetime(parser: Parser) -> Value | None:
    if parser.peek() != IDENT:
        return None
    name = (parser.expect(IDENT) or "").lower()
    if parser.peek() == OPEN:
        parser.expect(OPEN)
        if parser.expect(CLOSE) is None:
            return None
    if not eat_cast(parser):
        return None
    return Value("now") if name in ("now", "current_timestamp") else None


def _enum(parser: Parser) -> Value | None:
    kind = parser.peek()
    if kind == IDENT:
        name = parser.expect(IDENT) or ""
        return Value("enum", name) if eat_cast(parser) else None
    if kind in (STRING, CSTRING):
        value = string_value(parser)
        return None if value is None or not eat_cast(parser) else Value("enum", value)
    return None


def _binary(parser: Parser) -> Value | None:
    value = string_value(parser)
    if value is None or not value.startswith("\\x") or not value.isascii():
        return None
    digits = value[2:]
    if len(digits) % 2:
        return None
    try:
        return Value("bytes", bytes.fromhex(digits))
    except ValueError:
        return None


PARSERS = {
    STRING_FAMILY: _string,
    JSON: _string,
    INT: parse_int,
    ENUM: _enum,
    FLOAT: parse_float,
    BOOLEAN: _bool,
    DATETIME: _datetime,
    BINARY: _binary,
}
