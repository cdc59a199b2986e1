"""Reading object names out of a statement's words: ``users``, ``"My Table"``, ``s.users``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .lexer import KEYWORDS, RESERVED
from .statements import Word, WordKind


@dataclass(frozen=True)
class QualifiedName:
    """A possibly schema-qualified name, each part spelled as written (quotes kept)."""

    parts: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.parts)

    @property
    def schema(self) -> str | None:
        return self.parts[-2] if len(self.parts) > 1 else None

    @property
    def object(self) -> str:
        return self.parts[-1]


class WordCursor:
    """Walks a statement's words left to right; every ``take_*`` returns None on no match."""

    def __init__(self, words: tuple[Word, ...] | list[Word]) -> None:
        self.words = [word for word in words if word.text != ";"]
        self.position = 0

    @property
    def done(self) -> bool:
        return self.position >= len(self.words)

    def peek(self, offset: int = 0) -> Word | None:
        index = self.position + offset
        return self.words[index] if index < len(self.words) else None

    def take_keywords(self, *keywords: str) -> bool:
        """Consume ``keywords`` in order (case-insensitively) if they are next."""
        position, words = self.position, self.words
        if position + len(keywords) > len(words):
            return False
        for offset, keyword in enumerate(keywords):
            if words[position + offset].text.upper() != keyword:
                return False
        self.position += len(keywords)
        return True

    def take_any(self, *keywords: str) -> str | None:
        for keyword in keywords:
            if self.take_keywords(*keyword.split()):
                return keyword
        return None

    def take_name(self) -> QualifiedName | None:
        """Consume ``part(.part)*`` where each part is an identifier."""
        word = self.peek()
        if word is None or not word.is_identifier:
            return None
        parts = [word.text]
        self.position += 1
        while self.next_is(".") and (part := self.peek(1)) is not None and part.is_identifier:
            parts.append(part.text)
            self.position += 2
        return QualifiedName(tuple(parts))

    def next_is(self, text: str) -> bool:
        word = self.peek()
        return word is not None and word.text == text

    def rest(self) -> list[Word]:
        return self.words[self.position :]


def with_depth(words: list[Word]) -> Iterator[tuple[int, Word]]:
    """Each word with its depth in parentheses and square brackets (``ARRAY['a', 'b']``); a
    parenthesis or bracket has the depth it opens from."""
    depth = 0
    for word in words:
        if word.kind is WordKind.PUNCTUATION and word.text in (")", "]"):
            depth -= 1
        yield depth, word
        if word.kind is WordKind.PUNCTUATION and word.text in ("(", "["):
            depth += 1


def split_top_level(words: list[Word], separator: str = ",") -> list[list[Word]]:
    """Split words at ``separator`` outside parentheses and brackets (ALTER TABLE's action
    list)."""
    groups: list[list[Word]] = [[]]
    for depth, word in with_depth(words):
        if depth == 0 and word.text == separator:
            groups.append([])
        else:
            groups[-1].append(word)
    return [group for group in groups if group]


# --- Quoting ---------------------------------------------------------------------------------

_QUOTES = {'"': '"', "`": "`", "[": "]"}
# Names each dialect accepts unquoted, meaning the same as quoted. PostgreSQL folds bare
# names to lower case, so a bare name with capitals would name another object.
_BARE = {
    "postgresql": re.compile(r"[a-z_][a-z0-9_$]*\Z"),
    "sqlite": re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z"),
    "mysql": re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z"),
}
_OTHER_RESERVED = RESERVED | KEYWORDS
_QUOTE_CHAR = {"postgresql": '"', "sqlite": '"', "mysql": "`"}


def has_sequence(words: list[str], *sequence: str) -> bool:
    """Whether ``sequence`` occurs in ``words`` (upper-cased words), consecutively."""
    size = len(sequence)
    return any(tuple(words[i : i + size]) == sequence for i in range(len(words) - size + 1))


def unquote(part: str) -> tuple[str, bool]:
    """(the name ``part`` spells, whether it was quoted): ``"a""b"`` -> ``('a"b', True)``."""
    close = _QUOTES.get(part[:1])
    if close is None or len(part) < 2 or not part.endswith(close):
        return part, False
    inner = part[1:-1]
    return (inner if close == "]" else inner.replace(close * 2, close)), True


def catalog_name(part: str) -> str:
    """A name part as a statement wrote it, as PostgreSQL's catalog keeps it: a quoted one
    exactly, a bare one folded to lower case."""
    name, quoted = unquote(part)
    return name if quoted else name.lower()


def quote_identifier(name: str, dialect: str) -> str:
    """``name`` as ``dialect`` reads it back exactly: bare when that is safe, else quoted."""
    bare = _BARE.get(dialect, _BARE["postgresql"])
    # PostgreSQL's reserved list is exact; for the others every keyword we know is quoted.
    reserved = RESERVED if dialect == "postgresql" else _OTHER_RESERVED
    if bare.match(name) and name.upper() not in reserved:
        return name
    quote = _QUOTE_CHAR.get(dialect, '"')
    return quote + name.replace(quote, quote * 2) + quote


def render_part(part: str, dialect: str) -> str:
    """One name part for a generated statement: a bare name stays as written (the database
    reads it the same way again); a quoted one is re-quoted for ``dialect`` only if needed."""
    name, quoted = unquote(part)
    return quote_identifier(name, dialect) if quoted else part


def render_name(name: QualifiedName | str, dialect: str) -> str:
    parts = (name,) if isinstance(name, str) else name.parts
    return ".".join(render_part(part, dialect) for part in parts)


_NO_SPACE_BEFORE = frozenset({")", ",", ".", "[", "]", "::"})
_NO_SPACE_AFTER = frozenset({"(", ".", "[", "::"})


def render_words(words: tuple[Word, ...] | list[Word], dialect: str) -> str:
    """Words back to SQL text (``numeric(10, 2)``, ``s.f(integer)``), names re-quoted."""
    out: list[str] = []
    previous = ""
    for word in words:
        text = render_part(word.text, dialect) if word.kind is WordKind.QUOTED_NAME else word.text
        glue = previous in _NO_SPACE_AFTER or word.text in _NO_SPACE_BEFORE
        if word.text == "(":  # a call or a type modifier: f(x), varchar(10)
            glue = glue or previous[-1:].isalnum() or previous[-1:] in ('"', "`", "_")
        out.append(text if glue or not out else " " + text)
        previous = word.text
    return "".join(out)
