"""The approval policy read from settings: maintenance windows, and the system checks that
refuse a policy that cannot be read or is not four-eyes (E901) and bad notification settings
(E902). Settings only: no database."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.test import override_settings

from schema_manager.change_requests.policy import parse_window, policy_for
from schema_manager.checks import check_approvals


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """A moment in the week of Monday 2026-12-07 (day 0), UTC."""
    return datetime.datetime(2026, 12, 7 + day, hour, minute, tzinfo=datetime.UTC)


def configured(**values):
    return override_settings(SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, **values})


def test_a_weekday_window():
    window = parse_window({"days": "mon-fri", "start": "02:00", "end": "04:00"})
    assert window.contains(at(0, 2))
    assert window.contains(at(4, 3, 59))
    assert not window.contains(at(0, 4))
    assert not window.contains(at(5, 3))  # Saturday
    assert window.next_opening(at(4, 5)) == at(7, 2)  # Friday evening -> next Monday


def test_a_window_past_midnight_belongs_to_the_day_it_opens():
    window = parse_window({"days": ["fri"], "start": "22:00", "end": "02:00"})
    assert window.contains(at(4, 23))
    assert window.contains(at(5, 1, 30))  # Saturday morning, Friday's window
    assert not window.contains(at(3, 1))  # Thursday morning: Wednesday has none
    assert window.next_opening(at(0, 12)) == at(4, 22)


def test_no_policy_unless_configured():
    assert policy_for("production") is None
    with configured(APPROVALS={"production": {"required": 2}}):
        policy = policy_for("production")
    assert policy is not None
    assert policy.required == 2
    assert policy.forbid_author
    assert policy.in_window(at(5, 3))  # no windows: always open


@pytest.mark.parametrize(
    ("approvals", "problem"),
    [
        ({"prod": {}}, "names an environment that is not configured"),
        ({"production": {"required": 0}}, "'required'] must be a whole number"),
        ({"production": {"requierd": 2}}, "unknown key(s) 'requierd'"),
        ({"production": {"forbid_author": False}}, "not four-eyes approval"),
        ({"production": {"windows": [{"days": "mon-fry", "start": "2", "end": "4"}]}}, "'fry'"),
        ({"production": {"windows": [{"start": "2am", "end": "04:00"}]}}, "start '2am'"),
        ({"production": {"expire_after_hours": -1}}, "positive number of hours"),
        ({"production": {"groups": "dba"}}, "list of group names"),
    ],
)
def test_bad_policies_are_system_check_errors(approvals, problem):
    with configured(APPROVALS=approvals):
        errors = check_approvals()
    assert [error.id for error in errors] == ["schema_manager.E901"]
    assert problem in errors[0].msg


@pytest.mark.parametrize(
    ("notifications", "problem"),
    [
        ({"WEBHOOKS": ["hooks.example.com"]}, "not an http(s) URL"),
        ({"EMAILS": ["board"]}, "not an e-mail address"),
        ({"TIMEOUT": 0}, "'TIMEOUT'] must be a positive number"),
        ({"WEBHOOK": []}, "unknown key(s) 'WEBHOOK'"),
    ],
)
def test_bad_notification_settings_are_system_check_errors(notifications, problem):
    with configured(CHANGE_NOTIFICATIONS=notifications):
        errors = check_approvals()
    assert [error.id for error in errors] == ["schema_manager.E902"]
    assert problem in errors[0].msg


def test_a_good_policy_passes():
    good = {
        "production": {
            "required": 2,
            "groups": ["dba"],
            "windows": [{"days": "sat,sun", "start": "01:00", "end": "05:30"}],
            "expire_after_hours": None,
        }
    }
    with configured(APPROVALS=good, CHANGE_NOTIFICATIONS={"WEBHOOKS": ["https://h.example/x"]}):
        assert check_approvals() == []
