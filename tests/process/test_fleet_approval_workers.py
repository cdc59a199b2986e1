"""A fleet under an approval policy, rolled out by real RQ worker processes on Redis with the
app database on PostgreSQL: no rollout without an approved request, and a tenant whose
generated rollback is not the one approved is refused by its worker under the tenant's lock
(the others apply), the request ending with the rollout."""

from __future__ import annotations

import json

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

SETUP = """
from django.contrib.auth.models import Permission, User
User.objects.create_user("author"); User.objects.create_user("deployer")
User.objects.create_user("reviewer").user_permissions.add(
    Permission.objects.get(codename="approve_changerequest"))
"""


@pytest.fixture
def fleet(tmp_path):
    if not POSTGRES_URL:
        pytest.skip("needs PostgreSQL")
    reason = redis_unreachable()
    if reason:
        pytest.skip(reason)
    names = schema_names(4)
    with tenant_schemas(names):
        processes = FleetProcesses(tmp_path, names)
        processes.env["DJANGO_SETTINGS_MODULE"] = "tests.approval_settings"
        processes.env["SCHEMA_MANAGER_TEST_APPROVALS"] = json.dumps({"tenants:*": {"required": 1}})
        processes.manage("shell", "-c", SETUP)
        (processes.migrations / "001_drop_legacy").mkdir()
        (processes.migrations / "001_drop_legacy" / "migration.sql").write_text(
            "DROP TABLE legacy;\n"
        )
        for name in names:
            execute(f'CREATE TABLE "{name}".legacy (id INTEGER PRIMARY KEY)')
        execute(f'ALTER TABLE "{names[2]}".legacy ADD COLUMN note TEXT')
        try:
            yield processes, names
        finally:
            processes.close()


def request_state(fleet: FleetProcesses) -> str:
    return fleet.db.execute("SELECT state FROM schema_manager_changerequest").fetchone()[0]


def test_workers_refuse_the_tenant_whose_rollback_nobody_approved(fleet):
    fleet, names = fleet
    for number in range(2):
        fleet.worker(f"worker{number}")
    refused = fleet.manage("apply_schema_migration", "--all", "--fleet", "tenants", check=False)
    assert refused.returncode == 1
    assert "tenants:* requires an approved change request" in refused.stderr
    assert fleet.rollout_state() == ""

    fleet.manage(
        "schema_change_request",
        "create",
        "001_drop_legacy",
        "--fleet",
        "tenants",
        "--title",
        "Drop legacy",
        "--submit",
        "--user",
        "author",
    )
    fleet.manage("schema_change_request", "approve", "1", "--user", "reviewer")
    pinned = fleet.db.execute(
        "SELECT rollback_checksum FROM schema_manager_pinnedmigration"
    ).fetchone()[0]
    done = fleet.manage(
        "apply_schema_migration",
        "--fleet",
        "tenants",
        "--change-request",
        "1",
        "--user",
        "deployer",
        "--on-error",
        "continue",
        "--parallel",
        "2",
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    runs = fleet.runs()
    assert [run["state"] for run in runs] == ["succeeded", "succeeded", "failed", "succeeded"]
    error = runs[2]["error"]
    assert "change request #1" in error
    assert "001_drop_legacy" in error
    assert f"checksum {pinned} approved" in error
    assert all(run["worker"] for run in runs)  # each ran in a worker
    execute(f'SELECT note FROM "{names[2]}".legacy')  # nothing of it ran there
    for name in (names[0], names[1], names[3]):
        assert schema_ledger(name) == [("001_drop_legacy", True)]
    # Stopped by a failure, the rollout keeps its request running; cancelled, it ends it.
    assert fleet.rollout_state() == "partially_failed"
    assert request_state(fleet) == "executing"
    fleet.manage("schema_fleet_rollout", "cancel", "1")
    assert request_state(fleet) == "failed"
