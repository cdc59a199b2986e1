"""The evidence export, validated against the JSON schema the package ships."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings
from django.test import override_settings

from schema_manager import Migration, services
from schema_manager.change_requests import evidence, service
from tests.utils import make_user, run_command

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=["engine"]),
]
APPROVE = "schema_manager.approve_changerequest"


@pytest.fixture
def executed(targets):
    policy = {"production": {"required": 2, "require_rehearsal": True}}
    with override_settings(SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "APPROVALS": policy}):
        Migration(
            id="001_users",
            name="users",
            sql="CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100));\n",
        ).save()
        author = make_user("author")
        request = service.create(
            "production", ["001_users"], author=author, title="Users", submit_now=True
        )
        service.decide(request, make_user("alice", APPROVE), "approve", "fine")
        service.decide(request, make_user("bob", APPROVE), "approve")
        services.apply(
            [Migration.objects.get()], "production", applied_by="author", change_request=request
        )
        yield request


def test_the_json_export_follows_its_schema_and_names_the_ledger_rows(executed, targets):
    run = run_command("export_change_evidence", str(executed.pk), "--format", "json")
    data = json.loads(run.stdout)

    jsonschema.Draft202012Validator(evidence.schema()).validate(data)
    if os.environ.get("SCHEMA_MANAGER_EVIDENCE_SAMPLE"):  # the docs' sample, on request
        Path(os.environ["SCHEMA_MANAGER_EVIDENCE_SAMPLE"]).write_text(run.stdout)
    assert data["request"]["state"] == "done"
    assert [d["user"] for d in data["decisions"]] == ["alice", "bob"]
    [record] = data["execution"]["version_records"]
    assert record["ledger_id"] == targets.ledger("production")[0]["id"]
    assert record["checksum"] == data["migrations"][0]["sql_checksum"]
    [seen] = data["snapshot"]["migrations"]
    assert seen["rehearsal"]["ran"] is True
    assert "+CREATE TABLE users" in seen["diff"]


def test_the_schema_refuses_an_export_missing_its_approvals(executed):
    data = evidence.collect(executed)
    del data["decisions"]
    with pytest.raises(jsonschema.ValidationError, match="'decisions' is a required property"):
        jsonschema.Draft202012Validator(evidence.schema()).validate(data)


def test_the_html_export_shows_the_same_evidence(executed, tmp_path):
    out = tmp_path / "evidence.html"
    run_command("export_change_evidence", str(executed.pk), "--format", "html", "-o", str(out))
    page = out.read_text()
    assert f"Change request #{executed.pk}: Users" in page
    assert "alice" in page
    assert executed.pins.get().sql_checksum in page


def test_an_unknown_request_is_one_sentence(targets):
    run = run_command("export_change_evidence", "999", check=False)
    assert run.status == 1
    assert "There is no change request #999." in run.stderr
