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

import base64
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .default_tokens import (
    CAST,
    CLOSE,
    COMMA,
    CSTRING,
    DIGITS,
    DOT,
    DQUOTED,
    IDENT,
    LCURLY,
    LSQUARE,
    MINUS,
    OPEN,
    RCURLY,
    RSQUARE,
    STRING,
    Parser,
)
from .identifiers import quoted

_INTEGER = re.compile(r"^[+-]?[0-9]+$")
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


def parse(text: str, family: str, is_list: bool) -> Value | str | None:
    """The default as a Value, or the text for ``dbgenerated``; None: no default."""
    if text.strip().startswith("NULL"):
        return None
    parser = Parser(text)
    if is_list:
        values = _list(parser, family)
        return text if values is None else Value("list", values)
    parsed = _PARSERS.get(family, _nothing)(parser)
    return parsed if parsed is not None and parser.finished() else text


def _nothing(parser: Parser) -> Value | None:
    return None


def _eat_cast(parser: Parser) -> bool:
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


def _string_value(parser: Parser) -> str | None:
    kind = parser.peek()
    if kind == STRING:
        raw = parser.expect(STRING) or "''"
        value = raw[1:-1].replace("''", "'")
    elif kind == CSTRING:
        raw = parser.expect(CSTRING) or "E''"
        value = _c_style(raw[2:-1])
    else:
        return None
    return value if _eat_cast(parser) else None


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
    value = _string_value(parser)
    return None if value is None else Value("string", value)


def _int(parser: Parser) -> Value | None:
    kind = parser.peek()
    if kind == DIGITS:
        return Value("int", int(parser.expect(DIGITS) or "0"))
    if kind == MINUS:
        parser.expect(MINUS)
        digits = parser.expect(DIGITS)
        return None if digits is None else Value("int", -int(digits))
    if kind == STRING:
        contents = _string_value(parser)
        if contents is None or not _INTEGER.match(contents):
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
    if parser.peek() not in (STRING, CSTRING) or _string_value(parser) is None:
        return None
    while True:
        token = parser.next()
        if token is None:
            return None
        if token == CLOSE:
            break
    if not _eat_cast(parser):
        return None
    if parser.peek() == CLOSE:
        parser.expect(CLOSE)
    return Value("sequence") if _eat_cast(parser) else None


def _float(parser: Parser) -> Value | None:
    value = _float_inner(parser)
    return value if value is not None and _eat_cast(parser) else None


def _float_inner(parser: Parser) -> Value | None:
    opened = False
    kind = parser.peek()
    if kind == OPEN:
        parser.expect(OPEN)
        opened = True
    elif kind in (STRING, CSTRING):
        contents = _string_value(parser)
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
    if not _eat_cast(parser):
        return None
    return Value("now") if name in ("now", "current_timestamp") else None


def _enum(parser: Parser) -> Value | None:
    kind = parser.peek()
    if kind == IDENT:
        name = parser.expect(IDENT) or ""
        return Value("enum", name) if _eat_cast(parser) else None
    if kind in (STRING, CSTRING):
        value = _string_value(parser)
        return None if value is None or not _eat_cast(parser) else Value("enum", value)
    return None


def _binary(parser: Parser) -> Value | None:
    value = _string_value(parser)
    if value is None or not value.startswith("\\x") or not value.isascii():
        return None
    digits = value[2:]
    if len(digits) % 2:
        return None
    try:
        return Value("bytes", bytes.fromhex(digits))
    except ValueError:
        return None


_PARSERS = {
    STRING_FAMILY: _string,
    JSON: _string,
    INT: _int,
    ENUM: _enum,
    FLOAT: _float,
    BOOLEAN: _bool,
    DATETIME: _datetime,
    BINARY: _binary,
}


def _list(parser: Parser, family: str) -> list[Value] | None:
    kind = parser.peek()
    if kind in (STRING, CSTRING):
        contents = _string_value(parser)
        return None if contents is None else _array_literal(contents, family)
    if kind in (IDENT, OPEN):
        return _array_constructor(parser, family)
    return None


def _array_constructor(parser: Parser, family: str) -> list[Value] | None:
    if parser.peek() == OPEN:
        parser.expect(OPEN)
    if (parser.expect(IDENT) or "").lower() != "array" or parser.expect(LSQUARE) is None:
        return None
    element = _PARSERS.get(family, _nothing)
    values: list[Value] = []
    while True:
        kind = parser.peek()
        if kind is None:
            return None
        if kind == RSQUARE:
            parser.expect(RSQUARE)
            break
        value = element(parser)
        if value is None:
            return None
        values.append(value)
        token = parser.next()
        if token == RSQUARE:
            break
        if token != COMMA:
            return None
    if any(value.kind in ("now", "sequence") for value in values):
        return None
    _eat_cast(parser)
    return values


def _array_literal(text: str, family: str) -> list[Value] | None:
    parser = Parser(text)
    if parser.expect(LCURLY) is None:
        return None
    values: list[Value] = []
    while True:
        kind = parser.peek()
        if kind is None:
            return None
        if kind == RCURLY:
            parser.expect(RCURLY)
            break
        if kind == IDENT:
            value = _literal(parser.expect(IDENT) or "", family)
        elif kind == DQUOTED:
            raw = (parser.expect(DQUOTED) or '""')[1:-1]
            value = _literal(_unquote(raw), family)
        elif kind == STRING:
            contents = _string_value(parser)
            value = None if contents is None else _literal(contents, family)
        elif kind in (MINUS, DIGITS) and family in (INT, FLOAT):
            value = (_int if family == INT else _float)(parser)
        else:
            return None
        if value is None:
            return None
        values.append(value)
        kind = parser.peek()
        if kind == COMMA:
            parser.expect(COMMA)
        elif kind == RCURLY:
            parser.expect(RCURLY)
            break
        else:
            return None
    return values


def _unquote(raw: str) -> str:
    out, index = [], 0
    while index < len(raw):
        if raw[index] == "\\" and index + 1 < len(raw):
            index += 1
        out.append(raw[index])
        index += 1
    return "".join(out)


def _literal(text: str, family: str) -> Value | None:
    if family == INT:
        return Value("int", int(text)) if _INTEGER.match(text) else None
    if family == FLOAT:
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        return Value("float", number) if number.is_finite() else None
    if family in (STRING_FAMILY, JSON):
        return Value("string", text)
    if family == BOOLEAN:
        lowered = text.lower()
        if lowered in ("t", "true"):
            return Value("bool", True)
        if lowered in ("f", "false"):
            return Value("bool", False)
        return None
    if family == ENUM:
        value = _string_value(Parser(text))
        return Value("enum", text if value is None else value)
    return None


def render_value(value: Value, enum_name=None) -> str:
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
        return "[" + ", ".join(render_value(item) for item in items) + "]"  # type: ignore[attr-defined]
    raise ValueError(value.kind)


def _decimal(number: Decimal) -> str:
    text = format(number, "f")
    return "0" if text in ("-0", "0") else text
