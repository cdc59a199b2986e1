"""A one-pass SQL lexer and splitter, per dialect.

sqlparse lexes with a list of regular expressions tried one after another and then groups
tokens into trees; on large scripts that is 25-100 times slower than this module (see
``bench/sql_analysis.py``). Here one compiled pattern finds each token, and the few
constructs a regular expression cannot express (nested ``/* */`` comments, ``$tag$``
bodies, ``BEGIN ... END`` routine bodies) are handled by short loops.

Dialects: ``postgresql``, ``sqlite``, ``mysql``, or ``None`` for a generic reading
(PostgreSQL's quoting plus backtick identifiers) when the target is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import NamedTuple


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


class _WordFields(NamedTuple):
    text: str
    kind: WordKind
    upper: str


class Word(_WordFields):
    """One significant token. ``upper`` compares keywords; ``text`` keeps the spelling.

    ``upper`` is kept, not computed: the analysis compares each word's capitals many times
    (hundreds of thousands of times in a large script)."""

    __slots__ = ()

    def __new__(cls, text: str, kind: WordKind) -> Word:
        return tuple.__new__(cls, (text, kind, text.upper()))

    def __repr__(self) -> str:
        return f"Word(text={self.text!r}, kind={self.kind!r})"

    @property
    def is_identifier(self) -> bool:
        # Unreserved keywords (``name``, ``comment``...) are valid identifiers too; a
        # multi-word keyword phrase (``PRIMARY KEY``) is not.
        if self.kind is WordKind.KEYWORD:
            return len(self.text.split()) == 1 and self.upper not in RESERVED
        return self.kind in (WordKind.NAME, WordKind.QUOTED_NAME)


DIALECTS = ("postgresql", "sqlite", "mysql")


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``: keyword lists stay readable."""
    return frozenset(text.split())


# Words read as keywords; any other bare word is a name. Keywords are valid names too
# (``Word.is_identifier``), so this list only has to be good enough for messages.
KEYWORDS = word_set(
    """
    ABORT ACTION ADD AFTER ALGORITHM ALL ALTER ALWAYS ANALYSE ANALYZE AND ANY ARRAY AS ASC
    ATOMIC ATTACH AUTOINCREMENT AUTO_INCREMENT BEFORE BEGIN BETWEEN BIGINT BOOLEAN BOTH BY
    CACHE CALL CASCADE CASE CAST CHAR CHARACTER CHECK CLUSTER COLLATE COLUMN COMMENT COMMIT
    CONCURRENTLY CONSTRAINT CONSTRAINTS COPY CREATE CROSS CURRENT_DATE CURRENT_TIMESTAMP
    CYCLE DATABASE DEALLOCATE DECLARE DEFAULT DEFERRABLE DEFERRED DEFINER DELETE DESC DETACH
    DISABLE DISTINCT DO DOMAIN DROP EACH ELSE ENABLE END ENGINE ENUM ESCAPE EVENT EXCEPT
    EXCLUDE EXECUTE EXISTS EXPLAIN EXTENSION FALSE FETCH FIRST FOR FOREIGN FROM FULL
    FUNCTION GENERATED GLOBAL GRANT GROUP HAVING IDENTITY IF IMMEDIATE IN INCLUDE INCREMENT
    INDEX INHERITS INITIALLY INNER INSERT INSTEAD INT INTEGER INTERSECT INTO IS JOIN KEY
    LANGUAGE LAST LEFT LIKE LIMIT LOCAL LOCK MATERIALIZED MAXVALUE MERGE MINVALUE MODIFY
    NATURAL NO NOT NOTHING NULL NULLS OF OFFSET ON ONLY OR ORDER OUTER OWNED OWNER
    PARTITION PRAGMA PRIMARY PROCEDURE REFERENCES REFRESH REINDEX RELEASE RENAME REPLACE
    RESET RESTART RESTRICT RETURNING RETURNS REVOKE RIGHT ROLLBACK ROW ROWS SAVEPOINT SCHEMA
    SELECT SEQUENCE SESSION SET SHOW START STATEMENT TABLE TEMP TEMPORARY TEXT THEN TO
    TRANSACTION TRIGGER TRUE TRUNCATE TYPE UNION UNIQUE UNLOGGED UPDATE USING VACUUM VALID
    VALUES VARCHAR VIEW WHEN WHERE WINDOW WITH WITHOUT WORK
    """
)

# PostgreSQL's reserved words, and those reserved as names of columns and tables.
RESERVED = word_set(
    """
    ALL ANALYSE ANALYZE AND ANY ARRAY AS ASC ASYMMETRIC BOTH CASE CAST CHECK COLLATE COLUMN
    CONSTRAINT CREATE CURRENT_CATALOG CURRENT_DATE CURRENT_ROLE CURRENT_TIME
    CURRENT_TIMESTAMP CURRENT_USER DEFAULT DEFERRABLE DESC DISTINCT DO ELSE END EXCEPT FALSE
    FETCH FOR FOREIGN FROM GRANT GROUP HAVING IN INITIALLY INTERSECT INTO LATERAL LEADING
    LIMIT LOCALTIME LOCALTIMESTAMP NOT NULL OFFSET ON ONLY OR ORDER PLACING PRIMARY
    REFERENCES RETURNING SELECT SESSION_USER SOME SYMMETRIC TABLE THEN TO TRAILING TRUE UNION
    UNIQUE USER USING VARIADIC WHEN WHERE WINDOW WITH
    AUTHORIZATION BINARY COLLATION CONCURRENTLY CROSS CURRENT_SCHEMA FREEZE FULL ILIKE INNER
    IS ISNULL JOIN LEFT LIKE NATURAL NOTNULL OUTER OVERLAPS RIGHT SIMILAR TABLESAMPLE VERBOSE
    """
)

_NUMBER = r"(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
_WORD = r"(?P<word>[^\W\d][\w$]*)"
_PUNCTUATION = r"(?P<punctuation>[;(),.\[\]])"
# An operator never contains the start of a comment (PostgreSQL's rule).
_OPERATOR = r"(?P<operator>(?:::|:=|[+*<>=~!@#%^&|?:]|-(?!-)|/(?!\*))+)"
_BACKSLASH_STRING = r"'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'"
_STANDARD_STRING = r"'[^']*(?:''[^']*)*'"
_DOUBLE_QUOTED = r'"[^"]*(?:""[^"]*)*"'
_BACKTICKED = r"`[^`]*(?:``[^`]*)*`"


@cache
def _pattern(dialect: str | None) -> re.Pattern[str]:
    mysql = dialect == "mysql"
    comment = r"--[^\n]*|#[^\n]*" if mysql else r"--[^\n]*"
    if mysql:
        strings = rf'{_BACKSLASH_STRING}|"[^"\\]*(?:(?:\\.|"")[^"\\]*)*"'
        names = _BACKTICKED
    else:
        # E'...' (PostgreSQL) keeps backslash escapes; standard strings do not.
        strings = rf"[Ee]{_BACKSLASH_STRING}|{_STANDARD_STRING}"
        names = rf"{_DOUBLE_QUOTED}|{_BACKTICKED}"
        if dialect == "sqlite":
            names += r"|\[[^\]]*\]"
    dollar = r"|(?P<dollar>\$(?:[^\W\d]\w*)?\$)" if dialect in ("postgresql", None) else ""
    return re.compile(
        # Leading whitespace is skipped inside the match: one call per significant token.
        rf"\s*(?:(?P<comment>{comment})|(?P<block>/\*)|(?P<string>{strings})"
        rf"|(?P<quoted_name>{names}){dollar}|(?P<unterminated>[Ee]?['\"`].*)"
        rf"|{_NUMBER}|{_WORD}|{_PUNCTUATION}|{_OPERATOR}|(?P<other>.)|(?P<eof>\Z))",
        re.DOTALL,
    )


_BLOCK_MARKS = re.compile(r"/\*|\*/")


def _block_comment_end(sql: str, start: int, nested: bool) -> int:
    """The index after the ``*/`` closing the comment opened at ``start``; -1 if none."""
    if not nested:
        end = sql.find("*/", start + 2)
        return -1 if end < 0 else end + 2
    depth = 0
    for mark in _BLOCK_MARKS.finditer(sql, start):
        depth += 1 if mark.group() == "/*" else -1
        if depth == 0:
            return mark.end()
    return -1


@dataclass
class Chunk:
    """The span of one statement in the script and its significant words."""

    start: int
    end: int
    words: list[Word]
    open_block: bool = False  # a BEGIN ... END body never closed


_KINDS = {kind.value: kind for kind in WordKind}
_ROUTINES = frozenset({"TRIGGER", "FUNCTION", "PROCEDURE", "EVENT"})
# After END these name the construct it closes (MySQL's END IF, END LOOP...).
_END_SUFFIXES = frozenset({"IF", "LOOP", "WHILE", "REPEAT", "CASE"})


class _Block:
    """Tracks ``BEGIN ... END`` bodies of CREATE TRIGGER/FUNCTION/PROCEDURE, where ``;``
    does not end the statement (SQLite and MySQL triggers, PostgreSQL's BEGIN ATOMIC)."""

    def __init__(self) -> None:
        self.depth = 0
        self.routine = False
        self.after_end = False

    def see(self, words: list[Word], word: Word) -> None:
        upper = word.upper
        if len(words) <= 8 and upper in _ROUTINES and words[0].upper == "CREATE":
            self.routine = self.routine or not any(w.text == "(" for w in words)
        if self.after_end:
            self.after_end = False
            if upper in _END_SUFFIXES:
                # END IF closes an IF, not a BEGIN; END CASE closes the CASE it counted.
                self.depth += upper != "CASE"
                return
        if self.depth == 0:
            if self.routine and upper == "BEGIN":
                self.depth = 1
            return
        if upper in ("BEGIN", "CASE"):
            self.depth += 1
        elif upper == "END":
            self.depth -= 1
            self.after_end = True


def split(sql: str, dialect: str | None = None) -> list[Chunk]:
    """Every statement span of ``sql`` (see ``iter_chunks``)."""
    return list(iter_chunks(sql, dialect))


def iter_chunks(sql: str, dialect: str | None = None) -> Iterator[Chunk]:
    """Cut ``sql`` into statement spans at top-level ``;``; a comment on the rest of the
    semicolon's line stays with its statement. Spans without words are kept (callers drop
    them); text between statements goes to the following one. Spans come one at a time, so
    a caller reading a large script holds one statement's words, not the script's.

    Tokens are read in this same loop, each by one match of the dialect's pattern (an
    unterminated quote or comment is one ``error`` word running to the end): a data
    migration has hundreds of thousands of them, and this loop is most of its analysis.
    """
    match = _pattern(dialect).match
    nested = dialect in ("postgresql", None)
    length = len(sql)
    make_word = tuple.__new__  # Word(text, kind, upper), without Word's Python-level __new__
    keyword, name, punctuation = WordKind.KEYWORD, WordKind.NAME, WordKind.PUNCTUATION
    kinds, keywords = _KINDS, KEYWORDS
    words: list[Word] = []
    block = _Block()
    start, ended = 0, -1  # ended: end of the closing ``;`` while its line is being read
    position = 0
    while True:
        found = match(sql, position)
        assert found is not None  # (?P<other>.) or (?P<eof>\Z) always matches
        kind, group = found.lastgroup, found.lastindex
        # Every alternative is a named group.
        assert kind is not None
        assert group is not None
        if kind == "eof":
            break
        token_start, position = found.span(group)
        if ended >= 0:  # the first token after a closing ``;``
            on_its_line = sql.find("\n", ended, token_start) < 0
            if kind == "comment" and on_its_line:  # a comment there stays with its statement
                yield Chunk(start, position, words)
                start, words, block, ended = position, [], _Block(), -1
                continue
            yield Chunk(start, ended, words)
            start, words, block, ended = ended, [], _Block(), -1
        if kind == "word":
            text = sql[token_start:position]
            upper = text.upper()
            word_kind = keyword if upper in keywords else name
        elif kind == "comment":
            continue
        elif kind == "block":
            position = _block_comment_end(sql, token_start, nested)
            if position >= 0:
                continue
            text, position, word_kind = sql[token_start:], length, WordKind.ERROR
        elif kind == "dollar":
            close = sql.find(found.group(kind), position)
            if close >= 0:
                position = close + position - token_start
                word_kind = WordKind.STRING
            else:
                position, word_kind = length, WordKind.ERROR
            text = sql[token_start:position]
        else:
            text = sql[token_start:position]
            word_kind = WordKind.ERROR if kind == "unterminated" else kinds[kind]
        if kind != "word":  # a word's capitals were made to tell a keyword
            upper = text.upper()
        word = make_word(Word, (text, word_kind, upper))
        words.append(word)
        if word_kind is keyword or word_kind is name:
            if block.routine or len(words) <= 8:
                block.see(words, word)
        elif word_kind is punctuation and text == ";" and block.depth == 0:
            ended = position
    if ended >= 0:
        yield Chunk(start, ended, words)
        start, words = ended, []
    if words or sql[start:].strip():
        yield Chunk(start, len(sql), words, open_block=block.depth > 0)
