"""One target run: claim it, skip it if the plan is there already, else apply what the
target lacks through the service layer, and close the run under its lease."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import DatabaseError, connections

from .. import services
from ..backends import LEDGER_TABLE
from ..exceptions import SchemaManagerError
from ..models import Migration
from ..security import get_logger, scrub
from ..thread_scopes import ThreadScope, within
from . import claims
from .connections import opened
from .models import TargetRun
from .specs import Fleet, get_fleet

logger = get_logger("schema_manager.fleets")

State = TargetRun.State


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass(frozen=True)
class RolloutFacts:
    """What a target run needs of its rollout, none of which changes once it is planned."""

    pk: int
    fleet: str
    plan: list[tuple[str, str]]
    started_by: str
    change_request: str


class _Task(ThreadScope):
    """What a task reads once for all its targets (``task_scope``)."""

    def __init__(self) -> None:
        self.rollouts: dict[int, RolloutFacts] = {}
        self.migrations: dict[int, dict[str, Migration]] = {}


_task = _Task()


@contextmanager
def task_scope() -> Iterator[None]:
    """Within the block, a rollout's facts and its plan's catalogue entries are read once
    for all the targets this thread runs (a task's), not once per target. What the
    catalogue holds is checked again under each target's lock, as always (``ApplyRun``)."""
    with within(_task, _let_go_of_task):
        yield


def _let_go_of_task() -> None:
    _task.rollouts.clear()
    _task.migrations.clear()


def known_rollout(rollout_id: int) -> RolloutFacts | None:
    """The rollout's facts if this task has read them."""
    return _task.rollouts.get(rollout_id)


def run_target(run_id: int, worker: str | None = None, rollout_id: int | None = None) -> str:
    """Run target run ``run_id`` (of rollout ``rollout_id``, if the caller knows it) if it
    is this worker's to run; the state it closed in, or why it did not run ("not claimed",
    "stale": another worker holds it now)."""
    facts = _task.rollouts.get(rollout_id) if rollout_id is not None else None
    if facts is None:
        run = TargetRun.objects.select_related("rollout").filter(pk=run_id).first()
        if run is None:
            return "gone"
        rollout = run.rollout
        facts = RolloutFacts(
            rollout.pk,
            rollout.fleet,
            [(migration_id, checksum) for migration_id, checksum in rollout.plan],
            rollout.started_by,
            rollout.change_request,
        )
        if _task.depth:
            _task.rollouts[rollout.pk] = facts
    fleet = get_fleet(facts.fleet)
    taken = claims.take(
        run_id, worker or worker_name(), fleet.lease_seconds, fleet.max_connections_per_server
    )
    if taken is None:
        return "not claimed"
    token, target_key = taken
    try:
        with _heartbeat(run_id, token, fleet.lease_seconds):
            state, fields = _apply(fleet, facts, run_id, target_key, token)
        claims.close(run_id, token, state, **fields)
    except claims.StaleLease:
        return "stale"
    return state


def applied_in(alias: str) -> set[tuple[str, str]] | None:
    """(migration, checksum) applied on the target, in one query; None without a ledger."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(
                f"SELECT migration_name, checksum FROM {LEDGER_TABLE} "
                "WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL"
            )
            return {(name, checksum) for name, checksum in cursor.fetchall()}
    except DatabaseError:
        return None


def _apply(
    fleet: Fleet, rollout: RolloutFacts, run_id: int, target_key: str, token: str
) -> tuple[str, dict]:
    spec = fleet.target(target_key)
    if spec is None:
        return State.FAILED, {"error": f"Target {target_key!r} is no longer in the fleet."}
    plan = rollout.plan
    applied: list[str] = []
    try:
        with opened(fleet, spec) as target:
            there = applied_in(target.alias)
            if there is not None and all(step in there for step in plan):
                return State.SKIPPED, {}
            claims.start(run_id, token)
            pending = _pending(rollout, {name for name, _checksum in there or ()})
            results = services.apply(
                pending,
                target.environment,
                applied_by=rollout.started_by or "fleet",
                # Each target passes the gate again (its policy is its fleet's).
                change_request=rollout.change_request or None,
            )
    except (SchemaManagerError, DatabaseError) as exc:
        return State.FAILED, {"error": scrub(str(exc)), "applied": applied}
    except Exception as exc:
        # A fault of ours, not of the target: the run fails now with it (logged whole), so
        # the wave's failure rules apply and the task goes on, rather than the run staying
        # "running" until its lease expires and the same fault meets the next worker. What
        # it applied before the fault is in the target's ledger, which a retry reads.
        logger.exception("Target %s of rollout %s failed unexpectedly", spec.key, rollout.pk)
        error = f"{type(exc).__name__}: {scrub(str(exc))}"
        return State.FAILED, {"error": error, "applied": applied}
    applied = [result.migration_id for result in results if result.success and not result.skipped]
    failed = next((result for result in results if not result.success), None)
    if failed is not None:
        return State.FAILED, {"error": scrub(failed.message), "applied": applied}
    return State.SUCCEEDED, {"applied": applied}


def _pending(rollout: RolloutFacts, applied: set[str]) -> list[Migration]:
    """The plan's migrations the target lacks, as the catalogue holds them (read once per
    task), each checked against the checksum the rollout pinned."""
    wanted = [(mid, checksum) for mid, checksum in rollout.plan if mid not in applied]
    found = _task.migrations.get(rollout.pk)
    if found is None:
        found = Migration.objects.in_bulk([mid for mid, _checksum in rollout.plan])
        if _task.depth:
            _task.migrations[rollout.pk] = found
    pending = []
    for migration_id, checksum in wanted:
        migration = found.get(migration_id)
        if migration is None or migration.checksum != checksum:
            now = f"{migration.checksum} now" if migration is not None else "removed since"
            raise SchemaManagerError(
                f"Migration {migration_id!r} is not in the catalogue as the rollout pinned it "
                f"(checksum {checksum} pinned, {now}); nothing ran: plan a new rollout."
            )
        pending.append(migration)
    return pending


@contextmanager
def _heartbeat(run_id: int, token: str, lease_seconds: float) -> Iterator[None]:
    """Renew the lease every third of it while the block runs (a run shorter than that
    costs no query and no connection)."""
    done = threading.Event()

    def beat() -> None:
        try:
            while not done.wait(lease_seconds / 3):
                if not claims.renew(run_id, token, lease_seconds):
                    logger.warning("Target run %s: lease lost while running.", run_id)
                    return
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat, name=f"lease-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
