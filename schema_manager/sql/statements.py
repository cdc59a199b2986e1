"""Splitting a migration script into statements, and reading each statement's words.

Pure functions on text: no database, no Django. sqlparse does the lexing (quotes, dollar
quotes, comments); this module turns its tokens into a flat list of significant words that
the rollback generator and the rules can match against.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from functools import cache, lru_cache
from itertools import pairwise

from sqlparse import tokens as T
from sqlparse.engine import FilterStack
from sqlparse.sql import Statement as SqlparseStatement


class WordKind(str, Enum):
    KEYWORD = "keyword"
    NAME = "name"
    QUOTED_NAME = "quoted_name"
    STRING = "string"
    NUMBER = "number"
    PUNCTUATION = "punctuation"
    OPERATOR = "operator"
    ERROR = "error"
    OTHER = "other"


@dataclass(frozen=True)
class Word:
    """One significant token. ``upper`` compares keywords; ``text`` keeps the spelling."""

    text: str
    kind: WordKind

    @property
    def upper(self) -> str:
        return self.text.upper()

    @property
    def is_identifier(self) -> bool:
        # Unreserved keywords (``name``, ``comment``...) are valid identifiers too; the
        # phrases sqlparse merges into one keyword (``PRIMARY KEY``) are not.
        if self.kind is WordKind.KEYWORD:
            return len(self.text.split()) == 1
        return self.kind in (WordKind.NAME, WordKind.QUOTED_NAME)


@dataclass(frozen=True)
class Statement:
    """One statement of a script: its text (as written, comments kept) and its words."""

    index: int
    text: str
    words: tuple[Word, ...] = field(repr=False)
    problems: tuple[str, ...] = ()

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


@cache  # a few dozen token types; their hierarchy checks add up
def _kind_of(ttype: object) -> WordKind:
    if ttype in T.Keyword:
        return WordKind.KEYWORD
    if ttype in T.String.Symbol:
        return WordKind.QUOTED_NAME
    if ttype in T.String or ttype in T.Literal.String:
        return WordKind.STRING
    if ttype in T.Number:
        return WordKind.NUMBER
    if ttype in T.Name:
        return WordKind.NAME
    if ttype in T.Punctuation:
        return WordKind.PUNCTUATION
    if ttype in T.Operator or ttype in T.Wildcard:
        return WordKind.OPERATOR
    if ttype in T.Error:
        return WordKind.ERROR
    return WordKind.OTHER


# Statement verbs sqlparse lexes as plain names (Prisma's SQLite migrations use PRAGMA).
_VERBS_LEXED_AS_NAMES = frozenset(
    {"DISCARD", "IMPORT", "OPTIMIZE", "PRAGMA", "REASSIGN", "REFRESH", "RELEASE"}
)


def _starts_statement(word: Word) -> bool:
    return word.kind is WordKind.KEYWORD or word.text == "(" or word.upper in _VERBS_LEXED_AS_NAMES


def _problems(parsed: SqlparseStatement, words: list[Word]) -> list[str]:
    """Lexical problems that mean the statement cannot be what the author meant."""
    problems: list[str] = []
    if any(word.kind is WordKind.ERROR for word in words):
        problems.append("unterminated quoted string or identifier")
    for current, following in pairwise(parsed.flatten()):
        if current.value == "/" and following.value == "*":
            problems.append("unterminated /* comment")
            break
    depth = 0
    for word in words:
        if word.kind is WordKind.PUNCTUATION:
            depth += {"(": 1, ")": -1}.get(word.text, 0)
            if depth < 0:
                break
    if depth != 0:
        problems.append("unbalanced parentheses")
    if problems:
        return problems
    if words and not _starts_statement(words[0]):
        problems.append(f"does not start with an SQL keyword (starts with {words[0].text!r})")
    return problems


# One apply reads a script several times (rules, rollback generation, execution): parse each
# text once. Only scripts up to this size are kept, so the cache stays a few megabytes.
_CACHED_SCRIPT_CHARS = 64 * 1024


def parse_statements(sql: str) -> list[Statement]:
    """Split ``sql`` into statements, dropping those that are only whitespace or comments."""
    if len(sql) <= _CACHED_SCRIPT_CHARS:
        return list(_parse_cached(sql))
    return list(iter_statements(sql))


def statements_of(sql: str) -> Iterable[Statement]:
    """The statements of ``sql`` to read once, in order: parsed once for a usual script, and
    one at a time for a large one (a data migration), so its parsed form is never all held."""
    if len(sql) <= _CACHED_SCRIPT_CHARS:
        return _parse_cached(sql)
    return iter_statements(sql)


@lru_cache(maxsize=64)
def _parse_cached(sql: str) -> tuple[Statement, ...]:
    return tuple(iter_statements(sql))


def iter_statements(sql: str) -> Iterator[Statement]:
    """``parse_statements`` one statement at a time, for scripts too large to hold parsed."""
    # Lexing and splitting only: everything here reads the flat token stream, and sqlparse's
    # grouping pass (``sqlparse.parse``) would cost most of the time without changing it.
    index = 0
    for parsed in FilterStack().run(sql):
        words = [
            Word(token.value, _kind_of(token.ttype))
            for token in parsed.flatten()
            if not token.is_whitespace and token.ttype not in T.Comment
        ]
        if not words or all(word.text == ";" for word in words):
            continue
        statement = Statement(
            index=index,
            text=str(parsed).strip(),
            words=tuple(words),
            problems=tuple(_problems(parsed, words)),
        )
        # Tokens point at their statement and back: without this, each parsed statement
        # would wait for the cycle collector, and a large script's would pile up meanwhile.
        parsed.tokens.clear()
        yield statement
        index += 1
