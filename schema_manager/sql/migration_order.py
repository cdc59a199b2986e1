"""The order in which Prisma lists migration folders, as a sort key. Pure.

Prisma 6 lists ``migrations/`` and sorts the folder names with JavaScript's
``a.localeCompare(b)``: Unicode collation (ICU's root order, which ``en-US`` uses), not code
points. The two agree for Prisma's own ``<14-digit timestamp>_<slug>`` names, but not for
every name: punctuation sorts before digits and digits before letters (``1_a`` before
``10_a``, where code points put ``_`` after ``0``), and letters compare without case first,
then lower case before upper (``a_B`` before ``A_c`` before ``a_c``).

``migration_order_key`` gives that order: exactly ICU's for ASCII names (every id Prisma
writes, and every name checked against Node's ``localeCompare``), and for Latin letters with
accents (``é`` sorts as ``e``, then after it); other characters sort after their ASCII
neighbours' group by code point, which ICU does not always do.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# Printable ASCII as ICU's root collation orders it (``localeCompare``, ``en-US``): space,
# punctuation and symbols, digits, then letters, each letter's lower case before its upper.
_ASCII_ORDER = (
    " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789"
    "aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ"
)
# Groups of primary weights, in ICU's order.
_SYMBOL, _OTHER_SYMBOL, _DIGIT, _LETTER, _OTHER = range(5)
# Accents (combining marks) as ICU orders them after the letter they are on; a stroke
# (``ø``, ``ł``, ``đ``) after those. Others after all, by code point.
_ACCENTS = (
    "\u0301\u0300\u0306\u0302\u030c\u030a\u0308\u030b"
    "\u0303\u0307\u0327\u0328\u0304\u0309\u0323\u0331"
)
_STROKE = "\u0338"
_EXPANDED = 0x110000  # after every accent
# Latin letters ICU sorts as others: two letters told apart from them by a secondary
# difference after every accent (``æ`` after ``àe``), a letter with a stroke, and the
# dotless i (U+0131) just after ``i``.
_EXPANSIONS = {"ß": "ss", "æ": "ae", "œ": "oe"}
_STROKED = {"ø": "o", "ł": "l", "đ": "d"}

Weight = tuple[int, int]
OrderKey = tuple[tuple[Weight, ...], tuple[tuple[int, ...], ...], tuple[int, ...]]


def _ascii_weights() -> dict[str, tuple[Weight, int]]:
    weights: dict[str, tuple[Weight, int]] = {}
    for character in _ASCII_ORDER:
        if character.isdigit():
            weights[character] = ((_DIGIT, int(character)), 0)
        elif character.isalpha():
            lower = character.lower()
            weights[character] = ((_LETTER, 2 * ord(lower)), int(character != lower))
        else:
            weights[character] = ((_SYMBOL, _ASCII_ORDER.index(character)), 0)
    return weights


_ASCII = _ascii_weights()


@lru_cache(maxsize=4096)
def migration_order_key(migration_id: str) -> OrderKey:
    """Sort key giving Prisma's order of migration folders (``sorted(ids, key=...)``):
    primary weights (the characters without case or accents), then accents, then case."""
    if all(character in _ASCII for character in migration_id):
        return _ascii_key(migration_id)
    return _unicode_key(migration_id)


def _ascii_key(migration_id: str) -> OrderKey:
    """The key of a name of printable ASCII (every id Prisma writes): no accents, no
    expansions, one table lookup per character; the same key as ``_unicode_key``."""
    weights = [_ASCII[character] for character in migration_id]
    return (
        tuple(weight for weight, _case in weights),
        ((),) * len(weights),
        tuple(case for _weight, case in weights),
    )


def _unicode_key(migration_id: str) -> OrderKey:
    primary: list[Weight] = []
    secondary: list[tuple[int, ...]] = []
    tertiary: list[int] = []
    for character in migration_id:
        upper = int(character != character.lower())
        lowered = character.lower()
        if lowered in _EXPANSIONS:  # as its letters, after them in any case
            for number, part in enumerate(_EXPANSIONS[lowered]):
                primary.append(_ASCII[part][0])
                secondary.append(() if number else (_EXPANDED,))
                tertiary.append(upper)
            continue
        lowered = _STROKED[lowered] + _STROKE if lowered in _STROKED else lowered
        for part in unicodedata.normalize("NFD", lowered):
            if unicodedata.combining(part) or part == _STROKE:
                if secondary:
                    secondary[-1] += (_accent_weight(part),)
                continue
            weight, case = _ASCII[part] if part in _ASCII else (_other_weight(part), 0)
            primary.append(weight)
            secondary.append(())
            tertiary.append(case or upper)
    return tuple(primary), tuple(secondary), tuple(tertiary)


def _accent_weight(mark: str) -> int:
    if mark in _ACCENTS:
        return _ACCENTS.index(mark)
    return len(_ACCENTS) + (0 if mark == _STROKE else ord(mark))


def _other_weight(character: str) -> Weight:
    category = unicodedata.category(character)
    if category[0] in "PSZ":
        return _OTHER_SYMBOL, ord(character)
    if category == "Nd":
        return _DIGIT, unicodedata.digit(character)
    if character == "\u0131":  # dotless i
        return _LETTER, 2 * ord("i") + 1
    return _OTHER, ord(character)


def sorted_ids(ids: Iterable[str]) -> list[str]:
    """``ids`` in Prisma's order."""
    return sorted(ids, key=migration_order_key)
