"""Archiving in the migration's own transaction: each destructive statement preceded (or, for
a dropped table moved into the archive, replaced) by its capture."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Protocol

from ..sql import Statement, parse_statements
from .crash import crash_point


class Archive(Protocol):
    """What an apply archives before (or instead of) each destructive statement (see
    ``sql.archive_plan.ArchivePlan``)."""

    def capture(self, statement: Statement) -> tuple[list[str], bool]: ...


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
