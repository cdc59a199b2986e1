"""Which target runs go to the task engine next: the rollout's scheduler.

``advance`` is idempotent and cheap; it is called when a rollout starts or resumes, after
every target run, and by whoever watches a rollout (the command's progress loop), so that a
run whose worker died is given to another once its lease expires. One wave runs at a time;
within it at most ``max_parallel`` runs are enqueued or running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.db import connections, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from ..change_requests import rollouts
from ..security import get_logger
from .models import Rollout, TargetRun, Wave
from .specs import Fleet, get_fleet

logger = get_logger("schema_manager.fleets")

State = TargetRun.State
_local = threading.local()


Enqueue = Callable[[Fleet, int, list[int]], None]


def advance(rollout_id: int, enqueue: Enqueue, *, keep: bool = False) -> int | None:
    """Move the rollout on: stop a wave that reached its failures, close a finished wave
    and start the next, enqueue runs into free slots, enqueue again runs whose lease expired,
    and close the rollout when its last wave is done.

    ``keep``: the caller (a task whose run just closed) runs the first of the runs due next
    itself, in its own slot, instead of a new task: its id is returned, marked enqueued as
    the others are (if the caller dies before claiming it, it is enqueued again once the
    lease has passed, as a task the engine lost).

    Re-entrant calls (a task engine that runs the task at once, inside this call) are
    folded into the outermost one, which repeats until nothing is left to enqueue; they
    keep nothing. ``enqueue(fleet, rollout_id, run_ids)`` hands runs to the task engine
    (``tasks``).
    """
    if getattr(_local, "again", None) is not None:
        _local.again.add(rollout_id)
        return None
    _local.again = {rollout_id}
    kept = None
    try:
        while _local.again:
            taken = _advance_once(_local.again.pop(), enqueue, keep and kept is None)
            kept = kept if taken is None else taken
    finally:
        _local.again = None
    return kept


def _advance_once(rollout_id: int, enqueue: Enqueue, keep: bool) -> int | None:
    with transaction.atomic():
        rollout = Rollout.objects.select_for_update().filter(pk=rollout_id).first()
        if rollout is None or rollout.state != Rollout.State.RUNNING:
            return None
        fleet = get_fleet(rollout.fleet)
        ids = _next_runs(rollout, fleet)
        kept, rest = (ids[0], ids[1:]) if keep and ids else (None, ids)
        if rest:
            transaction.on_commit(lambda: enqueue(fleet, rollout_id, rest))
    return kept


def _next_runs(rollout: Rollout, fleet: Fleet) -> list[int]:
    now = timezone.now()
    lease = timedelta(seconds=fleet.lease_seconds)
    for wave, counts in _waves_with_counts(rollout, now, lease):
        in_flight = counts["in_flight"]
        if wave.state != Wave.State.STOPPED and _failures_reached(wave, counts):
            wave.state = Wave.State.STOPPED
            wave.save(update_fields=["state"])
            logger.warning("Rollout %s: wave %r stopped after failures.", rollout.pk, wave.name)
        if wave.state == Wave.State.STOPPED:
            if not in_flight:  # in-flight runs finish; nothing else starts
                _finish(rollout, Rollout.State.PARTIALLY_FAILED)
            return []
        if not in_flight and not counts["queued"]:
            wave.state = Wave.State.DONE
            wave.save(update_fields=["state"])
            continue
        if wave.state == Wave.State.PENDING:
            wave.state = Wave.State.RUNNING
            wave.save(update_fields=["state"])
        return _fill(wave, wave.runs.all(), counts, now, lease)
    failed = rollout.runs.filter(state=State.FAILED).exists()
    _finish(rollout, Rollout.State.PARTIALLY_FAILED if failed else Rollout.State.SUCCEEDED)
    return []


def _due(now: datetime, lease: timedelta, runs: str = "") -> Q:
    """Runs to enqueue again: an active run whose lease expired since it was last enqueued
    (its worker died), and a queued one whose task never came (lost by the engine).
    ``runs``: the path to the runs from the model asked (``runs__`` from a wave)."""
    return Q(**{f"{runs}state__in": TargetRun.ACTIVE, f"{runs}lease_expires_at__lt": now}) & Q(
        **{f"{runs}enqueued_at__lt": F(f"{runs}lease_expires_at")}
    ) | Q(**{f"{runs}state": State.QUEUED, f"{runs}enqueued_at__lt": now - lease})


def _busy(runs: str = "") -> Q:
    """Runs that hold one of the wave's max_parallel slots: active, or handed to the engine."""
    return Q(**{f"{runs}state__in": TargetRun.ACTIVE}) | Q(
        **{f"{runs}state": State.QUEUED, f"{runs}enqueued_at__isnull": False}
    )


def _waves_with_counts(
    rollout: Rollout, now: datetime, lease: timedelta
) -> Iterator[tuple[Wave, dict[str, int]]]:
    """The rollout's waves not done, in order, each with how many of its runs are queued, in
    flight, failed, busy and due, in one query (the scheduler runs after every target)."""
    counted = {  # only what the scheduler asks: each count costs its compiling
        "queued": Count("runs", filter=Q(runs__state=State.QUEUED)),
        "in_flight": Count("runs", filter=Q(runs__state__in=TargetRun.ACTIVE)),
        "failed": Count("runs", filter=Q(runs__state=State.FAILED)),
        "busy": Count("runs", filter=_busy("runs__")),
        "due": Count("runs", filter=_due(now, lease, "runs__")),
    }
    waves = rollout.waves.exclude(state=Wave.State.DONE).order_by("position").annotate(**counted)
    for wave in waves:
        yield wave, {name: getattr(wave, name) for name in counted}


def _failures_reached(wave: Wave, counts: dict[str, int]) -> bool:
    failures = counts["failed"] - wave.failures_forgiven
    return wave.on_error == Wave.OnError.STOP and failures >= max(wave.max_failures, 1)


def _fill(
    wave: Wave, runs: QuerySet[TargetRun], counts: dict[str, int], now: datetime, lease: timedelta
) -> list[int]:
    due = list(runs.filter(_due(now, lease)).values_list("pk", flat=True)) if counts["due"] else []
    free = max(wave.max_parallel - counts["busy"], 0)
    fresh = (
        runs.filter(state=State.QUEUED, enqueued_at__isnull=True)
        .order_by("position")
        .values_list("pk", flat=True)[:free]
    )
    if not free:
        ids = due
    elif connections[runs.db].vendor == "postgresql":
        return due + _enqueued(runs.db, due, fresh, now)
    else:
        ids = due + list(fresh)
    if ids:
        TargetRun.objects.filter(pk__in=ids).update(enqueued_at=now)
    return ids


def _enqueued(using: str, due: list[int], fresh: QuerySet, now: datetime) -> list[int]:
    """Mark ``due`` and ``fresh`` runs enqueued in one statement; ``fresh``'s ids, returned
    by it, in order (PostgreSQL's ``UPDATE … RETURNING``: they are not read first)."""
    connection = connections[using]
    table, pk, enqueued_at, position = TargetRun.quoted_names(
        connection, "id", "enqueued_at", "position"
    )
    picked, params = fresh.query.get_compiler(using).as_sql()
    sql = (
        f"UPDATE {table} SET {enqueued_at} = %s WHERE {pk} = ANY(%s) OR {pk} IN ({picked}) "
        f"RETURNING {pk}, {position}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, due, *params])
        rows = cursor.fetchall()
    already = set(due)
    return [pk for pk, _position in sorted(rows, key=lambda row: row[1]) if pk not in already]


def _finish(rollout: Rollout, state: str) -> None:
    rollout.state = state
    rollout.finished_at = timezone.now()
    rollout.save(update_fields=["state", "finished_at"])
    rollouts.ended(rollout.change_request, rollout.pk, state, run_outcomes(rollout))
    logger.info("Rollout %s of %s: %s.", rollout.pk, rollout.fleet, state)


def run_outcomes(rollout: Rollout) -> list[dict]:
    """Each target's run as the rollout's change request records it."""
    fields = ("target_key", "environment", "state", "applied", "error")
    return list(rollout.runs.order_by("position").values(*fields))
