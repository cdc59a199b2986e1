"""Where a DELETE or UPDATE archived by ``archive_rows`` reads its rows: its table (with
alias), the tables it joins, its condition and the columns it sets."""

from __future__ import annotations

from dataclasses import dataclass

from .names import WordCursor, render_name, render_part, render_words, with_depth
from .operations import DataChange
from .statements import Word


@dataclass(frozen=True)
class DataTarget:
    """Where a DELETE or UPDATE reads its rows: its table (with alias), condition, SET.

    A statement joining other tables (``DELETE … USING``, ``UPDATE … FROM``) has ``joined``
    (its list of tables) and ``where`` (the statement's own condition); ``rows`` selects the
    same rows of its table without the join (``EXISTS``), each once. ``qualifier`` names the
    table's columns in the statement (its alias, or its name)."""

    source: str
    where: str
    set_columns: tuple[str, ...]
    joined: str = ""
    qualifier: str = ""

    @property
    def rows(self) -> str:
        """The condition selecting, from ``source``, the rows the statement changes."""
        if not self.joined:
            return self.where
        condition = f" WHERE {self.where}" if self.where else ""
        return f"EXISTS (SELECT 1 FROM {self.joined}{condition})"


_AFTER_TABLE = frozenset({"WHERE", "SET", "USING", "RETURNING", "ORDER", "LIMIT", "FROM"})
# The clauses after the table, in the order they come; which of them each dialect's archive
# reads (MySQL joins tables in its own syntax, not read).
_CLAUSES = {
    "DELETE": ("USING", "WHERE", "RETURNING"),
    "UPDATE": ("SET", "FROM", "WHERE", "RETURNING"),
}
_READ = {
    "postgresql": frozenset({"SET", "USING", "FROM", "WHERE", "RETURNING"}),
    "sqlite": frozenset({"SET", "FROM", "WHERE", "RETURNING"}),
    "mysql": frozenset({"SET", "WHERE"}),
}


def data_target(operation: DataChange, dialect: str) -> DataTarget | str:
    """The statement's source and condition, or why it cannot be read (MySQL's joins,
    ``ORDER BY``/``LIMIT``). A ``RETURNING`` clause is left out: a migration reads nothing
    back."""
    assert operation.table is not None
    cursor = WordCursor(operation.statement.words)
    cursor.take_any("DELETE", "UPDATE")
    cursor.take_keywords("FROM")
    only = "ONLY " if cursor.take_keywords("ONLY") else ""
    cursor.take_name()
    alias = ""
    if cursor.take_keywords("AS") or (
        (word := cursor.peek()) is not None
        and word.is_identifier
        and word.upper not in _AFTER_TABLE
    ):
        word = cursor.peek()
        if word is None:
            return "its table alias cannot be read"
        alias, cursor.position = word.text, cursor.position + 1
    rest = cursor.rest()
    clauses: dict[str, list[Word]] = {}
    current: list[Word] | None = None
    order = _CLAUSES[operation.verb]
    after = 0  # the clauses before order[after] are behind
    for depth, word in with_depth(rest):
        if depth == 0 and word.upper in ("ORDER", "LIMIT"):
            return f"its {word.upper} clause is not archived automatically"
        if depth == 0 and word.upper in order[after:]:
            if word.upper not in _READ.get(dialect, _READ["sqlite"]):
                return f"its {word.upper} clause is not archived automatically"
            after = order.index(word.upper) + 1
            current = clauses.setdefault(word.upper, [])
            continue
        if current is None:
            return "its words after the table cannot be read"
        current.append(word)
    source = only + render_name(operation.table, dialect) + (f" AS {alias}" if alias else "")
    where = render_words(clauses.get("WHERE", []), dialect)
    joined = render_words(clauses.get("USING", clauses.get("FROM", [])), dialect)
    set_columns: list[str] = []
    if operation.verb == "UPDATE":
        columns = _set_columns(clauses.get("SET", []))
        if columns is None:
            return "its SET list cannot be read"
        set_columns = columns
    qualifier = alias or render_part(operation.table.object, dialect)
    return DataTarget(source, where, tuple(set_columns), joined, qualifier)


def _set_columns(words: list[Word]) -> list[str] | None:
    """The columns a SET list assigns: ``a = 1, b = 2`` or ``(a, b) = (...)``."""
    columns: list[str] = []
    expect_column = True
    in_tuple = False
    named = False  # the word before was the column's name
    for depth, word in with_depth(words):
        if word.text == "(" and depth == 0 and expect_column:
            in_tuple = True
            continue
        if in_tuple:
            if word.text == ")" and depth == 0:
                in_tuple, expect_column = False, False
            elif word.text != ",":
                columns.append(word.text)
            continue
        was_named, named = named, False
        if depth == 0 and word.text == ",":
            expect_column = True
        elif expect_column:
            if not word.is_identifier:
                return None
            columns.append(word.text)
            expect_column, named = False, True
        elif depth == 0 and word.text == "." and was_named:
            expect_column = True  # ``t.a = ...`` (MySQL): the column follows the dot
            columns.pop()
    return columns or None
