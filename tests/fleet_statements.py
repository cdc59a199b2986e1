"""Child process of tests/process/test_fleet_statements.py: one task runs every target of a
rollout as a worker runs it (``tests/fleet_settings.py``: the app database on PostgreSQL),
and prints, as JSON, what each target cost: the statements sent on the app's connections and
on the target's (its lock session's included), each transaction's BEGIN and COMMIT counted
as statements (each is a round trip of its own), and the statements of the second target.

Usage: DJANGO_SETTINGS_MODULE=tests.fleet_settings python -m tests.fleet_statements
"""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any


def main() -> None:
    import importlib.util

    import django

    from tests import fleet_settings

    # Tasks are recorded, not run, and the test runs the task as a worker would: set before
    # Django reads the settings (the Tasks framework's handler may not follow a change).
    framework = "django.tasks" if importlib.util.find_spec("django.tasks") else "django_tasks"
    queues = ["default", fleet_settings.QUEUE]  # the fleet's too
    dummy = {"BACKEND": f"{framework}.backends.dummy.DummyBackend", "QUEUES": queues}
    fleet_settings.TASKS = {"default": dummy}
    django.setup()
    from django.db import connections
    from django.db.backends.postgresql.base import DatabaseWrapper
    from django.db.backends.signals import connection_created
    from psycopg.pq import TransactionStatus

    from schema_manager import services
    from schema_manager.fleets import planner, runs
    from schema_manager.fleets.planner import WaveSpec
    from schema_manager.fleets.tasks import run_target_run
    from schema_manager.models import Migration

    sent: list[tuple[str, str]] = []  # (app or target, statement)

    def side(wrapper: Any) -> str:
        return "target" if wrapper.alias.startswith("schema_manager_fleet") else "app"

    def watch(sender: Any, connection: Any, **kwargs: Any) -> None:
        def count(execute, sql, params, many, context):
            sent.append((side(connection), sql[:120]))
            return execute(sql, params, many, context)

        if not getattr(connection, "counted_by_the_test", False):
            connection.counted_by_the_test = True
            connection.execute_wrappers.append(count)

    connection_created.connect(watch)
    watch(None, connections["default"])
    commit = DatabaseWrapper._commit

    def counted_commit(self: Any) -> Any:
        status = self.connection.info.transaction_status if self.connection else None
        if status not in (None, TransactionStatus.IDLE):
            sent.extend([(side(self), "BEGIN"), (side(self), "COMMIT")])
        return commit(self)

    DatabaseWrapper._commit = counted_commit  # type: ignore[method-assign]
    marks: list[int] = []
    run_target = runs.run_target

    def marked(*args: Any, **kwargs: Any) -> str:
        marks.append(len(sent))
        return run_target(*args, **kwargs)

    runs.run_target = marked  # type: ignore[assignment]
    services.import_folders()
    plan = list(Migration.objects.order_by("id"))
    rollout = planner.plan_rollout("tenants", plan, waves=[WaveSpec("all", max_parallel=1)])
    planner.start(rollout)
    [task] = importlib.import_module(framework).task_backends["default"].results
    run_target_run.func(*task.args)
    marks.append(len(sent))
    slices = [sent[start:end] for start, end in pairwise(marks)]
    rollout.refresh_from_db()
    print(
        json.dumps(
            {
                "state": rollout.state,
                "per_target": [
                    {where: [s for s, _sql in one].count(where) for where in ("app", "target")}
                    for one in slices
                ],
                "second": slices[1],
            }
        )
    )


if __name__ == "__main__":
    main()
