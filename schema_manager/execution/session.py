"""What lives for one plan on one target, owned by one object handed to the executor.

A session holds the migration lock and a copy of the plan's ledger rows across the plan
(``hold``), so each migration pays for neither; it owns the writer of the plan's history
records, whose last record settles before each commit on the target (``before_commit``);
it keeps the ledger's fingerprint as history matches it, so that the workspace's next
operation need not reconcile (``catch_up``, ``advance``, ``forget``); and it hands each
result to the workspace's ``schema.prisma`` sync, deferred to the plan's end.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Protocol

from django.db import connections

from .. import history, history_writes
from ..backends import TargetBackend, get_backend
from ..conf import app_settings
from ..exceptions import CommitWithheld, SchemaManagerError
from ..ledger import Ledger
from ..models import VersionRecord
from ..results import MigrationResult
from ..targets import Target
from .outcome import Outcome

if TYPE_CHECKING:
    from ..files import MigrationDirectory
    from ..models import Migration

Fingerprint = tuple[int, int, int]


class PlanWorkspace(Protocol):
    """What plans keep with their caller between them (``schema_manager.workspace``): the
    migrations folder, the ledger's fingerprint when history last matched it, and the
    ``schema.prisma`` sync deferred to a plan's end. A protocol, so that execution does not
    import the layer above it."""

    @property
    def directory(self) -> MigrationDirectory: ...
    def catch_up(self, session: ExecutionSession) -> Fingerprint: ...
    def remember(self, target: Target, fingerprint: Fingerprint) -> None: ...
    def forget(self, target: Target) -> None: ...
    def export(
        self, migration: Migration, rollback_script: str, target: Target, result: MigrationResult
    ) -> None: ...
    def deferred_schema_sync(self) -> AbstractContextManager[None]: ...
    def sync_after(self, result: MigrationResult, target: Target) -> None: ...


class ExecutionSession:
    """The connection, lock, held ledger rows, history writer and fingerprint of one plan."""

    def __init__(self, target: Target, workspace: PlanWorkspace | None = None) -> None:
        self.target = target
        self.alias = target.alias
        self.connection = connections[target.alias]
        self.backend: TargetBackend = get_backend(self.connection)
        self.ledger = Ledger(self.backend)
        self.lock_wait = app_settings.LOCK_WAIT
        self.timeouts = app_settings.timeouts_for(target.environment)
        self.lock_retries = app_settings.LOCK_TIMEOUT_RETRIES
        # None: the session only reads the ledger (no history to keep in step).
        self.workspace = workspace
        self.history_failed = False  # a record was refused: the plan stops
        self._holding = False
        self._records: history_writes.RecordWriter | None = None
        self._fingerprint = (0, 0, 0)

    # -- the lock and the held ledger ----------------------------------------------------------

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

    def refuse_open_transaction(self) -> None:
        if self.connection.in_atomic_block:
            raise SchemaManagerError(
                f"Refusing to migrate {self.alias!r} inside an open transaction on it (e.g. "
                "ATOMIC_REQUESTS): the migration must commit on its own."
            )

    # -- history records -----------------------------------------------------------------------

    def records(self, plan_length: int) -> history_writes.RecordWriter:
        """The writer of this plan's history records, chosen (and connected) at the first."""
        if self._records is None:
            self._records = history_writes.writer_for(VersionRecord, plan_length, self.alias)
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

    # -- history in step with the ledger ------------------------------------------------------

    def catch_up(self) -> None:
        """Reconcile history with the ledger, unless the workspace's last operation left the
        ledger as it is (the plan's start, under the lock)."""
        self._fingerprint = self._workspace().catch_up(self)

    def advance(self, operation: str, outcome: Outcome) -> None:
        """The plan wrote ``outcome``'s ledger row, and history has its record."""
        if self.history_failed:  # history lacks a record: the next operation reconciles
            self.forget()
            return
        self._fingerprint = history.fingerprint_after(self._fingerprint, operation, outcome)
        self._workspace().remember(self.target, self._fingerprint)

    def forget(self) -> None:
        """History may lack a record: the next operation on the target reconciles in full."""
        if self.workspace is not None:
            self.workspace.forget(self.target)

    def sync_after(self, result: MigrationResult) -> None:
        """Sync ``schema.prisma`` after ``result`` (when the plan ends, if it defers it)."""
        self._workspace().sync_after(result, self.target)

    def _workspace(self) -> PlanWorkspace:
        if self.workspace is None:
            raise SchemaManagerError(f"The session on {self.alias!r} only reads the ledger.")
        return self.workspace
