"""A task's target connections: kept for its next target of the same database, with nothing
of one tenant's session reaching the next, and closed when the task ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connections
from django.db.backends.signals import connection_created

from schema_manager import services
from schema_manager.backends import get_backend
from schema_manager.fleets import planner
from schema_manager.fleets.connections import kept, opened
from schema_manager.fleets.models import Rollout
from schema_manager.fleets.specs import get_fleet
from schema_manager.models import Migration
from schema_manager.workspace import Workspace
from tests.fleet_support import (
    BASE_ALIAS,
    fleet_settings,
    schema_ledger,
    schema_names,
    schema_specs,
    server_connection,
    tenant_schemas,
)

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("postgres_targets"),
]


@contextmanager
def fleet_sessions() -> Iterator[list[str]]:
    """The aliases of the fleet's server sessions opened meanwhile (targets' and locks')."""
    opened_now: list[str] = []

    def hook(sender, connection, **kwargs):
        if connection.alias.startswith("schema_manager_fleet"):
            opened_now.append(connection.alias)

    connection_created.connect(hook)
    try:
        yield opened_now
    finally:
        connection_created.disconnect(hook)


def advisory_locks() -> list[tuple]:
    """Advisory locks granted on the test database now, to anyone."""
    dbname = connections[BASE_ALIAS].settings_dict["NAME"]
    with server_connection(dbname) as db:
        return db.execute(
            "SELECT classid, objid, pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()


def test_a_kept_connection_serves_the_next_schema_with_nothing_of_the_last_tenants_session():
    names = schema_names(2)
    specs = schema_specs(names)
    with tenant_schemas(names), fleet_settings(specs), fleet_sessions() as sessions, kept():
        fleet = get_fleet("tenants")
        with opened(fleet, specs[0]) as first:
            wrapper = connections[first.alias]
            with get_backend(wrapper).migration_lock(0.5), wrapper.cursor() as cursor:
                # What a tenant's migration may leave in its session.
                cursor.execute("CREATE TEMP TABLE scratch (id INTEGER)")
                cursor.execute("SET search_path = public")
                cursor.execute("SET statement_timeout = 4321")
        assert advisory_locks() == []  # between targets the kept lock session holds nothing
        with opened(fleet, specs[1]) as second:
            assert connections[second.alias] is wrapper
            with wrapper.cursor() as cursor:
                cursor.execute(
                    "SELECT current_schemas(false), to_regclass('pg_temp.scratch'), "
                    "current_setting('statement_timeout'), current_setting('TimeZone')"
                )
                assert cursor.fetchone() == ([names[1]], None, "0", "UTC")
            with get_backend(wrapper).migration_lock(0.5):
                pass
        assert len(sessions) == 2, sessions  # one target connection, one lock session
        assert wrapper.connection is not None
    assert wrapper.connection is None  # closed when the block ends
    assert wrapper.schema_manager_kept_lock_session.connection is None


def test_a_target_connection_left_in_a_transaction_is_closed_not_kept():
    names = schema_names(2)
    specs = schema_specs(names)
    with tenant_schemas(names), fleet_settings(specs), kept():
        fleet = get_fleet("tenants")
        with opened(fleet, specs[0]) as first:
            wrapper = connections[first.alias]
            wrapper.connection  # noqa: B018 - not connected yet
            with wrapper.cursor() as cursor:
                cursor.execute("BEGIN")  # left open by a script, unseen by Django
        assert wrapper.connection is None
        with opened(fleet, specs[1]) as second:
            assert connections[second.alias] is not wrapper


def test_a_rollout_in_process_runs_its_schemas_on_one_connection_and_one_lock_session():
    from tests.fleet_support import write_plan

    write_plan(Workspace().directory.path, 2)
    services.import_folders()
    plan = list(Migration.objects.order_by("id"))
    names = schema_names(4)
    with tenant_schemas(names), fleet_settings(schema_specs(names)):
        rollout = planner.plan_rollout("tenants", plan)
        with fleet_sessions() as sessions:
            planner.start(rollout)
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.SUCCEEDED
        for name in names:
            assert schema_ledger(name) == [(m.id, True) for m in plan]
        assert len(sessions) == 2, sessions
    assert advisory_locks() == []
    assert not [a for a in connections.settings if a.startswith("schema_manager_fleet")]


class FleetModelsOn:
    """Route the rollout models to one database (an app database on PostgreSQL)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def db_for_read(self, model, **hints):
        return self.alias if model._meta.app_label == "schema_manager" else None

    db_for_write = db_for_read


@pytest.fixture
def running_wave(postgres_targets, monkeypatch):
    """(the app database's alias, a running wave of a running rollout): the fleet's models on
    a PostgreSQL database, as a fleet's app database on PostgreSQL holds them."""
    from django.db import router

    from schema_manager.fleets.models import TargetRun, Wave

    alias = postgres_targets.alias("production")
    with connections[alias].schema_editor() as editor:
        for model in (Rollout, Wave, TargetRun):
            editor.create_model(model)
    monkeypatch.setattr(router, "routers", [FleetModelsOn(alias)])
    rollout = Rollout.objects.create(fleet="tenants", state=Rollout.State.RUNNING)
    wave = Wave.objects.create(rollout=rollout, position=0, name="all", state=Wave.State.RUNNING)
    return alias, wave


def test_on_postgresql_a_claim_counts_its_servers_runs_under_the_servers_lock(running_wave):
    from schema_manager.fleets import claims
    from schema_manager.fleets.models import TargetRun

    _, wave = running_wave
    first, second, elsewhere = (
        TargetRun.objects.create(
            rollout=wave.rollout, wave=wave, position=i, target_key=f"t{i}", server=server
        )
        for i, server in enumerate(["db1:5432", "db1:5432", "db2:5432"])
    )
    assert claims.claim(first.pk, "w1", 60, server_cap=1)
    with pytest.raises(claims.AtCap):
        claims.claim(second.pk, "w2", 60, server_cap=1)
    assert claims.claim(elsewhere.pk, "w2", 60, server_cap=1)  # another server's cap
    assert claims.claim(second.pk, "w2", 60, server_cap=2)
    assert (
        list(TargetRun.objects.order_by("position").values_list("state", flat=True))
        == ["claimed"] * 3
    )


def test_on_postgresql_a_claim_of_a_run_another_worker_holds_gives_up_at_once(running_wave):
    from schema_manager.fleets import claims
    from schema_manager.fleets.models import TargetRun

    alias, wave = running_wave
    run, serverless = (
        TargetRun.objects.create(
            rollout=wave.rollout, wave=wave, position=i, target_key=f"t{i}", server=server
        )
        for i, server in enumerate(["db1:5432", ""])
    )
    settings = connections[alias].settings_dict
    with server_connection(settings["NAME"]) as other:
        other.execute(settings["OPTIONS"]["options"].replace("-c search_path=", "SET search_path="))
        other.execute("BEGIN")
        other.execute("SELECT 1 FROM schema_manager_targetrun WHERE id = %s FOR UPDATE", [run.pk])
        assert claims.take(run.pk, "w2", 60, server_cap=1) is None  # not waiting for it
        other.execute("ROLLBACK")
    assert claims.take(run.pk, "w2", 60, server_cap=1)[1] == "t0"
    # A run of no known server is claimed whatever the cap.
    assert claims.take(serverless.pk, "w2", 60, server_cap=1)[1] == "t1"
    run.refresh_from_db()
    assert (run.state, run.attempt, run.worker) == ("claimed", 1, "w2")
