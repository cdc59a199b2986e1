"""What lives for one plan on one target, owned by one object handed to the executor.

A session holds the migration lock and a copy of the plan's ledger rows across the plan
(``hold``), so each migration pays for neither; it owns the writer of the plan's history
records, whose last record settles before each commit on the target (``before_commit``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from django.db import connections

from .. import history_writes
from ..backends import TargetBackend, Timeouts, get_backend
from ..conf import app_settings
from ..exceptions import CommitWithheld, SchemaManagerError
from ..ledger import Ledger
from ..targets import Target


class ExecutionSession:
    """The connection, lock, held ledger rows and history writer of one plan on one alias."""

    def __init__(
        self,
        alias: str,
        lock_wait: float,
        *,
        timeouts: Timeouts | None = None,
        lock_retries: int = 0,
    ) -> None:
        self.alias = alias
        self.connection = connections[alias]
        self.backend: TargetBackend = get_backend(self.connection)
        self.ledger = Ledger(self.backend)
        self.lock_wait = lock_wait
        self.timeouts = timeouts or Timeouts()
        self.lock_retries = lock_retries
        self._holding = False
        self._records: history_writes.RecordWriter | None = None

    @classmethod
    def for_target(cls, target: Target) -> ExecutionSession:
        """A session on ``target`` with the lock wait, timeouts and retries of the settings."""
        return cls(
            target.alias,
            app_settings.LOCK_WAIT,
            timeouts=app_settings.timeouts_for(target.environment),
            lock_retries=app_settings.LOCK_TIMEOUT_RETRIES,
        )

    @contextmanager
    def hold(self, migration_names: Collection[str] | None) -> Iterator[None]:
        """Hold the migration lock, and a copy of these migrations' ledger rows (None: of
        the whole ledger), across several operations on them.

        Each apply or rollback inside the block skips taking the lock and reads the ledger
        from the copy (see ``Ledger.held``), so a plan pays for both once.
        """
        if self._holding:
            yield
            return
        self.refuse_open_transaction()
        with self._lock(), self.ledger.held(migration_names):
            self._holding = True
            try:
                yield
            finally:
                self._holding = False

    def locked(self) -> AbstractContextManager[None]:
        """The migration lock for one operation, unless the session already holds it."""
        return nullcontext() if self._holding else self._lock()

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Hold the migration lock, every ledger write checked against it (``guarded``)."""
        with self.backend.migration_lock(self.lock_wait) as lock, self.ledger.guarded(lock):
            yield

    def records(self, plan_length: int) -> history_writes.RecordWriter:
        """The writer of this plan's history records, chosen (and connected) at the first."""
        if self._records is None:
            self._records = history_writes.writer_for(plan_length)
        return self._records

    def before_commit(self) -> None:
        """Called before each commit that writes the ledger on the target: the previous
        history record is settled first; if it was refused, the migration is rolled back."""
        if self._records is None:
            return
        try:
            self._records.settle()
        except Exception as exc:
            raise CommitWithheld(
                f"Stopped before committing on {self.alias!r}, and rolled back: {exc}"
            ) from exc

    def close_records(self) -> None:
        """Write every record of the plan; raises ``HistoryNotWritten`` for a refused one."""
        records, self._records = self._records, None
        if records is not None:
            records.close()

    def refuse_open_transaction(self) -> None:
        if self.connection.in_atomic_block:
            raise SchemaManagerError(
                f"Refusing to migrate {self.alias!r} inside an open transaction on it (e.g. "
                "ATOMIC_REQUESTS): the migration must commit on its own."
            )
