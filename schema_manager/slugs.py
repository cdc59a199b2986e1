"""The folder slug Prisma makes of a migration's name (``prisma migrate dev --name``).

Prisma lowercases the name and makes it ASCII: ``&`` is spelled ``and``, letters lose their
accents (``ñ`` -> ``n``, German ``ä`` -> ``ae``), camelCase words are split, an apostrophe
before ``s`` or ``t`` goes, and every other run of characters becomes one ``_``, none at
either end; at most 200 characters. Prisma also transliterates whole other alphabets
(Cyrillic, Greek, ...) by a table of its own and drops what it has no entry for; this module
carries neither, so a name with such letters (or digits) is refused (``UntranslatableName``)
rather than given a folder name Prisma would not give it.
"""

from __future__ import annotations

import re
import unicodedata

from .exceptions import SchemaManagerError

MAX_LENGTH = 200

# Words Prisma spells out, then the Latin letters Unicode does not decompose into a base
# letter and an accent (and German's umlauts, which Prisma spells with an ``e``).
_SPELLED = {"&": " and ", "\u2665": " love ", "\U0001f984": " unicorn "}
_LETTERS = str.maketrans(
    {
        "ä": "ae", "Ä": "Ae", "ö": "oe", "Ö": "Oe", "ü": "ue", "Ü": "Ue",
        "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O",
        "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "đ": "d", "Đ": "D",
        "ł": "l", "Ł": "L", "\u0131": "i", "ħ": "h", "Ħ": "H", "ĳ": "ij", "Ĳ": "IJ",
        "€": "E", "¢": "c", "¥": "Y",
    }
)  # fmt: skip
# Marks removed after decomposition, as Prisma removes Unicode's diacritics: combining
# marks (Mn), modifier symbols (Sk, e.g. ^ and `) and the middle dot.
_MARK_CATEGORIES = frozenset({"Mn", "Sk"})
_MIDDLE_DOT = "\u00b7"
# camelCase -> camel Case, as Prisma splits words before lowercasing.
_CAMEL_CASE = (
    (re.compile(r"([A-Z]{2,})(\d+)"), r"\1 \2"),
    (re.compile(r"([a-z\d]+)([A-Z]{2,})"), r"\1 \2"),
    (re.compile(r"([a-z\d])([A-Z])"), r"\1 \2"),
    (re.compile(r"([A-Z]+)([A-Z][a-rt-z\d]+)"), r"\1 \2"),
)
_CONTRACTION = re.compile(r"([a-zA-Z\d]+)'([ts])(\s|$)")
_SEPARATORS = re.compile(r"[^a-z\d]+")


class UntranslatableName(SchemaManagerError):
    """A name with letters or digits outside the Latin alphabets this module transliterates."""


def slugify(name: str) -> str:
    """The folder slug of ``name`` (possibly empty), as Prisma makes it."""
    text = unicodedata.normalize("NFC", name)
    for character, spelled in _SPELLED.items():
        text = text.replace(character, spelled)
    text = _without_marks(text.translate(_LETTERS))
    foreign = sorted({c for c in text if not c.isascii() and unicodedata.category(c)[0] in "LN"})
    if foreign:
        raise UntranslatableName(
            f"Migration name {name!r} has characters that cannot be put into a folder name as "
            f"Prisma would ({', '.join(foreign[:5])}); write the name in Latin letters."
        )
    for pattern, replacement in _CAMEL_CASE:
        text = pattern.sub(replacement, text)
    text = _CONTRACTION.sub(r"\1\2\3", text.lower())
    return _SEPARATORS.sub("_", text).strip("_")[:MAX_LENGTH]


def _without_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    kept = (
        c
        for c in decomposed
        if unicodedata.category(c) not in _MARK_CATEGORIES and c != _MIDDLE_DOT
    )
    return unicodedata.normalize("NFC", "".join(kept))
