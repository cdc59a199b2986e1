"""The statements inside code a statement carries: a DO block, a function's, procedure's or
trigger's body. ``body(statement)`` reads them so that the rules can look inside.

Such code is not run as written: a DO block runs at once, a routine when it is called, a
trigger when it fires, and ``EXECUTE`` inside them runs SQL built at run time, which no
reading of the text can know. The rules treat what they find here as they would the same
statement at the top level, and ``EXECUTE`` as possibly destructive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from .lexer import iter_chunks
from .names import with_depth
from .statements import Statement, Word, WordKind

# Words after which a statement starts inside PL/pgSQL, SQL/PSM and trigger bodies.
_STARTS_AFTER = frozenset({"BEGIN", "ATOMIC", "THEN", "ELSE", "LOOP", "DO"})
# Statements the rules look at inside a body: those that may destroy data or change the session.
_VERBS = frozenset(
    {"DROP", "TRUNCATE", "DELETE", "UPDATE", "ALTER", "DO", "CALL", "EXECUTE", "SET", "PERFORM"}
)
_ROUTINES = ("FUNCTION", "PROCEDURE", "TRIGGER")
# Nested DO blocks are read this deep; deeper code counts as unreadable (dynamic).
MAX_DEPTH = 3


@dataclass(frozen=True)
class Body:
    """The code a statement carries: where it is (for messages) and what it runs."""

    where: str  # e.g. "in its DO block", "in the body of function f, when it is called"
    statements: tuple[Statement, ...]  # each begins at its verb (DROP, DELETE, EXECUTE...)
    dynamic: bool  # runs SQL built at run time (EXECUTE), unknowable from the text


def body(statement: Statement) -> Body | None:
    """The code ``statement`` carries, if it is a DO block or creates a routine or trigger."""
    words = [word for word in statement.words if word.text != ";"]
    uppers = [word.upper for word in words[:8]]
    if uppers[:1] == ["DO"]:
        text = next((w for w in words[1:] if w.kind is WordKind.STRING), None)
        return _from_text(statement, text, "in its DO block") if text else None
    if uppers[:1] != ["CREATE"]:
        return None
    kind = _routine_kind(uppers)
    if kind is None:
        return None
    name = _name_after(words, uppers.index(kind) + 1)
    when = "when it fires" if kind == "TRIGGER" else "when it is called"
    where = f"in the body of {kind.lower()} {name}, {when}"
    inline = _inline(words)
    if inline is not None:
        return _from_words(statement, inline, where)
    text = _after_as(words)
    return _from_text(statement, text, where) if text else None


def _routine_kind(uppers: list[str]) -> str | None:
    """FUNCTION, PROCEDURE or TRIGGER when the CREATE statement makes one (before any
    parenthesis: a column named ``trigger`` makes no trigger)."""
    for upper in uppers[1:]:
        if upper in _ROUTINES:
            return upper
        if upper in ("(", "TABLE", "VIEW", "INDEX"):
            return None
    return None


def _name_after(words: list[Word], index: int) -> str:
    """The (possibly qualified) name starting at ``index``, as written."""
    parts: list[str] = []
    while index < len(words) and words[index].kind is not WordKind.PUNCTUATION:
        parts.append(words[index].text)
        if index + 1 < len(words) and words[index + 1].text == ".":
            index += 2
            continue
        break
    return ".".join(parts)


def _from_text(statement: Statement, word: Word, where: str) -> Body:
    """A body written as a string (``$$ ... $$`` or ``'...'``), read as PostgreSQL."""
    text = word.text
    if text.startswith("$"):
        tag = text[: text.index("$", 1) + 1]
        inner = text[len(tag) : len(text) - len(tag)]
    elif text.startswith("'"):
        inner = text[1:-1].replace("''", "'")
    else:  # E'...' and the like: escapes this reading does not undo
        return Body(where, (), dynamic=True)
    words = [w for chunk in iter_chunks(inner, "postgresql") for w in chunk.words]
    return _from_words(statement, words, where)


def _from_words(statement: Statement, words: list[Word], where: str) -> Body:
    found = tuple(_statements(statement, words))
    dynamic = any(_is_dynamic(words, index) for index in range(len(words)))
    return Body(where, found, dynamic)


def _statements(statement: Statement, words: list[Word]) -> Iterator[Statement]:
    """Each statement of ``words`` that starts with one of ``_VERBS``, as its own Statement
    (the index and text stay those of the statement that carries it, for messages)."""
    for chunk in _split_at_semicolons(words):
        for index, word in enumerate(chunk):
            if word.upper in _VERBS and (index == 0 or chunk[index - 1].upper in _STARTS_AFTER):
                yield replace(statement, words=tuple(chunk[index:]))
                break


def _split_at_semicolons(words: list[Word]) -> list[list[Word]]:
    chunks: list[list[Word]] = [[]]
    for depth, word in with_depth(words):
        if depth == 0 and word.text == ";":
            chunks.append([])
        else:
            chunks[-1].append(word)
    return [chunk for chunk in chunks if chunk]


def _is_dynamic(words: list[Word], index: int) -> bool:
    """EXECUTE at ``index`` runs a string or a prepared statement (not a trigger's
    ``EXECUTE FUNCTION f()``)."""
    if words[index].upper != "EXECUTE" or words[index].kind is WordKind.STRING:
        return False
    following = words[index + 1].upper if index + 1 < len(words) else ""
    return following not in ("FUNCTION", "PROCEDURE")


def _inline(words: list[Word]) -> list[Word] | None:
    """The words between a routine's top-level BEGIN and its last END (SQLite and MySQL
    triggers, MySQL routines, PostgreSQL's BEGIN ATOMIC), or None if it has none."""
    for index, (depth, word) in enumerate(with_depth(words)):
        if depth == 0 and word.upper == "BEGIN" and word.kind is WordKind.KEYWORD:
            inner = words[index + 1 :]
            while inner and inner[-1].upper in ("END", ";"):
                inner = inner[:-1]
            return [words[index], *inner]  # BEGIN kept: a statement starts after it
    return None


def _after_as(words: list[Word]) -> Word | None:
    """The string after a routine's top-level AS (its body)."""
    for index, (depth, word) in enumerate(with_depth(words)):
        if depth == 0 and word.upper == "AS" and index + 1 < len(words):
            following = words[index + 1]
            return following if following.kind is WordKind.STRING else None
    return None


# Verbs that start an SQL statement inside a DO block (anything else there is PL/pgSQL's own:
# IF, RAISE, assignments, RETURN...).
_SQL_VERBS = _VERBS | frozenset(
    {
        "INSERT",
        "MERGE",
        "WITH",
        "SELECT",
        "CREATE",
        "COMMENT",
        "GRANT",
        "REVOKE",
        "COPY",
        "REFRESH",
        "REINDEX",
        "CLUSTER",
        "LOCK",
        "SECURITY",
        "IMPORT",
        "RESET",
    }
)


def do_block(statement: Statement) -> Body | None:
    """Every SQL statement of a DO block (reads too, not only what the rules look at), or
    None if ``statement`` is not a DO block whose body can be read."""
    words = [word for word in statement.words if word.text != ";"]
    if not words or words[0].upper != "DO":
        return None
    text = next((w for w in words[1:] if w.kind is WordKind.STRING), None)
    if text is None or not text.text.startswith("$"):
        return None
    tag = text.text[: text.text.index("$", 1) + 1]
    inner = text.text[len(tag) : len(text.text) - len(tag)]
    inside = [w for chunk in iter_chunks(inner, "postgresql") for w in chunk.words]
    found = []
    for chunk in _split_at_semicolons(inside):
        for index, word in enumerate(chunk):
            starts = index == 0 or chunk[index - 1].upper in _STARTS_AFTER
            if starts and word.upper in _SQL_VERBS and word.kind is not WordKind.STRING:
                found.append(replace(statement, words=tuple(chunk[index:])))
                break
    dynamic = any(_is_dynamic(inside, index) for index in range(len(inside)))
    return Body("in its DO block", tuple(found), dynamic)
