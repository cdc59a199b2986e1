"""What a migration id may be: the name of one folder that Prisma Migrate would list. Pure.

Prisma takes every subfolder of ``migrations/`` as a migration and its name, whatever it is,
as the migration's name (``prisma migrate dev`` with an empty ``--name`` writes
``<timestamp>_``). An id is accepted unless it could not be such a folder's name, or would be
unsafe where ids go (folder paths, the ledger's ``VARCHAR(255)``, logs, comments of generated
SQL, terminals): no path separator, not ``.`` or ``..``, no control or text-direction
character, at most 255 characters and 255 bytes of UTF-8 (a folder name's limit).
"""

from __future__ import annotations

import unicodedata

MIGRATION_ID_MAX_LENGTH = 255

# Characters that reorder or hide text when shown (Unicode's bidirectional controls): an id
# must read as it is stored.
_DIRECTION_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e") | frozenset(
    "\u2066\u2067\u2068\u2069"
)
# Control characters (a newline would end a log line or a ``--`` comment of generated SQL),
# lone surrogates (a folder name that is not UTF-8), and line or paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def id_problems(migration_id: str) -> list[str]:
    """Why ``migration_id`` cannot be a migration's id, one sentence each (none: it can)."""
    if not migration_id:
        return ["Migration id is empty."]
    return [] if _plain(migration_id) else _problems(migration_id)


def _problems(migration_id: str) -> list[str]:
    shown = repr(migration_id)
    if migration_id in (".", ".."):
        return [
            f"Migration id {shown} names the migrations folder or its parent, not a folder "
            "of its own."
        ]
    problems = []
    separators = sorted({c for c in migration_id if c in "/\\"})
    if separators:
        problems.append(
            f"Migration id {shown} contains {' and '.join(map(repr, separators))}; it must be "
            "the name of one folder under migrations/, not a path."
        )
    refused = sorted({c for c in migration_id if _is_refused(c)})
    if refused:
        codes = ", ".join(f"U+{ord(c):04X}" for c in refused[:5])
        problems.append(
            f"Migration id {shown} contains a control, text-direction or undecodable "
            f"character ({codes}); rename its folder."
        )
    size = len(migration_id.encode("utf-8", "surrogatepass"))
    if len(migration_id) > MIGRATION_ID_MAX_LENGTH or size > MIGRATION_ID_MAX_LENGTH:
        length = (
            f"{len(migration_id)} characters"
            if len(migration_id) > MIGRATION_ID_MAX_LENGTH
            else f"{size} bytes of UTF-8"
        )
        problems.append(
            f"Migration id is {length} long; the limit is {MIGRATION_ID_MAX_LENGTH} "
            "(a folder name's, and the ledger's migration_name column)."
        )
    return problems


def _plain(migration_id: str) -> bool:
    """Printable ASCII without a separator, short enough, not a dot name: every id Prisma
    writes, accepted without looking at each character's Unicode category."""
    return (
        migration_id.isascii()
        and migration_id.isprintable()
        and "/" not in migration_id
        and "\\" not in migration_id
        and migration_id not in (".", "..")
        and len(migration_id) <= MIGRATION_ID_MAX_LENGTH
    )


def _is_refused(character: str) -> bool:
    return (
        character in _DIRECTION_CONTROLS or unicodedata.category(character) in _REFUSED_CATEGORIES
    )
