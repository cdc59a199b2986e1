"""Change requests in the admin: what each user sees and may press, forged POSTs refused by
the service (not the page), the apply confirmation naming the approved request, and every
decision and refusal in LogEntry."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.test import Client, override_settings

from schema_manager.change_requests import service
from schema_manager.change_requests.models import Approval, ChangeRequest
from tests.admin_support import (
    CHANGELIST,
    PASSWORD,
    confirm_as_shown,
    make_user,
    sqlite_environments,
    stored,
)

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

REQUESTS = "/admin/schema_manager/changerequest/"
OPERATE = ("apply_migration", "rollback_migration", "operate_production")


@pytest.fixture
def admin_env(tmp_path, django_user_model):
    with sqlite_environments(tmp_path) as targets:
        policy = {"production": {"required": 1}}
        with override_settings(SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "APPROVALS": policy}):
            stored("001_create_t", "CREATE TABLE t (id INTEGER PRIMARY KEY);")
            users = {
                "author": make_user(
                    django_user_model,
                    "author",
                    "add_changerequest",
                    "view_changerequest",
                    "approve_changerequest",
                ),
                "reviewer": make_user(django_user_model, "reviewer", "approve_changerequest"),
                "viewer": make_user(django_user_model, "viewer", "view_changerequest"),
                "operator": make_user(
                    django_user_model, "operator", "view_changerequest", *OPERATE
                ),
            }
            yield targets, users


def client_for(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def opened(users) -> ChangeRequest:
    return service.create(
        "production", ["001_create_t"], author=users["author"], title="Create t", submit_now=True
    )


def act(client: Client, request: ChangeRequest, action: str, **extra: str):
    return client.post(f"{REQUESTS}{request.pk}/act/", {"action": action, **extra}, follow=True)


def test_the_author_opens_a_request_in_the_admin(admin_env):
    _, users = admin_env
    client = client_for("author")
    page = client.post(
        f"{REQUESTS}add/",
        {
            "environment": "production",
            "operation": "apply",
            "title": "Create t",
            "reason": "needed by checkout",
            "migration_ids": "001_create_t",
        },
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    request = ChangeRequest.objects.get()
    assert request.author == users["author"]
    assert request.pinned_ids() == ["001_create_t"]
    act(client, request, "submit")
    request.refresh_from_db()
    assert request.state == "submitted"
    assert request.pins.get().sql_checksum


def test_the_author_sees_no_approve_button_and_a_forged_post_is_refused(admin_env):
    _, users = admin_env
    request = opened(users)
    client = client_for("author")

    page = client.get(f"{REQUESTS}{request.pk}/change/").content.decode()
    assert 'value="approve"' not in page
    assert "is the author of change request" in page

    forged = act(client, request, "approve")

    assert not Approval.objects.exists()
    assert "is the author of change request" in forged.content.decode()
    entry = LogEntry.objects.get(object_id=str(request.pk))
    assert entry.user == users["author"]
    assert entry.change_message.startswith("Refused approve")


def test_a_user_without_the_permission_cannot_decide_by_post(admin_env):
    _, users = admin_env
    request = opened(users)
    act(client_for("viewer"), request, "approve")
    assert not Approval.objects.exists()
    assert "lacks the permission" in LogEntry.objects.get().change_message


def test_the_reviewer_approves_and_the_operator_executes(admin_env):
    targets, users = admin_env
    request = opened(users)
    reviewer = client_for("reviewer")
    page = reviewer.get(f"{REQUESTS}{request.pk}/change/").content.decode()
    assert 'value="approve"' in page
    assert "CREATE TABLE t" in page  # the diff

    act(reviewer, request, "approve", comment="ok")
    act(client_for("operator"), request, "execute")

    request.refresh_from_db()
    assert request.state == "done"
    assert request.executed_by == "operator"
    assert "t" in targets.tables("production")
    messages = list(LogEntry.objects.order_by("pk").values_list("change_message", flat=True))
    assert messages[0].startswith("Approve: change request")
    assert messages[-1].startswith("Executed change request")


def test_the_needs_my_review_filter(admin_env):
    _, users = admin_env
    request = opened(users)
    mine = client_for("reviewer").get(f"{REQUESTS}?review=mine").content.decode()
    theirs = client_for("author").get(f"{REQUESTS}?review=mine").content.decode()
    assert f"#{request.pk}" in mine
    assert f"#{request.pk}" not in theirs
    assert "sm-env-protected" in mine


def test_the_apply_confirmation_refuses_without_a_request_then_names_it(admin_env):
    targets, users = admin_env
    operator = make_user_with_migrations(users)
    page = operator.post(
        CHANGELIST,
        {"action": "apply_to_production", "_selected_action": ["001_create_t"]},
    ).content.decode()
    assert "requires an approved change request" in page
    assert "changerequest/add/?" in page

    refused = confirm_as_shown(operator, "apply_to_production", "001_create_t", follow="yes")
    assert targets.ledger("production") == []
    assert refused.status_code in (200, 302)

    request = opened(users)
    service.decide(request, users["reviewer"], "approve")
    page = operator.post(
        CHANGELIST,
        {"action": "apply_to_production", "_selected_action": ["001_create_t"]},
    ).content.decode()
    assert f"Runs change request #{request.pk}" in page
    confirm_as_shown(operator, "apply_to_production", "001_create_t")
    request.refresh_from_db()
    assert request.state == "done"
    assert "t" in targets.tables("production")


def make_user_with_migrations(users) -> Client:
    from django.contrib.auth.models import Permission

    users["operator"].user_permissions.add(
        Permission.objects.get(content_type__app_label="schema_manager", codename="view_migration")
    )
    return client_for("operator")


def test_an_overdue_break_glass_review_shows_in_red_and_is_closed_there(
    admin_env, django_user_model
):
    import datetime

    from schema_manager import Migration, services
    from schema_manager.change_requests import clock
    from schema_manager.change_requests.gate import BreakGlass

    targets, _ = admin_env
    oncall = make_user(django_user_model, "oncall", "break_glass", "view_changerequest")
    make_user(django_user_model, "auditor", "review_break_glass", "view_changerequest")
    services.apply(
        [Migration.objects.get()], "production", break_glass=BreakGlass(oncall, "Checkout down")
    )
    emergency = ChangeRequest.objects.get(break_glass=True)
    later = emergency.review_due_at + datetime.timedelta(hours=1)

    with clock.at(later):
        listing = client_for("auditor").get(f"{REQUESTS}?review=overdue").content.decode()
        assert f"#{emergency.pk}" in listing
        assert "sm-review-overdue" in listing
        page = client_for("auditor").get(f"{REQUESTS}{emergency.pk}/change/").content.decode()
        assert "The review of this break-glass run was due" in page
        act(client_for("oncall"), emergency, "review", comment="self-review")
        act(client_for("auditor"), emergency, "review", comment="Checked with on-call.")

    emergency.refresh_from_db()
    assert emergency.reviewed_by.get_username() == "auditor"
    messages = list(LogEntry.objects.order_by("pk").values_list("change_message", flat=True))
    assert messages[0].startswith("Refused review")
    assert messages[1].startswith("Reviewed break-glass change request")
    assert "t" in targets.tables("production")
