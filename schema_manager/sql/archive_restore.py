"""The generated rollback with the archive's restore steps: the one place they join it.

In place of a statement's ``-- WARNING`` (it removes data), the archive's inverse (a dropped
table moved back, a dropped column added again); after every catalogue step, the data
restores in reverse statement order, each under a ``-- NOTE`` saying what comes back and
what does not. The constraints the rollback puts back (``SET NOT NULL``, ``ADD CONSTRAINT``,
unique indexes) follow the restores: until the old values are back, the rows hold what the
migration left (a dropped column's ``NULL``s, values an ``UPDATE`` set past a dropped
``CHECK``), which they would refuse.
"""

from __future__ import annotations

from .archive_plan import ArchivePlan
from .operations import AddConstraint, AlterColumn, AlterTable, OtherAction
from .reading import describe
from .rollback import WARNING_PREFIX, RollbackScript
from .statements import Statement, parse_statements

_CATALOGUE_NOTE = "-- NOTE: statement {n} ("  # the catalogue's "data does not come back"


def extend_rollback(script: RollbackScript, plan: ArchivePlan) -> RollbackScript:
    """``script`` (the catalogue steps) with ``plan``'s restore steps."""
    if not plan.steps:
        return script
    out = RollbackScript(warnings=list(script.warnings))
    indexes = {step.index for step in plan.steps}
    constraints: list[str] = []  # put back once the values satisfy them again
    for line in script.lines:
        if _constrains(line, plan.vendor):
            constraints.append(line)
            continue
        index = _statement_of(line, indexes)
        if index is None:
            out.lines.append(line)
            continue
        steps = plan.steps_of(index)
        if line.startswith(WARNING_PREFIX):
            if not all(step.inverse_complete for step in steps):
                out.lines.append(line)  # the archive restores the data, not the rest
                continue
            out.warnings = [w for w in out.warnings if not line.endswith(w)]
            for step in reversed(steps):
                out.lines.extend(step.inverse)
        # The catalogue's own note (the data does not come back) gives way to the archive's.
    restores = [step for step in reversed(plan.steps)]
    out.lines.append(
        "-- NOTE: what the migration removed was archived when it ran; it is restored below."
    )
    for step in restores:
        out.lines.append(f"-- NOTE: {step.note}")
        for line in step.restore:
            if not _constrains(line, plan.vendor):
                out.lines.append(line)
            elif line not in constraints:
                constraints.append(line)
    if constraints:
        out.lines.append("-- NOTE: the constraints come back once the values above are back.")
        out.lines.extend(dict.fromkeys(constraints))  # each once, in order
    return out


def _constrains(line: str, dialect: str) -> bool:
    """Whether ``line`` only puts a constraint back (rows must satisfy it)."""
    if line.lstrip().startswith("--"):
        return False
    statements = parse_statements(line, dialect)
    return bool(statements) and all(_constraint(statement) for statement in statements)


def _constraint(statement: Statement) -> bool:
    if statement.starts_with("CREATE", "UNIQUE", "INDEX"):
        return True
    operation = describe(statement)
    if not isinstance(operation, AlterTable) or not operation.actions:
        return False
    return all(
        isinstance(action, AddConstraint)
        or (isinstance(action, AlterColumn) and action.change == "SET NOT NULL")
        or (
            isinstance(action, OtherAction)
            and action.text.upper().startswith("VALIDATE CONSTRAINT")
        )
        for action in operation.actions
    )


def _statement_of(line: str, indexes: set[int]) -> int | None:
    """The archived statement whose catalogue WARNING or NOTE ``line`` is, if any."""
    for index in indexes:
        n = index + 1
        if line.startswith(f"{WARNING_PREFIX} cannot roll back statement {n} (") or (
            line.startswith(_CATALOGUE_NOTE.format(n=n))
        ):
            return index
    return None
