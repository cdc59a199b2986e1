"""Leases on target runs: who may run a target now, and who may close its run.

A worker claims a run, receiving a lease token valid for ``LEASE_SECONDS`` (renewed while it
runs). Every write that changes the run afterwards is conditioned on that token, so a
worker whose lease expired and was given to another can never overwrite the newer result.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Q
from django.utils import timezone

from ..backends.postgresql import is_psycopg3
from ..security import get_logger
from .models import Rollout, TargetRun, Wave

logger = get_logger("schema_manager.fleets")

State = TargetRun.State


class StaleLease(Exception):
    """The run's lease is no longer this worker's: its write was rejected."""


class AtCap(Exception):
    """The run's database server has MAX_CONNECTIONS_PER_SERVER runs going: it waits."""


def claimable(now: Any) -> Q:
    """Runs a worker may take: queued ones, and claimed or running ones whose lease expired
    (their worker died or stalled)."""
    return Q(state=State.QUEUED) | Q(state__in=TargetRun.ACTIVE, lease_expires_at__lt=now)


def claim(run_id: int, worker: str, lease_seconds: float, server_cap: int) -> str | None:
    """Take run ``run_id`` for ``worker``; its lease token, or None (see ``take``)."""
    taken = take(run_id, worker, lease_seconds, server_cap)
    return taken[0] if taken is not None else None


def take(run_id: int, worker: str, lease_seconds: float, server_cap: int) -> tuple[str, str] | None:
    """Take run ``run_id`` for ``worker``; its lease token and target key, or None if it is
    not to be run now (taken by another, closed, its rollout or wave not running). AtCap if
    its server has ``server_cap`` runs going (the run is enqueued again when one closes).

    On PostgreSQL (and MySQL) the row is read ``FOR UPDATE SKIP LOCKED``: a duplicate task
    for a run another worker is claiming gives up at once instead of queueing behind it. The
    update is conditioned on the run being claimable in any case (SQLite's fallback: writes
    are serialized, and the condition makes the second claimant's update match no row).
    """
    now = timezone.now()
    using = router.db_for_write(TargetRun)
    with transaction.atomic(using=using):
        rows = TargetRun.objects.using(using).filter(
            claimable(now),
            pk=run_id,
            rollout__state=Rollout.State.RUNNING,
            wave__state=Wave.State.RUNNING,
        )
        if connections[using].features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        run = rows.only("pk", "server", "attempt", "lease_token", "target_key").first()
        if run is None:
            return None
        busy = _busy_on_server(using, run.server, run_id, now)
        if run.server and busy >= server_cap:
            # Enqueued again when a run on that server closes (see dispatch).
            TargetRun.objects.using(using).filter(pk=run_id).update(enqueued_at=None)
            raise AtCap(run_id)
        token = uuid.uuid4().hex
        updated = (
            TargetRun.objects.using(using)
            .filter(claimable(now), pk=run_id, lease_token=run.lease_token)
            .update(
                state=State.CLAIMED,
                attempt=run.attempt + 1,
                lease_token=token,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                worker=worker[:255],
                claimed_at=now,
                error="",
            )
        )
    return (token, run.target_key) if updated else None


def _busy_on_server(using: str, server: str, run_id: int, now: Any) -> int:
    """How many other runs are going on ``server``. On PostgreSQL, claims of one server's
    targets take turns first (for the transaction), so that two workers never both see the
    cap not reached: the lock, then the count (a statement of its own, so its snapshot is
    taken once the lock is held), sent together in one round trip."""
    busy = (
        TargetRun.objects.using(using)
        .filter(server=server, state__in=TargetRun.ACTIVE, lease_expires_at__gte=now)
        .exclude(pk=run_id)
    )
    connection = connections[using]
    if connection.vendor != "postgresql" or not server:
        return busy.count()
    lock, key = "SELECT pg_advisory_xact_lock(hashtext(%s))", f"sm_fleet:{server}"
    runs, params = busy.order_by().values("pk").query.get_compiler(using).as_sql()
    count = f"SELECT count(*) FROM ({runs}) AS busy"
    with connection.cursor() as cursor:
        if is_psycopg3():
            cursor.execute(f"{lock}; {count}", [key, *params])
            cursor.nextset()
        else:  # psycopg2's cursor keeps only the last result: two round trips
            cursor.execute(lock, [key])
            cursor.execute(count, params)
        return int(cursor.fetchone()[0])


def renew(run_id: int, token: str, lease_seconds: float) -> bool:
    """Extend the lease; False if it is no longer this worker's."""
    expires = timezone.now() + timedelta(seconds=lease_seconds)
    return bool(
        TargetRun.objects.filter(pk=run_id, lease_token=token, state__in=TargetRun.ACTIVE).update(
            lease_expires_at=expires
        )
    )


def start(run_id: int, token: str) -> None:
    """The claimed run starts applying."""
    _write(run_id, token, state=State.RUNNING, started_at=timezone.now())


def close(run_id: int, token: str, state: str, **fields: Any) -> None:
    """The run's result: succeeded, skipped or failed. StaleLease if the lease was lost."""
    _write(run_id, token, state=state, finished_at=timezone.now(), lease_expires_at=None, **fields)


def _write(run_id: int, token: str, **fields: Any) -> None:
    updated = TargetRun.objects.filter(
        pk=run_id, lease_token=token, state__in=TargetRun.ACTIVE
    ).update(**fields)
    if not updated:
        logger.warning(
            "Target run %s: the lease is no longer this worker's; its write was rejected.",
            run_id,
        )
        raise StaleLease(run_id)
