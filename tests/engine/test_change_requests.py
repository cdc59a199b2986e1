"""Change requests enforced in the service layer: on the real target engines, nothing runs in
an environment with an approval policy unless a second person approved exactly the scripts
that run (or a permitted user broke the glass, and owes a review)."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.test import override_settings

from schema_manager import Migration, services
from schema_manager.change_requests import clock, service
from schema_manager.change_requests.gate import BreakGlass
from schema_manager.change_requests.models import Approval, ChangeRequest
from schema_manager.exceptions import ChangeRequestError, ChangeScheduled
from tests.utils import make_user

# The targets on the engines with transactional DDL; the app's tables in its own database.
pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=["engine"]),
]
CREATE = "CREATE TABLE t (id INTEGER PRIMARY KEY);\n"
APPROVE = "schema_manager.approve_changerequest"
POLICY = {
    "required": 2,
    "groups": ["dba"],
    "forbid_last_editor": True,
    "forbid_executor_approval": True,
    "expire_after_hours": 72,
}


@pytest.fixture
def policy(targets):
    with override_settings(
        SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "APPROVALS": {"production": POLICY}}
    ):
        yield targets


@pytest.fixture
def people(policy):
    return {
        "author": make_user("author", APPROVE, groups=("dba",)),
        "alice": make_user("alice", APPROVE, groups=("dba",)),
        "bob": make_user("bob", APPROVE, groups=("dba",)),
        "carol": make_user("carol", APPROVE),  # not in the approving group
        "dave": make_user("dave"),  # no permission
        "ops": make_user("ops", "schema_manager.break_glass"),
        "auditor": make_user("auditor", "schema_manager.review_break_glass"),
    }


def stored(sql: str = CREATE, rollback_sql: str = "DROP TABLE t;") -> Migration:
    migration = Migration(id="001_create_t", name="create_t", sql=sql, rollback_sql=rollback_sql)
    migration.save()
    return migration


def submitted(author) -> ChangeRequest:
    return service.create(
        "production", ["001_create_t"], author=author, title="Create t", submit_now=True
    )


def approved(people) -> ChangeRequest:
    request = submitted(people["author"])
    service.decide(request, people["alice"], "approve")
    service.decide(request, people["bob"], "approve")
    request.refresh_from_db()
    assert request.state == ChangeRequest.State.APPROVED
    return request


def test_no_policy_no_request_needed(targets):
    stored()
    [result] = services.apply([Migration.objects.get()], "production")
    assert result.success, result.message


def test_a_protected_environment_refuses_without_a_request(people, policy):
    migration = stored()
    with pytest.raises(ChangeRequestError, match="production requires an approved change request"):
        services.apply([migration], "production", applied_by="ops")
    assert "t" not in policy.tables("production")
    assert policy.ledger("production") == []


def test_two_approvals_from_the_groups_let_it_through(people, policy):
    stored()
    request = approved(people)

    results = services.apply(
        [Migration.objects.get()], "production", applied_by="author", change_request=request.pk
    )

    assert [r.success for r in results] == [True]
    assert "t" in policy.tables("production")
    request.refresh_from_db()
    assert request.state == ChangeRequest.State.DONE
    assert request.executed_by == "author"
    [outcome] = request.outcome
    assert outcome["ledger_id"] == policy.ledger("production")[0]["id"]
    assert outcome["version_record_id"] is not None


def test_the_author_cannot_approve_their_own_request(people, policy):
    stored()
    request = submitted(people["author"])
    with pytest.raises(
        ChangeRequestError, match=r"author of change request #\d+ and cannot decide"
    ):
        service.decide(request, people["author"], "approve")
    assert not Approval.objects.exists()


@pytest.mark.parametrize(
    ("who", "why"),
    [
        ("carol", "in none of the groups dba"),
        ("dave", "lacks the permission"),
    ],
)
def test_only_permitted_users_of_the_groups_decide(people, policy, who, why):
    stored()
    request = submitted(people["author"])
    with pytest.raises(ChangeRequestError, match=why):
        service.decide(request, people[who], "approve")
    assert not Approval.objects.exists()


def test_the_last_editor_cannot_approve(people, policy):
    migration = stored()
    LogEntry.objects.log_actions(
        people["alice"].pk,
        [migration],
        CHANGE,
        change_message='[{"changed": {"fields": ["SQL"]}}]',
        single_object=True,
    )
    request = submitted(people["author"])
    with pytest.raises(ChangeRequestError, match="alice last edited 001_create_t"):
        service.decide(request, people["alice"], "approve")


def test_one_approval_of_two_is_not_enough(people, policy):
    migration = stored()
    request = submitted(people["author"])
    service.decide(request, people["alice"], "approve")
    with pytest.raises(ChangeRequestError, match="is submitted, not approved"):
        services.apply([migration], "production", change_request=request.pk)
    assert "t" not in policy.tables("production")


def test_an_approver_cannot_run_what_they_approved(people, policy):
    migration = stored()
    request = approved(people)
    with pytest.raises(
        ChangeRequestError, match=r"alice approved change request #\d+ and cannot also"
    ):
        services.apply([migration], "production", applied_by="alice", change_request=request)
    request.refresh_from_db()
    assert request.state == ChangeRequest.State.APPROVED
    assert "t" not in policy.tables("production")


def test_an_edit_of_the_sql_voids_the_approvals_in_the_same_transaction(people, policy):
    migration = stored()
    request = approved(people)

    migration.sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, secret TEXT);\n"
    migration.save()

    request.refresh_from_db()
    assert request.state == ChangeRequest.State.DRAFT
    assert "SQL (checksum" in request.void_reason
    assert all(a.voided_at for a in Approval.objects.all())
    with pytest.raises(ChangeRequestError, match="is draft"):
        services.apply([migration], "production", change_request=request.pk)
    assert "t" not in policy.tables("production")


def test_an_edit_of_the_rollback_voids_the_approvals(people, policy):
    migration = stored()
    request = approved(people)
    migration.rollback_sql = "DROP TABLE t; DROP TABLE users;"
    migration.save()
    request.refresh_from_db()
    assert request.state == ChangeRequest.State.DRAFT
    assert "rollback script" in request.void_reason


def test_an_edit_that_fails_voids_nothing(people, policy):
    """The void is in the edit's transaction: an edit rolled back leaves the approvals."""
    migration = stored()
    request = approved(people)

    def edit_then_fail() -> None:
        with transaction.atomic():
            migration.sql = "CREATE TABLE other (id INTEGER PRIMARY KEY);\n"
            migration.save()
            raise RuntimeError("the edit's transaction fails")

    with pytest.raises(RuntimeError):
        edit_then_fail()
    request.refresh_from_db()
    assert request.state == ChangeRequest.State.APPROVED
    assert not Approval.objects.filter(voided_at__isnull=False).exists()


def test_sql_that_differs_from_the_pinned_is_refused_naming_both_checksums(people, policy):
    stored()
    request = approved(people)
    pinned = request.pins.get().sql_checksum
    # Changed behind the model's back (no save, so nothing voids): the gate still compares.
    Migration.objects.filter(pk="001_create_t").update(sql="CREATE TABLE t2 (id INTEGER);\n")
    changed = Migration.objects.get()

    with pytest.raises(ChangeRequestError) as refusal:
        services.apply([changed], "production", change_request=request.pk)

    message = str(refusal.value)
    assert "001_create_t" in message
    assert pinned in message
    assert changed.current_checksum in message
    assert policy.tables("production") == set()


def test_a_rollback_other_than_pinned_is_refused_under_the_lock(people, policy):
    migration = stored()
    request = approved(people)
    # The catalogue's rollback changed behind the model's back: caught just before it runs.
    Migration.objects.filter(pk=migration.pk).update(rollback_sql="DROP TABLE t; SELECT 1;")
    [result] = services.apply([Migration.objects.get()], "production", change_request=request)
    assert not result.success
    assert "rollback script is not the one approved in change request" in result.message
    assert request.pins.get().rollback_checksum in result.message
    assert "t" not in policy.tables("production")
    request.refresh_from_db()
    assert request.state == ChangeRequest.State.FAILED


def test_an_expired_approval_is_refused(people, policy):
    migration = stored()
    request = approved(people)
    later = request.expires_at + datetime.timedelta(minutes=1)
    with clock.at(later), pytest.raises(ChangeRequestError, match="approval expired"):
        services.apply([migration], "production", change_request=request.pk)
    request.refresh_from_db()
    assert request.state == ChangeRequest.State.EXPIRED


def test_a_request_runs_once(people, policy):
    migration = stored()
    request = approved(people)
    services.apply([migration], "production", change_request=request.pk)
    with pytest.raises(ChangeRequestError, match="is done, not approved"):
        services.apply([migration], "production", change_request=request.pk)


def test_the_plan_must_be_the_one_pinned(people, policy):
    migration = stored()
    other = Migration(id="002_other", name="other", sql="CREATE TABLE u (id INTEGER);\n")
    other.save()
    request = approved(people)
    with pytest.raises(ChangeRequestError, match="covers 001_create_t"):
        services.apply([migration, other], "production", change_request=request.pk)
    with pytest.raises(ChangeRequestError, match="not to apply in staging"):
        services.apply([migration], "staging", change_request=request.pk)


def test_a_rollback_needs_its_own_approved_request(people, policy):
    stored()
    request = approved(people)
    services.apply([Migration.objects.get()], "production", change_request=request)
    with pytest.raises(ChangeRequestError, match="requires an approved change request"):
        services.rollback(["001_create_t"], "production")
    undo = service.create(
        "production",
        ["001_create_t"],
        author=people["author"],
        title="Undo",
        operation="rollback",
        submit_now=True,
    )
    service.decide(undo, people["alice"], "approve")
    service.decide(undo, people["bob"], "approve")

    [result] = services.rollback(["001_create_t"], "production", change_request=undo.pk)

    assert result.success, result.message
    assert "t" not in policy.tables("production")


def test_break_glass_runs_without_approvals_and_owes_a_review(people, policy):
    migration = stored()
    with pytest.raises(ChangeRequestError, match="lacks the permission for break-glass"):
        services.apply([migration], "production", break_glass=BreakGlass(people["alice"], "outage"))
    with pytest.raises(ChangeRequestError, match="needs a written reason"):
        services.apply([migration], "production", break_glass=BreakGlass(people["ops"], " "))

    [result] = services.apply(
        [migration], "production", break_glass=BreakGlass(people["ops"], "Checkout is down")
    )

    assert result.success, result.message
    emergency = ChangeRequest.objects.get(break_glass=True)
    assert emergency.state == ChangeRequest.State.DONE
    assert emergency.reason == "Checkout is down"
    assert emergency.pins.get().rollback_script == "DROP TABLE t;"
    assert service.overdue_reviews() == []
    with clock.at(emergency.review_due_at + datetime.timedelta(seconds=1)):
        assert service.overdue_reviews() == [emergency]
        with pytest.raises(ChangeRequestError, match="lacks the permission to review"):
            service.review(emergency, people["ops"], "fine")
        service.review(emergency, people["auditor"], "Reviewed with the on-call engineer.")
        assert service.overdue_reviews() == []


WINDOWED = {**POLICY, "windows": [{"days": "mon-fri", "start": "02:00", "end": "04:00"}]}


def test_outside_the_window_an_approved_request_is_scheduled(people, targets):
    with override_settings(
        SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "APPROVALS": {"production": WINDOWED}}
    ):
        migration = stored()
        saturday = datetime.datetime(2026, 12, 5, 3, 0, tzinfo=datetime.UTC)
        with clock.at(saturday):
            request = approved(people)
            with pytest.raises(ChangeScheduled, match="2026-12-07 02:00"):
                services.apply([migration], "production", change_request=request.pk)
        request.refresh_from_db()
        assert request.state == ChangeRequest.State.SCHEDULED
        assert "t" not in targets.tables("production")
        monday = datetime.datetime(2026, 12, 7, 2, 30, tzinfo=datetime.UTC)
        with clock.at(monday):
            [result] = services.apply([migration], "production", change_request=request.pk)
        assert result.success, result.message


def test_a_forged_decision_for_someone_else_s_checksums_is_refused(people, policy):
    stored()
    request = submitted(people["author"])
    with pytest.raises(ChangeRequestError, match="not those pinned now"):
        service.decide(
            request, people["alice"], "approve", checksums_seen=[["001_create_t", "x", "y"]]
        )


def test_a_rejection_ends_the_request(people, policy):
    migration = stored()
    request = submitted(people["author"])
    service.decide(request, people["alice"], "reject", "no index on a hot table")
    request.refresh_from_db()
    assert request.state == ChangeRequest.State.REJECTED
    with pytest.raises(ChangeRequestError, match="is rejected"):
        services.apply([migration], "production", change_request=request.pk)


def test_rollback_to_is_gated_by_the_plan_read_under_the_lock(people, policy):
    first = stored()
    second = Migration(id="002_u", name="u", sql="CREATE TABLE u (id INTEGER PRIMARY KEY);\n")
    second.save()
    services.apply([first, second], "production", break_glass=BreakGlass(people["ops"], "seed"))
    with pytest.raises(ChangeRequestError, match="requires an approved change request"):
        services.rollback_to("001_create_t", "production")
    undo = service.create(
        "production",
        ["002_u"],
        author=people["author"],
        title="Undo u",
        operation="rollback",
        submit_now=True,
    )
    service.decide(undo, people["alice"], "approve")
    service.decide(undo, people["bob"], "approve")

    [result] = services.rollback_to("001_create_t", "production", change_request=undo.pk)

    assert result.success, result.message
    assert "u" not in policy.tables("production")
    undo.refresh_from_db()
    assert undo.state == ChangeRequest.State.DONE


def test_the_facade_refuses_without_and_applies_with_the_approved_request(people, policy):
    from asgiref.sync import async_to_sync

    from schema_manager import SchemaManager

    migration = stored()
    manager = SchemaManager()
    with pytest.raises(ChangeRequestError, match="requires an approved change request"):
        manager.apply_migration_sync(migration, "production")
    request = approved(people)

    result = async_to_sync(manager.apply_migration)(
        migration, "production", applied_by="author", change_request=request.pk
    )

    assert result.success, result.message
    assert "t" in policy.tables("production")
