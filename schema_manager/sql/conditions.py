"""Whether a WHERE condition limits anything: ``always_true(words)`` for conditions such as
``true``, ``1=1``, ``'a'='a'``, ``id = id`` or ``x = 3 OR true``.

A WHERE that holds for every row is no WHERE: ``DELETE FROM t WHERE 1=1`` deletes every row.
The reading is deliberately small: constants, comparisons of constants (or of an expression
with itself), NOT, AND, OR and parentheses. Anything else is taken to limit the rows.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from .names import with_depth
from .statements import Word, WordKind

# Tri-state: True (holds for every row), False (for none), None (depends on the row).
Truth = bool | None

_NUMBER_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "==": operator.eq,  # SQLite
    "<>": operator.ne,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
# An expression compared with itself: true wherever it is not NULL (every row, for the
# columns such conditions are written against).
_REFLEXIVE = frozenset({"=", "==", "<=", ">=", "IS NOT DISTINCT FROM", "<=>"})


def always_true(words: list[Word]) -> bool:
    """Whether the condition made of ``words`` holds for every row."""
    return _truth(_strip(words)) is True


def _truth(words: list[Word]) -> Truth:
    if not words:
        return None
    disjuncts = _split(words, "OR")
    if len(disjuncts) > 1:
        values = [_truth(part) for part in disjuncts]
        if True in values:
            return True
        return False if all(value is False for value in values) else None
    conjuncts = _split(words, "AND")
    if len(conjuncts) > 1:
        values = [_truth(part) for part in conjuncts]
        if False in values:
            return False
        return True if all(value is True for value in values) else None
    if words[0].upper == "NOT":
        inner = _truth(_strip(words[1:]))
        return None if inner is None else not inner
    return _atom(words)


def _atom(words: list[Word]) -> Truth:
    if _is_parenthesised(words):
        return _truth(_strip(words))
    if len(words) == 1:
        return _constant(words[0])
    for size in (4, 1):  # IS NOT DISTINCT FROM, then one-word operators
        for index in range(1, len(words) - 1):
            spelled = " ".join(word.upper for word in words[index : index + size])
            if spelled in _NUMBER_COMPARISONS or spelled in _REFLEXIVE:
                return _comparison(words[:index], spelled, words[index + size :])
    return None


def _comparison(left: list[Word], op: str, right: list[Word]) -> Truth:
    left, right = _strip(left), _strip(right)
    if not left or not right or any(word.upper == "NULL" for word in (*left, *right)):
        return None  # NULL compares as unknown, never true
    if [w.text for w in left] == [w.text for w in right] and all(
        w.kind is not WordKind.OTHER for w in left
    ):
        # The same expression on both sides (a column with itself, or one constant).
        if op in _REFLEXIVE:
            return True
        if op in ("<>", "!=", "<", ">"):
            return False
    a, b = _number(left), _number(right)
    if a is not None and b is not None and op in _NUMBER_COMPARISONS:
        return _NUMBER_COMPARISONS[op](a, b)
    return None


def _constant(word: Word) -> Truth:
    if word.upper == "TRUE":
        return True
    if word.upper == "FALSE":
        return False
    number = _number([word])
    if number is not None:  # MySQL and SQLite take a number as a truth value
        return number != 0
    return None


def _number(words: list[Word]) -> float | None:
    sign = 1.0
    if len(words) == 2 and words[0].text in ("-", "+"):
        sign = -1.0 if words[0].text == "-" else 1.0
        words = words[1:]
    if len(words) != 1 or words[0].kind is not WordKind.NUMBER:
        return None
    return sign * float(words[0].text)


def _split(words: list[Word], keyword: str) -> list[list[Word]]:
    """``words`` cut at ``keyword`` outside parentheses (BETWEEN's AND stays inside)."""
    parts: list[list[Word]] = [[]]
    between = False
    for depth, word in with_depth(words):
        if depth == 0 and word.upper == "BETWEEN":
            between = True
        elif depth == 0 and word.upper == keyword:
            if keyword == "AND" and between:
                between = False
            else:
                parts.append([])
                continue
        parts[-1].append(word)
    return parts


def _is_parenthesised(words: list[Word]) -> bool:
    if len(words) < 2 or words[0].text != "(" or words[-1].text != ")":
        return False
    # The first parenthesis closes at the very end, not before: (a) OR (b) is not one group.
    return all(depth > 0 for depth, _ in list(with_depth(words))[1:-1])


def _strip(words: list[Word]) -> list[Word]:
    """Without a ``;`` and without parentheses around the whole."""
    words = [word for word in words if word.text != ";"]
    while _is_parenthesised(words):
        words = words[1:-1]
    return words
