"""``apply_schema_migration --fleet``: plan a rollout, start it, and follow it to its end."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from django.core.management.base import CommandError

from ... import planning
from ...fleets import control
from ...fleets.models import Rollout, Wave
from ...fleets.status import progress
from ...models import Migration
from ...sql.migration_order import migration_order_key
from ._base import SchemaCommand

if TYPE_CHECKING:
    from ...fleets.planner import WaveSpec

FINAL = {Rollout.State.SUCCEEDED, Rollout.State.PARTIALLY_FAILED, Rollout.State.CANCELLED}


def add_fleet_arguments(parser: Any) -> None:
    group = parser.add_argument_group("fleets")
    group.add_argument(
        "--fleet", help="Roll the plan out over this fleet (SCHEMA_MANAGER['FLEETS'])."
    )
    group.add_argument("--labels", default="", help="Only targets with these labels: a=b,c=d.")
    group.add_argument(
        "--wave",
        action="append",
        default=[],
        metavar="NAME[:a=b,...]",
        help="A wave of the targets with these labels (repeat, in order; a target goes to the "
        "first it fits). Default: the fleet's WAVES, else one wave of all.",
    )
    group.add_argument("--parallel", type=int, help="Targets at once per wave (default 4).")
    group.add_argument("--on-error", choices=["stop", "continue"], help="Default: stop.")
    group.add_argument(
        "--max-failures", type=int, help="With --on-error stop: failures that stop (default 1)."
    )
    # --change-request (the approval it runs under) is the command's own option, shared with
    # single-environment applies (SchemaCommand.add_change_request_arguments).
    group.add_argument(
        "--no-wait", action="store_true", help="Start the rollout and return (workers run it)."
    )


def apply_fleet(command: SchemaCommand, ids: list[str], options: dict[str, Any]) -> None:
    # The planner (and the Tasks framework with it) loads for a fleet's apply only: every
    # run of the command imports this module for its arguments.
    from ...fleets import planner

    if options.get("break_glass") is not None:
        raise CommandError("--break-glass runs in one environment; a fleet takes --change-request.")
    plan = command.named_migrations(ids) if ids else whole_plan(command)
    waves = [_wave(text, options) for text in options["wave"]] or None
    shaped = any(options[name] is not None for name in ("parallel", "on_error", "max_failures"))
    if waves is None and shaped:  # one wave of all, shaped as asked
        waves = [_wave("all", options)]
    rollout = planner.plan_rollout(
        options["fleet"],
        plan,
        selector=planner.parse_labels(options["labels"]),
        waves=waves,
        # Who starts it: the gate keeps them from having approved it.
        started_by=options.get("user") or _who(),
        change_request=options["change_request"] or "",
    )
    verbosity = options["verbosity"]
    total = rollout.runs.count()
    if verbosity >= 1:
        command.stdout.write(
            command.style.MIGRATE_HEADING(
                f"Rollout {rollout.pk}: {len(plan)} migration(s) over {total} target(s) of "
                f"fleet {rollout.fleet!r}, in {rollout.waves.count()} wave(s):"
            )
        )
    planner.start(rollout)
    if options["no_wait"]:
        return
    rollout = follow(command, rollout, total, verbosity)
    if rollout.state != Rollout.State.SUCCEEDED:
        failed = rollout.runs.filter(state="failed").order_by("position")[:5]
        for run in failed:
            command.stderr.write(f"  {run.target_key}: {run.error}")
        raise CommandError(
            f"Rollout {rollout.pk} {rollout.get_state_display()}; see "
            f"'schema_fleet_rollout show {rollout.pk}'."
        )


def follow(command: SchemaCommand, rollout: Rollout, total: int, verbosity: int) -> Rollout:
    """Print progress until the rollout ends or is paused; moving it on at each look gives a
    run whose worker died to another once its lease expires."""
    last = None
    while True:
        rollout.refresh_from_db()
        counts = progress(rollout)
        line = _bar(counts, total)
        if verbosity >= 1 and line != last:
            command.stdout.write(line)
            last = line
        if rollout.state in FINAL or rollout.state == Rollout.State.PAUSED:
            return rollout
        time.sleep(0.5)
        control.advance(rollout.pk)


def _bar(counts: dict[str, int], total: int) -> str:
    done = counts["succeeded"] + counts["skipped"] + counts["failed"] + counts["cancelled"]
    width = 30
    filled = int(width * done / total) if total else width
    detail = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    return f"  [{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {detail}"


def _wave(text: str, options: dict[str, Any]) -> WaveSpec:
    from ...fleets import planner

    name, _colon, labels = text.partition(":")
    return planner.WaveSpec(
        name=name or "wave",
        labels=planner.parse_labels(labels),
        max_parallel=options["parallel"] or 4,
        on_error=Wave.OnError(options["on_error"] or "stop"),
        max_failures=options["max_failures"] or 1,
    )


def whole_plan(command: SchemaCommand) -> list[Migration]:
    """Every migration of the catalogue whose folder is on disk, by id (what each target
    lacks of it is applied there)."""
    directory = command.workspace.directory
    planning.import_folders(directory)
    gone = planning.missing_on_disk(directory)
    plan = sorted(
        (m for m in Migration.objects.all() if m.id not in gone),
        key=lambda migration: migration_order_key(migration.id),
    )
    if not plan:
        raise CommandError("No migrations to roll out.")
    return plan


def _who() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
