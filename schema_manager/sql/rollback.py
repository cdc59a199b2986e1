"""Rollback generation: each recognised statement's inverse, in reverse order, per dialect,
its names re-quoted for the target (``names.render_name``): bare when the database reads
them back as the same name, quoted (safely) otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .created import to_undo
from .lexer import DIALECTS
from .names import QualifiedName, render_name, render_part, render_words, split_top_level
from .operations import (
    AddColumn,
    AddConstraint,
    AlterAction,
    AlterColumn,
    AlterObject,
    AlterTable,
    CommentOn,
    CreateIndex,
    CreateObject,
    CreateTable,
    DataChange,
    DataStatement,
    DropColumn,
    Operation,
    Rename,
    RenameTo,
)
from .reading import describe
from .rollback_blocks import rows_note, without_inverse
from .session_detection import is_transaction_control
from .statements import Statement, large_input_gc_pause, parse_statements
from .table_actions import row_security, using_index

WARNING_PREFIX = "-- WARNING:"  # a statement is not undone: the script must not run as is
# The script runs, but what it restores may differ from before in the way it says.
CAUTION_PREFIX = "-- CAUTION:"
NOTE_PREFIX = "-- NOTE:"  # what a rollback does not bring back (data), the schema being exact
_DATA_LOSS = "the data it removes cannot be restored; write the rollback by hand"
_BY_HAND = "write the rollback by hand"


@dataclass
class RollbackScript:
    """The generated script as ordered lines: inverse statements and ``-- WARNING`` lines."""

    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def is_complete(self) -> bool:
        """True when every statement was inverted (no warning)."""
        return not self.warnings


def generate_rollback(
    sql: str, vendor: str, captured: Mapping[int, list[str]] | None = None
) -> RollbackScript:
    """Invert the statements of ``sql`` for ``vendor`` ('postgresql', 'sqlite', 'mysql').

    ``captured`` maps a statement's index to inverse statements read from the live target
    before the migration ran (``schema_manager.capture``), with their own ``-- NOTE:`` and
    ``-- CAUTION:`` lines; they replace the inverse read from the SQL alone.
    """
    with large_input_gc_pause(sql):
        return _generate(sql, vendor, captured)


def _generate(sql: str, vendor: str, captured: Mapping[int, list[str]] | None) -> RollbackScript:
    script = RollbackScript()
    statements = parse_statements(sql, vendor)
    for statement, operation in reversed(
        list(zip(statements, to_undo(statements, vendor), strict=True))
    ):
        if captured and statement.index in captured:
            # Read from the catalog, with its own notes (and warnings, where it says why not).
            for line in captured[statement.index]:
                script.lines.append(line)
                if line.startswith(WARNING_PREFIX):
                    script.warnings.append(line[len(WARNING_PREFIX) :].strip())
            continue
        if is_transaction_control(statement.words):
            continue  # the script's own BEGIN / COMMIT: the rollback runs in one transaction
        if operation is None or (isinstance(operation, AlterTable) and not operation.actions):
            continue  # it altered only what the script created: undoing that removes it
        inverse, warning = invert_operation(operation, vendor)
        script.lines.extend(inverse)
        if warning:
            line = f"{WARNING_PREFIX} cannot roll back statement {statement.index + 1} "
            line += f"({statement.summary}): {warning}."
            script.lines.append(line)
            script.warnings.append(line[len(WARNING_PREFIX) :].strip())
    if not script.lines and captured and statements:
        # Said, so that the script is not taken for a missing one (nor generated again from
        # the SQL alone, which cannot know that there is nothing to undo).
        script.lines.append(
            f"{NOTE_PREFIX} nothing to undo: read from the target before the migration ran, "
            "its statements changed nothing that a rollback must restore (an IF EXISTS of "
            "what was not there, an IF NOT EXISTS of what was)."
        )
    return script


Inverse = tuple[list[str], str | None]  # statements, and why it cannot be (fully) undone


def invert(statement: Statement, vendor: str) -> Inverse:
    """The statements undoing ``statement`` and, if it cannot be fully undone, why."""
    return invert_operation(describe(statement), vendor)


def invert_operation(operation: Operation, vendor: str) -> Inverse:
    """``invert`` for a recognised statement (or part of one: some of an ALTER TABLE's
    actions, for compensation that undoes only those)."""
    dialect = vendor if vendor in DIALECTS else "postgresql"
    if isinstance(operation, CreateTable) and operation.temporary:
        return [_drop_temporary(operation.table, dialect)], None
    if isinstance(operation, CreateTable):
        cascade = " CASCADE" if dialect == "postgresql" else ""
        return [f"DROP TABLE IF EXISTS {render_name(operation.table, dialect)}{cascade};"], None
    if isinstance(operation, CreateIndex):
        return _drop_index(operation, dialect)
    if isinstance(operation, CreateObject):
        return drop_object(operation, dialect)
    if isinstance(operation, CommentOn):
        return _uncomment(operation, dialect)
    if isinstance(operation, AlterTable):
        return _invert_alter(operation, dialect)
    if isinstance(operation, AlterObject) and operation.action != "ADD VALUE":
        return _invert_alter_object(operation, dialect)
    if isinstance(operation, (DataChange, DataStatement)):
        return [rows_note(operation.statement)], None
    return without_inverse(operation, dialect)


def _invert_alter_object(operation: AlterObject, dialect: str) -> Inverse:
    if dialect != "postgresql":
        return [], f"ALTER {operation.kind} is PostgreSQL syntax here; {_BY_HAND}"
    if operation.action == "RENAME VALUE":
        name = render_name(operation.name, dialect)
        return [f"ALTER TYPE {name} RENAME VALUE {operation.new} TO {operation.old};"], None
    # The object now has the new name, in the same schema; give it the old one back.
    renamed = QualifiedName((*operation.name.parts[:-1], operation.new))
    old = render_part(operation.name.object, dialect)
    return [f"ALTER {operation.kind} {render_name(renamed, dialect)} RENAME TO {old};"], None


def _drop_index(operation: CreateIndex, dialect: str) -> Inverse:
    if operation.index is None:
        return [], "the index has no name (the database chose one), so it cannot be dropped by name"
    if dialect == "mysql":
        index = render_part(operation.index.object, dialect)
        return [f"DROP INDEX {index} ON {render_name(operation.table, dialect)};"], None
    return [f"DROP INDEX IF EXISTS {render_name(operation.index, dialect)};"], None


def _drop_temporary(table: QualifiedName, dialect: str) -> str:
    """A temporary table dropped from the session's temporary schema only: a plain name could
    resolve, in the rollback's session, to a permanent table of the same name."""
    name = render_part(table.object, dialect)
    schema = {"mysql": "", "sqlite": "temp."}.get(dialect, "pg_temp.")
    return f"DROP {'TEMPORARY ' if dialect == 'mysql' else ''}TABLE IF EXISTS {schema}{name};"


def drop_object(operation: CreateObject, dialect: str) -> Inverse:
    kind = operation.kind.lower()
    if operation.or_replace:
        return [], (
            f"OR REPLACE may have replaced an existing {kind} whose definition is not in this "
            f"script; {_BY_HAND}"
        )
    name = render_name(operation.name, dialect)
    if operation.kind in ("FUNCTION", "PROCEDURE") and dialect == "postgresql":
        name += f"({_signature(operation, dialect)})"
    if operation.kind == "TRIGGER" and dialect == "postgresql":
        if operation.table is None:
            return [], f"the trigger's table was not found; {_BY_HAND}"
        name += f" ON {render_name(operation.table, dialect)}"
    return [f"DROP {operation.kind} IF EXISTS {name};"], None


def _signature(operation: CreateObject, dialect: str) -> str:
    """The argument list DROP FUNCTION accepts: each argument without its default."""
    arguments = []
    for words in split_top_level(list(operation.arguments or ())):
        kept = []
        for word in words:
            if word.upper == "DEFAULT" or word.text == "=":
                break
            kept.append(word)
        arguments.append(render_words(kept, dialect))
    return ", ".join(arguments)


def _uncomment(operation: CommentOn, dialect: str) -> Inverse:
    if dialect != "postgresql":
        return [], f"COMMENT ON is PostgreSQL syntax; {_BY_HAND}"
    return [f"COMMENT ON {render_words(operation.target, dialect)} IS NULL;"], None


def _invert_alter(operation: AlterTable, dialect: str) -> Inverse:
    if any(isinstance(action, DropColumn) for action in operation.actions):
        return [], f"it drops a column; {_DATA_LOSS}"
    table = render_name(operation.table, dialect)
    inverses: list[str] = []
    for action in reversed(operation.actions):
        if isinstance(action, RenameTo):
            # The table now has the new name (in the same schema); give it the old one back.
            renamed = QualifiedName((*operation.table.parts[:-1], action.new))
            old = render_part(operation.table.object, dialect)
            inverses.append(f"ALTER TABLE {render_name(renamed, dialect)} RENAME TO {old};")
            continue
        clause, why = invert_action(action, dialect)
        if clause is None:
            return [], why or "this ALTER TABLE action has no automatic inverse yet; " + _BY_HAND
        inverses.append(f"ALTER TABLE {table} {clause};")
        if isinstance(action, AlterColumn) and action.change == "SET DEFAULT":
            inverses.append(
                f"{CAUTION_PREFIX} the default column {render_part(action.column, dialect)} "
                "had before is not known without the target's catalog: this drops it."
            )
    return inverses, None


def invert_action(action: AlterAction, dialect: str) -> tuple[str | None, str | None]:
    """The ALTER TABLE clause undoing ``action``, or why there is none."""
    if isinstance(action, AddColumn):
        if_exists = " IF EXISTS" if dialect == "postgresql" else ""
        return f"DROP COLUMN{if_exists} {render_part(action.column, dialect)}", None
    if isinstance(action, AddConstraint):
        return _drop_constraint(action, dialect)
    if isinstance(action, Rename):
        if action.what == "CONSTRAINT" and dialect != "postgresql":
            return None, f"only PostgreSQL renames constraints; {_BY_HAND}"
        new, old = render_part(action.new, dialect), render_part(action.old, dialect)
        return f"RENAME {action.what} {new} TO {old}", None
    if isinstance(action, AlterColumn):
        return _invert_alter_column(action, dialect)
    if (switch := row_security(action)) is not None:
        if dialect != "postgresql":
            return None, f"row level security is PostgreSQL's; {_BY_HAND}"
        # Without the catalog (captured, it says how it was) taken to have been the other way.
        return switch.clause(not switch.on), None
    return None, None


def _drop_constraint(action: AddConstraint, dialect: str) -> tuple[str | None, str | None]:
    if (index := using_index(action)) is not None:  # read from the catalog where it is
        return None, f"the key takes over the index {index}, which dropping it removes; {_BY_HAND}"
    if dialect == "sqlite":
        return None, f"SQLite cannot drop a constraint without rebuilding the table; {_BY_HAND}"
    if dialect == "mysql" and action.kind == "PRIMARY KEY":
        return "DROP PRIMARY KEY", None
    if action.name is None:
        return None, (
            "the constraint has no name (the database chose one), so it cannot be dropped "
            "by name; name it with ADD CONSTRAINT <name>"
        )
    constraint = render_part(action.name, dialect)
    if dialect == "postgresql":
        return f"DROP CONSTRAINT IF EXISTS {constraint}", None
    if action.kind == "FOREIGN KEY":
        return f"DROP FOREIGN KEY {constraint}", None
    if action.kind in ("UNIQUE", "INDEX"):
        return f"DROP INDEX {constraint}", None
    return f"DROP CONSTRAINT {constraint}", None


def _invert_alter_column(action: AlterColumn, dialect: str) -> tuple[str | None, str | None]:
    column = render_part(action.column, dialect)
    if dialect == "sqlite":
        return None, f"SQLite cannot alter a column; {_BY_HAND}"
    if action.change == "SET DEFAULT":
        # Without the catalog (captured, it says) the previous default is not known.
        return f"ALTER COLUMN {column} DROP DEFAULT", None
    if action.change in ("SET NOT NULL", "DROP NOT NULL"):
        if dialect != "postgresql":
            return None, f"MySQL changes nullability only with MODIFY and the full type; {_BY_HAND}"
        undo = "DROP NOT NULL" if action.change == "SET NOT NULL" else "SET NOT NULL"
        return f"ALTER COLUMN {column} {undo}", None
    if action.change == "DROP DEFAULT":
        return None, f"the previous default is not in this script; {_BY_HAND}"
    if action.change == "TYPE":
        return None, f"the previous type is not in this script; {_BY_HAND}"
    return None, None
