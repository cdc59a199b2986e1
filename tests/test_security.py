"""Secrets stay out of errors, logs, the ledger and history; the pooler warning."""

from __future__ import annotations

import logging
import sys

import pytest
from django.db import connections
from django.test import RequestFactory, override_settings
from django.views.debug import get_default_exception_reporter_filter, technical_500_response

from schema_manager import Migration, VersionRecord
from schema_manager.checks import check_no_transaction_pooler
from schema_manager.security import MASK, ExceptionReporterFilter, scrub


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
        assert warning.id == "schema_manager.W006"
        assert "port 6432, DISABLE_SERVER_SIDE_CURSORS" in warning.msg
        pooled.update(PORT="5432", DISABLE_SERVER_SIDE_CURSORS=False)
        assert check_no_transaction_pooler() == []
    finally:
        del connections["pooled"]
