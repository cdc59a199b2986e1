"""``SchemaManager``: the guide's five operations, each a line into ``services``.

Every coroutine has a synchronous twin named ``<name>_sync``, and ``get_version_history`` a
coroutine twin; the admin and the commands call ``services`` directly, so all callers share one
code path. The coroutines run the twins in Django's thread-sensitive executor, as Django's own
async ORM methods do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

from . import services
from .models import Migration, VersionRecord
from .results import MigrationResult, ValidationResult
from .workspace import Workspace

T = TypeVar("T")


class SchemaManager:
    """Validate, apply and roll back raw-SQL migrations on the environments' target databases.

    ``workspace`` lets several callers share where the migrations live and what their
    operations learned, e.g. to defer the ``schema.prisma`` sync of several applies
    (``with workspace.deferred_schema_sync():``).
    """

    def __init__(
        self, prisma_schema_path: str | Path | None = None, *, workspace: Workspace | None = None
    ) -> None:
        self._workspace = workspace or Workspace(prisma_schema_path)

    # -- coroutines (the guide's API) -------------------------------------------------------

    async def apply_migration(
        self,
        migration: Migration,
        environment: str | None = None,
        *,
        allow_destructive: bool = False,
        applied_by: str | None = None,
        fake: bool = False,
        allow_out_of_order: bool = False,
        change_request: int | None = None,
    ) -> MigrationResult:
        return await sync_to_async(self.apply_migration_sync)(
            migration,
            environment,
            allow_destructive=allow_destructive,
            applied_by=applied_by,
            fake=fake,
            allow_out_of_order=allow_out_of_order,
            change_request=change_request,
        )

    async def rollback_migration(
        self,
        migration_id: str,
        environment: str | None = None,
        *,
        applied_by: str | None = None,
        change_request: int | None = None,
    ) -> MigrationResult:
        return await sync_to_async(self.rollback_migration_sync)(
            migration_id, environment, applied_by=applied_by, change_request=change_request
        )

    async def validate_migration(
        self,
        migration: Migration,
        environment: str | None = None,
        *,
        allow_destructive: bool = False,
        rehearse: bool = False,
    ) -> ValidationResult:
        return await sync_to_async(self.validate_migration_sync)(
            migration, environment, allow_destructive=allow_destructive, rehearse=rehearse
        )

    async def get_version_history_async(
        self, environment: str | None = None, *, limit: int | None = None
    ) -> list[VersionRecord]:
        return await sync_to_async(services.history)(environment, limit)

    # -- synchronous twins -------------------------------------------------------------------

    def apply_migration_sync(
        self,
        migration: Migration,
        environment: str | None = None,
        *,
        allow_destructive: bool = False,
        applied_by: str | None = None,
        fake: bool = False,
        allow_out_of_order: bool = False,
        change_request: int | None = None,
    ) -> MigrationResult:
        """Apply ``migration`` (see ``services.apply``; ``change_request``: the number of the
        approved request it runs, where ``APPROVALS`` requires one)."""
        [result] = services.apply(
            [migration],
            environment,
            workspace=self._workspace,
            allow_destructive=allow_destructive,
            applied_by=applied_by,
            fake=fake,
            allow_out_of_order=allow_out_of_order,
            change_request=change_request,
        )
        return result

    def rollback_migration_sync(
        self,
        migration_id: str,
        environment: str | None = None,
        *,
        applied_by: str | None = None,
        change_request: int | None = None,
    ) -> MigrationResult:
        """Roll ``migration_id`` back in ``environment``; with none, in the one environment
        where it is applied (refused, naming them, if it is applied in several)."""
        if environment is None and change_request is None:
            return services.rollback_where_applied(
                migration_id, workspace=self._workspace, applied_by=applied_by
            )
        [result] = services.rollback(
            [migration_id],
            environment,
            workspace=self._workspace,
            applied_by=applied_by,
            change_request=change_request,
        )
        return result

    def validate_migration_sync(
        self,
        migration: Migration,
        environment: str | None = None,
        *,
        allow_destructive: bool = False,
        rehearse: bool = False,
    ) -> ValidationResult:
        [result] = services.validate(
            [migration], environment, allow_destructive=allow_destructive, rehearse=rehearse
        )
        return result

    def generate_rollback_script(self, migration: Migration, environment: str | None = None) -> str:
        """The rollback for ``migration.sql`` in the dialect of the environment's target."""
        return services.generate_rollback_script(migration, environment)

    def get_version_history(
        self, environment: str | None = None, *, limit: int | None = None
    ) -> list[VersionRecord]:
        """Every attempt in every environment, or in ``environment`` only (or the newest
        ``limit``), newest first, in one query. Safe to call from async code."""
        return _outside_event_loop(lambda: services.history(environment, limit))


@cache
def _history_thread() -> ThreadPoolExecutor:
    """Created at the first call from a coroutine, not at import."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="schema_manager")


def _outside_event_loop(function: Callable[[], T]) -> T:
    """Call ``function`` here, or in a worker thread if this thread runs an event loop.

    Django forbids ORM calls from a thread with a running loop; the guide calls
    ``get_version_history()`` from inside a coroutine, so that call is moved to a thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function()

    def call() -> T:
        try:
            return function()
        finally:
            connections.close_all()

    return _history_thread().submit(call).result()
