"""Pause, resume, retry the failed targets, cancel: a rollout's controls, one function each
(the commands and the admin call them)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ..change_requests import rollouts
from ..exceptions import SchemaManagerError
from .dispatch import run_outcomes
from .models import Rollout, TargetRun, Wave

State = Rollout.State
RunState = TargetRun.State


def pause(rollout_id: int) -> Rollout:
    """No run is claimed any more; runs in flight finish."""
    _move(rollout_id, {State.RUNNING}, State.PAUSED)
    return Rollout.objects.get(pk=rollout_id)


def resume(rollout_id: int) -> Rollout:
    """Go on from where the rollout stands: a paused one, or one stopped by failures (its
    stopped wave gets ``max_failures`` again; the failed targets stay failed)."""
    with transaction.atomic():
        rollout = _locked(rollout_id, {State.PAUSED, State.PARTIALLY_FAILED, State.RUNNING})
        for wave in rollout.waves.filter(state=Wave.State.STOPPED):
            wave.failures_forgiven = wave.runs.filter(state=RunState.FAILED).count()
            wave.state = Wave.State.RUNNING
            wave.save(update_fields=["failures_forgiven", "state"])
        _requeue(rollout, RunState.QUEUED)
        _reopen(rollout)
    advance(rollout_id)
    return Rollout.objects.get(pk=rollout_id)


def retry_failed(rollout_id: int) -> Rollout:
    """Run the failed targets again (only those), then go on."""
    with transaction.atomic():
        rollout = _locked(rollout_id, {State.PAUSED, State.PARTIALLY_FAILED, State.RUNNING})
        waves = set(rollout.runs.filter(state=RunState.FAILED).values_list("wave", flat=True))
        _requeue(rollout, RunState.FAILED)
        for wave in rollout.waves.filter(pk__in=waves):
            wave.failures_forgiven = 0
            wave.state = Wave.State.RUNNING if wave.state != Wave.State.PENDING else wave.state
            wave.save(update_fields=["failures_forgiven", "state"])
        _reopen(rollout)
    advance(rollout_id)
    return Rollout.objects.get(pk=rollout_id)


def cancel(rollout_id: int) -> Rollout:
    """Queued runs are cancelled; runs in flight finish (a target is never stopped mid-plan).
    A rollout stopped by failures is cancelled too: given up, it closes its change request."""
    with transaction.atomic():
        rollout = _locked(
            rollout_id, {State.PLANNED, State.RUNNING, State.PAUSED, State.PARTIALLY_FAILED}
        )
        rollout.runs.filter(state=RunState.QUEUED).update(
            state=RunState.CANCELLED, finished_at=timezone.now()
        )
        rollout.state = State.CANCELLED
        rollout.finished_at = timezone.now()
        rollout.save(update_fields=["state", "finished_at"])
        rollouts.ended(rollout.change_request, rollout.pk, State.CANCELLED, run_outcomes(rollout))
    return rollout


def _locked(rollout_id: int, allowed: set[str]) -> Rollout:
    rollout = Rollout.objects.select_for_update().filter(pk=rollout_id).first()
    if rollout is None:
        raise SchemaManagerError(f"No rollout {rollout_id}.")
    if rollout.state not in allowed:
        raise SchemaManagerError(
            f"Rollout {rollout_id} is {rollout.get_state_display()}; that cannot be done now."
        )
    return rollout


def _move(rollout_id: int, allowed: set[str], state: str) -> None:
    with transaction.atomic():
        rollout = _locked(rollout_id, allowed)
        rollout.state = state
        rollout.save(update_fields=["state"])


def _requeue(rollout: Rollout, state: str) -> None:
    """Runs in ``state`` are queued afresh (enqueued anew when their turn comes)."""
    rollout.runs.filter(state=state).update(
        state=RunState.QUEUED, enqueued_at=None, lease_token="", lease_expires_at=None
    )


def _reopen(rollout: Rollout) -> None:
    rollout.state = State.RUNNING
    rollout.finished_at = None
    rollout.save(update_fields=["state", "finished_at"])


def advance(rollout_id: int) -> None:
    """Move the rollout on (``tasks.advance``). Imported here: the Tasks framework loads with
    the first rollout moved on, not with the admin and the commands that import this module
    at every start of the app."""
    from . import tasks

    tasks.advance(rollout_id)
