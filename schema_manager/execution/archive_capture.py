"""Archiving what destructive statements remove, as an apply runs them: in the migration's
own transaction (PostgreSQL, SQLite), each capture sent before (or, for a dropped table moved
into the archive, instead of) its statement; statement by statement (MariaDB, whose DDL
commits by itself), each capture in the step of its statement."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, Protocol

from django.db import transaction

from ..exceptions import MigrationStateError
from ..sql import Statement, parse_statements
from .crash import crash_point
from .outcome import Outcome, StatementError


class Archive(Protocol):
    """What an apply archives before (or instead of) each destructive statement (see
    ``sql.archive_plan.ArchivePlan``)."""

    steps: list[Any]

    def capture(self, statement: Statement) -> tuple[list[str], bool]: ...

    def compensation(self, statement: Statement) -> tuple[str, ...] | None: ...


def with_archive(
    statements: Iterable[Statement], archive: Archive, vendor: str
) -> Iterator[Statement]:
    """``statements`` with the archive's captures before (or instead of) each; a capture
    carries its statement's index, so an error in it names that statement."""
    for statement in statements:
        lines, replaces = archive.capture(statement)
        for line in lines:
            # The kill tests' seam: dying while the captures are sent leaves nothing behind.
            crash_point(f"archive-{statement.index + 1}")
            yield replace(parse_statements(line, vendor)[0], index=statement.index)
        if not replaces:
            yield statement


def archives_apart(archive: Archive | None, vendor: str) -> bool:
    """MariaDB's archive tables are DDL, which commits: it archives statement by statement."""
    return archive is not None and bool(archive.steps) and vendor == "mysql"


def refuse_after_recovery(archive: Archive | None, outcome: Outcome, migration_id: str) -> None:
    """After this apply compensated a dead attempt, its archive plan (read from the tables
    as that attempt had left them) cannot be trusted: nothing more is run."""
    if archive is not None and archive.steps and outcome.recovered:
        raise MigrationStateError(
            f"Migration {migration_id}: an interrupted attempt was compensated just now "
            "(what it had archived is back), but what this apply would archive was read "
            "before that, from the tables as the attempt had left them. Nothing else was run; "
            "apply again."
        )


@dataclass
class StepCapture:
    """One statement's capture in a statement-by-statement run (MariaDB).

    In this order: the archive table, created empty (DDL: it commits; a dead attempt's one is
    dropped first); for a statement that commits by itself (DDL, TRUNCATE), the copy, which
    commits before it; then the step's journal entry (``restore``: what puts everything back,
    whether or not the statement ran); then the statement, with the copy in its own
    transaction where it is a DELETE or UPDATE: the archive and the change commit together,
    with the step's progress, or neither does. A dropped table is renamed into the archive
    instead (one atomic DDL statement)."""

    before: list[Statement]  # run first, each by itself
    together: list[Statement]  # run in the statement's own transaction
    run: list[Statement]  # the statement, or what replaces it
    restore: tuple[str, ...]

    @classmethod
    def of(cls, archive: Archive, statement: Statement, vendor: str) -> StepCapture | None:
        lines, replaces = archive.capture(statement)
        restore = archive.compensation(statement)
        if not lines or restore is None:
            return None
        parsed = [
            replace(parse_statements(line, vendor)[0], index=statement.index) for line in lines
        ]
        if replaces:
            return cls([], [], parsed, restore)
        copies = [line for line in parsed if line.words[0].upper == "INSERT"]
        before = [line for line in parsed if line not in copies]
        if statement.words[0].upper in ("DELETE", "UPDATE"):
            return cls(before, copies, [statement], restore)
        return cls(before + copies, [], [statement], restore)

    @property
    def cleanup(self) -> tuple[str, ...]:
        """What a failed statement leaves of its capture: the archive table (MariaDB's DDL is
        atomic and the copy of a DELETE or UPDATE rolls back with it)."""
        return tuple(line for line in self.restore if line.startswith("DROP TABLE IF EXISTS"))

    def prepare(self, connection: Any) -> None:
        for line in self.before:
            crash_point(f"archive-{line.index + 1}")
            _send(connection, line)

    def transaction(self, connection: Any) -> AbstractContextManager[Any]:
        """The statement's transaction, with the copy sent in it first."""
        if not self.together:
            return nullcontext()
        return _together(connection, self.together)


class _together:
    def __init__(self, connection: Any, lines: list[Statement]) -> None:
        self.atomic = transaction.atomic(using=connection.alias)
        self.connection, self.lines = connection, lines

    def __enter__(self) -> None:
        self.atomic.__enter__()
        try:
            for line in self.lines:
                crash_point(f"archive-{line.index + 1}")
                _send(self.connection, line)
        except BaseException as exc:
            self.atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def __exit__(self, *exc: Any) -> Any:
        return self.atomic.__exit__(*exc)


def _send(connection: Any, line: Statement) -> None:
    """One capture statement; an error names the statement it archives."""
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(line.text)
    except Exception as exc:
        raise StatementError(line, exc) from exc
