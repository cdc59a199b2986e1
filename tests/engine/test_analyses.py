"""A script is analysed once: its analysis is stored by checksum and reused by later applies,
for the same engine and rule severities only."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings

from schema_manager import Migration, SchemaManager, analyses, services
from schema_manager.backends import get_backend
from schema_manager.checksums import migration_checksum
from schema_manager.execution import transport
from schema_manager.models import ScriptAnalysis
from schema_manager.sql import analysis
from schema_manager.sql.transactional import Engine
from schema_manager.targets import resolve
from schema_manager.workspace import Workspace
from tests.utils import catalogue, count_queries

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def analyse_now(sql: str, engine: Engine):
    """``sql`` analysed now (no store), with the default rule severities."""
    return analysis.analyse(sql, engine, {}, transport.GROUP_CHARS)


DELETE_ALL = "CREATE TABLE d (id INTEGER);\nDELETE FROM d;\n"


@pytest.fixture
def analysed(monkeypatch) -> list[str]:
    """The scripts the rules read from now on (the real rules run; calls are only listed)."""
    calls: list[str] = []
    real = analysis.check_sql

    def check_sql(sql, *args, **kwargs):
        calls.append(sql)
        return real(sql, *args, **kwargs)

    monkeypatch.setattr(analysis, "check_sql", check_sql)
    return calls


def test_applies_reuse_the_analysis_made_when_the_plan_was_validated(
    targets, manager: SchemaManager, analysed
):
    plan = catalogue(0, 3)
    assert all(v.is_valid for v in services.validate(plan, "development"))
    assert len(analysed) == 3
    assert ScriptAnalysis.objects.count() == 3

    # Applying, in this environment and the next (same engine, same severities): no parsing.
    for environment in ("development", "staging"):
        results = services.apply(plan, environment)
        assert [r.success for r in results] == [True] * 3, results[-1].message
        assert [r.statements_run for r in results] == [2, 2, 2]
    assert len(analysed) == 3
    assert {"t0", "t1", "t2"} <= targets.tables("staging")


def stored_after_analysing(sql: str, environment: str = "development"):
    """(the analysis made now, the same read back once stored) of ``sql``."""
    target = resolve(environment)
    checksum = migration_checksum(sql)
    fresh = analyses.Analyses.read(target, [checksum])
    made = fresh.get(sql, checksum)
    fresh.save()
    return made, analyses.Analyses.read(target, [checksum]).get(sql, checksum)


def test_a_stored_analysis_is_the_analysis(targets):
    sql = f"{DELETE_ALL}-- a comment, and a string with a ; in it\nINSERT INTO d VALUES (1);\n"
    target = resolve("development")
    made, stored = stored_after_analysing(sql)
    assert stored == made
    assert [f.code for f in stored.findings] == ["delete-without-where"]
    backend = get_backend(connections[target.alias])
    assert stored == analyse_now(sql, backend.engine)
    assert stored.statements == 3


def test_other_rule_severities_are_another_analysis(targets, manager: SchemaManager, analysed):
    migration = Migration(id="001_delete_all", sql=DELETE_ALL, rollback_sql="DROP TABLE d;")
    [warned] = services.validate([migration], "development")
    assert any("DELETE" in warning for warning in warned.warnings)

    quiet = {**settings.SCHEMA_MANAGER, "RULES": {"*": {"delete-without-where": "off"}}}
    with override_settings(SCHEMA_MANAGER=quiet):
        [unwarned] = services.validate([migration], "development")
    assert unwarned.is_valid
    assert not unwarned.warnings
    assert len(analysed) == 2  # the cached analysis for the default severities was not used

    # Back to the default severities: the first analysis again, read from the database.
    [again] = services.validate([migration], "development")
    assert again.warnings == warned.warnings
    assert len(analysed) == 2
    assert ScriptAnalysis.objects.filter(checksum=migration_checksum(DELETE_ALL)).count() == 2


def test_a_single_validation_reads_and_stores_its_analysis(targets, manager: SchemaManager):
    migration = Migration(id="001_t", sql="CREATE TABLE t (id INTEGER);\n")
    with count_queries("default", transaction_control=False) as first:
        assert manager.validate_migration_sync(migration, "development").is_valid
    with count_queries("default", transaction_control=False) as second:
        assert manager.validate_migration_sync(migration, "development").is_valid
    # The second reads the stored analysis and stores nothing: one INSERT fewer.
    assert first["default"] - second["default"] == 1


@pytest.fixture
def postgres_manager(postgres_targets) -> SchemaManager:
    return SchemaManager()


def test_an_analysed_script_fails_whole_and_names_its_statement(
    postgres_targets, postgres_manager: SchemaManager
):
    """On PostgreSQL an analysed script goes to the server as written, in one round trip;
    when it fails, it is read again to say which statement failed, and nothing remains."""
    sql = (
        "CREATE TABLE kept (id INTEGER);\n"
        "INSERT INTO kept (missing) VALUES (1);\n"  # valid SQL; fails on the server
        "CREATE TABLE never (id INTEGER);\n"
    )
    migration = Migration(id="001_fails", sql=sql, rollback_sql="DROP TABLE kept;")
    migration.save()
    [result] = services.apply([migration], "staging")

    assert not result.success
    assert result.error.startswith("Statement 2 (INSERT INTO kept")
    assert 'column "missing"' in result.error
    assert result.statements_run == 1
    assert not {"kept", "never"} & postgres_targets.tables("staging")
    assert postgres_targets.ledger("staging") == []  # nothing remains: no row (history has it)


def test_a_statement_refused_in_a_transaction_may_not_share_a_script(postgres_targets):
    backend = get_backend(postgres_targets.connection("staging"))
    index = "CREATE INDEX CONCURRENTLY t_id ON t (id);\n"

    alone = analyse_now(index, backend.engine)
    assert alone.stepwise
    assert not [f for f in alone.findings if f.severity == "error"]

    mixed = analyse_now(f"CREATE TABLE t (id INTEGER);\n{index}", backend.engine)
    [mix] = [f for f in mixed.findings if f.code == "no-transaction-mix"]
    assert mix.severity == "error"
    assert mix.message.startswith("Statement 2 (CREATE INDEX CONCURRENTLY")
    assert "could not be rolled back with it" in mix.message

    declared = analyse_now(
        f"-- schema-manager: no-transaction\nCREATE TABLE t (id INTEGER);\n{index}", backend.engine
    )
    assert declared.stepwise
    assert not [f for f in declared.findings if f.code == "no-transaction-mix"]


def made_on(monkeypatch) -> list[tuple[str, str]]:
    """(thread name, script) of every analysis made from now on."""
    calls: list[tuple[str, str]] = []
    real = analyses.analyse

    def analyse(sql, *args):
        calls.append((threading.current_thread().name, sql))
        return real(sql, *args)

    monkeypatch.setattr(analyses, "analyse", analyse)
    return calls


def test_a_long_plan_is_analysed_on_a_thread_while_it_runs(targets, manager, monkeypatch):
    calls = made_on(monkeypatch)
    plan = catalogue(0, analyses.AHEAD_FROM + 2)
    results = services.apply(plan, "development")
    assert all(r.success for r in results), results[-1].message

    # Each script once, ahead on the analyses' thread, which the batch stopped.
    assert sorted(sql for _, sql in calls) == sorted(m.sql for m in plan)
    assert {name for name, _ in calls} == {"schema_manager-analyses"}
    assert "schema_manager-analyses" not in {thread.name for thread in threading.enumerate()}
    # The same analyses as made one by one, and all stored.
    target = resolve("development")
    backend = get_backend(connections[target.alias])
    stored = analyses.Analyses.read(target, [migration_checksum(m.sql) for m in plan])
    for migration in plan:
        made = analyse_now(migration.sql, backend.engine)
        assert stored._known[migration_checksum(migration.sql)] == made
    assert ScriptAnalysis.objects.count() == len(plan)


def test_a_script_whose_analysis_failed_ahead_is_analysed_again_when_asked(targets, monkeypatch):
    import threading

    real = analyses.analyse
    plan = catalogue(0, analyses.AHEAD_FROM + 1)
    unlucky = plan[3].sql

    def analyse(sql, *args):
        if sql == unlucky and threading.current_thread().name == "schema_manager-analyses":
            raise RuntimeError("lost on the thread")
        return real(sql, *args)

    monkeypatch.setattr(analyses, "analyse", analyse)
    target = resolve("development")
    scripts = [(m.sql, migration_checksum(m.sql)) for m in plan]
    ahead = analyses.Analyses.read(target, [checksum for _, checksum in scripts])
    ahead.analyse_ahead(scripts)
    try:
        made = [ahead.get(sql, checksum) for sql, checksum in scripts]
    finally:
        ahead.close()
    backend = get_backend(connections[target.alias])
    assert made == [analyse_now(sql, backend.engine) for sql, _ in scripts]


def test_stopping_early_leaves_the_rest_to_be_made_when_asked(targets, monkeypatch):
    calls = made_on(monkeypatch)
    plan = catalogue(0, analyses.AHEAD_FROM * 4)
    scripts = [(m.sql, migration_checksum(m.sql)) for m in plan]
    target = resolve("development")
    ahead = analyses.Analyses.read(target, [checksum for _, checksum in scripts])
    ahead.analyse_ahead(scripts)
    ahead.close()  # e.g. the plan stopped at its first migration
    ahead.close()  # twice is harmless
    sql, checksum = scripts[-1]
    last = ahead.get(sql, checksum)
    assert last.statements == 2
    # Made on the thread before it stopped, or here after: never twice.
    assert sorted(s for _, s in calls if s == sql) == [sql]
    ahead.save()
    assert ScriptAnalysis.objects.filter(checksum=checksum).count() == 1


def test_a_plan_stopped_early_leaves_no_thread_behind(targets, manager, monkeypatch):
    real = analyses.analyse

    def slow(sql, *args):  # a thread started for these would still be at work below
        time.sleep(0.05)
        return real(sql, *args)

    monkeypatch.setattr(analyses, "analyse", slow)
    plan = catalogue(0, analyses.AHEAD_FROM + 2)
    # A folder without its migration.sql: the plan stops at that migration.
    (Workspace().directory.path / plan[5].id).mkdir(parents=True)
    done = services.apply(plan, "development")
    assert [result.success for result in done] == [True] * 5 + [False]
    assert "has no migration.sql" in done[-1].message
    assert "schema_manager-analyses" not in {thread.name for thread in threading.enumerate()}
    assert len(targets.ledger("development")) == 5


def test_the_thread_never_uses_the_connection(postgres_targets, manager, monkeypatch):
    # The server version PostgreSQL's transaction checks need, not read yet on this connection:
    # read before the thread starts, not by the thread (Django refuses a connection there).
    connection = connections[postgres_targets.alias("development")]
    connection.__dict__.pop("pg_version", None)
    failed: list[BaseException] = []
    real = analyses.analyse

    def analyse(sql, *args):
        try:
            return real(sql, *args)
        except BaseException as exc:
            failed.append(exc)
            raise

    monkeypatch.setattr(analyses, "analyse", analyse)
    plan = catalogue(0, analyses.AHEAD_FROM)
    assert all(r.success for r in services.apply(plan, "development"))
    assert failed == []
    assert "pg_version" in connection.__dict__


def test_a_large_scripts_cuts_are_stored_with_its_analysis(targets):
    rows = "".join(f"INSERT INTO d VALUES ({i}); -- row {i}; of many\n" for i in range(12_000))
    sql = f"CREATE TABLE d (id INTEGER);\n{rows}"
    assert len(sql) > 256 * 1024  # more than one query's worth
    made, stored = stored_after_analysing(sql)
    assert stored == made
    assert stored.statements == 12_001
    assert len(stored.cuts) >= 2
    assert stored.cuts[-1] == (len(sql), 12_001)
    # Each cut after a whole row, its comment included.
    assert all(sql[:offset].endswith("; of many") for offset, _ in stored.cuts[:-1])


def test_large_scripts_are_analysed_when_asked_not_ahead(targets, manager, monkeypatch):
    calls = made_on(monkeypatch)
    rows = "".join(f"INSERT INTO big VALUES ({i});\n" for i in range(4_000))
    large = Migration(id="999_big", name="big", sql=f"CREATE TABLE big (id INTEGER);\n{rows}")
    large.save()
    plan = [*catalogue(0, analyses.AHEAD_FROM), large]
    results = services.apply(plan, "development")
    assert all(r.success for r in results), results[-1].message
    # A long analysis on the thread would hold the interpreter for the switch interval at
    # each of the main thread's wake-ups: the large script is analysed here, when its turn
    # comes; the others ahead.
    where = {sql: thread for thread, sql in calls}
    assert where[large.sql] == threading.current_thread().name
    assert {where[m.sql] for m in plan[:-1]} == {"schema_manager-analyses"}


@pytest.fixture
def refused_analyses():
    """The app database refuses every new analysis (a trigger, as a read-only table would)."""
    table = ScriptAnalysis._meta.db_table
    with connections["default"].cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER refuse_analyses BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'analyses are read-only'); END"
        )
    yield
    with connections["default"].cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_analyses")


def test_an_analysis_that_cannot_be_stored_only_warns(
    targets, manager: SchemaManager, refused_analyses, caplog
):
    from io import StringIO

    from django.core.management import call_command

    plan = catalogue(0, 2)
    validations = services.validate(plan, "development")
    assert all(v.is_valid for v in validations)
    results = services.apply(plan, "staging")
    assert [r.success for r in results] == [True, True], results[-1].message
    # A migration from disk, through the command: it exits 0 with a warning in the log.
    out = StringIO()
    with caplog.at_level("WARNING", logger="schema_manager"):
        call_command(
            "apply_schema_migration", "000_step", "001_step", "-e", "production", stdout=out
        )
    assert "2 applied" in out.getvalue()
    assert not ScriptAnalysis.objects.exists()
    assert "analyses are read-only" in caplog.text
    assert {"t0", "t1"} <= targets.tables("production")
