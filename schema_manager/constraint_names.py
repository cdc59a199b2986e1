"""The name PostgreSQL gives a constraint added without one (``ADD PRIMARY KEY``, ``ADD
UNIQUE``, ``ADD FOREIGN KEY``), worked out as the server does before the migration runs, so
that the rollback can drop it by name: ``<table>_pkey``, ``<table>_<columns>_key``,
``<table>_<columns>_fkey``, shortened to 63 bytes and numbered past names already taken."""

from __future__ import annotations

from .sql.names import unquote
from .sql.operations import AddConstraint

_MAX = 63  # NAMEDATALEN - 1
_LABELS = {"PRIMARY KEY": "pkey", "UNIQUE": "key", "FOREIGN KEY": "fkey"}


def constraint_name(cursor, namespace: int, table: str, action: AddConstraint) -> str | None:
    """The name the server will choose for ``action`` on ``table`` (its catalog name) in the
    schema ``namespace``; None for a kind whose naming is not worked out here (CHECK)."""
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
