"""PostgreSQL's own grammar as a syntax check, through pglast (libpg_query) when installed.

Optional: pglast ships wheels for Linux and macOS (CPython 3.10-3.13) but not for every
platform, so without it PostgreSQL scripts get the lexical checks only.
"""

from __future__ import annotations

from .statements import Statement

try:
    from pglast.parser import ParseError
    from pglast.parser import split as parse_sql  # parses fully, builds no Python tree
except ImportError:  # pragma: no cover - exercised where pglast is not installed
    parse_sql = None


def available() -> bool:
    return parse_sql is not None


def syntax_error(statement: Statement) -> str | None:
    """PostgreSQL's message for ``statement`` with its line and column, or None if it parses."""
    if parse_sql is None:
        return None
    try:
        parse_sql(statement.text)
    except ParseError as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        offset = exc.args[1] if len(exc.args) > 1 else None
        if not isinstance(offset, int):
            return message
        line = statement.text.count("\n", 0, offset) + 1
        column = offset - (statement.text.rfind("\n", 0, offset) + 1) + 1
        return f"{message} (line {line}, column {column} of the statement)"
    return None
