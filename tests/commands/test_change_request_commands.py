"""The change-request commands, as CI and operators run them, on real target engines."""

from __future__ import annotations

import datetime
import json

import pytest
from django.conf import settings
from django.test import override_settings

from schema_manager.change_requests.models import ChangeRequest
from tests.utils import make_user, run_command, write_migration

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=["engine"]),
]

APPROVE = "schema_manager.approve_changerequest"
POLICY = {"required": 2, "groups": ["dba"], "expire_after_hours": 24}


@pytest.fixture
def protected(migrations_dir, targets):
    write_migration(migrations_dir, "001_create_t", "CREATE TABLE t (id INTEGER PRIMARY KEY);\n")
    make_user("author", APPROVE, groups=("dba",))
    make_user("alice", APPROVE, groups=("dba",))
    make_user("bob", APPROVE, groups=("dba",))
    make_user("ops", "schema_manager.break_glass")
    make_user("auditor", "schema_manager.review_break_glass")
    with override_settings(
        SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "APPROVALS": {"production": POLICY}}
    ):
        run_command("validate_schema_migration", "001_create_t", check=False)  # imports it
        yield targets


def request_cli(*args: str, check: bool = True):
    return run_command("schema_change_request", *args, check=check)


def opened() -> int:
    out = request_cli(
        "create",
        "001_create_t",
        "-e",
        "production",
        "--title",
        "Create t",
        "--submit",
        "--user",
        "author",
        "--format",
        "json",
    ).stdout
    data = json.loads(out)
    assert data["state"] == "submitted"
    assert data["migrations"][0]["id"] == "001_create_t"
    return data["id"]


def test_apply_without_a_request_is_refused(protected):
    run = run_command("apply_schema_migration", "001_create_t", "-e", "production", check=False)
    assert run.status == 1
    assert "production requires an approved change request" in run.stderr
    assert protected.ledger("production") == []


def test_the_author_cannot_approve_through_the_command(protected):
    number = opened()
    run = request_cli("approve", str(number), "--user", "author", check=False)
    assert run.status == 1
    assert f"author of change request #{number} and cannot decide" in run.stderr
    assert ChangeRequest.objects.get().approvals.count() == 0


def test_two_approvals_then_apply_with_the_request(protected):
    number = opened()
    request_cli("approve", str(number), "--user", "alice", "--comment", "looks right")
    shown = json.loads(
        request_cli("approve", str(number), "--user", "bob", "--format", "json").stdout
    )
    assert shown["state"] == "approved"
    assert [d["user"] for d in shown["decisions"]] == ["alice", "bob"]

    run = run_command(
        "apply_schema_migration",
        "-e",
        "production",
        "--change-request",
        str(number),
        "--user",
        "author",
    )

    assert "001_create_t" in run.stdout
    assert "t" in protected.tables("production")
    listed = json.loads(request_cli("list", "--format", "json").stdout)
    assert listed[0]["state"] == "done"


def test_needs_review_lists_what_a_user_may_decide(protected):
    number = opened()
    mine = json.loads(
        request_cli("list", "--needs-review", "--user", "alice", "--format", "json").stdout
    )
    theirs = json.loads(
        request_cli("list", "--needs-review", "--user", "author", "--format", "json").stdout
    )
    assert [r["id"] for r in mine] == [number]
    assert theirs == []


def test_break_glass_and_its_overdue_review_in_status(protected):
    run = run_command(
        "apply_schema_migration",
        "001_create_t",
        "-e",
        "production",
        "--break-glass",
        "Checkout down",
        "--user",
        "ops",
    )
    assert "applied" in run.stdout
    emergency = ChangeRequest.objects.get(break_glass=True)
    status = run_command("schema_migration_status", "-e", "production", "--check", check=False)
    assert status.status == 0, status.stderr

    later = emergency.review_due_at + datetime.timedelta(hours=1)
    from schema_manager.change_requests import clock

    with clock.at(later):
        status = run_command("schema_migration_status", "-e", "production", "--check", check=False)
        assert status.status == 1
        assert "review of this break-glass run was due" in status.stderr
        request_cli("review", str(emergency.pk), "--user", "auditor", "--comment", "ok")
        status = run_command("schema_migration_status", "-e", "production", "--check", check=False)
        assert status.status == 0, status.stderr


def test_a_scheduled_request_runs_when_the_window_opens(protected):
    windowed = {
        **POLICY,
        "expire_after_hours": 72,
        "windows": [{"days": "mon-fri", "start": "02:00", "end": "04:00"}],
    }
    with override_settings(
        SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "APPROVALS": {"production": windowed}}
    ):
        from schema_manager.change_requests import clock

        with clock.at(datetime.datetime(2026, 12, 5, 12, 0, tzinfo=datetime.UTC)):
            number = opened()
            request_cli("approve", str(number), "--user", "alice")
            request_cli("approve", str(number), "--user", "bob")
            run = run_command(
                "apply_schema_migration", "-e", "production", "--change-request", str(number)
            )
        assert "maintenance window is closed" in run.stdout
        assert ChangeRequest.objects.get().state == "scheduled"
        early = run_command("run_scheduled_change_requests", "--at", "2026-12-07T01:59")
        assert "No scheduled change request is due" in early.stdout
        assert "t" not in protected.tables("production")

        due = run_command("run_scheduled_change_requests", "--at", "2026-12-07T02:00")

        assert f"change request #{number} (production): done" in due.stdout
        assert "t" in protected.tables("production")
