"""A rollout's admin page in a real browser (Playwright, Debian's Chromium, headless): the
progress, the failures and the matrix fit a 1440 px screen, and Pause works."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from schema_manager.fleets.models import Rollout
from tests.admin_support import PASSWORD, make_user
from tests.fleet_support import recorded_rollout

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install chromium; .ci/run does it)",
    ),
]


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """$SCHEMA_MANAGER_SCREENSHOTS (e.g. docs/screenshots) if set, else a temporary directory."""
    directory = Path(os.environ.get("SCHEMA_MANAGER_SCREENSHOTS") or tmp_path / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_the_rollout_page_in_a_browser_and_its_pause_button(
    live_server, django_user_model, screenshots
):
    rollout = recorded_rollout(targets=12)
    Rollout.objects.filter(pk=rollout.pk).update(state="running")
    make_user(django_user_model, "admin", superuser=True)
    url = f"{live_server.url}/admin/schema_manager/rollout/{rollout.pk}/change/"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{live_server.url}/admin/login/?next={url}")
            page.fill("#id_username", "admin")
            page.fill("#id_password", PASSWORD)
            page.click('input[type="submit"]')
            page.wait_for_url(url)
            page.screenshot(path=screenshots / "rollout.png", full_page=True)
            progress = page.locator("#sm-rollout-progress")
            assert progress.get_attribute("value") == "4"
            assert progress.get_attribute("max") == "12"
            assert "already exists" in page.locator("#sm-failures").inner_text()
            matrix = page.locator("#sm-matrix")
            assert matrix.locator("td.sm-cell-failed").count() == 1
            # The matrix fits the page's width: nothing scrolls sideways at 1440 px.
            scroll = page.locator(".sm-matrix-scroll")
            assert scroll.evaluate("e => e.scrollWidth <= e.clientWidth")
            page.click('button[value="pause"]')
            page.wait_for_selector("ul.messagelist")
            assert "paused" in page.locator("ul.messagelist").inner_text()
            assert not page.locator('button[value="pause"]').count()
            page.screenshot(path=screenshots / "rollout-paused.png", full_page=True)
        finally:
            browser.close()
    rollout.refresh_from_db()
    assert rollout.state == "paused"
