"""Fleet rollouts under an approval policy (``APPROVALS["<fleet>:*"]``), run in this process:
the rollout is admitted by the gate once when planned, and every target again when it runs
(the SQL before, SQL and rollback under the target's lock); a refused target does not run and
the wave's failure rules apply; the request ends with the rollout."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings

from schema_manager import services
from schema_manager.change_requests import service
from schema_manager.change_requests.models import ChangeRequest
from schema_manager.change_requests.policy import problems
from schema_manager.exceptions import ChangeRequestError
from schema_manager.fleets import control, planner
from schema_manager.fleets.models import Rollout
from schema_manager.fleets.planner import WaveSpec
from schema_manager.models import Migration
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
from tests.utils import make_user, run_command

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("postgres_targets"),
]

APPROVE = "schema_manager.approve_changerequest"


@contextmanager
def guarded_fleet(names: list[str], **policy):
    """Fleet "tenants" over ``names``, with an approval policy for all its targets."""
    with fleet_settings(schema_specs(names)):
        approvals = {"tenants:*": {"required": 1, **policy}}
        with override_settings(SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "APPROVALS": approvals}):
            yield


@pytest.fixture
def plan() -> list[Migration]:
    write_plan(Workspace().directory.path, 2)
    services.import_folders()
    return list(Migration.objects.order_by("id"))


def approved(ids: list[str]) -> ChangeRequest:
    author, reviewer = make_user("author"), make_user("reviewer", APPROVE)
    request = service.create("tenants:*", ids, author=author, title="Tenants", submit_now=True)
    service.decide(request, reviewer, "approve")
    request.refresh_from_db()
    assert request.state == ChangeRequest.State.APPROVED
    return request


def ledger_or_nothing(schema: str) -> list:
    """The schema's ledger rows; none where it has no ledger table."""
    with connections["pg_development"].cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f'"{schema}"._prisma_migrations'])
        if cursor.fetchone()[0] is None:
            return []
    return schema_ledger(schema)


def states(rollout: Rollout) -> dict[str, str]:
    return dict(rollout.runs.values_list("target_key", "state"))


def test_a_guarded_fleet_refuses_a_rollout_without_an_approved_request(plan):
    with tenant_schemas(schema_names(2)) as names, guarded_fleet(names):
        assert problems() == []
        with pytest.raises(ChangeRequestError, match="tenants:\\* requires an approved change"):
            planner.plan_rollout("tenants", plan, started_by="ops")
        assert not Rollout.objects.exists()
        for name in names:
            with pytest.raises(Exception, match="does not exist"):
                schema_ledger(name)


def test_an_approved_request_rolls_out_and_ends_done_with_every_target(plan):
    with tenant_schemas(schema_names(3)) as names, guarded_fleet(names):
        request = approved([m.id for m in plan])
        # Pinned on the fleet's first target, and said so.
        assert request.snapshot["pinned_on"] == f"tenants:{schema_specs(names)[0].key}"
        with pytest.raises(ChangeRequestError, match=r"reviewer approved .* cannot also run it"):
            planner.plan_rollout(
                "tenants", plan, started_by="reviewer", change_request=str(request.pk)
            )
        rollout = planner.plan_rollout(
            "tenants", plan, started_by="ops", change_request=str(request.pk)
        )
        request.refresh_from_db()
        assert request.state == ChangeRequest.State.EXECUTING
        assert request.executed_by == "ops"
        planner.start(rollout)
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.SUCCEEDED
        request.refresh_from_db()
        assert request.state == ChangeRequest.State.DONE
        assert sorted(item["target"] for item in request.outcome) == sorted(states(rollout))
        assert {item["state"] for item in request.outcome} == {"succeeded"}
        for name in names:
            assert schema_ledger(name) == [(m.id, True) for m in plan]
        # Done: the same request cannot start another rollout.
        with pytest.raises(ChangeRequestError, match="is done, not approved"):
            planner.plan_rollout("tenants", plan, started_by="ops", change_request=str(request.pk))


def test_a_target_whose_rollback_differs_from_the_approved_one_is_refused_under_its_lock():
    """The rollback of a DROP TABLE is generated from what each tenant holds: a tenant whose
    table is not the one the reviewers saw would store a rollback nobody approved."""
    (Workspace().directory.path / "001_drop_legacy").mkdir(parents=True)
    (Workspace().directory.path / "001_drop_legacy" / "migration.sql").write_text(
        "DROP TABLE legacy;\n"
    )
    services.import_folders()
    plan = list(Migration.objects.all())
    with tenant_schemas(schema_names(3)) as names, guarded_fleet(names):
        for name in names:
            execute(f'CREATE TABLE "{name}".legacy (id INTEGER PRIMARY KEY)')
        execute(f'ALTER TABLE "{names[1]}".legacy ADD COLUMN note TEXT')
        request = approved(["001_drop_legacy"])
        pinned = request.pins.get()
        rollout = planner.plan_rollout(
            "tenants",
            plan,
            started_by="ops",
            change_request=str(request.pk),
            waves=[WaveSpec("all", on_error="continue", max_parallel=1)],
        )
        planner.start(rollout)
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.PARTIALLY_FAILED
        keys = [spec.key for spec in schema_specs(names)]
        assert [states(rollout)[k] for k in keys] == ["succeeded", "failed", "succeeded"]
        error = rollout.runs.get(target_key=keys[1]).error
        assert f"change request #{request.pk}" in error
        assert "001_drop_legacy" in error
        assert pinned.rollback_checksum in error
        assert "would run" in error
        # Nothing of it ran there: the table is still there, the ledger has no row.
        execute(f'SELECT note FROM "{names[1]}".legacy')
        assert ledger_or_nothing(names[1]) == []
        # Stopped by failures, the rollout may be resumed or retried under the same request;
        # cancelled, the request ends failed.
        request.refresh_from_db()
        assert request.state == ChangeRequest.State.EXECUTING
        control.cancel(rollout.pk)
        request.refresh_from_db()
        assert request.state == ChangeRequest.State.FAILED


def test_a_target_refused_by_the_gate_stops_its_wave(plan):
    """An approval voided after the rollout started? It cannot be (a running request is not
    voided); but an SQL edited since is refused at each target before anything runs."""
    with tenant_schemas(schema_names(3)) as names, guarded_fleet(names):
        request = approved([m.id for m in plan])
        rollout = planner.plan_rollout(
            "tenants",
            plan,
            started_by="ops",
            change_request=str(request.pk),
            waves=[WaveSpec("all", max_parallel=1, max_failures=1)],
        )
        edited = Migration.objects.get(pk=plan[1].id)
        edited.sql = "CREATE TABLE step_2 (id INTEGER PRIMARY KEY, note TEXT);\n"
        edited.save()
        request.refresh_from_db()
        assert request.state == ChangeRequest.State.EXECUTING  # not voided while running
        planner.start(rollout)
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.PARTIALLY_FAILED
        got = sorted(states(rollout).values())
        assert got == ["failed", "queued", "queued"]
        error = rollout.runs.get(state="failed").error
        assert plan[1].id in error
        assert f"checksum {plan[1].checksum} pinned, {edited.checksum} now" in error
        for name in names:
            with pytest.raises(Exception, match="does not exist"):
                schema_ledger(name)


def test_a_fleet_policy_must_name_a_fleet():
    approvals = {"nofleet:*": {"required": 1}}
    with override_settings(SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "APPROVALS": approvals}):
        assert problems() == [
            "SCHEMA_MANAGER['APPROVALS']['nofleet:*'] names no fleet of SCHEMA_MANAGER['FLEETS']."
        ]


def test_the_commands_open_approve_and_roll_out_a_fleet_request():
    ids = write_plan(Workspace().directory.path, 2)
    make_user("author"), make_user("reviewer", APPROVE), make_user("deployer")
    with tenant_schemas(schema_names(2)) as names, guarded_fleet(names):
        _out, err, code = run_command(
            "apply_schema_migration", "--all", "--fleet", "tenants", check=False
        )
        assert code == 1
        assert "tenants:* requires an approved change request" in err
        assert not Rollout.objects.exists()
        run_command(
            "schema_change_request",
            "create",
            *ids,
            "--fleet",
            "tenants",
            "--title",
            "Tenants",
            "--submit",
            "--user",
            "author",
        )
        number = str(ChangeRequest.objects.get().pk)
        run_command("schema_change_request", "approve", number, "--user", "reviewer")
        _out, err, code = run_command(
            "apply_schema_migration",
            "--all",
            "--fleet",
            "tenants",
            "--change-request",
            number,
            "--break-glass",
            "now",
            "--user",
            "deployer",
            check=False,
        )
        assert code == 1
        assert "--break-glass" in err
        _out, err, code = run_command(
            "apply_schema_migration",
            "--fleet",
            "tenants",
            "--change-request",
            number,
            "--user",
            "deployer",
        )
        assert code == 0, err
        rollout = Rollout.objects.get()
        assert (rollout.started_by, rollout.change_request) == ("deployer", number)
        assert ChangeRequest.objects.get().state == ChangeRequest.State.DONE
        for name in names:
            assert schema_ledger(name) == [(i, True) for i in ids]


def test_the_admin_shows_a_fleet_request_and_refuses_to_execute_it_from_the_page(plan):
    from django.test import Client

    with tenant_schemas(schema_names(2)) as names, guarded_fleet(names):
        request = approved([m.id for m in plan])
        make_user("root", is_superuser=True, is_staff=True)
        client = Client()
        client.login(username="root", password="pw")
        page = client.get(f"/admin/schema_manager/changerequest/{request.pk}/change/")
        assert page.status_code == 200
        assert b'value="execute"' not in page.content
        forged = client.post(
            f"/admin/schema_manager/changerequest/{request.pk}/act/",
            {"action": "execute"},
            follow=True,
        )
        assert "apply_schema_migration --fleet tenants" in forged.content.decode()
        request.refresh_from_db()
        assert request.state == ChangeRequest.State.APPROVED
        assert not Rollout.objects.exists()


def test_a_rollout_outside_the_window_is_scheduled_and_started_when_it_opens(plan):
    import datetime

    from schema_manager.change_requests import clock, windows

    window = [{"days": "*", "start": "02:00", "end": "04:00"}]
    night = datetime.datetime(2026, 3, 3, 2, 30, tzinfo=datetime.UTC)
    with tenant_schemas(schema_names(2)) as names, guarded_fleet(names, windows=window):
        with clock.at(night):
            request = approved([m.id for m in plan])
        with (
            clock.at(night + datetime.timedelta(hours=10)),
            pytest.raises(ChangeRequestError, match="scheduled"),
        ):
            planner.plan_rollout("tenants", plan, started_by="ops", change_request=str(request.pk))
        assert not Rollout.objects.exists()
        request.refresh_from_db()
        assert request.state == ChangeRequest.State.SCHEDULED
        with clock.at(night + datetime.timedelta(days=1)):
            [run] = windows.run_due("ops")
        assert run.error == ""
        assert Rollout.objects.get().state == Rollout.State.SUCCEEDED
        request.refresh_from_db()
        assert request.state == ChangeRequest.State.DONE
        for name in names:
            assert schema_ledger(name) == [(m.id, True) for m in plan]


def test_a_fleet_on_a_guarded_environments_database_needs_a_policy_of_its_own(plan):
    """Production's policy cannot be walked around by a fleet whose targets are on
    production's database: each target is refused until the fleet has its own policy."""
    with tenant_schemas(schema_names(2)) as names, fleet_settings(schema_specs(names)):
        base = settings.SCHEMA_MANAGER["ENVIRONMENTS"]["development"]
        assert base == "pg_development"  # the fleet's targets are on that database
        approvals = {"development": {"required": 1}}
        with override_settings(SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "APPROVALS": approvals}):
            rollout = planner.plan_rollout("tenants", plan, started_by="ops")
            planner.start(rollout)
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.PARTIALLY_FAILED, list(
            rollout.runs.values_list("state", "error")
        )
        error = rollout.runs.filter(state="failed").first().error
        assert "is on the database of development" in error
        assert "APPROVALS']['tenants:*']" in error
        for name in names:
            assert ledger_or_nothing(name) == []


def test_a_fleet_requests_evidence_names_every_targets_history_records(plan):
    import json

    import jsonschema

    from schema_manager.change_requests import evidence
    from schema_manager.models import VersionRecord

    with tenant_schemas(schema_names(2)) as names, guarded_fleet(names):
        request = approved([m.id for m in plan])
        rollout = planner.plan_rollout(
            "tenants", plan, started_by="ops", change_request=str(request.pk)
        )
        planner.start(rollout)
        data = json.loads(evidence.to_json(evidence.collect(request.pk)))
    jsonschema.Draft202012Validator(evidence.schema()).validate(data)
    records = data["execution"]["version_records"]
    expected = VersionRecord.objects.filter(environment__startswith="tenants:")
    assert len(records) == len(names) * len(plan) == expected.count()
    assert {(r["environment"], r["migration_id"]) for r in records} == {
        (f"tenants:{spec.key}", m.id) for spec in schema_specs(names) for m in plan
    }
    assert all(r["ledger_id"] for r in records)
