"""PostgreSQL's own grammar as a syntax check, through pglast (libpg_query) when installed.

Optional: pglast ships wheels for Linux and macOS (CPython 3.10-3.13) but not for every
platform, so without it PostgreSQL scripts get the lexical checks only.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from .statements import Statement


@cache
def _parser() -> tuple[Any, type[Exception]] | None:
    """pglast's parser and its error, imported on first use: every process loads this
    module, but only an analysis of PostgreSQL SQL needs the parser (~25 ms to import)."""
    try:
        # split() parses fully but builds no Python tree.
        from pglast.parser import ParseError, split
    except ImportError:  # pragma: no cover - exercised where pglast is not installed
        return None
    return split, ParseError


def available() -> bool:
    return _parser() is not None


def syntax_error(statement: Statement) -> str | None:
    """PostgreSQL's message for ``statement`` with its line and column, or None if it parses."""
    parser = _parser()
    if parser is None:
        return None
    parse_sql, parse_error = parser
    try:
        parse_sql(statement.text)
    except parse_error as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        offset = exc.args[1] if len(exc.args) > 1 else None
        if not isinstance(offset, int):
            return message
        line = statement.text.count("\n", 0, offset) + 1
        column = offset - (statement.text.rfind("\n", 0, offset) + 1) + 1
        return f"{message} (line {line}, column {column} of the statement)"
    return None
