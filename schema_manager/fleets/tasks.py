"""The task entry point: one task per target run, arguments plain JSON (two ids).

Enqueued through Django's Tasks framework (``django.tasks`` on Django 6, the ``django-tasks``
backport before), so the task backend a project already runs executes it.
"""

from __future__ import annotations

try:
    from django.tasks import task
except ImportError:  # Django < 6: the backport (the `fleets` extra)
    from django_tasks import task  # type: ignore[no-redef]  # the same API

from . import dispatch, runs
from .claims import AtCap


@task()
def run_target_run(rollout_id: int, run_id: int) -> str:
    """Run one target of a rollout, then move the rollout on. Safe to run twice: a
    duplicate finds the run claimed or closed and does nothing."""
    try:
        state = runs.run_target(run_id)
    except AtCap:
        # Enqueued again when a run on that server closes; moving on now would spin.
        return "at cap"
    dispatch.advance(rollout_id)
    return state
