from __future__ import annotations

import json

from django.core.management.base import CommandError

from ...fleets import control
from ...fleets.models import Rollout
from ...fleets.status import progress, wave_counts
from ._base import SchemaCommand

ACTIONS = {
    "pause": control.pause,
    "resume": control.resume,
    "retry-failed": control.retry_failed,
    "cancel": control.cancel,
}


class Command(SchemaCommand):
    help = "List fleet rollouts, show one, or pause, resume, retry the failed targets, cancel."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["list", "show", *ACTIONS])
        parser.add_argument("rollout", nargs="?", type=int, help="The rollout's number.")
        parser.add_argument("--fleet", help="With list: only this fleet's rollouts.")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, action: str, rollout: int | None, **options) -> None:
        if action == "list":
            return self._list(options["fleet"], options["format"])
        if rollout is None:
            raise CommandError(f"{action} needs a rollout number (see 'list').")
        if action in ACTIONS:
            done = ACTIONS[action](rollout)
            self.stdout.write(self.style.SUCCESS(f"Rollout {done.pk}: {done.get_state_display()}."))
            return None
        found = Rollout.objects.filter(pk=rollout).first()
        if found is None:
            raise CommandError(f"No rollout {rollout}.")
        return self._show(found, options["format"])

    def _list(self, fleet: str | None, form: str) -> None:
        rollouts = (
            Rollout.objects.all()[:50] if not fleet else Rollout.objects.filter(fleet=fleet)[:50]
        )
        rows = [_summary(rollout) for rollout in rollouts]
        if form == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            counts = ", ".join(f"{n} {state}" for state, n in row["targets"].items() if n)
            self.stdout.write(
                f"{row['id']:>5}  {row['fleet']:<15} {row['state']:<17} "
                f"{row['created_at']}  {counts}"
            )

    def _show(self, rollout: Rollout, form: str) -> None:
        data = _summary(rollout)
        data["waves"] = [
            {"name": name, "state": state, "targets": counts}
            for name, state, counts in wave_counts(rollout)
        ]
        data["failures"] = [
            {"target": key, "attempt": attempt, "error": error}
            for key, attempt, error in rollout.runs.filter(state="failed").values_list(
                "target_key", "attempt", "error"
            )
        ]
        if form == "json":
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(
            self.style.MIGRATE_HEADING(f"Rollout {rollout.pk} of {rollout.fleet}: {data['state']}")
        )
        self.stdout.write(f"  plan: {', '.join(data['plan'])}")
        for wave in data["waves"]:
            counts = ", ".join(f"{n} {state}" for state, n in wave["targets"].items())
            self.stdout.write(f"  wave {wave['name']} ({wave['state']}): {counts}")
        for failure in data["failures"]:
            self.stdout.write(self.style.ERROR(f"  {failure['target']}: {failure['error']}"))


def _summary(rollout: Rollout) -> dict:
    return {
        "id": rollout.pk,
        "fleet": rollout.fleet,
        "state": rollout.state,
        "plan": rollout.migration_ids,
        "started_by": rollout.started_by,
        "change_request": rollout.change_request,
        "created_at": rollout.created_at.isoformat(timespec="seconds"),
        "finished_at": rollout.finished_at.isoformat(timespec="seconds")
        if rollout.finished_at
        else None,
        "targets": progress(rollout),
    }
