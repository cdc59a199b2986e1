"""What a rollback says of a statement without an inverse statement: a setting that ends with
the migration's transaction needs none; a DO block is read statement by statement; the others
say why they cannot be undone.

A DO block runs its code once, as the migration runs. Where every statement of it only
reads or changes rows (``INSERT``, ``UPDATE``, ``DELETE``, ``MERGE``, ``SELECT``), the schema
is as before without an inverse: a ``-- NOTE:`` says the rows stay as they are. Otherwise
the rollback names what it cannot undo: the statements that change the schema (or do what
is not read here), and SQL built at run time (``EXECUTE``), which no reading can know.
"""

from __future__ import annotations

from .bodies import Body, do_block
from .operations import DataChange, DataStatement, Drop, Operation, Truncate
from .reading import describe
from .session_detection import execution_setting
from .statements import Statement

NOTE_PREFIX = "-- NOTE:"
_DATA_LOSS = "the data it removes cannot be restored; write the rollback by hand"
_BY_HAND = "write the rollback by hand"
_READS = frozenset({"SELECT", "PERFORM"})


def invert_do_block(statement: Statement, block: Body) -> tuple[list[str], str | None]:
    """(the note, None) for a block that changes rows only; ([], why) otherwise."""
    changes: list[str] = []
    unknown: list[str] = []
    for inner in block.statements:
        verb = inner.words[0].upper
        if verb in _READS:
            continue
        kind = describe(inner)
        if isinstance(kind, (DataChange, DataStatement)):
            if verb not in changes:
                changes.append(verb)
        elif verb != "EXECUTE":
            shown = " ".join(word.upper for word in inner.words[:2])
            if shown not in unknown:
                unknown.append(shown)
    if not unknown and not block.dynamic:
        return [
            rows_note(statement, f"{', '.join(changes)} {block.where}" if changes else "")
        ], None
    parts = []
    if unknown:
        parts.append(f"{block.where} runs {', '.join(unknown)}, which the generator does not undo")
    if block.dynamic:
        parts.append(
            f"{'it' if unknown else block.where} runs SQL built at run time (EXECUTE), which "
            "no reading of the script can know"
        )
    return [], f"{'; '.join(parts)}; write the rollback by hand"


def rows_note(statement: Statement, what: str = "") -> str:
    """The ``-- NOTE:`` of a statement that changes rows only (``what``: how, in words)."""
    return (
        f"{NOTE_PREFIX} statement {statement.index + 1} ({statement.summary}) changes rows "
        f"only{f' ({what})' if what else ''}; the rollback leaves the data as it is."
    )


_HOLDS_DATA = {"TABLE", "SCHEMA", "DATABASE", "MATERIALIZED VIEW", "SEQUENCE"}


def without_inverse(operation: Operation, dialect: str) -> tuple[list[str], str | None]:
    """(lines, why it cannot be undone) for a statement the generator has no inverse of."""
    statement = operation.statement
    heads = [word.upper for word in statement.words[:3]]
    if heads[:2] in (["SET", "LOCAL"], ["SET", "TRANSACTION"]):
        return [], None  # it lasts for the migration's transaction only: nothing to undo
    if heads[0] == "LOCK" and dialect == "postgresql":
        # Held until the transaction ends, and changes nothing. (MySQL's LOCK TABLES
        # commits the open transaction: left to the warning.)
        return [], None
    if execution_setting(statement.words):
        return [], None  # a timeout, memory, messages: nothing the schema keeps changed
    if type(operation) is Operation and (block := do_block(statement)) is not None:
        return invert_do_block(statement, block)
    return [], _why_not(operation)


def _why_not(operation: Operation) -> str:
    if isinstance(operation, Drop):
        kind = operation.object_type.lower()
        article = "an" if kind[0] in "aeiou" else "a"
        if operation.object_type in _HOLDS_DATA:
            return f"it drops {article} {kind}; {_DATA_LOSS}"
        return f"it drops {article} {kind} whose definition is not in this script; {_BY_HAND}"
    if isinstance(operation, Truncate):
        return f"it truncates a table; {_DATA_LOSS}"
    return f"no automatic inverse is known for this statement; {_BY_HAND}"
