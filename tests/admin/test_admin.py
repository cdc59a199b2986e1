"""The admin through Django's test client: states, actions, permissions, confirmation, audit."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import quote
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from schema_manager import Migration, SchemaManager, VersionRecord
from schema_manager.files import MigrationDirectory
from schema_manager.workspace import Workspace
from tests.admin_support import (
    CHANGELIST,
    HISTORY,
    confirm_as_shown,
    confirmation_form,
    make_user,
    sqlite_environments,
    stored,
    submit,
)
from tests.conftest import Targets

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

CREATE_T = "CREATE TABLE t (id INTEGER PRIMARY KEY);"
ALL_ENVIRONMENTS = ("development", "staging", "production")


@pytest.fixture
def sqlite_targets(tmp_path, transactional_db) -> Iterator[Targets]:
    with sqlite_environments(tmp_path) as helper:
        yield helper


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def offered_actions(client: Client) -> set[str]:
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    return {name for name, _label in response.context["action_form"].fields["action"].choices}


def post_action(client: Client, action: str, *ids: str, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: list(ids), **extra}
    return client.post(CHANGELIST, data)


def forge(client: Client, action: str, *ids: str, **extra):
    """A confirming POST written by hand, not sent from a confirmation page."""
    return post_action(client, action, *ids, post="yes", **extra)


confirm = confirm_as_shown


def messages_of(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in response.context["messages"]]


def column(html: str, environment: str, migration_id: str) -> str:
    """The badge state shown for ``migration_id`` in the ``environment`` column."""
    [row] = [row for row in html.split("<tr") if f">{migration_id}<br>" in row]
    cell = re.search(rf'class="field-state_{environment}">(.*?)</td>', row, re.S)
    assert cell, environment
    return re.search(r"sm-badge-(\w+)", cell.group(1)).group(1)


# -- changelist -------------------------------------------------------------------------------


def test_changelist_shows_each_migrations_state_in_each_environment(sqlite_targets, admin_client):
    manager = SchemaManager()
    applied = stored("001_create_t", CREATE_T)
    assert manager.apply_migration_sync(applied, "staging").success
    assert manager.apply_migration_sync(applied, "production").success
    rolled = stored("002_create_u", "CREATE TABLE u (id INTEGER);")
    assert manager.apply_migration_sync(rolled, "staging").success
    assert manager.rollback_migration_sync(rolled.id, "staging").success
    failing = stored("003_bad", "CREATE TABLE v (id INTEGER); INSERT INTO nope VALUES (1);")
    assert not manager.apply_migration_sync(failing, "staging").success
    # Someone edits an applied migration behind the admin's back: drift in production.
    Migration.objects.filter(pk=applied.pk).update(sql=CREATE_T + "\n-- edited\n")

    html = admin_client.get(CHANGELIST).content.decode()

    assert column(html, "development", "001_create_t") == "pending"
    assert column(html, "staging", "001_create_t") == "modified"
    assert column(html, "production", "001_create_t") == "modified"
    assert column(html, "staging", "002_create_u") == "rolled_back"
    assert column(html, "staging", "003_bad") == "failed"
    assert "Failed in staging" in html  # the last change column
    for environment in ALL_ENVIRONMENTS:
        assert f'<th scope="col" class="column-state_{environment}">' in html


def test_changelist_shows_what_the_status_says_of_folders_on_disk(sqlite_targets, admin_client):
    directory = Workspace().directory.path
    for migration_id in ("001_gone", "002_bad", "003_edited"):
        (directory / migration_id).mkdir(parents=True)
        (directory / migration_id / "migration.sql").write_text(CREATE_T.replace("t ", "t3 "))
    assert admin_client.get(CHANGELIST).status_code == 200  # imports the three folders
    assert (
        SchemaManager()
        .apply_migration_sync(Migration.objects.get(pk="003_edited"), "staging")
        .success
    )
    (directory / "001_gone" / "migration.sql").unlink()
    (directory / "001_gone").rmdir()
    (directory / "002_bad" / "migration.sql").write_bytes(b"CREATE TABLE b (id INTEGER);\x00")
    (directory / "003_edited" / "migration.sql").write_text(CREATE_T + "\n-- edited\n")

    html = admin_client.get(CHANGELIST).content.decode()

    assert column(html, "staging", "001_gone") == "missing_on_disk"
    assert column(html, "staging", "002_bad") == "unreadable"
    assert column(html, "staging", "003_edited") == "modified"
    assert ">missing on disk</span>" in html
    # The unreadable badge's tooltip says why.
    assert re.search(r'sm-badge-unreadable" title="[^"]*contains a NUL byte', html)
    filtered = admin_client.get(CHANGELIST, {"state_staging": "missing_on_disk"})
    assert [m.pk for m in filtered.context["cl"].result_list] == ["001_gone"]


def test_changelist_filters_by_state_in_an_environment(sqlite_targets, admin_client):
    manager = SchemaManager()
    assert manager.apply_migration_sync(stored("001_a", CREATE_T), "staging").success
    stored("002_b", "CREATE TABLE b (id INTEGER);")

    applied = admin_client.get(CHANGELIST, {"state_staging": "applied"})
    pending = admin_client.get(CHANGELIST, {"state_staging": "pending"})

    assert [m.pk for m in applied.context["cl"].result_list] == ["001_a"]
    assert [m.pk for m in pending.context["cl"].result_list] == ["002_b"]
    found = admin_client.get(CHANGELIST, {"q": "002"})
    assert [m.pk for m in found.context["cl"].result_list] == ["002_b"]


def count_queries(client: Client, url: str) -> dict[str, int]:
    contexts = {alias: CaptureQueriesContext(connections[alias]) for alias in connections}
    for context in contexts.values():
        context.__enter__()
    try:
        assert client.get(url).status_code == 200
    finally:
        for context in contexts.values():
            context.__exit__(None, None, None)
    return {alias: len(context.captured_queries) for alias, context in contexts.items()}


def test_changelist_reads_each_ledger_once_whatever_the_page_size(sqlite_targets, admin_client):
    manager = SchemaManager()
    assert manager.apply_migration_sync(stored("001_a", CREATE_T), "staging").success
    few = count_queries(admin_client, CHANGELIST)
    for number in range(2, 30):
        migration = stored(f"{number:03d}_m", f"CREATE TABLE m{number} (id INTEGER);")
        if number % 3 == 0:
            assert manager.apply_migration_sync(migration, "staging").success
    many = count_queries(admin_client, CHANGELIST)

    assert many == few
    assert few["sqlite_staging"] <= 2  # does the ledger exist, then read it


def test_changelist_lists_the_migrations_directory_once(sqlite_targets, admin_client, monkeypatch):
    """The import and the states of one page share one listing of prisma/migrations."""
    directory = Workspace().directory.path
    (directory / "001_a").mkdir(parents=True)
    (directory / "001_a" / "migration.sql").write_text(CREATE_T)
    listings = []
    listing = MigrationDirectory.listing

    def counted(self):
        listings.append(self.path)
        return listing(self)

    monkeypatch.setattr(MigrationDirectory, "listing", counted)
    html = admin_client.get(CHANGELIST).content.decode()

    assert column(html, "staging", "001_a") == "pending"
    assert listings == [directory]


# -- permissions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codenames", "expected"),
    [
        (("view_migration",), {"validate_selected"}),
        (
            ("view_migration", "apply_migration"),
            {"validate_selected", "apply_to_development", "apply_to_staging"},
        ),
        (
            ("view_migration", "apply_migration", "operate_production"),
            {
                "validate_selected",
                "apply_to_development",
                "apply_to_staging",
                "apply_to_production",
            },
        ),
        (
            ("view_migration", "rollback_migration"),
            {"validate_selected", "rollback_in_development", "rollback_in_staging"},
        ),
        (
            ("view_migration", "operate_production"),  # production alone grants nothing
            {"validate_selected"},
        ),
    ],
)
def test_actions_offered_follow_permissions(sqlite_targets, django_user_model, codenames, expected):
    stored("001_a", CREATE_T)
    client = client_for(make_user(django_user_model, "operator", *codenames))

    assert offered_actions(client) - {""} == expected


def test_superuser_is_offered_every_action(sqlite_targets, admin_client):
    stored("001_a", CREATE_T)
    expected = {"validate_selected"}
    for environment in ALL_ENVIRONMENTS:
        expected |= {f"apply_to_{environment}", f"rollback_in_{environment}"}
    assert offered_actions(admin_client) - {""} == expected


@pytest.mark.parametrize(
    ("codenames", "action"),
    [
        (("view_migration",), "apply_to_staging"),
        (("view_migration",), "rollback_in_staging"),
        (("view_migration", "apply_migration"), "apply_to_production"),
        (("view_migration", "apply_migration"), "rollback_in_staging"),
        (("view_migration", "rollback_migration", "apply_migration"), "rollback_in_production"),
        (("view_migration", "operate_production"), "apply_to_production"),
    ],
)
@pytest.mark.parametrize("step", ["confirmation", "execution"])
def test_forged_post_for_an_action_not_offered_is_forbidden(
    sqlite_targets, django_user_model, codenames, action, step
):
    migration = stored("001_a", CREATE_T)
    if action.startswith("rollback"):
        environment = action.rsplit("_", 1)[1]
        assert SchemaManager().apply_migration_sync(migration, environment).success
    client = client_for(make_user(django_user_model, "operator", *codenames))
    ledgers_before = {env: sqlite_targets.ledger(env) for env in ALL_ENVIRONMENTS}
    history_before = VersionRecord.objects.count()

    send = forge if step == "execution" else post_action
    response = send(client, action, migration.pk)

    assert response.status_code == 403
    assert {env: sqlite_targets.ledger(env) for env in ALL_ENVIRONMENTS} == ledgers_before
    assert VersionRecord.objects.count() == history_before
    assert not LogEntry.objects.exists()


def test_without_view_permission_even_validate_is_forbidden(sqlite_targets, django_user_model):
    stored("001_a", CREATE_T)
    client = client_for(make_user(django_user_model, "nobody"))

    assert client.get(CHANGELIST).status_code == 403
    assert post_action(client, "validate_selected", "001_a").status_code == 403


def test_csrf_is_enforced_on_actions(sqlite_targets, django_user_model):
    stored("001_a", CREATE_T)
    user = make_user(django_user_model, "operator", "view_migration", "apply_migration")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    assert forge(client, "apply_to_staging", "001_a").status_code == 403
    assert sqlite_targets.ledger("staging") == []

    page = client.get(CHANGELIST).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    shown = post_action(client, "apply_to_staging", "001_a", csrfmiddlewaretoken=token)
    without_token = [
        (k, v) for k, v in confirmation_form(shown.content.decode()) if "csrf" not in k
    ]
    assert submit(client, without_token).status_code == 403
    assert sqlite_targets.ledger("staging") == []
    response = submit(client, confirmation_form(shown.content.decode()))
    assert response.status_code == 302
    assert [row["migration_name"] for row in sqlite_targets.ledger("staging")] == ["001_a"]


# -- apply and roll back ----------------------------------------------------------------------


def test_apply_shows_a_confirmation_then_applies_and_audits(sqlite_targets, django_user_model):
    stored("001_a", CREATE_T)
    stored("002_b", "CREATE TABLE b (id INTEGER);", rollback_sql="DROP TABLE b;")
    user = make_user(django_user_model, "alice", "view_migration", "apply_migration")
    client = client_for(user)

    page = post_action(client, "apply_to_staging", "002_b", "001_a")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Apply 2 migrations to staging?" in html
    assert "Environment: staging" in html
    assert "sm-environment-protected" not in html
    assert CREATE_T in html
    assert "DROP TABLE IF EXISTS t;" in html
    assert html.count(">generated<") == 1
    assert html.count(">given<") == 1
    assert "No errors or warnings." in html
    assert "Runs 1 statement(s) on sqlite_staging (SQLite)" in html
    assert html.index("001_a") < html.index("002_b")  # applied in id order
    assert sqlite_targets.ledger("staging") == []  # the confirmation changes nothing

    done = confirm(client, "apply_to_staging", "001_a", "002_b")

    assert done.status_code == 302
    assert done.url == CHANGELIST
    assert {"t", "b"} <= sqlite_targets.tables("staging")
    listing = client.get(done.url)
    assert messages_of(listing) == [
        ("success", "Migration 001_a applied to staging (1 statement(s))."),
        ("success", "Migration 002_b applied to staging (1 statement(s))."),
    ]
    assert column(listing.content.decode(), "staging", "001_a") == "applied"
    records = VersionRecord.objects.filter(environment="staging")
    assert {(r.migration_id, r.status, r.applied_by) for r in records} == {
        ("001_a", "applied", "alice"),
        ("002_b", "applied", "alice"),
    }
    entries = LogEntry.objects.order_by("id")
    assert [(e.object_id, e.action_flag, e.user_id) for e in entries] == [
        ("001_a", CHANGE, user.pk),
        ("002_b", CHANGE, user.pk),
    ]
    assert entries[0].change_message.startswith("Apply to staging succeeded (1 statement(s)")


def test_failed_apply_is_reported_logged_and_stops_the_batch(sqlite_targets, admin_client):
    stored("001_bad", 'CREATE TABLE v (id INTEGER);\nINSERT INTO "<b>nope</b>" VALUES (1);')
    stored("002_ok", CREATE_T)

    response = confirm(admin_client, "apply_to_development", "001_bad", "002_ok")
    listing = admin_client.get(response.url)

    levels = [level for level, _text in messages_of(listing)]
    assert levels == ["error", "warning"]
    html = listing.content.decode()
    assert "Migration 001_bad failed in development" in html
    assert "no such table: &lt;b&gt;nope&lt;/b&gt;" in html  # escaped, never marked safe
    assert "<b>nope</b>" not in html
    assert "not attempted: 002_ok" in html
    assert sqlite_targets.tables("development") <= {"_prisma_migrations"}
    [record] = VersionRecord.objects.all()
    assert (record.status, record.applied_by) == ("failed", "admin")
    [entry] = LogEntry.objects.all()
    assert entry.change_message.startswith("Apply to development failed: ")
    assert "nope" in entry.change_message


def test_rollback_shows_the_script_in_force_then_rolls_back(sqlite_targets, django_user_model):
    migration = stored("001_a", CREATE_T)
    assert SchemaManager().apply_migration_sync(migration, "staging").success
    user = make_user(django_user_model, "bob", "view_migration", "rollback_migration")
    client = client_for(user)

    page = post_action(client, "rollback_in_staging", "001_a").content.decode()

    assert "Roll back 1 migration in staging?" in page
    assert "DROP TABLE IF EXISTS t;" in page
    assert ">generated<" in page
    assert "Rollback check" in page
    assert "t" in sqlite_targets.tables("staging")

    response = confirm(client, "rollback_in_staging", "001_a")
    listing = client.get(response.url)

    assert messages_of(listing) == [("success", "Migration 001_a rolled back in staging.")]
    assert "t" not in sqlite_targets.tables("staging")
    assert column(listing.content.decode(), "staging", "001_a") == "rolled_back"
    latest = VersionRecord.objects.first()
    assert (latest.operation, latest.status, latest.applied_by) == (
        "rollback",
        "rolled_back",
        "bob",
    )
    [entry] = LogEntry.objects.all()
    assert (entry.user_id, entry.change_message[:31]) == (
        user.pk,
        "Rollback in staging succeeded (",
    )


def test_rolling_back_what_is_not_applied_runs_nothing(sqlite_targets, admin_client):
    stored("001_a", CREATE_T)

    page = post_action(admin_client, "rollback_in_staging", "001_a").content.decode()
    assert "Not applied in staging: nothing to roll back." in page
    assert "<h1>Nothing to roll back in staging</h1>" in page
    assert "1 migration below cannot run: see why below. Nothing will change." in page
    assert 'type="submit"' not in page.split("sm-confirm-form")[1]


def test_a_batch_confirmation_counts_what_will_run_and_skips_what_is_applied(
    sqlite_targets, admin_client
):
    manager = SchemaManager()
    for migration_id in ("001_a", "003_c"):
        table = migration_id[-1]
        migration = stored(migration_id, f"CREATE TABLE {table} (id INTEGER);")
        assert manager.apply_migration_sync(migration, "staging").success
    stored("002_b", "CREATE TABLE b (id INTEGER);")

    page = post_action(admin_client, "apply_to_staging", "001_a", "002_b", "003_c")

    html = page.content.decode()
    assert "<h1>Apply 1 migration to staging?</h1>" in html
    assert "1 migration below will run in staging." in html
    assert "2 migrations below are already applied in staging: they will be skipped." in html
    assert "errornote" not in html  # nothing is wrong
    skipped = '<dd class="sm-consequence sm-skipped">Already applied in staging, will be skipped.'
    assert html.count(skipped) == 2
    assert html.count("sm-plan-item sm-plan-item-skipped") == 2

    listing = admin_client.get(
        confirm(admin_client, "apply_to_staging", "001_a", "002_b", "003_c").url
    )
    assert [level for level, _text in messages_of(listing)] == ["info", "success", "info"]
    assert "b" in sqlite_targets.tables("staging")

    # Nothing left to run: said so, and no button to confirm nothing.
    again = post_action(admin_client, "apply_to_staging", "001_a", "002_b").content.decode()
    assert "<h1>Nothing to apply in staging</h1>" in again
    assert "<p>Nothing will change.</p>" in again
    assert 'type="submit"' not in again.split("sm-confirm-form")[1]


def test_production_confirmation_stands_out(sqlite_targets, admin_client):
    stored("001_a", CREATE_T)

    html = post_action(admin_client, "apply_to_production", "001_a").content.decode()

    assert "sm-environment-protected" in html
    assert "production — protected environment" in html
    assert "delete-confirmation" in html  # Django's red confirmation button


def test_destructive_sql_in_production_needs_an_explicit_allow(sqlite_targets, admin_client):
    manager = SchemaManager()
    assert manager.apply_migration_sync(stored("001_a", CREATE_T), "production").success
    stored("002_drop", "DROP TABLE t;", rollback_sql=CREATE_T)

    page = post_action(admin_client, "apply_to_production", "002_drop").content.decode()
    assert "Blocked: destructive statements" in page
    assert 'name="allow_destructive"' in page

    refused = admin_client.get(confirm(admin_client, "apply_to_production", "002_drop").url)
    assert messages_of(refused)[0][0] == "error"
    assert "t" in sqlite_targets.tables("production")

    allowed = confirm(admin_client, "apply_to_production", "002_drop", allow_destructive="yes")
    assert messages_of(admin_client.get(allowed.url))[0][0] == "success"
    assert "t" not in sqlite_targets.tables("production")


def test_out_of_order_in_production_needs_an_explicit_allow(sqlite_targets, admin_client):
    stored("001_a", CREATE_T)
    stored("002_b", "CREATE TABLE b (id INTEGER);")

    page = post_action(admin_client, "apply_to_production", "002_b").content.decode()
    assert "Blocked: it would run out of order, before &#x27;001_a&#x27;" in page
    assert 'name="allow_out_of_order"' in page
    assert "which stay pending and, applied later, run after them" in page
    assert 'name="allow_destructive"' not in page
    assert "Apply 1 migration to production?" in page

    refused = admin_client.get(confirm(admin_client, "apply_to_production", "002_b").url)
    [(level, text)] = messages_of(refused)
    assert level == "error"
    assert "it would run out of order, before '001_a'" in text
    assert "b" not in sqlite_targets.tables("production")

    allowed = confirm(admin_client, "apply_to_production", "002_b", allow_out_of_order="yes")
    assert messages_of(admin_client.get(allowed.url))[0][0] == "success"
    assert "b" in sqlite_targets.tables("production")


def test_out_of_order_elsewhere_is_a_warning_on_the_confirmation(sqlite_targets, admin_client):
    stored("001_a", CREATE_T)
    stored("002_b", "CREATE TABLE b (id INTEGER);")

    page = post_action(admin_client, "apply_to_staging", "002_b").content.decode()

    assert "Applied out of order: &#x27;001_a&#x27; (earlier by id) still pending" in page
    assert 'name="allow_out_of_order"' not in page
    assert "1 migration below will run in staging" in page


def test_a_plan_in_order_is_not_out_of_order_on_the_confirmation(sqlite_targets, admin_client):
    stored("001_a", CREATE_T)
    stored("002_b", "CREATE TABLE b (id INTEGER);")

    page = post_action(admin_client, "apply_to_production", "001_a", "002_b").content.decode()

    assert "would run out of order" not in page
    assert 'name="allow_out_of_order"' not in page
    assert "2 migrations below will run in production" in page


def test_actions_run_outside_atomic_requests(sqlite_targets, admin_client, monkeypatch):
    """ATOMIC_REQUESTS must not wrap the apply: the executor refuses an open transaction."""
    stored("001_a", CREATE_T)
    for alias in ("default", "sqlite_staging"):
        monkeypatch.setitem(connections.settings[alias], "ATOMIC_REQUESTS", True)

    response = confirm(admin_client, "apply_to_staging", "001_a")

    assert messages_of(admin_client.get(response.url))[0][0] == "success"
    assert [row["migration_name"] for row in sqlite_targets.ledger("staging")] == ["001_a"]


def test_apply_and_rollback_round_trip_on_each_engine(targets, admin_client):
    stored("001_a", CREATE_T)

    applied = confirm(admin_client, "apply_to_staging", "001_a")
    assert messages_of(admin_client.get(applied.url))[0][0] == "success"
    assert "t" in targets.tables("staging")
    rolled = confirm(admin_client, "rollback_in_staging", "001_a")
    assert messages_of(admin_client.get(rolled.url))[0][0] == "success"
    assert "t" not in targets.tables("staging")
    assert LogEntry.objects.count() == 2


# -- the confirmation binds what runs to what it showed -------------------------------------


def opened(client: Client, action: str, *ids: str) -> list[tuple[str, str]]:
    """Open the confirmation page of ``action``; the form fields its confirm button sends."""
    page = post_action(client, action, *ids)
    assert page.status_code == 200
    return confirmation_form(page.content.decode())


def nothing_changed(targets: Targets, environment: str, ledger: list, history: int) -> None:
    assert targets.ledger(environment) == ledger
    assert VersionRecord.objects.count() == history


@pytest.mark.parametrize("field", ["sql", "rollback_sql"])
def test_a_migration_edited_after_its_confirmation_was_shown_is_refused(
    sqlite_targets, django_user_model, field
):
    stored("001_a", CREATE_T + "\n", rollback_sql="DROP TABLE t;")  # as the form stores it
    operator = client_for(
        make_user(
            django_user_model, "operator", "view_migration", "apply_migration", "operate_production"
        )
    )
    editor = client_for(
        make_user(django_user_model, "editor", "view_migration", "change_migration")
    )
    shown = opened(operator, "apply_to_production", "001_a")
    edited = {"name": "a", "sql": CREATE_T + "\n", "rollback_sql": "DROP TABLE t;"}
    edited[field] = {
        "sql": CREATE_T + "\nCREATE TABLE evil (id INTEGER);",
        "rollback_sql": "DROP TABLE t;\nDROP TABLE precious;",
    }[field]
    assert editor.post(f"{CHANGELIST}001_a/change/", edited).status_code == 302

    refused = submit(operator, shown)

    # Nothing ran and nothing was recorded; the page shown again is the migration as it is now.
    assert sqlite_targets.tables("production") <= {"_prisma_migrations"}
    nothing_changed(sqlite_targets, "production", [], 0)
    assert refused.status_code == 200
    html = refused.content.decode()
    assert "Apply 1 migration to production?" in html
    assert edited[field].split("\n")[1] in html
    [(level, text)] = messages_of(refused)
    what = {"sql": "SQL", "rollback_sql": "rollback script"}[field]
    assert level == "error"
    assert f"its {what} changed after it was shown for confirmation" in text
    old = dict(shown)[f"{field.split('_')[0]}_checksum:001_a"]
    new = dict(confirmation_form(html))[f"{field.split('_')[0]}_checksum:001_a"]
    assert old != new
    assert old in text
    assert new in text

    # Confirmed as now shown, it runs.
    done = submit(operator, confirmation_form(html))
    assert done.status_code == 302
    assert [row["migration_name"] for row in sqlite_targets.ledger("production")] == ["001_a"]
    [record] = VersionRecord.objects.all()
    assert record.checksum == Migration.objects.get(pk="001_a").checksum
    assert record.rollback_script.split("\n") == edited["rollback_sql"].split("\n")


def test_a_rollback_script_changed_after_its_confirmation_was_shown_is_refused(
    sqlite_targets, admin_client
):
    manager = SchemaManager()
    migration = stored("001_a", CREATE_T, rollback_sql="DROP TABLE t;")
    assert manager.apply_migration_sync(migration, "staging").success
    shown = opened(admin_client, "rollback_in_staging", "001_a")
    # Meanwhile someone rolls it back, gives it another rollback script and applies it again.
    assert manager.rollback_migration_sync("001_a", "staging").success
    Migration.objects.filter(pk="001_a").update(rollback_sql="DROP TABLE t;\nDROP TABLE u;")
    assert manager.apply_migration_sync(Migration.objects.get(pk="001_a"), "staging").success
    ledger, history = sqlite_targets.ledger("staging"), VersionRecord.objects.count()

    refused = submit(admin_client, shown)

    assert "t" in sqlite_targets.tables("staging")
    nothing_changed(sqlite_targets, "staging", ledger, history)
    html = refused.content.decode()
    assert "Roll back 1 migration in staging?" in html
    assert "DROP TABLE u;" in html
    [(level, text)] = messages_of(refused)
    assert level == "error"
    assert "its rollback script changed after it was shown for confirmation" in text


def test_a_rollback_generated_differently_under_the_lock_is_shown_again(
    postgres_targets, admin_client
):
    # The second drops a column the first creates: its rollback is captured from the target
    # only once the first has run, so it is not the one the page showed.
    stored("001_a", "CREATE TABLE t (id INTEGER, legacy TEXT);\n")
    stored("002_b", "ALTER TABLE t DROP COLUMN legacy;\n")

    again = confirm(admin_client, "apply_to_staging", "001_a", "002_b")

    assert [row["migration_name"] for row in postgres_targets.ledger("staging")] == ["001_a"]
    assert "legacy" in postgres_targets.columns("t", "staging")
    [applied, refused] = messages_of(again)
    assert applied[0] == "success"
    assert refused[0] == "error"
    assert "its rollback script changed" in refused[1]
    assert "it is generated from the SQL and what the target holds now" in refused[1]
    html = again.content.decode()
    assert "ADD COLUMN" in html  # the captured rollback, shown now
    done = submit(admin_client, confirmation_form(html))
    assert messages_of(admin_client.get(done.url))[-1] == (
        "success",
        "Migration 002_b applied to staging (1 statement(s)).",
    )
    assert "legacy" not in postgres_targets.columns("t", "staging")


@pytest.mark.parametrize("operation", ["apply", "rollback"])
@pytest.mark.parametrize("forgery", ["without checksums", "with other checksums"])
def test_a_confirmation_not_bound_to_what_was_shown_is_refused(
    sqlite_targets, admin_client, operation, forgery
):
    migration = stored("001_a", CREATE_T)
    if operation == "rollback":
        assert SchemaManager().apply_migration_sync(migration, "staging").success
    action = f"{'apply_to' if operation == 'apply' else 'rollback_in'}_staging"
    ledger, history = sqlite_targets.ledger("staging"), VersionRecord.objects.count()
    tables = sqlite_targets.tables("staging")

    if forgery == "without checksums":
        response = forge(admin_client, action, "001_a")
    else:
        fields = [
            (name, "0" * 64 if "checksum" in name else value)
            for name, value in opened(admin_client, action, "001_a")
        ]
        assert any("checksum" in name for name, _value in fields)
        response = submit(admin_client, fields)

    assert sqlite_targets.tables("staging") == tables
    nothing_changed(sqlite_targets, "staging", ledger, history)
    assert response.status_code == 200  # the confirmation again, to review
    [(level, text)] = messages_of(response)
    assert level == "error"
    assert "001_a" in text
    assert "nothing ran" in text.lower()


# -- validate ---------------------------------------------------------------------------------


def test_validate_reports_per_migration_and_changes_nothing(sqlite_targets, admin_client):
    stored("001_ok", CREATE_T)
    stored("002_risky", "DELETE FROM t;")
    stored("003_bad", "DROP DATABASE app;")

    response = post_action(admin_client, "validate_selected", "001_ok", "002_risky", "003_bad")
    found = messages_of(admin_client.get(response.url))

    assert [level for level, _text in found] == ["success", "error", "error"]
    assert found[0][1] == "001_ok is valid in development, staging, production."
    assert found[1][1].startswith("002_risky: invalid")
    assert "<em>(development, staging)</em>" in found[1][1]  # a warning outside production
    assert "Blocked in production" in found[1][1]
    assert "003_bad: invalid" in found[2][1]
    assert "all environments" in found[2][1]
    assert all(sqlite_targets.ledger(env) == [] for env in ALL_ENVIRONMENTS)
    assert not VersionRecord.objects.exists()
    assert not LogEntry.objects.exists()


# -- change form ------------------------------------------------------------------------------


def test_change_form_edits_a_pending_migration_in_monospace(sqlite_targets, admin_client):
    stored("001_a", CREATE_T)
    url = f"{CHANGELIST}001_a/change/"

    html = admin_client.get(url).content.decode()
    assert 'class="vLargeTextField sm-code-input"' in html
    assert "data-sm-generate-rollback" in html
    assert Migration.objects.get(pk="001_a").checksum in html

    response = admin_client.post(
        url, {"name": "a", "sql": "CREATE TABLE t2 (id INTEGER);\r\n", "rollback_sql": ""}
    )
    assert response.status_code == 302
    assert Migration.objects.get(pk="001_a").sql == "CREATE TABLE t2 (id INTEGER);\n"


def test_a_migration_applied_anywhere_is_read_only(sqlite_targets, admin_client):
    migration = stored("001_a", CREATE_T)
    assert SchemaManager().apply_migration_sync(migration, "production").success
    url = f"{CHANGELIST}001_a/change/"

    html = admin_client.get(url).content.decode()
    assert "View migration" in html
    assert "Applied in production, so read-only" in html
    assert '<textarea name="sql"' not in html
    assert 'name="_save"' not in html

    # What a rollback would run there, not the empty field and its "leave empty" hint.
    rollback = html.split('class="form-row field-rollback_in_force"')[1].split("</fieldset>")[0]
    assert "production" in rollback
    assert ">generated<" in rollback
    assert "DROP TABLE IF EXISTS t;" in rollback
    assert "Leave empty to generate one" not in html

    response = admin_client.post(url, {"name": "a", "sql": "DROP TABLE t;", "rollback_sql": ""})
    assert response.status_code == 403
    assert admin_client.post(f"{CHANGELIST}001_a/delete/", {"post": "yes"}).status_code == 403
    assert Migration.objects.get(pk="001_a").sql == CREATE_T

    # Rolled back everywhere, it can be edited again.
    assert SchemaManager().rollback_migration_sync("001_a", "production").success
    assert '<textarea name="sql"' in admin_client.get(url).content.decode()


def test_generate_rollback_view(sqlite_targets, admin_client, django_user_model):
    url = f"{CHANGELIST}generate-rollback/"

    response = admin_client.post(url, {"sql": "CREATE TABLE t (id INT);\nCREATE INDEX i ON t(id);"})
    assert response.json() == {
        "rollback_sql": "DROP INDEX IF EXISTS i;\nDROP TABLE IF EXISTS t;",
        "environment": "development",
        "vendor": "sqlite",
    }
    assert admin_client.post(url, {"sql": " "}).status_code == 400
    assert admin_client.post(url, {"sql": "x", "environment": "mars"}).status_code == 400
    assert admin_client.get(url).status_code == 405
    viewer = client_for(make_user(django_user_model, "viewer", "view_migration"))
    assert viewer.post(url, {"sql": "CREATE TABLE t (id INT);"}).status_code == 403


def test_sql_is_escaped_on_the_confirmation_page(sqlite_targets, admin_client):
    stored("001_x", "SELECT '<script>alert(1)</script>';")

    html = post_action(admin_client, "apply_to_staging", "001_x").content.decode()

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html


# -- version history --------------------------------------------------------------------------


def make_history(count: int) -> None:
    VersionRecord.objects.bulk_create(
        VersionRecord(
            migration_id=f"{n:04d}_m",
            name="m",
            environment=ALL_ENVIRONMENTS[n % 3],
            database="sqlite_staging",
            operation="apply",
            status="applied" if n % 4 else "failed",
            checksum="0" * 64,
            applied_by="ops",
        )
        for n in range(count)
    )


def test_history_changelist_costs_the_same_queries_at_10_and_1000_records(admin_client):
    make_history(10)
    with CaptureQueriesContext(connections["default"]) as ten:
        assert admin_client.get(HISTORY).status_code == 200
    make_history(990)
    with CaptureQueriesContext(connections["default"]) as thousand:
        response = admin_client.get(HISTORY)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 100
    assert len(thousand.captured_queries) == len(ten.captured_queries)


def test_history_is_read_only_newest_first_and_searchable(admin_client):
    make_history(5)
    response = admin_client.get(HISTORY, {"q": "0003"})
    assert [r.migration_id for r in response.context["cl"].result_list] == ["0003_m"]
    listing = admin_client.get(HISTORY)
    ids = [r.pk for r in listing.context["cl"].result_list]
    assert ids == sorted(ids, reverse=True)
    html = listing.content.decode()
    assert "5 version history records" in html
    assert "By environment" in html
    assert "By status" in html
    assert 'class="xfull"' in html or "date-hierarchy" in html or "toplinks" in html
    record = VersionRecord.objects.first()
    assert admin_client.get(f"{HISTORY}add/").status_code == 403
    assert admin_client.post(f"{HISTORY}{record.pk}/change/", {}).status_code == 403
    assert admin_client.post(f"{HISTORY}{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get(f"{HISTORY}{record.pk}/change/").status_code == 200


def test_an_unreadable_target_shows_unknown_and_keeps_migrations_read_only(
    sqlite_targets, admin_client
):
    stored("001_a", CREATE_T)
    staging = connections["sqlite_staging"]
    staging.close()
    path = staging.settings_dict["NAME"]
    with open(path, "wb") as corrupt:
        corrupt.write(b"this is not an SQLite database" * 100)
    try:
        listing = admin_client.get(CHANGELIST)
        html = listing.content.decode()
        assert column(html, "staging", "001_a") == "unknown"
        assert column(html, "development", "001_a") == "pending"
        [(level, text)] = messages_of(listing)
        assert level == "warning"
        assert text.startswith("Could not read the ledger of staging (sqlite_staging): ")
        # It might be applied there: editing it could be drift, so it is read-only.
        assert (
            '<textarea name="sql"'
            not in admin_client.get(f"{CHANGELIST}001_a/change/").content.decode()
        )
        page = post_action(admin_client, "apply_to_staging", "001_a").content.decode()
        assert "Will be refused" in page
    finally:
        staging.close()
        os.remove(path)


def test_opening_the_changelist_imports_the_folders_on_disk(
    sqlite_targets, django_user_model, tmp_path
):
    directory = tmp_path / "prisma" / "migrations"
    for migration_id in ("010_from_disk", "011_more"):
        (directory / migration_id).mkdir(parents=True)
        (directory / migration_id / "migration.sql").write_text(
            f"CREATE TABLE t{migration_id[:3]} (id INTEGER);\n"
        )
    (directory / "010_from_disk" / "down.sql").write_text("DROP TABLE t010;\n")
    # Who may only look sees what the commands see, and is offered what they may run.
    viewer = client_for(make_user(django_user_model, "viewer", "view_migration", "apply_migration"))

    page = viewer.get(CHANGELIST)

    html = page.content.decode()
    assert column(html, "development", "010_from_disk") == "pending"
    assert column(html, "development", "011_more") == "pending"
    assert "apply_to_development" in offered_actions(viewer)
    assert messages_of(page) == [
        ("info", f"Imported 2 migrations from {directory}: 010_from_disk, 011_more.")
    ]
    imported = Migration.objects.get(pk="010_from_disk")
    assert (imported.name, imported.rollback_sql) == ("from_disk", "DROP TABLE t010;\n")
    assert messages_of(viewer.get(CHANGELIST)) == []  # nothing new: nothing said

    # Changed on disk before it was applied anywhere: the catalogue follows, as in commands.
    (directory / "011_more" / "migration.sql").write_text("CREATE TABLE t011 (id BIGINT);\n")
    viewer.get(CHANGELIST)
    assert Migration.objects.get(pk="011_more").sql == "CREATE TABLE t011 (id BIGINT);\n"
    assert "/import/" not in html  # no button: opening the page is the import


def test_a_folder_that_cannot_be_read_is_named_on_the_changelist(
    sqlite_targets, admin_client, tmp_path
):
    directory = tmp_path / "prisma" / "migrations"
    (directory / "010_good").mkdir(parents=True)
    (directory / "010_good" / "migration.sql").write_text("CREATE TABLE g (id INTEGER);\n")
    (directory / "011_nul").mkdir()
    (directory / "011_nul" / "migration.sql").write_bytes(b"CREATE TABLE n (id INTEGER);\0\n")
    (directory / "012_empty").mkdir()
    (directory / "013_linked").mkdir()
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (directory / "013_linked" / "migration.sql").symlink_to(tmp_path / "passwd")

    page = admin_client.get(CHANGELIST)

    assert page.status_code == 200
    assert column(page.content.decode(), "development", "010_good") == "pending"
    assert messages_of(page) == [
        ("info", f"Imported 1 migration from {directory}: 010_good."),
        (
            "error",
            "Migration folder 011_nul cannot be used: '011_nul/migration.sql' contains a NUL "
            "byte (at byte 28), which no SQL text may hold; remove it.",
        ),
        (
            "error",
            "Migration folder 012_empty cannot be used: Migration folder '012_empty' has no "
            "migration.sql; Prisma requires one in every folder under migrations/.",
        ),
        (
            "error",
            "Migration folder 013_linked cannot be used: '013_linked/migration.sql' links "
            "outside the migrations directory, so it is refused; copy what it links to into "
            "the directory instead.",
        ),
    ]
    assert "root:x" not in page.content.decode()
    assert list(Migration.objects.values_list("id", flat=True)) == ["010_good"]


def test_the_apply_confirmation_counts_the_statements_that_will_run(
    sqlite_targets, django_user_model
):
    stored("001_a", "CREATE TABLE a (id INTEGER);\nINSERT INTO a VALUES (1);\n-- a; comment\n")
    user = make_user(django_user_model, "alice", "view_migration", "apply_migration")

    page = post_action(client_for(user), "apply_to_staging", "001_a")

    assert "Runs 2 statement(s) on sqlite_staging (SQLite)" in page.content.decode()
    assert sqlite_targets.ledger("staging") == []


def test_prismas_unusual_folder_names_have_change_pages_and_apply(sqlite_targets, admin_client):
    # '<timestamp>_' is what `prisma migrate dev` names a migration without a name.
    ids = ["20240101000000_", "20240102000000_Add Users.v2"]
    for number, migration_id in enumerate(ids):
        stored(migration_id, f"CREATE TABLE t{number} (id INTEGER);")

    for migration_id in ids:
        url = reverse("admin:schema_manager_migration_change", args=[quote(migration_id)])
        page = admin_client.get(url)
        assert page.status_code == 200
        assert escape(migration_id) in page.content.decode()
    confirm_as_shown(admin_client, "apply_to_development", *ids)

    rows = sqlite_targets.ledger("development")
    assert [row["migration_name"] for row in rows] == ids
    assert admin_client.get(CHANGELIST).status_code == 200
