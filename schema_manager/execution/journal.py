"""The record a step-by-step attempt keeps in its ledger row's ``logs`` while it runs.

Before a statement whose effect the catalogue can show, or one that commits apart from its
progress count (DDL on MySQL/MariaDB, ``CREATE INDEX CONCURRENTLY``), the executor writes what
the statement found: whether each object it creates or drops existed. The write commits
before the statement is sent, so after a kill the next apply knows, for every statement that
ran or may have run, what it found, and so what it can have created. The journal gives way
to the outcome: NULL on success (as Prisma writes), the error on failure.
"""

from __future__ import annotations

import json

# The first words of a journal: how a row is recognised as an attempt still running (or
# whose process died), and what an operator reading the row sees.
MARK = "In progress:"
_SENTENCE = (
    f"{MARK} statement by statement; what each statement found in the catalogue before it "
    "ran, for the next apply if this process dies: "
)

Entries = dict[int, tuple[bool, ...] | None]  # statement number -> existed, or None: not read


def encode(entries: Entries) -> str:
    return _SENTENCE + json.dumps({str(number): found for number, found in entries.items()})


def decode(logs: str | None) -> Entries | None:
    """The entries of a journal; None if ``logs`` is not one (a legacy row has no logs)."""
    if not is_journal(logs):
        return None
    assert logs is not None
    try:
        raw = json.loads(logs[len(_SENTENCE) :])
    except ValueError:
        return None
    return {
        int(number): None if found is None else tuple(bool(flag) for flag in found)
        for number, found in raw.items()
    }


def is_journal(logs: str | None) -> bool:
    return logs is not None and logs.startswith(_SENTENCE)
