"""PostgreSQL list defaults (`'{a,b}'`, `ARRAY[...]`) read the way `prisma db pull` reads them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .default_tokens import (
    COMMA,
    CSTRING,
    DIGITS,
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
from .postgres_defaults import (
    BOOLEAN,
    ENUM,
    FLOAT,
    INT,
    INTEGER,
    JSON,
    PARSERS,
    STRING_FAMILY,
    Value,
    eat_cast,
    nothing,
    parse_float,
    parse_int,
    string_value,
)


def parse_list(parser: Parser, family: str) -> list[Value] | None:
    kind = parser.peek()
    if kind in (STRING, CSTRING):
        contents = string_value(parser)
        return None if contents is None else _array_literal(contents, family)
    if kind in (IDENT, OPEN):
        return _array_constructor(parser, family)
    return None


def _array_constructor(parser: Parser, family: str) -> list[Value] | None:
    if parser.peek() == OPEN:
        parser.expect(OPEN)
    if (parser.expect(IDENT) or "").lower() != "array" or parser.expect(LSQUARE) is None:
        return None
    element = PARSERS.get(family, nothing)
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
    eat_cast(parser)
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
            contents = string_value(parser)
            value = None if contents is None else _literal(contents, family)
        elif kind in (MINUS, DIGITS) and family in (INT, FLOAT):
            value = (parse_int if family == INT else parse_float)(parser)
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
        return Value("int", int(text)) if INTEGER.match(text) else None
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
        value = string_value(Parser(text))
        return Value("enum", text if value is None else value)
    return None
