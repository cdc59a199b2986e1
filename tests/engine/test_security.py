"""Secrets stay out of errors, logs, the ledger and history; the pooler warning."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connections
from django.test import RequestFactory, override_settings
from django.views.debug import (
    ExceptionReporter,
    get_default_exception_reporter_filter,
    technical_500_response,
)

from schema_manager import Migration, VersionRecord
from schema_manager.checks import check_no_transaction_pooler
from schema_manager.security import MASK, ExceptionReporterFilter, scrub
from tests.admin_support import confirm_as_shown, stored

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://app:s3cret@db:5432/x", f"postgres://app:{MASK}@db:5432/x"),
        ("mysql://root@127.0.0.1/db", "mysql://root@127.0.0.1/db"),
        ("host=db password=s3cret user=app", f"host=db password={MASK} user=app"),
        ("{'PASSWORD': 's3cret'}", f"{{'PASSWORD': '{MASK}'}}"),
        ("no secret here: a:b", "no secret here: a:b"),
    ],
)
def test_scrub_masks_passwords(text, expected):
    assert scrub(text) == expected


def test_configured_database_passwords_are_masked_anywhere(monkeypatch):
    from django.conf import settings

    monkeypatch.setitem(settings.DATABASES, "other", {"PASSWORD": "hunter2hunter2"})
    assert scrub("auth failed with hunter2hunter2 (oops)") == f"auth failed with {MASK} (oops)"


def test_error_pages_hide_url_style_secrets():
    # The secret is spelled apart: the error page also shows this source and its variables.
    with override_settings(
        PRODUCTION_DATABASE_URL="postgres://deploy:" + "top" + "secret@db.internal:5432/app",
        DEFAULT_EXCEPTION_REPORTER_FILTER="schema_manager.security.ExceptionReporterFilter",
    ):
        safe = ExceptionReporterFilter().get_safe_settings()
        assert safe["PRODUCTION_DATABASE_URL"] == f"postgres://deploy:{MASK}@db.internal:5432/app"
        get_default_exception_reporter_filter.cache_clear()  # Django caches the filter
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            response = technical_500_response(RequestFactory().get("/"), *sys.exc_info())
    get_default_exception_reporter_filter.cache_clear()
    assert b"deploy:********@db.internal" in response.content
    assert b"top" + b"secret" not in response.content


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_secret_in_a_database_error_is_masked_everywhere(targets, manager, caplog):
    caplog.set_level(logging.DEBUG, logger="schema_manager")
    leaky = Migration(
        id="001_leaky",
        sql="CREATE TABLE t (id INTEGER);\n"
        "INSERT INTO nowhere_postgres_app_topsecret VALUES ('postgres://app:topsecret@db/x');",
    )
    # The table name is in the error; the URL's password is what must never show.
    result = manager.apply_migration_sync(leaky)
    assert not result.success
    everything = [
        result.error,
        result.message,
        *(row["logs"] or "" for row in targets.ledger()),
        *VersionRecord.objects.values_list("error", flat=True),
        caplog.text,
    ]
    assert all("app:topsecret@" not in text for text in everything)


def test_a_postgresql_target_behind_a_transaction_pooler_is_warned_about(monkeypatch, settings):
    monkeypatch.setitem(
        connections.settings,
        "pooled",
        {**connections.settings["sqlite_development"], "ENGINE": "django.db.backends.postgresql"},
    )
    pooled = connections.settings["pooled"]
    pooled.update(HOST="db.example.com", PORT="6432", DISABLE_SERVER_SIDE_CURSORS=True)
    settings.SCHEMA_MANAGER = {**settings.SCHEMA_MANAGER, "ENVIRONMENTS": {"production": "pooled"}}
    settings.SCHEMA_MANAGER["DEFAULT_ENVIRONMENT"] = "production"
    try:
        [warning] = check_no_transaction_pooler()
        assert warning.id == "schema_manager.W002"
        assert "port 6432, DISABLE_SERVER_SIDE_CURSORS" in warning.msg
        pooled.update(PORT="5432", DISABLE_SERVER_SIDE_CURSORS=False)
        assert check_no_transaction_pooler() == []
    finally:
        del connections["pooled"]


# A password with the characters that break naive masking: '@' ends a URL's userinfo early,
# a space ends a DSN value early; URLs carry it quoted. Built apart so that no source line
# shown on an error page spells it.
AWKWARD = "p@ss" + " w0rd"


def leaked(text: str) -> list[str]:
    """Any part of the password, however spelled (as is, URL-quoted, cut at '@' or ' ')."""
    return [part for part in ("p@ss", "p%40ss", "w0rd") if part in text]


@pytest.mark.parametrize(
    "text",
    [
        f"postgres://app:{AWKWARD}@db:5432/x",
        "postgres://app:p%40ss%20w0rd@db:5432/x",
        f"host=db password='{AWKWARD}' user=app",
        f"{{'password': '{AWKWARD}', 'host': 'db'}}",
        "DATABASE_URL=postgres://app:p%40ss+w0rd@db/x",
    ],
)
def test_a_configured_password_with_at_and_spaces_is_masked_whole(settings, text):
    settings.DATABASES["default"]["PASSWORD"] = AWKWARD
    try:
        masked = scrub(text)
    finally:
        del settings.DATABASES["default"]["PASSWORD"]
    assert leaked(masked) == []
    assert MASK in masked


def unreachable_postgres(password: str) -> dict:
    """Settings of a PostgreSQL database nobody listens for (port 9: discard), completed with
    Django's defaults by Django itself (not copied from the default alias, which a test may have
    replaced with a dict lacking them)."""
    given = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "USER": "app",
        "PASSWORD": password,
        "HOST": "127.0.0.1",
        "PORT": "9",
        "OPTIONS": {},
    }
    default = {"ENGINE": "django.db.backends.dummy"}
    return connections.configure_settings({"default": default, "unreachable": given})["unreachable"]


def test_the_debug_page_of_an_unreachable_database_shows_no_password(
    monkeypatch, settings, django_db_blocker
):
    pytest.importorskip("psycopg")
    monkeypatch.setitem(connections.settings, "unreachable", unreachable_postgres(AWKWARD))
    settings.DEBUG = True
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "schema_manager.security.ExceptionReporterFilter"
    settings.DEFAULT_EXCEPTION_REPORTER = "schema_manager.security.ExceptionReporter"
    get_default_exception_reporter_filter.cache_clear()  # Django caches the filter
    try:
        with django_db_blocker.unblock():
            connections["unreachable"].ensure_connection()
    except OperationalError:
        request = RequestFactory().get("/")
        html = technical_500_response(request, *sys.exc_info()).content.decode()
        text = ExceptionReporter(request, *sys.exc_info()).get_traceback_text()
    finally:
        get_default_exception_reporter_filter.cache_clear()
        connections["unreachable"].close()
        del connections["unreachable"]
    assert "conn_params" in html  # the frames whose variables held it are shown
    assert leaked(html) == []
    assert leaked(text) == []


def test_the_demo_projects_debug_page_with_its_database_down_shows_no_password(tmp_path):
    """The demo runs with DEBUG on: its error page, with the app database unreachable."""
    pytest.importorskip("psycopg")
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "page = Client(raise_request_exception=False).post(\n"
        "    '/admin/login/', {'username': 'a', 'password': 'b'}, HTTP_HOST='localhost')\n"
        "print(page.status_code)\n"
        "print(page.content.decode())\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "DATABASE_URL": "postgres://app:p%40ss%20w0rd@127.0.0.1:9/app",
        "DJANGO_DEBUG": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    status, page = done.stdout.split("\n", 1)
    assert status == "500"
    assert "OperationalError" in page
    assert leaked(page) == []
    assert leaked(done.stderr) == []


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_password_in_a_failed_migrations_error_is_masked_everywhere(
    targets, settings, caplog, admin_client
):
    caplog.set_level(logging.DEBUG, logger="schema_manager")
    settings.DATABASES["default"]["PASSWORD"] = AWKWARD  # the app database's
    try:
        # The error quotes the table's name: the password as is, then URL-quoted.
        stored(
            "001_leaky", f'CREATE TABLE t (id INTEGER);\nINSERT INTO "app:{AWKWARD}@db" VALUES (1);'
        )
        stored("002_leaky", 'INSERT INTO "postgres://app:p%40ss%20w0rd@db/x" VALUES (1);')
        out, err = StringIO(), StringIO()
        with pytest.raises(CommandError) as failure:
            call_command("apply_schema_migration", "001_leaky", stdout=out, stderr=err)
        command = [str(failure.value), out.getvalue(), err.getvalue()]
        with pytest.raises(CommandError) as failure:
            call_command("apply_schema_migration", "002_leaky", "-e", "staging", stdout=out)
        command += [str(failure.value), out.getvalue()]
        page = admin_client.get(
            confirm_as_shown(admin_client, "apply_to_production", "001_leaky").url
        )
        shown = [str(message) for message in page.context["messages"]]
        # In staging: production would refuse 002 before it runs, as 001 is pending there.
        page = admin_client.get(confirm_as_shown(admin_client, "apply_to_staging", "002_leaky").url)
        shown += [str(message) for message in page.context["messages"]]
    finally:
        del settings.DATABASES["default"]["PASSWORD"]

    assert "001_leaky failed" in command[0]
    assert len(shown) == 2
    assert all("failed" in message for message in shown)
    errors = list(VersionRecord.objects.values_list("error", flat=True))
    logs = [
        row["logs"]
        for env in ("development", "staging", "production")
        for row in targets.ledger(env)
    ]
    assert (len(errors), logs) == (4, [])  # failures that left nothing have no ledger row
    everything = "\n".join([*command, *shown, *errors, *logs, caplog.text])
    assert leaked(everything) == []
    assert MASK in errors[0]
