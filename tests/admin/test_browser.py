"""The admin in a real browser: Playwright drives Debian's Chromium against a live server.

Playwright's sync API runs an asyncio loop in this thread while the browser is open, and
Django refuses ORM calls from a thread with a running loop. So the test prepares everything
in the database before the browser starts and checks the database after it has stopped;
while it runs, only the live server (its own thread) touches the ORM.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from schema_manager import Migration, SchemaManager, VersionRecord
from tests.admin_support import (
    CHANGELIST,
    HISTORY,
    PASSWORD,
    make_user,
    sqlite_environments,
    stored,
)
from tests.conftest import Targets

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# The docs' images: refreshed only on request, so a test run leaves the checkout clean.
SCREENSHOTS_ENV = "SCHEMA_MANAGER_SCREENSHOTS"

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install chromium; .ci/run does it)",
    ),
]

CATALOGUE = {
    "001_create_users": (
        "CREATE TABLE users (\n    id INTEGER PRIMARY KEY,\n    email VARCHAR(255) NOT NULL\n);\n"
        "CREATE UNIQUE INDEX idx_users_email ON users(email);"
    ),
    "002_add_display_name": (
        "ALTER TABLE users ADD COLUMN display_name VARCHAR(100);\n"
        "CREATE INDEX idx_users_display_name ON users(display_name);"
    ),
    "003_create_orders": (
        "CREATE TABLE orders (\n    id INTEGER PRIMARY KEY,\n"
        "    user_id INTEGER NOT NULL REFERENCES users(id)\n);"
    ),
    "004_backfill_order_totals": "UPDATE orders SET total = 0 WHERE total IS NULL;",
    "005_create_audit_log": "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, entry TEXT);",
    "006_add_order_status": "ALTER TABLE orders ADD COLUMN status VARCHAR(20);",
}


@pytest.fixture
def sqlite_targets(tmp_path, transactional_db) -> Iterator[Targets]:
    with sqlite_environments(tmp_path) as helper:
        yield helper


def seed(targets: Targets) -> None:
    """A catalogue whose migrations are in every state somewhere."""
    manager = SchemaManager()
    migrations = {mid: stored(mid, sql) for mid, sql in CATALOGUE.items()}

    def apply(mid: str, *environments: str) -> None:
        for environment in environments:
            manager.apply_migration_sync(migrations[mid], environment, applied_by="deploy")

    apply("001_create_users", "development", "staging", "production")
    apply("002_add_display_name", "development")
    apply("003_create_orders", "development", "staging")
    apply("004_backfill_order_totals", "development")  # fails: there is no total column
    apply("005_create_audit_log", "development")
    manager.rollback_migration_sync("005_create_audit_log", "development", applied_by="deploy")
    # A hotfix edited in production by hand: its ledger checksum no longer matches.
    targets.execute(
        "production",
        "UPDATE _prisma_migrations SET checksum = 'f00d' WHERE migration_name = '001_create_users'",
    )


def run_action(page, migration_id: str, action: str) -> None:
    page.check(f'input.action-select[value="{migration_id}"]')
    page.select_option('select[name="action"]', action)
    page.click('button[name="index"]')


def badge(page, migration_id: str, environment: str) -> str:
    row = page.locator("#result_list tbody tr").filter(has_text=migration_id)
    return row.locator(f"td.field-state_{environment} .sm-badge").text_content()


def log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={CHANGELIST}")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click('input[type="submit"]')
    page.wait_for_url(live_server.url + CHANGELIST)


def overflows(locator) -> bool:
    """Whether the element's content is wider than the element (cut off or scrolled)."""
    return locator.evaluate("element => element.scrollWidth > element.clientWidth")


def is_grey(locator) -> bool:
    """Whether the element's text colour is neutral (no hue), as opposed to an error's red."""
    red, green, blue = locator.evaluate(
        "element => getComputedStyle(element).color.match(/\\d+/g).slice(0, 3).map(Number)"
    )
    return max(red, green, blue) - min(red, green, blue) < 30


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """$SCHEMA_MANAGER_SCREENSHOTS (e.g. docs/screenshots) if set, else a temporary directory."""
    directory = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_apply_and_roll_back_in_staging_through_the_browser(
    live_server, sqlite_targets, django_user_model, screenshots
):
    seed(sqlite_targets)
    make_user(django_user_model, "admin", superuser=True)
    changelist = live_server.url + CHANGELIST

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 800})
            page.set_default_timeout(10_000)
            page.goto(f"{live_server.url}/admin/login/?next={CHANGELIST}")
            page.fill("#id_username", "admin")
            page.fill("#id_password", PASSWORD)
            page.click('input[type="submit"]')
            page.wait_for_url(changelist)
            assert badge(page, "002_add_display_name", "staging") == "pending"

            # Production: the confirmation page warns, and going back changes nothing.
            run_action(page, "002_add_display_name", "apply_to_production")
            page.wait_for_selector(".sm-environment-protected")
            page.screenshot(path=screenshots / "confirm-production.png", full_page=True)
            page.click("a.cancel-link")
            page.wait_for_url(changelist)

            # Staging: confirm, see it applied, roll it back.
            page.goto(changelist)
            run_action(page, "002_add_display_name", "apply_to_staging")
            page.wait_for_selector("text=Apply 1 migration to staging?")
            page.screenshot(path=screenshots / "confirm-staging.png", full_page=True)
            page.click('.sm-confirm-form input[type="submit"]')
            page.wait_for_selector("ul.messagelist li.success")
            assert badge(page, "002_add_display_name", "staging") == "applied"
            assert badge(page, "002_add_display_name", "production") == "pending"
            page.screenshot(path=screenshots / "changelist.png", full_page=True)

            run_action(page, "002_add_display_name", "rollback_in_staging")
            page.wait_for_selector("text=Roll back 1 migration in staging?")
            page.click('.sm-confirm-form input[type="submit"]')
            page.wait_for_selector("ul.messagelist li.success")
            assert badge(page, "002_add_display_name", "staging") == "rolled back"

            # A new migration: "Generate rollback" fills the rollback from the SQL typed so far.
            page.goto(changelist + "add/")
            page.fill("#id_id", "007_create_invoices")
            page.fill("#id_name", "create_invoices")
            page.fill("#id_sql", "CREATE TABLE invoices (id INTEGER PRIMARY KEY);")
            page.click("[data-sm-generate-rollback]")
            page.wait_for_function("document.querySelector('#id_rollback_sql').value !== ''")
            assert page.input_value("#id_rollback_sql") == "DROP TABLE IF EXISTS invoices;"
            page.screenshot(path=screenshots / "change-form.png", full_page=True)
            page.click('input[name="_save"]')
            page.wait_for_selector("ul.messagelist li.success")
        finally:
            browser.close()

    history = VersionRecord.objects.filter(
        migration_id="002_add_display_name", environment="staging"
    )
    assert [(r.status, r.applied_by) for r in history] == [
        ("rolled_back", "admin"),
        ("applied", "admin"),
    ]
    assert "display_name" not in sqlite_targets.columns("users", "staging")
    assert sqlite_targets.ledger("production")[-1]["migration_name"] == "001_create_users"
    assert {p.name for p in screenshots.glob("*.png")} >= {
        "changelist.png",
        "change-form.png",
        "confirm-production.png",
        "confirm-staging.png",
    }
    created = Migration.objects.get(pk="007_create_invoices")
    assert created.rollback_sql == "DROP TABLE IF EXISTS invoices;"


def test_history_confirmation_and_applied_migration_fit_and_agree_at_1440_px(
    live_server, sqlite_targets, django_user_model, screenshots
):
    seed(sqlite_targets)
    SchemaManager().apply_migration_sync(
        Migration.objects.get(pk="005_create_audit_log"),
        "staging",
        applied_by="release-manager@ci",
    )
    make_user(django_user_model, "admin", superuser=True)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 800})
            page.set_default_timeout(10_000)
            log_in(page, live_server)

            # The history: every column visible beside the navigation and the filters.
            page.goto(live_server.url + HISTORY)
            page.screenshot(path=screenshots / "history.png", full_page=True)
            assert not overflows(page.locator("#changelist .results"))
            applied_by = page.locator("#result_list td.field-applied_by")
            assert applied_by.first.inner_text() == "release-manager@ci"
            assert not any(overflows(cell) for cell in applied_by.all())
            assert page.locator("#result_list th.column-seconds").is_visible()
            # (Django 6 puts a visually hidden "Pagination …" heading before the count.)
            paginator = page.locator(".paginator").inner_text().splitlines()
            assert "10 version history records" in paginator
            failed = page.locator("#result_list tr", has_text="004_backfill_order_totals")
            assert failed.locator(".sm-badge").inner_text() == "APPLY FAILED"

            # A batch with two migrations already applied there: the counts agree, and the
            # two are neutral (skipped), not errors.
            page.goto(live_server.url + CHANGELIST)
            for migration_id in ("001_create_users", "002_add_display_name", "003_create_orders"):
                page.check(f'input.action-select[value="{migration_id}"]')
            page.select_option('select[name="action"]', "apply_to_staging")
            page.click('button[name="index"]')
            page.wait_for_selector(".sm-plan-item")
            page.screenshot(path=screenshots / "confirm-batch.png", full_page=True)
            assert page.locator("#content h1").inner_text() == "Apply 1 migration to staging?"
            summary = page.locator(".sm-summary").inner_text()
            assert "1 migration below will run in staging." in summary
            assert "2 migrations below are already applied in staging: they will be skipped." in (
                summary
            )
            assert page.locator(".errornote").count() == 0
            skipped = page.locator(".sm-consequence.sm-skipped")
            assert skipped.all_inner_texts() == ["Already applied in staging, will be skipped."] * 2
            assert all(is_grey(consequence) for consequence in skipped.all())
            page.click('.sm-confirm-form input[type="submit"]')
            page.wait_for_selector("ul.messagelist li.success")

            # An applied migration's page shows the rollback a rollback would run.
            page.goto(f"{live_server.url}{CHANGELIST}002_add_display_name/change/")
            page.screenshot(path=screenshots / "applied-migration.png", full_page=True)
            rollback = page.locator(".field-rollback_in_force").inner_text()
            assert "development, staging" in rollback
            assert "DROP INDEX IF EXISTS idx_users_display_name;" in rollback
            assert "ALTER TABLE users DROP COLUMN display_name;" in rollback
            assert "Leave empty to generate one" not in page.content()
        finally:
            browser.close()

    assert "display_name" in sqlite_targets.columns("users", "staging")


def test_out_of_order_in_production_is_allowed_only_by_its_checkbox_at_1440_px(
    live_server, sqlite_targets, django_user_model, screenshots
):
    seed(sqlite_targets)  # production: 001 applied, 002 and 003 pending
    make_user(django_user_model, "admin", superuser=True)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 800})
            page.set_default_timeout(10_000)
            log_in(page, live_server)
            # The hand-edited 001 reads as the status says it: modified.
            assert badge(page, "001_create_users", "production") == "modified"

            run_action(page, "003_create_orders", "apply_to_production")
            page.wait_for_selector(".sm-allow-out-of-order")
            page.screenshot(path=screenshots / "confirm-out-of-order.png", full_page=True)
            assert page.locator("#content h1").inner_text() == "Apply 1 migration to production?"
            consequence = page.locator(".sm-consequence.sm-wont-run").inner_text()
            assert "Blocked: it would run out of order, before '002_add_display_name'" in (
                consequence
            )
            checkbox = page.locator('input[name="allow_out_of_order"]')
            assert checkbox.is_visible()
            assert not checkbox.is_checked()
            checkbox.check()
            page.click('.sm-confirm-form input[type="submit"]')
            page.wait_for_selector("ul.messagelist li.success")
            assert badge(page, "003_create_orders", "production") == "applied"
            assert badge(page, "002_add_display_name", "production") == "pending"
            page.screenshot(path=screenshots / "changelist-out-of-order.png", full_page=True)
        finally:
            browser.close()

    assert "orders" in sqlite_targets.tables("production")


def logged_in(browser, live_server, username: str):
    """A page of a browser context of its own (its own session cookie) for ``username``."""
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/admin/login/?next={CHANGELIST}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click('input[type="submit"]')
    page.wait_for_url(live_server.url + CHANGELIST)
    return page


def test_sql_edited_while_the_production_confirmation_is_open_does_not_run(
    live_server, sqlite_targets, django_user_model
):
    stored("001_create_users", CATALOGUE["001_create_users"] + "\n")
    make_user(django_user_model, "operator", superuser=True)
    make_user(django_user_model, "editor", "view_migration", "change_migration")
    edited = CATALOGUE["001_create_users"] + "\nCREATE TABLE backdoor (id INTEGER);\n"

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            operator = logged_in(browser, live_server, "operator")
            run_action(operator, "001_create_users", "apply_to_production")
            operator.wait_for_selector(".sm-environment-protected")
            assert "backdoor" not in operator.content()

            # Meanwhile, in another session, someone with change permission edits the SQL.
            editor = logged_in(browser, live_server, "editor")
            editor.goto(f"{live_server.url}{CHANGELIST}001_create_users/change/")
            editor.fill("#id_sql", edited)
            editor.click('input[name="_save"]')
            editor.wait_for_selector("ul.messagelist li.success")

            operator.click('.sm-confirm-form input[type="submit"]')
            operator.wait_for_selector("ul.messagelist li.error")
            refusal = operator.text_content("ul.messagelist li.error")
            changed = operator.text_content(".sm-changed")
            fresh_sql = operator.text_content(".sm-plan-item pre.sm-code")
        finally:
            browser.close()

    assert "its SQL changed after it was shown for confirmation" in refusal
    assert "Nothing of it ran" in changed
    assert "CREATE TABLE backdoor" in fresh_sql  # shown again as it is now, to review
    assert sqlite_targets.tables("production") <= {"_prisma_migrations"}
    assert sqlite_targets.ledger("production") == []
    assert not VersionRecord.objects.exists()


def test_the_archives_page_and_its_purge_confirmation_at_1440_px(
    live_server, sqlite_targets, django_user_model, screenshots
):
    from datetime import timedelta

    from django.conf import settings
    from django.test import override_settings
    from django.utils import timezone

    from schema_manager.models import ArchiveRecord

    archiving = {**settings.SCHEMA_MANAGER, "ARCHIVE_ENVIRONMENTS": ["development", "staging"]}
    sqlite_targets.execute(
        "development", "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, entry TEXT)"
    )
    sqlite_targets.execute(
        "development",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) "
        "INSERT INTO audit_log SELECT i, 'entry ' || i FROM n",
    )
    with override_settings(SCHEMA_MANAGER=archiving):
        trim = stored("007_trim_audit_log", "DELETE FROM audit_log WHERE id > 200;")
        drop = stored("008_drop_audit_entry", "ALTER TABLE audit_log DROP COLUMN entry;")
        assert SchemaManager().apply_migration_sync(trim, "development").success
        assert SchemaManager().apply_migration_sync(drop, "development").success
        SchemaManager().rollback_migration_sync("008_drop_audit_entry", "development")
        ArchiveRecord.objects.filter(migration_id=trim.id).update(
            expires_at=timezone.now() - timedelta(days=1)
        )
        make_user(django_user_model, "admin", superuser=True)

        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 800})
                page.set_default_timeout(10_000)
                log_in(page, live_server)
                page.goto(live_server.url + "/admin/schema_manager/archiverecord/")
                page.screenshot(path=screenshots / "archives.png", full_page=True)
                assert not overflows(page.locator("#changelist .results"))
                rows = page.locator("#result_list tbody tr")
                assert rows.count() == 2
                states = sorted(rows.locator("td.field-state").all_inner_texts())
                assert states == ["expired", "restored"]
                page.check("#result_list tbody tr:has-text('007_trim_audit_log') input")
                page.select_option('select[name="action"]', "purge_archives")
                page.click('button[name="index"]')
                page.screenshot(path=screenshots / "archives-purge.png", full_page=True)
                assert "is applied in development and its rollback restores" in page.content()
                assert page.locator('input[type="submit"]').count() == 0  # nothing to purge
            finally:
                browser.close()
    assert ArchiveRecord.objects.get(migration_id=trim.id).is_held
