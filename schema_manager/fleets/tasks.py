"""The task entry point: one task per target run, arguments plain JSON (two ids).

Enqueued through Django's Tasks framework (``django.tasks`` on Django 6, the ``django-tasks``
backport before), so the task backend a project already runs executes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .. import analyses, history_writes
from ..exceptions import SchemaManagerError
from . import connections, dispatch, runs
from .claims import AtCap
from .models import Rollout
from .specs import Fleet, get_fleet

try:
    from django.tasks import task
except ImportError:  # Django < 6: the backport (the `fleets` extra)
    try:
        from django_tasks import task  # type: ignore[no-redef]  # the same API
    except ImportError:
        # Without either, everything but a rollout still works (commands, admin, the demo):
        # the rollout's first enqueue says what to install.
        task = None  # type: ignore[assignment]  # absent: enqueue() says so

NO_TASKS = (
    "Fleet rollouts enqueue their targets through Django's Tasks framework: use Django 6 or, "
    "before it, install the django-tasks backport (pip install 'django-schema-manager[fleets]')."
)


def _as_task(function: Any) -> Any:
    """The function as a task of the Tasks framework (workers import it by its own name, so
    it is decorated where it is defined); the plain function where the framework is absent."""
    return task()(function) if task is not None else function


@_as_task
def run_target_run(rollout_id: int, run_id: int) -> str:
    """Run one target of a rollout, then move the rollout on; while the fleet's
    ``TASK_SECONDS`` have not passed, run the next target due in this task's slot instead
    of ending (a task engine's cost per task, a fork and a fresh process state for RQ, is
    paid once for several targets; so are the connections of targets in one database, see
    ``connections.kept``, and the history writer's, see ``history_writes.kept``). Safe to
    run twice: a duplicate finds the run claimed or closed and does nothing. The state the
    last run closed in."""
    started = time.monotonic()
    next_id: int | None = run_id
    state = "gone"
    with _kept_for_the_task():
        while next_id is not None:
            try:
                state = runs.run_target(next_id, rollout_id=rollout_id)
            except AtCap:
                # Enqueued again when a run on that server closes; moving on now would spin.
                connections.release()  # a kept connection counts against that cap too
                return "at cap"
            keep = time.monotonic() < started + _task_seconds(rollout_id)
            next_id = dispatch.advance(rollout_id, enqueue, keep=keep)
    return state


def _task_seconds(rollout_id: int) -> float:
    facts = runs.known_rollout(rollout_id)
    fleet = (
        facts.fleet
        if facts is not None
        else Rollout.objects.filter(pk=rollout_id).values_list("fleet", flat=True).first()
    )
    try:
        return get_fleet(fleet).task_seconds if fleet else 0.0
    except SchemaManagerError:
        return 0.0  # the run says why


def advance(rollout_id: int) -> None:
    """Move the rollout on (see ``dispatch.advance``), its next runs enqueued as tasks (run
    here by an immediate backend, one after the other: their connections kept meanwhile)."""
    with _kept_for_the_task():
        dispatch.advance(rollout_id, enqueue)


@contextmanager
def _kept_for_the_task() -> Iterator[None]:
    """What a task's targets share, kept until the task ends: the connections of targets in
    one database, the history writer, the stored analyses, the rollout and its catalogue."""
    with connections.kept(), history_writes.kept(), analyses.kept(), runs.task_scope():
        yield


def enqueue(fleet: Fleet, rollout_id: int, run_ids: list[int]) -> None:
    """One task per target run, on the fleet's task backend and queue (JSON arguments)."""
    if task is None:
        raise ImproperlyConfigured(NO_TASKS)
    queued = run_target_run.using(backend=fleet.task_backend, queue_name=fleet.queue)
    for run_id in run_ids:
        queued.enqueue(rollout_id, run_id)
