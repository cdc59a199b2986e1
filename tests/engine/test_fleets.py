"""Rollouts over tenant schemas and tenant databases, run in this process (Django Tasks'
immediate backend): waves, the fast path, failures and the controls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created

from schema_manager import services
from schema_manager.exceptions import SchemaManagerError
from schema_manager.fleets import control, planner
from schema_manager.fleets.models import Rollout, TargetRun, Wave
from schema_manager.fleets.planner import WaveSpec
from schema_manager.fleets.specs import TargetSpec
from schema_manager.models import Migration, VersionRecord
from schema_manager.workspace import Workspace
from tests.fleet_support import (
    BASE_ALIAS,
    execute,
    fleet_settings,
    schema_ledger,
    schema_names,
    schema_specs,
    tenant_databases,
    tenant_schemas,
    write_plan,
)

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("postgres_targets"),
]


@pytest.fixture
def plan() -> list[Migration]:
    write_plan(Workspace().directory.path, 3)
    services.import_folders()
    return list(Migration.objects.order_by("id"))


def states(rollout: Rollout) -> dict[str, str]:
    return dict(rollout.runs.values_list("target_key", "state"))


def test_a_rollout_applies_the_plan_in_each_tenant_schema_with_its_own_ledger(plan):
    with tenant_schemas(schema_names(6)) as names, fleet_settings(schema_specs(names)):
        rollout = planner.plan_rollout("tenants", plan, started_by="ops")
        planner.start(rollout)
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.SUCCEEDED
        assert set(states(rollout).values()) == {"succeeded"}
        for name in names:
            assert schema_ledger(name) == [(m.id, True) for m in plan]
        run = rollout.runs.first()
        assert run.applied == [m.id for m in plan]
        assert run.attempt == 1
        assert VersionRecord.objects.filter(environment=run.environment).count() == 3


@contextmanager
def target_queries() -> Iterator[list[str]]:
    """SQL sent on the fleet's own connections (targets' and the bulk read's) meanwhile."""
    seen: list[str] = []

    def watch(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    def hook(sender, connection, **kwargs):
        if connection.alias.startswith("schema_manager_fleet"):
            connection.execute_wrappers.append(watch)

    connection_created.connect(hook)
    try:
        yield seen
    finally:
        connection_created.disconnect(hook)


def test_up_to_date_schemas_are_skipped_when_planned_with_two_queries_in_all(plan):
    with tenant_schemas(schema_names(5)) as names, fleet_settings(schema_specs(names)):
        planner.start(planner.plan_rollout("tenants", plan))
        with target_queries() as seen:
            again = planner.plan_rollout("tenants", plan)
        assert len(seen) == 2, seen  # which schemas have a ledger; what each holds
        assert set(states(again).values()) == {"skipped"}
        planner.start(again)
        again.refresh_from_db()
        assert again.state == Rollout.State.SUCCEEDED


def test_a_target_up_to_date_by_the_time_it_runs_is_skipped_with_one_query_on_it(plan):
    with tenant_schemas(schema_names(3)) as names, fleet_settings(schema_specs(names)):
        waiting = planner.plan_rollout("tenants", plan)
        planner.start(planner.plan_rollout("tenants", plan))
        with target_queries() as seen:
            planner.start(waiting)
        waiting.refresh_from_db()
        assert waiting.state == Rollout.State.SUCCEEDED
        assert set(states(waiting).values()) == {"skipped"}
        assert len(seen) == len(names), seen  # one ledger read per target
        assert not [a for a in connections.settings if a.startswith("schema_manager_fleet")]


def test_a_failing_tenant_stops_its_wave_after_max_failures_and_later_waves_wait(plan):
    names = schema_names(8)
    labels = {name: {"tier": "canary"} for name in names[:4]}
    with tenant_schemas(names), fleet_settings(schema_specs(names, labels)):
        # Two canaries already have the table the second migration creates: they fail.
        execute(f'CREATE TABLE "{names[1]}".step_2 (id INTEGER)')
        execute(f'CREATE TABLE "{names[2]}".step_2 (id INTEGER)')
        waves = [
            WaveSpec("canary", {"tier": "canary"}, max_parallel=1, max_failures=2),
            WaveSpec("rest", {}, max_parallel=4),
        ]
        rollout = planner.plan_rollout("tenants", plan, waves=waves)
        planner.start(rollout)
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.PARTIALLY_FAILED
        got = states(rollout)
        key = [spec.key for spec in schema_specs(names)]
        assert [got[k] for k in key] == ["succeeded", "failed", "failed", "queued"] + ["queued"] * 4
        failed = rollout.runs.get(target_key=key[1])
        assert "step_2" in failed.error
        assert failed.applied == [plan[0].id]
        assert schema_ledger(names[1]) == [(plan[0].id, True)]  # atomic per migration
        for untouched in names[3:]:
            assert schema_ledger_or_none(untouched) is None
        assert list(rollout.waves.values_list("state", flat=True)) == ["stopped", "pending"]

        # Resume finishes the rest; the failed targets stay failed until retried.
        control.resume(rollout.pk)
        rollout.refresh_from_db()
        got = states(rollout)
        assert [got[k] for k in key] == ["succeeded", "failed", "failed"] + ["succeeded"] * 5
        assert rollout.state == Rollout.State.PARTIALLY_FAILED

        execute(f'DROP TABLE "{names[1]}".step_2; DROP TABLE "{names[2]}".step_2')
        control.retry_failed(rollout.pk)
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.SUCCEEDED
        assert rollout.runs.get(target_key=key[1]).attempt == 2
        assert schema_ledger(names[1]) == [(m.id, True) for m in plan]


def schema_ledger_or_none(schema: str):
    from django.db import connections

    with connections[BASE_ALIAS].cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f'"{schema}"._prisma_migrations'])
        if cursor.fetchone()[0] is None:
            return None
    return schema_ledger(schema)


def test_on_error_continue_runs_every_target_and_ends_partially_failed(plan):
    names = schema_names(4)
    with tenant_schemas(names), fleet_settings(schema_specs(names)):
        execute(f'CREATE TABLE "{names[0]}".step_1 (id INTEGER)')
        rollout = planner.plan_rollout(
            "tenants", plan, waves=[WaveSpec("all", on_error="continue", max_parallel=2)]
        )
        planner.start(rollout)
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.PARTIALLY_FAILED
        assert sorted(states(rollout).values()) == ["failed"] + ["succeeded"] * 3


def test_pause_holds_the_queued_targets_and_cancel_cancels_them(plan):
    names = schema_names(3)
    with tenant_schemas(names), fleet_settings(schema_specs(names)):
        rollout = planner.plan_rollout("tenants", plan)
        Rollout.objects.filter(pk=rollout.pk).update(state=Rollout.State.RUNNING)
        control.pause(rollout.pk)
        from schema_manager.fleets import tasks

        tasks.advance(rollout.pk)  # paused: nothing is enqueued
        assert set(states(rollout).values()) == {"queued"}
        control.cancel(rollout.pk)
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.CANCELLED
        assert set(states(rollout).values()) == {"cancelled"}
        with pytest.raises(SchemaManagerError, match="cancelled"):
            control.resume(rollout.pk)


def test_tenant_databases_take_their_names_and_credentials_from_settings(plan, monkeypatch):
    from django.db import connections

    from schema_manager.fleets.adapters import TenantDatabases

    with tenant_databases(3) as databases:
        base = connections[BASE_ALIAS].settings_dict
        url = f"postgres://{base['USER']}:{base['PASSWORD']}@{base['HOST']}:{base['PORT']}/"
        monkeypatch.setenv("SM_FLEET_TEST_URL", url + databases[2])
        entries = [
            {"key": "a", "NAME": databases[0], "labels": {"plan": "pro"}},
            {"key": "b", "NAME": databases[1]},
            {"key": "c", "URL_ENV": "SM_FLEET_TEST_URL"},
        ]
        for entry in entries:  # the base alias's search_path names a schema of the test's
            entry["OPTIONS"] = {}
        specs = TenantDatabases(BASE_ALIAS, entries)()
        assert [spec.labels for spec in specs] == [{"plan": "pro"}, {}, {}]
        with fleet_settings(specs):
            rollout = planner.plan_rollout("tenants", plan)
            planner.start(rollout)
            rollout.refresh_from_db()
            assert rollout.state == Rollout.State.SUCCEEDED
            assert "PASSWORD" not in str(list(TargetRun.objects.values()))
        from tests.fleet_support import server_connection

        for name in databases:
            with server_connection(name) as db:
                rows = db.execute("SELECT migration_name FROM _prisma_migrations").fetchall()
                assert sorted(row[0] for row in rows) == [m.id for m in plan]


def test_a_target_that_fits_no_wave_refuses_the_plan_and_creates_nothing(plan):
    names = schema_names(2)
    with tenant_schemas(names), fleet_settings(schema_specs(names)):
        with pytest.raises(SchemaManagerError, match="fits no wave"):
            planner.plan_rollout("tenants", plan, waves=[WaveSpec("gold", {"tier": "gold"})])
        assert not Rollout.objects.exists()
        assert not Wave.objects.exists()


def test_bad_target_specs_are_refused_with_the_target_named(plan):
    bad = [TargetSpec(key="x", alias=BASE_ALIAS, schema="no spaces allowed")]
    with fleet_settings(bad), pytest.raises(SchemaManagerError, match=r"'x'.*not a schema name"):
        planner.plan_rollout("tenants", plan)
    missing = [TargetSpec(key="x", alias="missing")]
    with fleet_settings(missing), pytest.raises(SchemaManagerError, match="alias 'missing'"):
        planner.plan_rollout("tenants", plan)
    assert not Rollout.objects.exists()


def test_tenant_schemas_of_one_database_lock_apart_yet_exclude_a_prisma_deploy():
    from contextlib import ExitStack

    from django.db import connections

    from schema_manager.backends import get_backend
    from schema_manager.backends.postgresql import PRISMA_ADVISORY_LOCK_KEY
    from schema_manager.exceptions import LockTimeoutError
    from schema_manager.fleets.connections import opened
    from schema_manager.fleets.specs import get_fleet
    from tests.fleet_support import server_connection

    names = schema_names(2)
    specs = schema_specs(names)
    with tenant_schemas(names), fleet_settings(specs), ExitStack() as stack:
        fleet = get_fleet("tenants")
        first, second = (
            get_backend(connections[stack.enter_context(opened(fleet, spec)).alias])
            for spec in specs
        )
        stack.enter_context(first.migration_lock(0.2))
        # Another schema of the same database: not excluded.
        with second.migration_lock(0.2):
            pass
        # The same schema: excluded.
        with opened(fleet, specs[0]) as again, pytest.raises(LockTimeoutError):
            get_backend(connections[again.alias]).migration_lock(0.3).__enter__()
        # A Prisma deploy (its key, exclusive) on the database waits for the tenants...
        dbname = connections[BASE_ALIAS].settings_dict["NAME"]
        with server_connection(dbname) as prisma:
            took = prisma.execute("SELECT pg_try_advisory_lock(%s)", [PRISMA_ADVISORY_LOCK_KEY])
            assert took.fetchone()[0] is False
        stack.close()
        # ...and a tenant waits for a Prisma deploy.
        with server_connection(dbname) as prisma, opened(fleet, specs[1]) as tenant:
            prisma.execute("SELECT pg_advisory_lock(%s)", [PRISMA_ADVISORY_LOCK_KEY])
            with pytest.raises(LockTimeoutError):
                get_backend(connections[tenant.alias]).migration_lock(0.3).__enter__()


def test_the_tenant_model_adapter_lists_one_schema_per_row_but_public():
    from django.contrib.auth.models import Group

    from schema_manager.fleets.adapters import TenantSchemas

    Group.objects.bulk_create([Group(name=name) for name in ("public", "acme", "globex")])
    specs = TenantSchemas(
        "auth.Group", alias=BASE_ALIAS, schema_field="name", label_fields={"title": "name"}
    )()
    assert [(s.key, s.schema, dict(s.labels)) for s in specs] == [
        ("acme", "acme", {"title": "acme"}),
        ("globex", "globex", {"title": "globex"}),
    ]


def test_a_claim_waits_while_its_server_has_the_cap_of_runs_going_and_a_lost_lease_cannot_write(
    plan,
):
    from schema_manager.fleets import claims

    names = schema_names(2)
    with tenant_schemas(names), fleet_settings(schema_specs(names)):
        rollout = planner.plan_rollout("tenants", plan)
        Rollout.objects.filter(pk=rollout.pk).update(state=Rollout.State.RUNNING)
        rollout.waves.update(state=Wave.State.RUNNING)
        first, second = rollout.runs.order_by("position")
        token = claims.claim(first.pk, "w1", 60, server_cap=1)
        assert token
        assert claims.claim(first.pk, "w2", 60, server_cap=5) is None  # taken
        with pytest.raises(claims.AtCap):
            claims.claim(second.pk, "w2", 60, server_cap=1)
        # The lease expires; another worker takes the run; the first one's writes fail.
        TargetRun.objects.filter(pk=first.pk).update(lease_expires_at="2000-01-01T00:00:00Z")
        newer = claims.claim(first.pk, "w3", 60, server_cap=5)
        assert newer
        assert newer != token
        with pytest.raises(claims.StaleLease):
            claims.close(first.pk, token, TargetRun.State.SUCCEEDED)
        claims.close(first.pk, newer, TargetRun.State.FAILED, error="boom")
        first.refresh_from_db()
        assert (first.state, first.attempt, first.worker) == ("failed", 2, "w3")


@contextmanager
def dummy_tasks() -> Iterator[object]:
    """A Tasks backend that only records what is enqueued (nothing runs by itself)."""
    from django.test import override_settings

    # The framework the app enqueues through: Django's own from 6.0, else the backport.
    try:
        from django.tasks import task_backends

        framework = "django.tasks"
    except ImportError:
        from django_tasks import task_backends  # type: ignore[no-redef]

        framework = "django_tasks"
    backends = {"default": {"BACKEND": f"{framework}.backends.dummy.DummyBackend"}}
    with override_settings(TASKS=backends):
        backend = task_backends["default"]
        backend.clear()
        yield backend


@pytest.mark.parametrize(("seconds", "tasks"), [(30.0, 1), (0.0, 4)])
def test_a_task_runs_the_waves_next_targets_in_its_slot_while_its_seconds_last(
    plan, seconds, tasks
):
    from schema_manager.fleets.tasks import run_target_run

    names = schema_names(4)
    with (
        tenant_schemas(names),
        fleet_settings(schema_specs(names), TASK_SECONDS=seconds),
        dummy_tasks() as backend,
    ):
        rollout = planner.plan_rollout("tenants", plan, waves=[WaveSpec("all", max_parallel=1)])
        planner.start(rollout)
        # Each task the engine was handed is run as a worker would run it.
        ran = 0
        while ran < len(backend.results):
            result = backend.results[ran]
            run_target_run.func(*result.args)
            ran += 1
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.SUCCEEDED
        assert set(states(rollout).values()) == {"succeeded"}
        assert ran == tasks


@pytest.mark.parametrize(
    ("config", "code", "words"),
    [
        ({"TARGETS": "tests.fleet_support.fleet_targets"}, None, None),
        ({}, "E701", "TARGETS is missing"),
        ({"TARGETS": "tests.fleet_support.no_such_callable"}, "E701", "cannot be imported"),
        ({"TARGETS": "tests.fleet_support.BASE_ALIAS"}, "E701", "must be a callable"),
        ({"TARGETS": "tests.fleet_support.fleet_targets", "LEASE": 60}, "E701", "'LEASE'"),
        (
            {"TARGETS": "tests.fleet_support.fleet_targets", "MAX_CONNECTIONS_PER_SERVER": 0},
            "E701",
            "MAX_CONNECTIONS_PER_SERVER is 0",
        ),
        (
            {"TARGETS": "tests.fleet_support.fleet_targets", "LEASE_SECONDS": "300"},
            "E701",
            "LEASE_SECONDS is '300'",
        ),
        (
            {
                "TARGETS": "tests.fleet_support.fleet_targets",
                "WAVES": [{"name": "a", "on_error": "halt"}],
            },
            "E701",
            "WAVES[0]: on_error is 'halt'",
        ),
        (
            {"TARGETS": "tests.fleet_support.fleet_targets", "TASK_BACKEND": "celery"},
            "E702",
            "TASK_BACKEND 'celery' is not a backend of TASKS",
        ),
        (
            {"TARGETS": "tests.fleet_support.fleet_targets", "QUEUE": "tenants"},
            "E702",
            "QUEUE 'tenants' is not among the queues",
        ),
    ],
)
def test_the_system_check_names_a_bad_fleet_setting(config, code, words):
    from django.test import override_settings

    from schema_manager.fleets.checks import check_fleets

    with override_settings(
        SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "FLEETS": {"tenants": config}}
    ):
        errors = check_fleets()
    assert [error.id for error in errors] == ([f"schema_manager.{code}"] if code else [])
    if words:
        assert words in errors[0].msg
        assert "SCHEMA_MANAGER['FLEETS']['tenants']" in errors[0].msg


def test_the_system_check_names_a_task_backend_that_cannot_load():
    from django.test import override_settings

    from schema_manager.fleets.checks import check_fleets

    fleets = {"tenants": {"TARGETS": "tests.fleet_support.fleet_targets"}}
    with override_settings(
        SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "FLEETS": fleets},
        TASKS={"default": {"BACKEND": "no_such_module.Backend"}},
    ):
        errors = check_fleets()
    assert [error.id for error in errors] == ["schema_manager.E702"]
    assert "cannot be loaded" in errors[0].msg


def test_the_scheduler_reads_a_waves_state_in_one_query(plan):
    """It runs after every target: the rollout, then its waves each with one aggregate of
    its runs, then the runs to hand out only if a slot is free."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from schema_manager.fleets import dispatch

    names = schema_names(4)
    with tenant_schemas(names), fleet_settings(schema_specs(names)), dummy_tasks() as backend:
        rollout = planner.plan_rollout("tenants", plan, waves=[WaveSpec("all", max_parallel=2)])
        planner.start(rollout)
        assert len(backend.results) == 2
        with CaptureQueriesContext(connection) as full:
            assert dispatch.advance(rollout.pk, lambda *args: None, keep=True) is None
        TargetRun.objects.filter(pk=backend.results[0].args[1]).update(state="succeeded")
        with CaptureQueriesContext(connection) as one_free:
            kept = dispatch.advance(rollout.pk, lambda *args: None, keep=True)
    assert kept == rollout.runs.get(position=2).pk
    # BEGIN and COMMIT included.
    assert len(full.captured_queries) == 4, [q["sql"] for q in full.captured_queries]
    # + the free slot's next run, and marking it enqueued.
    assert len(one_free.captured_queries) == 6, [q["sql"] for q in one_free.captured_queries]


def test_an_unexpected_error_in_a_target_fails_that_run_with_the_error_and_the_rest_go_on(
    plan, monkeypatch, caplog
):
    names = schema_names(3)
    key = [spec.key for spec in schema_specs(names)]
    apply = services.apply

    def apply_failing_on_the_second(migrations, environment, **options):
        if environment == f"tenants:{key[1]}":
            raise RuntimeError("a bug, not a database error")
        return apply(migrations, environment, **options)

    # The run calls the service layer through its module: a fault in our own code, injected.
    monkeypatch.setattr("schema_manager.fleets.runs.services.apply", apply_failing_on_the_second)
    with tenant_schemas(names), fleet_settings(schema_specs(names)):
        rollout = planner.plan_rollout(
            "tenants", plan, waves=[WaveSpec("all", on_error="continue", max_parallel=1)]
        )
        planner.start(rollout)
        rollout.refresh_from_db()
        got = states(rollout)
        # Closed as failed at once, not left running until its lease expires.
        assert [got[k] for k in key] == ["succeeded", "failed", "succeeded"]
        failed = rollout.runs.get(target_key=key[1])
        assert "RuntimeError: a bug, not a database error" in failed.error
        assert rollout.state == Rollout.State.PARTIALLY_FAILED
    assert any(
        record.exc_info and "a bug, not a database error" in str(record.exc_info[1])
        for record in caplog.records
    )


def test_a_task_reads_the_plans_catalogue_entries_and_analyses_once_for_all_its_targets(plan):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from schema_manager.fleets.tasks import run_target_run

    names = schema_names(4)
    with (
        tenant_schemas(names),
        fleet_settings(schema_specs(names), TASK_SECONDS=30.0),
        dummy_tasks() as backend,
    ):
        rollout = planner.plan_rollout("tenants", plan, waves=[WaveSpec("all", max_parallel=1)])
        planner.start(rollout)
        [task] = backend.results
        with CaptureQueriesContext(connection) as queries:
            run_target_run.func(*task.args)
        rollout.refresh_from_db()
        assert set(states(rollout).values()) == {"succeeded"}
        catalogue_reads = [q for q in queries if '"schema_manager_migration"."sql"' in q["sql"]]
        assert len(catalogue_reads) == 1, catalogue_reads
        # The scripts' stored analyses as well (made and stored by the first target).
        analysis_reads = [
            q for q in queries if q["sql"].startswith('SELECT "schema_manager_scriptanalysis"')
        ]
        assert len(analysis_reads) == 1, analysis_reads
        # Its rollout's facts too: read with the first run, not again.
        run_reads = [
            q["sql"]
            for q in queries
            if 'FROM "schema_manager_targetrun"' in q["sql"]
            and '"schema_manager_rollout"."plan"' in q["sql"]
        ]
        assert len(run_reads) == 1, run_reads
