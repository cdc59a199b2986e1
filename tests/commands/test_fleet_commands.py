"""apply_schema_migration --fleet, schema_fleet_status and schema_fleet_rollout."""

from __future__ import annotations

import json

import pytest

from schema_manager.fleets.models import Rollout
from schema_manager.workspace import Workspace
from tests.fleet_support import (
    execute,
    fleet_settings,
    schema_ledger,
    schema_names,
    schema_specs,
    tenant_schemas,
    write_plan,
)
from tests.utils import run_command

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("postgres_targets"),
]


def test_status_then_apply_then_status_over_a_fleet_of_schemas():
    ids = write_plan(Workspace().directory.path, 2)
    names = schema_names(4)
    labels = {names[0]: {"tier": "canary"}}
    with tenant_schemas(names), fleet_settings(schema_specs(names, labels)):
        out, _err, code = run_command(
            "schema_fleet_status", "--fleet", "tenants", "--check", "--format", "json", check=False
        )
        assert code == 1
        report = json.loads(out)
        assert {t["state"] for t in report["targets"]} == {"behind"}
        assert report["targets"][0]["pending"] == ids

        out, err, code = run_command(
            "apply_schema_migration",
            "--all",
            "--fleet",
            "tenants",
            "--wave",
            "canary:tier=canary",
            "--wave",
            "rest",
            "--parallel",
            "2",
        )
        assert code == 0, err
        assert "over 4 target(s)" in out
        assert "4/4" in out
        assert all(schema_ledger(name) == [(i, True) for i in ids] for name in names)

        out, _err, code = run_command("schema_fleet_status", "--fleet", "tenants", "--check")
        assert code == 0
        assert out.count("up to date") == 4

        out, _err, _code = run_command("schema_fleet_rollout", "list", "--format", "json")
        [listed] = json.loads(out)
        assert listed["state"] == "succeeded"
        assert listed["targets"]["succeeded"] == 4
        out, _err, _code = run_command("schema_fleet_rollout", "show", str(listed["id"]))
        assert "wave canary (done): 1 succeeded" in out
        assert "wave rest (done): 3 succeeded" in out


def test_a_failed_rollout_exits_non_zero_naming_the_target_then_retry_finishes_it():
    ids = write_plan(Workspace().directory.path, 1)
    names = schema_names(3)
    with tenant_schemas(names), fleet_settings(schema_specs(names)):
        execute(f'CREATE TABLE "{names[1]}".step_1 (id INTEGER)')
        _out, err, code = run_command(
            "apply_schema_migration",
            "--all",
            "--fleet",
            "tenants",
            "--on-error",
            "continue",
            check=False,
        )
        assert code == 1
        assert "t001" in err
        assert "step_1" in err
        assert "partially failed" in err
        rollout = Rollout.objects.get()
        out, _err, code = run_command(
            "schema_fleet_status", "--fleet", "tenants", "--check", check=False
        )
        assert code == 1
        assert "failed" in out

        execute(f'DROP TABLE "{names[1]}".step_1')
        out, _err, code = run_command("schema_fleet_rollout", "retry-failed", str(rollout.pk))
        assert "succeeded" in out
        assert schema_ledger(names[1]) == [(ids[0], True)]


def test_rollout_commands_refuse_what_cannot_be_done_in_one_sentence():
    write_plan(Workspace().directory.path, 1)
    names = schema_names(1)
    with tenant_schemas(names), fleet_settings(schema_specs(names)):
        run_command("apply_schema_migration", "--all", "--fleet", "tenants")
        rollout = Rollout.objects.get()
        _out, err, code = run_command("schema_fleet_rollout", "pause", str(rollout.pk), check=False)
        assert code == 1
        assert "is succeeded; that cannot be done now" in err
        _out, err, code = run_command("schema_fleet_rollout", "show", "999", check=False)
        assert code == 1
        assert "No rollout 999" in err
        _out, err, code = run_command(
            "apply_schema_migration", "--all", "--fleet", "nope", check=False
        )
        assert code == 1
        assert "Unknown fleet 'nope'" in err
