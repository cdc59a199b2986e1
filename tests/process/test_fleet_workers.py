"""Fleet rollouts run by real RQ worker processes on Redis, the app database on PostgreSQL:
a worker killed mid-target, a failing tenant that stops its wave, resume, and a stalled
worker whose late write its lost lease rejects."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.fleet_support import (
    FleetProcesses,
    execute,
    redis_unreachable,
    schema_ledger,
    schema_names,
    tenant_schemas,
)
from tests.settings import POSTGRES_URL

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("postgres_targets"),
]

# The second migration keeps its target busy long enough to kill or stall its worker.
PLAN = {
    "001_first": "CREATE TABLE first_table (id INTEGER PRIMARY KEY);\n",
    "002_slow": "CREATE TABLE slow_table (id INTEGER PRIMARY KEY);\nSELECT pg_sleep(1.5);\n",
    "003_last": "CREATE TABLE last_table (id INTEGER PRIMARY KEY);\n",
}


@pytest.fixture
def processes(request, tmp_path):
    if not POSTGRES_URL:
        pytest.skip("needs PostgreSQL")
    reason = redis_unreachable()
    if reason:
        pytest.skip(reason)
    count, lease = request.param
    names = schema_names(count)
    with tenant_schemas(names):
        fleet = FleetProcesses(tmp_path, names, lease=lease)
        for migration_id, sql in PLAN.items():
            (fleet.migrations / migration_id).mkdir()
            (fleet.migrations / migration_id / "migration.sql").write_text(sql)
        try:
            yield fleet, names
        finally:
            fleet.close()


def applied_once(schema: str) -> bool:
    return schema_ledger(schema) == [(migration_id, True) for migration_id in PLAN]


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def signal_worker(fleet: FleetProcesses, worker: str, sig: int = signal.SIGKILL):
    """Send ``sig`` to the worker a target run's ``worker`` names (by pid): RQ runs each job
    in a work-horse, a fork of the worker in a process group of its own, so both get it (as
    when the machine dies). Returns the worker process."""
    pid = int(worker.split(":")[1])
    for process in fleet.workers:
        if pid == process.pid or parent_of(pid) == process.pid:
            if pid != process.pid:
                os.kill(pid, sig)
            os.killpg(process.pid, sig)
            return process
    raise AssertionError(f"no worker of ours runs pid {pid}")


@pytest.mark.parametrize("processes", [(6, 3.0)], indirect=True)
def test_a_worker_killed_mid_target_leaves_it_applied_exactly_once(processes):
    fleet, names = processes
    for number in range(2):
        fleet.worker(f"worker{number}")
    follower = fleet.start(
        "apply", "apply_schema_migration", "--all", "--fleet", "tenants", "--parallel", "2"
    )
    fleet.wait_for(lambda: any(r["state"] == "running" for r in fleet.runs()), what="a run")
    time.sleep(0.8)  # inside 002_slow's pg_sleep
    victim = next(r for r in fleet.runs() if r["state"] == "running")
    signal_worker(fleet, victim["worker"])
    fleet.worker("worker2")  # the pool's size again
    assert follower.wait(timeout=180) == 0, fleet.log("apply")
    runs = {run["target_key"]: run for run in fleet.runs()}
    assert {run["state"] for run in runs.values()} == {"succeeded"}
    again = runs[victim["target_key"]]
    assert again["attempt"] == 2
    assert again["worker"] != victim["worker"]
    # The killed attempt's 002 rolled back with its connection; the re-run applied it once.
    assert all(applied_once(name) for name in names)
    rows = fleet.db.execute(
        "SELECT environment, migration_id, count(*) FROM schema_manager_versionrecord "
        "WHERE status = 'applied' GROUP BY 1, 2"
    ).fetchall()
    assert len(rows) == len(names) * len(PLAN)
    assert {row[2] for row in rows} == {1}


@pytest.mark.parametrize("processes", [(8, 300.0)], indirect=True)
def test_a_failing_tenant_stops_the_wave_and_resume_finishes_the_rest(processes):
    fleet, names = processes
    execute(f'CREATE TABLE "{names[1]}".first_table (id INTEGER)')  # its 001 fails
    for number in range(2):
        fleet.worker(f"worker{number}")
    done = fleet.manage(
        "apply_schema_migration",
        "--all",
        "--fleet",
        "tenants",
        "--parallel",
        "2",
        "--max-failures",
        "1",
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "first_table" in done.stderr
    states = [run["state"] for run in fleet.runs()]
    assert states[1] == "failed"
    assert fleet.rollout_state() == "partially_failed"
    started = [state for state in states if state != "queued"]
    assert len(started) <= 3  # the failure, and at most the runs in flight beside it
    untouched = [name for name, state in zip(names, states, strict=False) if state == "queued"]
    assert len(untouched) >= 5
    for name in untouched:
        with pytest.raises(Exception, match="does not exist"):
            schema_ledger(name)

    fleet.manage("schema_fleet_rollout", "resume", "1")
    fleet.wait_for(
        lambda: (
            fleet.rollout_state() == "partially_failed"
            and all(r["state"] != "queued" for r in fleet.runs())
        ),
        what="the rest",
    )
    states = [run["state"] for run in fleet.runs()]
    assert states[1] == "failed"
    assert states.count("succeeded") == 7
    assert all(applied_once(name) for name in names if name != names[1])


@pytest.mark.parametrize("processes", [(1, 3.0)], indirect=True)
def test_a_stalled_workers_late_write_is_rejected_by_its_lost_lease(processes):
    fleet, names = processes
    fleet.worker("stalled")
    follower = fleet.start("apply", "apply_schema_migration", "--all", "--fleet", "tenants")
    fleet.wait_for(lambda: [r["state"] for r in fleet.runs()] == ["running"], what="the run")
    time.sleep(0.5)
    horse = fleet.runs()[0]["worker"]
    signal_worker(fleet, horse, signal.SIGSTOP)  # holds the target's lock, renews nothing
    fleet.worker("other")
    # The lease expires, the follower enqueues the run again, the other worker claims it and
    # waits for the target's lock, which the stalled worker holds.
    fleet.wait_for(lambda: [r["attempt"] for r in fleet.runs()] == [2], what="the second claim")
    signal_worker(fleet, horse, signal.SIGCONT)
    assert follower.wait(timeout=120) == 0, fleet.log("apply")
    [run] = fleet.runs()
    # The stalled worker applied the plan, but its result was not written: the second
    # worker's stands, which found everything applied (at once, or under the lock).
    assert run["state"] in ("succeeded", "skipped")
    assert run["attempt"] == 2
    assert run["applied"] == []
    assert "other" not in run["worker"]
    assert applied_once(names[0])
    fleet.wait_for(lambda: "its write was rejected" in fleet.log("stalled"), 30, "the log")
