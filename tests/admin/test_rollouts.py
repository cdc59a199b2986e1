"""The rollout pages in the admin (test client): what each permission shows and allows."""

from __future__ import annotations

import pytest

from schema_manager.fleets.models import Rollout
from tests.admin_support import PASSWORD, make_user
from tests.fleet_support import recorded_rollout

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

LIST = "/admin/schema_manager/rollout/"


def page(client, django_user_model, name, *codenames, superuser=False):
    make_user(django_user_model, name, *codenames, superuser=superuser)
    client.login(username=name, password=PASSWORD)
    return client


def test_the_rollout_page_shows_progress_waves_failures_and_the_matrix(client, django_user_model):
    rollout = recorded_rollout()
    client = page(client, django_user_model, "viewer", "view_rollout")
    html = client.get(f"{LIST}{rollout.pk}/change/").content.decode()
    assert 'max="6" value="4"' in html  # 4 of 6 targets done
    assert "canary" in html
    assert "rest" in html
    assert "CR-7" in html
    # The error escaped, never markup; the migration id with markup too.
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<b>bold</b>" not in html
    assert "003_&lt;script&gt;" in html
    assert "<script>" not in html.split("<body")[1].split("sm-matrix")[1]
    matrix = html.split('id="sm-matrix"')[1]
    row = matrix.split(">tenant2</a>")[1].split("</tr>")[0]
    assert [c for c in ("applied", "failed", "not run") if f">{c}<" in row] == [
        "applied",
        "failed",
        "not run",
    ]
    assert "?environment=tenants%3Atenant2" in matrix or "?environment=tenants:tenant2" in matrix
    listing = client.get(LIST).content.decode()
    assert "4/6 (1 failed)" in listing


@pytest.mark.parametrize(
    ("codenames", "superuser", "sees", "may"),
    [
        (("view_rollout",), False, False, False),
        (("view_rollout", "control_rollout"), False, True, True),
        ((), True, True, True),
    ],
)
def test_controls_are_shown_and_allowed_only_with_the_control_permission(
    client, django_user_model, codenames, superuser, sees, may
):
    rollout = recorded_rollout()
    Rollout.objects.filter(pk=rollout.pk).update(state="running")
    client = page(client, django_user_model, "someone", *codenames, superuser=superuser)
    url = f"{LIST}{rollout.pk}/change/"
    html = client.get(url).content.decode()
    assert ('value="pause"' in html) is sees
    response = client.post(url, {"control": "pause"})
    rollout.refresh_from_db()
    if may:
        assert response.status_code == 302
        assert rollout.state == "paused"
    else:
        assert response.status_code == 403
        assert rollout.state == "running"


def test_without_the_view_permission_the_page_is_refused(client, django_user_model):
    rollout = recorded_rollout()
    client = page(client, django_user_model, "nobody", "view_migration")
    assert client.get(f"{LIST}{rollout.pk}/change/").status_code == 403
    assert client.get(LIST).status_code == 403


def test_a_control_the_state_does_not_allow_is_refused_with_a_message(client, django_user_model):
    rollout = recorded_rollout()  # partially failed: pause is not possible
    client = page(client, django_user_model, "admin", superuser=True)
    response = client.post(f"{LIST}{rollout.pk}/change/", {"control": "pause"}, follow=True)
    assert "that cannot be done now" in response.content.decode()
    rollout.refresh_from_db()
    assert rollout.state == "partially_failed"
