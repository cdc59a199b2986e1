"""Splitting a migration script into statements, and reading each statement's words.

Pure functions on text: no database, no Django. ``lexer`` finds the tokens (quotes, dollar
quotes, comments, routine bodies); this module turns each span into a ``Statement`` with
the flat list of significant words the rollback generator and the rules match against.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

from ..exceptions import SchemaManagerError
from .lexer import DIALECTS, Chunk, Word, WordKind, iter_chunks, split, word_set

__all__ = [
    "MAX_SCRIPT_CHARS",
    "MAX_STREAMED_CHARS",
    "SqlInputError",
    "Statement",
    "Word",
    "WordKind",
]

# For work that holds every statement at once (rollback generation, capture, rehearsal):
# far above any schema migration (Prisma's are kilobytes), and a bound keeps memory
# predictable: about 240 MB per 10 MB held (bench/sql_analysis.py).
MAX_SCRIPT_CHARS = 20_000_000
# For work that reads one statement at a time (the rules, execution): memory stays flat,
# so large data migrations can run; PostgreSQL's own limit for a text value is 1 GB.
MAX_STREAMED_CHARS = 500_000_000


class SqlInputError(SchemaManagerError, ValueError):
    """The script cannot be read as SQL text at all (bytes, NUL, size): nothing ran."""


@dataclass(frozen=True)
class Statement:
    """One statement of a script: its text (as written, comments kept) and its words."""

    index: int
    text: str
    words: tuple[Word, ...] = field(repr=False)
    problems: tuple[str, ...] = ()
    start: int = 0  # offset of ``text`` in the script
    # From the parse cache: one object for every reader of the script in this process, so
    # what is read from it (``reading.describe``) can be kept with it. A streamed script's
    # statements are made afresh each reading, and nothing may keep them.
    shared: bool = field(default=False, compare=False, repr=False)

    @property
    def summary(self) -> str:
        """The statement on one line, shortened, for messages."""
        # Collapse whitespace inside words too (multi-line strings, $$ bodies): a summary
        # spanning lines would split a ``-- WARNING:`` comment into lines that run as SQL.
        flat = " ".join(word.text for word in self.words if word.text != ";")
        flat = " ".join(flat.split())
        return flat if len(flat) <= 80 else flat[:77] + "..."

    def starts_with(self, *keywords: str) -> bool:
        return [w.upper for w in self.words[: len(keywords)]] == list(keywords)


# First words of statements; Prisma's SQLite migrations use PRAGMA.
STATEMENT_VERBS = word_set(
    """
    ABORT ALTER ANALYSE ANALYZE ATTACH BEGIN CALL CHECKPOINT CLOSE CLUSTER COMMENT COMMIT
    COPY CREATE DEALLOCATE DECLARE DELETE DETACH DISCARD DO DROP END EXECUTE EXPLAIN FETCH
    GRANT IMPORT INSERT LISTEN LOAD LOCK MERGE MOVE NOTIFY OPTIMIZE PRAGMA PREPARE REASSIGN
    REFRESH REINDEX RELEASE RENAME REPLACE RESET REVOKE ROLLBACK SAVEPOINT SECURITY SELECT SET
    SHOW START TABLE TRUNCATE UNLISTEN UNLOCK UPDATE USE VACUUM VALUES WITH
    """
)


def _problems(words: list[Word], open_block: bool) -> list[str]:
    """Lexical problems that mean the statement cannot be what the author meant."""
    problems: list[str] = []
    errors = [word.text for word in words if word.kind is WordKind.ERROR]
    if any(not text.startswith("/*") for text in errors):
        problems.append("unterminated quoted string or identifier")
    if any(text.startswith("/*") for text in errors):
        problems.append("unterminated /* comment")
    depth = 0
    for word in words:
        if word.kind is WordKind.PUNCTUATION and word.text in "()":
            depth += 1 if word.text == "(" else -1
            if depth < 0:
                break
    if depth != 0:
        problems.append("unbalanced parentheses")
    if open_block:
        problems.append("BEGIN without a matching END")
    if problems:
        return problems
    first = words[0]
    if first.text != "(" and first.upper not in STATEMENT_VERBS:
        problems.append(f"does not start with an SQL keyword (starts with {first.text!r})")
    return problems


def check_input(sql: str | bytes, limit: int = MAX_SCRIPT_CHARS) -> str:
    """``sql`` as text, or SqlInputError saying why it is not SQL text (or is over ``limit``
    characters)."""
    if isinstance(sql, (bytes, bytearray)):
        try:
            sql = bytes(sql).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SqlInputError(
                f"SQL is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset "
                f"{exc.start}); save the file as UTF-8."
            ) from None
    if not isinstance(sql, str):
        raise SqlInputError(f"SQL must be text, not {type(sql).__name__}.")
    if len(sql) > limit:
        raise SqlInputError(
            f"SQL script has {len(sql):,} characters; the limit is {limit:,}. "
            "Split it into several migrations, or load bulk data outside migrations."
        )
    nul = sql.find("\x00")
    if nul >= 0:
        line = sql.count("\n", 0, nul) + 1
        raise SqlInputError(
            f"SQL contains a NUL character (line {line}, offset {nul}); databases reject it "
            "and PostgreSQL's parser would silently stop there. Remove it."
        )
    return sql


def parse_statements(sql: str | bytes, dialect: str | None = None) -> list[Statement]:
    """Split ``sql`` into statements, dropping those that are only whitespace or comments.

    ``dialect`` is ``'postgresql'``, ``'sqlite'``, ``'mysql'`` or None (generic; also for
    any other vendor). Raises
    SqlInputError for input that is not SQL text (invalid UTF-8, NUL, over the size limit).
    """
    if dialect not in DIALECTS:
        dialect = None  # another vendor (oracle...): the generic reading
    sql = check_input(sql)
    if len(sql) <= CACHED_SCRIPT_CHARS:
        return list(_parse_cached(sql, dialect))
    return _parse(sql, dialect)


def iter_statements(sql: str | bytes, dialect: str | None = None) -> Iterator[Statement]:
    """``parse_statements``, one statement at a time: a large script is read without holding
    its statements (each is dropped once the caller moves on), up to MAX_STREAMED_CHARS."""
    if dialect not in DIALECTS:
        dialect = None
    sql = check_input(sql, MAX_STREAMED_CHARS)
    if len(sql) <= CACHED_SCRIPT_CHARS:
        yield from _parse_cached(sql, dialect)
        return
    index = 0
    for chunk in iter_chunks(sql, dialect):
        if any(word.text != ";" for word in chunk.words):
            yield _statement(sql, chunk, index)
            index += 1


def is_streamed(sql: str) -> bool:
    """Whether ``sql`` is past the parse cache (CACHED_SCRIPT_CHARS): its statements are then
    read one at a time (``iter_statements``) rather than held."""
    return len(sql) > CACHED_SCRIPT_CHARS


# One apply reads a script several times (rules, rollback, execution): a small script is
# parsed once. Statements are immutable, so callers can share them.
CACHED_SCRIPT_CHARS = 64 * 1024


@lru_cache(maxsize=512)
def _parse_cached(sql: str, dialect: str | None) -> tuple[Statement, ...]:
    return tuple(_parse(sql, dialect, shared=True))


def _parse(sql: str, dialect: str | None, *, shared: bool = False) -> list[Statement]:
    with large_input_gc_pause(sql):
        statements: list[Statement] = []
        for chunk in split(sql, dialect):
            if not any(word.text != ";" for word in chunk.words):
                continue
            statements.append(_statement(sql, chunk, len(statements), shared=shared))
    return statements


@contextmanager
def large_input_gc_pause(sql: str | bytes) -> Iterator[None]:
    """Pause the cyclic garbage collector while a large script's millions of tuples are made:
    they hold no cycles, and collections triggered by their allocation made 10 MB take twice
    as long. Small scripts (and a collector already paused) are left alone."""
    if len(sql) <= 100_000 or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _statement(sql: str, chunk: Chunk, index: int, *, shared: bool = False) -> Statement:
    raw = sql[chunk.start : chunk.end]
    text = raw.strip()
    return Statement(
        index=index,
        text=text,
        words=tuple(chunk.words),
        problems=tuple(_problems(chunk.words, chunk.open_block)),
        start=chunk.start + len(raw) - len(raw.lstrip()),
        shared=shared,
    )
