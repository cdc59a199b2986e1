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
from django.db.models.expressions import RawSQL
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
    token = uuid.uuid4().hex
    if _in_one_round_trip(connections[using]):
        taken = _take_on_postgresql(using, run_id, worker, lease_seconds, server_cap, now, token)
    else:
        with transaction.atomic(using=using):
            taken = _take(using, run_id, worker, lease_seconds, server_cap, now, token)
    if taken is AtCap:
        # Enqueued again when a run on that server closes (see dispatch).
        TargetRun.objects.using(using).filter(pk=run_id).update(enqueued_at=None)
        raise AtCap(run_id)
    return (token, taken) if isinstance(taken, str) else None


def _claimed(now: Any, token: str, worker: str, lease_seconds: float) -> dict[str, Any]:
    """The fields a claim writes (the attempt is counted up besides)."""
    return {
        "state": State.CLAIMED.value,
        "lease_token": token,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
        "worker": worker[:255],
        "claimed_at": now,
        "error": "",
    }


def _runnable(using: str, run_id: int, now: Any) -> Any:
    return TargetRun.objects.using(using).filter(
        claimable(now),
        pk=run_id,
        rollout__state=Rollout.State.RUNNING,
        wave__state=Wave.State.RUNNING,
    )


def _take(
    using: str, run_id: int, worker: str, lease_seconds: float, cap: int, now: Any, token: str
) -> str | type[AtCap] | None:
    """The claim as ORM statements in a transaction: the target key, AtCap or None."""
    rows = _runnable(using, run_id, now)
    if connections[using].features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    run = rows.only("pk", "server", "attempt", "lease_token", "target_key").first()
    if run is None:
        return None
    if run.server and _busy(using, run.server, run_id, now).count() >= cap:
        return AtCap
    updated = (
        TargetRun.objects.using(using)
        .filter(claimable(now), pk=run_id, lease_token=run.lease_token)
        .update(attempt=run.attempt + 1, **_claimed(now, token, worker, lease_seconds))
    )
    return run.target_key if updated else None


def _busy(using: str, server: Any, run_id: int, now: Any) -> Any:
    """The other runs going on ``server``."""
    return (
        TargetRun.objects.using(using)
        .filter(server=server, state__in=TargetRun.ACTIVE, lease_expires_at__gte=now)
        .exclude(pk=run_id)
    )


def _in_one_round_trip(connection: Any) -> bool:
    """Whether the claim goes as one multi-statement query (PostgreSQL, its parameters bound
    by the client: a server-side binding cursor takes one statement at a time)."""
    options = connection.settings_dict.get("OPTIONS") or {}
    return connection.vendor == "postgresql" and not options.get("server_side_binding")


def _take_on_postgresql(
    using: str, run_id: int, worker: str, lease_seconds: float, cap: int, now: Any, token: str
) -> str | type[AtCap] | None:
    """The claim in one round trip, one implicit transaction (or the caller's). Claims of one
    server's targets take turns (its advisory lock, for the transaction), so two workers
    never both see its cap not reached; the second statement, which locks the run (``SKIP
    LOCKED``: a duplicate task gives up at once), counts the server's runs and claims it,
    takes its snapshot once the lock is held."""
    connection = connections[using]
    fields = _claimed(now, token, worker, lease_seconds)
    table, pk, server, key, attempt, *columns = TargetRun.quoted_names(
        connection, "id", "server", "target_key", "attempt", *fields
    )
    sets = ", ".join(f"{column} = %s" for column in columns)
    runnable, runnable_params = _sql(_runnable(using, run_id, now).values("pk", "server"), using)
    the_runs_server = RawSQL("(SELECT server FROM run)", ())
    busy, busy_params = _sql(
        _busy(using, the_runs_server, run_id, now).order_by().values("pk"), using
    )
    sql = (
        f"SELECT pg_advisory_xact_lock(hashtext('sm_fleet:' || {server})) FROM {table} "
        f"WHERE {pk} = %s AND {server} <> ''; "
        f"WITH run (pk, server) AS ({runnable} FOR UPDATE OF {table} SKIP LOCKED), "
        f"claimed AS (UPDATE {table} SET {sets}, {attempt} = {attempt} + 1 "
        f"WHERE {pk} = (SELECT pk FROM run) AND ((SELECT server FROM run) = '' OR "
        f"(SELECT count(*) FROM ({busy}) AS busy) < %s) RETURNING {key}) "
        "SELECT (SELECT count(*) FROM run), (SELECT * FROM claimed)"
    )
    params = [run_id, *runnable_params, *fields.values(), *busy_params, cap]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if is_psycopg3():
            cursor.nextset()  # psycopg2 keeps the last result only
        found, target_key = cursor.fetchone()
    if not found:
        return None
    return target_key if target_key is not None else AtCap


def _sql(queryset: Any, using: str) -> tuple[str, tuple[Any, ...]]:
    return queryset.query.get_compiler(using).as_sql()


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
