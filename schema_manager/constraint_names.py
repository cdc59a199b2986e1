"""The name PostgreSQL gives a constraint added without one (``ADD PRIMARY KEY``, ``ADD
UNIQUE``, ``ADD FOREIGN KEY``, ``ADD CHECK``), worked out as the server does before the
migration runs, so that the rollback can drop it by name: ``<table>_pkey``,
``<table>_<columns>_key``, ``<table>_<columns>_fkey``, ``<table>_<column>_check`` (a check on
one column) or ``<table>_check``, shortened to 63 bytes and numbered past names already
taken."""

from __future__ import annotations

from collections.abc import Collection

from .sql.names import unquote
from .sql.operations import AddConstraint
from .sql.statements import WordKind

_MAX = 63  # NAMEDATALEN - 1
_LABELS = {"PRIMARY KEY": "pkey", "UNIQUE": "key", "FOREIGN KEY": "fkey"}


def constraint_name(cursor, namespace: int, table: str, action: AddConstraint) -> str | None:
    """The name the server will choose for ``action`` on ``table`` (its catalog name) in the
    schema ``namespace``; None for a kind whose naming is not worked out here (EXCLUDE; a
    CHECK: see ``check_name``)."""
    label = _LABELS.get(action.kind)
    if label is None:
        return None
    columns = _columns(action)
    if columns is None:
        return None
    addition = None if action.kind == "PRIMARY KEY" else _joined(columns)
    # Keys backed by an index take a relation's name; a foreign key a constraint's.
    taken = (
        "SELECT 1 FROM pg_class WHERE relname = %s AND relnamespace = %s"
        if action.kind != "FOREIGN KEY"
        else "SELECT 1 FROM pg_constraint WHERE conname = %s AND connamespace = %s"
    )
    attempt = 0
    while True:
        name = _object_name(table, addition, label + (str(attempt) if attempt else ""))
        cursor.execute(taken, [name, namespace])
        if cursor.fetchone() is None:
            return name
        attempt += 1


def _columns(action: AddConstraint) -> list[str] | None:
    """The column names in the definition's first parentheses."""
    words = list(action.definition)
    if not words or words[0].text != "(":
        return None
    columns: list[str] = []
    for word in words[1:]:
        if word.text == ")":
            return columns or None
        if word.text != ",":
            value, quoted = unquote(word.text)
            columns.append(value if quoted else value.lower())
    return None


def _joined(columns: list[str]) -> str:
    """Column names joined by ``_``, stopping once 63 bytes are reached (as the server)."""
    joined = b""
    for column in columns:
        if joined:
            joined += b"_"
        joined += column.encode()[: _MAX + 1]
        if len(joined) >= _MAX + 1:
            break
    return joined.decode(errors="ignore")


def _object_name(name1: str, name2: str | None, label: str) -> str:
    """The server's makeObjectName: both parts shortened, the longer first, to fit."""
    first, second = name1.encode(), (name2 or "").encode()
    overhead = (1 if name2 is not None else 0) + len(label) + 1
    available = _MAX - overhead
    n1, n2 = len(first), len(second)
    while n1 + n2 > available:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    parts = [_clip(first, n1)]
    if name2 is not None:
        parts.append(_clip(second, n2))
    return "_".join([*parts, label])


def _clip(text: bytes, length: int) -> str:
    """``text`` cut to ``length`` bytes without splitting a character."""
    return text[:length].decode(errors="ignore")


_TAKEN_CONSTRAINT = "SELECT 1 FROM pg_constraint WHERE conname = %s AND connamespace = %s"


def check_name(
    cursor,
    namespace: int,
    table: str,
    action: AddConstraint,
    columns: Collection[str],
    chosen: set[str],
) -> str | None:
    """The name the server will choose for an unnamed ``CHECK`` on ``table``, whose columns
    are ``columns`` (catalog names): ``<table>_<column>_check`` when its expression names one
    column, ``<table>_check`` otherwise, numbered (``check1``...) past the constraint names
    taken in ``namespace`` and those ``chosen`` earlier in the migration (added to it). None
    when the expression names something that is neither a column nor a function."""
    referenced = _check_columns(action, columns)
    if referenced is None:
        return None
    column = next(iter(referenced)) if len(referenced) == 1 else None
    attempt = 0
    while True:
        name = _object_name(table, column, "check" + (str(attempt) if attempt else ""))
        if name not in chosen:
            cursor.execute(_TAKEN_CONSTRAINT, [name, namespace])
            if cursor.fetchone() is None:
                chosen.add(name)
                return name
        attempt += 1


def _check_columns(action: AddConstraint, columns: Collection[str]) -> set[str] | None:
    """The distinct columns a CHECK's expression names (as the server counts them: names
    that are neither functions, qualifiers nor types after ``::``), or None if a name is
    not a column of the table."""
    words = list(action.definition)
    found: set[str] = set()
    for index, word in enumerate(words):
        if word.kind not in (WordKind.NAME, WordKind.QUOTED_NAME):
            continue
        following = words[index + 1].text if index + 1 < len(words) else ""
        previous = words[index - 1].text if index else ""
        if following in ("(", ".") or previous == "::":
            continue
        value, quoted = unquote(word.text)
        name = value if quoted else value.lower()
        if name not in columns:
            return None
        found.add(name)
    return found
