"""How history records reach the app's database, behind ``VersionRecord.objects.record``:
each as it comes, or overlapped with the next migration.

A record is one INSERT and one commit in the app's database; written as it comes, each
migration waits for it. On PostgreSQL (psycopg 3) a long batch instead sends each
successful attempt's INSERT on a connection of its own and collects the result later —
before the target commits its next migration, and when the batch ends — so the app's
database writes the record while the target runs the next script. Nothing is deferred past
the next commit on the target: if a record cannot be written, the next migration is rolled
back and the batch stops with the error, as it would have one migration earlier.

On the target's own PostgreSQL server (one write-ahead log), a record's commit leaves the
log's flush to the target's next commit, which comes after it and flushes the log past it;
closing the writer flushes it past the last. One flush per migration instead of two.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from django.db import DatabaseError, connections, router
from django.db.models import Model

from .backends.postgresql import is_psycopg3
from .history_direct import RecordWriter, write_record
from .history_overlap import FLUSH, OverlappedRecordWriter
from .security import get_logger
from .thread_scopes import ThreadScope, within

__all__ = [
    "FLUSH",
    "OVERLAP_FROM",
    "OverlappedRecordWriter",
    "RecordWriter",
    "kept",
    "write_record",
    "writer_for",
]

logger = get_logger("schema_manager.history")

# Below this many migrations, opening the extra connection costs more than overlapping saves
# (a connection costs a few milliseconds; overlapping saves a fraction of one per record).
OVERLAP_FROM = 32


class _Kept(ThreadScope):
    def __init__(self) -> None:
        self.writer: OverlappedRecordWriter | None = None


_kept = _Kept()


@contextmanager
def kept() -> Iterator[None]:
    """Within the block, this thread's plans of any length share one overlapped writer, its
    connection to the app's database opened at the first record and closed when the block
    ends (a fleet task's targets: the connection is paid for once, not per plan). Each plan
    still settles and flushes its records when it closes, as a writer of its own would."""
    with within(_kept, _close_kept):
        yield


def _close_kept() -> None:
    writer, _kept.writer = _kept.writer, None
    if writer is not None:
        with suppress(DatabaseError):
            writer.wrapper.close()


class _PlanOfKept(RecordWriter):
    """One plan's view of the kept writer: closing it ends the plan, not the connection."""

    def __init__(self, writer: OverlappedRecordWriter) -> None:
        super().__init__(writer.model)
        self.writer = writer

    def write(self, key: dict[str, Any], fields: dict[str, Any]) -> Model:
        return self.writer.write(key, fields)

    def settle(self) -> None:
        self.writer.settle()

    def close(self) -> None:
        self.writer.finish()


def writer_for(
    model: type[Model], plan_length: int, target_alias: str | None = None
) -> RecordWriter:
    """The writer of ``model``'s records for a batch of ``plan_length`` migrations on the
    target ``target_alias``."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    short = plan_length < OVERLAP_FROM and not _kept.depth
    if short or connection.vendor != "postgresql" or not is_psycopg3():
        return RecordWriter(model)
    if connection.in_atomic_block:
        # The caller's transaction (ATOMIC_REQUESTS, a TestCase) owns the records: they
        # commit or roll back with it, so they go through its connection.
        return RecordWriter(model)
    try:
        if not _kept.depth:
            return OverlappedRecordWriter(model, alias, target_alias)
        return _PlanOfKept(_kept_writer(model, alias, target_alias))
    except DatabaseError as exc:  # e.g. no connection to spare: each record as it comes
        logger.info("History records are written one by one: %s", exc)
        return RecordWriter(model)


def _kept_writer(
    model: type[Model], alias: str, target_alias: str | None
) -> OverlappedRecordWriter:
    writer = _kept.writer
    if writer is not None and (writer.broken or writer.model is not model or writer.pending):
        _kept.writer = None
        with suppress(DatabaseError):
            writer.wrapper.close()
        writer = None
    if writer is None:
        writer = OverlappedRecordWriter(model, alias, target_alias)
        _kept.writer = writer
    else:
        writer.aim(target_alias)
    return writer
