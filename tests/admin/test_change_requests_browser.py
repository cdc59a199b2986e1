"""Propose → review → approve → execute, by three users in a real browser (Debian's Chromium
through Playwright): the author opens and submits a request, a reviewer of the approving group
approves it from "Needs my review", an operator applies it to production from the catalogue,
whose confirmation names the approved request.

As in test_browser.py, the database is prepared before the browser starts and checked after it
has stopped (Playwright's loop in this thread forbids ORM calls while it runs).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import override_settings

from schema_manager.change_requests.models import ChangeRequest
from tests.admin_support import CHANGELIST, PASSWORD, make_user, sqlite_environments, stored

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REQUESTS = "/admin/schema_manager/changerequest/"
SQL = (
    "CREATE TABLE invoices (\n    id INTEGER PRIMARY KEY,\n    total NUMERIC(10, 2) NOT NULL\n);\n"
    "CREATE INDEX idx_invoices_total ON invoices(total);"
)

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install chromium; .ci/run does it)",
    ),
]


@pytest.fixture
def screenshots(tmp_path) -> Path:
    directory = Path(os.environ.get("SCHEMA_MANAGER_SCREENSHOTS") or tmp_path / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def protected(tmp_path, django_user_model):
    with sqlite_environments(tmp_path) as targets:
        policy = {"production": {"required": 1, "groups": ["dba"], "require_rehearsal": True}}
        with override_settings(SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "APPROVALS": policy}):
            stored("010_create_invoices", SQL, rollback_sql="DROP TABLE invoices;")
            make_user(
                django_user_model,
                "ana",
                "add_changerequest",
                "view_changerequest",
                "view_migration",
            )
            reviewer = make_user(django_user_model, "rui", "approve_changerequest")
            reviewer.groups.add(Group.objects.create(name="dba"))
            make_user(
                django_user_model,
                "olga",
                "view_changerequest",
                "view_migration",
                "apply_migration",
                "operate_production",
            )
            yield targets


def log_in(browser, live_server, username: str, then: str):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/?next={then}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click('input[type="submit"]')
    page.wait_for_url(live_server.url + then)
    return page


def test_propose_review_approve_execute_by_three_users(live_server, protected, screenshots):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # 1. Ana proposes: opens the request and submits it (validated and rehearsed).
            page = log_in(browser, live_server, "ana", REQUESTS + "add/")
            page.select_option("#id_environment", "production")
            page.fill("#id_title", "Invoices table")
            page.fill("#id_reason", "Billing needs invoices stored with their totals.")
            page.fill("#id_migration_ids", "010_create_invoices")
            page.screenshot(path=screenshots / "change-request-add.png", full_page=True)
            page.click('input[name="_save"]')
            page.wait_for_selector("ul.messagelist li.success")
            page.click("#result_list tbody tr th a")
            page.click('button[value="submit"]')
            page.wait_for_selector("text=Submitted change request")
            assert page.locator(".sm-cr-state").inner_text() == "submitted"
            # The author has no decision buttons on her own request.
            assert page.locator('button[value="approve"]').count() == 0
            page.close()

            # 2. Rui reviews from "Needs my review": production in red, the diff and rehearsal.
            page = log_in(browser, live_server, "rui", REQUESTS + "?review=mine")
            row = page.locator("#result_list tbody tr")
            assert row.count() == 1
            assert row.locator(".sm-env-protected").inner_text() == "production"
            page.screenshot(
                path=screenshots / "change-requests-needs-my-review.png", full_page=True
            )
            row.locator("th a").click()
            page.wait_for_selector(".sm-diff")
            assert "+CREATE TABLE invoices" in page.locator(".sm-diff").inner_text()
            assert "rolled back" in page.locator(".sm-pin").inner_text()
            page.fill("#id_comment", "Index on total is fine; rollback drops the table.")
            page.screenshot(path=screenshots / "change-request-review.png", full_page=True)
            page.click('button[value="approve"]')
            page.wait_for_selector("text=Approve: change request")
            assert page.locator(".sm-cr-state").inner_text() == "approved"
            page.close()

            # 3. Olga executes from the catalogue: the confirmation names the approved request.
            page = log_in(browser, live_server, "olga", CHANGELIST)
            page.check('input.action-select[value="010_create_invoices"]')
            page.select_option('select[name="action"]', "apply_to_production")
            page.click('button[name="index"]')
            page.wait_for_selector(".sm-approved-request")
            assert "Runs change request #" in page.locator(".sm-approved-request").inner_text()
            page.screenshot(path=screenshots / "confirm-with-change-request.png", full_page=True)
            page.click('.sm-confirm-form input[type="submit"]')
            page.wait_for_selector("ul.messagelist li.success")
            page.goto(live_server.url + REQUESTS)
            page.click("#result_list tbody tr th a")
            assert page.locator(".sm-cr-state").inner_text() == "done"
            page.screenshot(path=screenshots / "change-request-done.png", full_page=True)
            page.close()
        finally:
            browser.close()

    request = ChangeRequest.objects.get()
    assert request.state == ChangeRequest.State.DONE
    assert request.author.get_username() == "ana"
    assert [a.user.get_username() for a in request.approvals.all()] == ["rui"]
    assert request.executed_by == "olga"
    assert "invoices" in protected.tables("production")
    assert request.snapshot["migrations"][0]["rehearsal"]["ran"] is True
