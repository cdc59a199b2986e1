"""The record a step-by-step attempt keeps in its ledger row's ``logs`` while it runs.

Before a statement whose effect the catalogue can show, or one that commits apart from its
progress count (DDL on MySQL/MariaDB, ``CREATE INDEX CONCURRENTLY``), the executor writes what
the statement found: whether each object it creates or drops existed or, for one that alters
a value in place (a column's default, a comment), the statements that put the value back.
The write commits before the statement is sent, so after a kill the next apply knows, for
every statement that ran or may have run, what it found, and so what it can have created.
The journal gives way to the outcome: NULL on success (as Prisma writes), the error on failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# The first words of a journal: how a row is recognised as an attempt still running (or
# whose process died), and what an operator reading the row sees.
MARK = "In progress:"
_SENTENCE = (
    f"{MARK} statement by statement; what each statement found in the catalogue before it "
    "ran, for the next apply if this process dies: "
)


@dataclass(frozen=True)
class Restore:
    """The statements putting back what a statement alters in place, read before it ran."""

    statements: tuple[str, ...]


# statement number -> whether each object existed, what puts its values back, or None: not read
Entries = dict[int, tuple[bool, ...] | Restore | None]


def encode(entries: Entries) -> str:
    return _SENTENCE + json.dumps({str(number): _raw(found) for number, found in entries.items()})


def _raw(found: tuple[bool, ...] | Restore | None) -> object:
    return {"restore": list(found.statements)} if isinstance(found, Restore) else found


def decode(logs: str | None) -> Entries | None:
    """The entries of a journal; None if ``logs`` is not one (a legacy row has no logs)."""
    if not is_journal(logs):
        return None
    assert logs is not None
    try:
        raw = json.loads(logs[len(_SENTENCE) :])
    except ValueError:
        return None
    return {int(number): _entry(found) for number, found in raw.items()}


def _entry(raw: object) -> tuple[bool, ...] | Restore | None:
    if isinstance(raw, dict):
        return Restore(tuple(str(line) for line in raw.get("restore", ())))
    if isinstance(raw, list):
        return tuple(bool(flag) for flag in raw)
    return None


def is_journal(logs: str | None) -> bool:
    return logs is not None and logs.startswith(_SENTENCE)
