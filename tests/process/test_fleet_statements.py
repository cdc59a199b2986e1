"""What one target of a fleet task costs in statements, the app database on PostgreSQL as a
deployment's is (a child process with ``tests/fleet_settings.py``): the fleet's bookkeeping,
the apply's reads of the app's database and the target's own statements, counted per target
(BEGIN and COMMIT included), so that a change adding one shows here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.fleet_support import FleetProcesses, schema_names, tenant_schemas
from tests.processes import ROOT
from tests.settings import POSTGRES_URL

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("postgres_targets"),
]

PLAN = {f"00{i}_step": f"CREATE TABLE step_{i} (id INTEGER PRIMARY KEY);\n" for i in (1, 2, 3)}


def test_a_target_of_a_fleet_task_costs_a_fixed_number_of_statements(tmp_path):
    if not POSTGRES_URL:
        pytest.skip("needs PostgreSQL")
    names = schema_names(5)
    with tenant_schemas(names):
        fleet = FleetProcesses(tmp_path, names)
        try:
            for migration_id, sql in PLAN.items():
                (fleet.migrations / migration_id).mkdir()
                (fleet.migrations / migration_id / "migration.sql").write_text(sql)
            done = subprocess.run(
                [sys.executable, "-m", "tests.fleet_statements"],
                cwd=ROOT,
                env=fleet.env,
                capture_output=True,
                text=True,
                timeout=300,
            )
        finally:
            fleet.close()
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["state"] == "succeeded"
    # The first target reads what the task keeps; the last one closes the rollout.
    steady = measured["per_target"][1:-1]
    shown = "\n".join(f"{where}: {sql}" for where, sql in measured["second"])
    assert steady == [steady[0]] * len(steady), shown
    # The app's: the claim (one round trip), start, the plan's catalogue entries, the order
    # gate's read, the history's log flush, close, and the scheduler (BEGIN, the rollout,
    # its waves with their counts, the next run marked enqueued, COMMIT).
    # The target's: its ledger; the migration lock (one round trip) and the ledger's place;
    # the target's history records; the ledger created; each migration (its script and
    # ledger row, then COMMIT, after BEGIN); the lock released.
    assert steady[0] == {"app": 11, "target": 15}, shown
