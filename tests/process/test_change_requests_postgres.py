"""Change requests with the app's database on PostgreSQL (the suite's is SQLite): each step a
command in a process of its own, as operators run them. The core flow (create, submit, two
approvals, apply through the gate, voiding on edit), two approvers deciding at once, and an
edit racing the start of an approved run, made deterministic by a row lock the test holds."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fleet_support import FleetProcesses, server_connection
from tests.settings import POSTGRES_SCHEMAS, POSTGRES_URL

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

APPROVALS = {"production": {"required": 2, "groups": ["dba"]}}
SETUP = """
from django.contrib.auth.models import Group, Permission, User
dba = Group.objects.create(name="dba")
approve = Permission.objects.get(codename="approve_changerequest")
for name in ("author", "alice", "bob", "carol", "deployer"):
    user = User.objects.create_user(name)
    if name in ("alice", "bob", "carol"):
        user.user_permissions.add(approve)
        user.groups.add(dba)
"""
EDIT = """
from schema_manager.models import Migration
migration = Migration.objects.get(pk="001_orders")
migration.sql = "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT);\\n"
migration.save()
"""


class ApprovalProcesses(FleetProcesses):
    """Commands in child processes; the app database a PostgreSQL schema of its own, the
    targets the session's PostgreSQL schemas."""

    def __init__(self, tmp_path) -> None:
        super().__init__(tmp_path, [])
        self.env["DJANGO_SETTINGS_MODULE"] = "tests.approval_settings"
        self.env["SCHEMA_MANAGER_TEST_APPROVALS"] = json.dumps(APPROVALS)
        self.env["SCHEMA_MANAGER_TEST_TARGETS"] = "pg"
        self.manage("shell", "-c", SETUP)
        self.watch = server_connection(self.db.info.dbname)
        folder = self.migrations / "001_orders"
        folder.mkdir()
        (folder / "migration.sql").write_text("CREATE TABLE orders (id INTEGER PRIMARY KEY);\n")

    def request(self, number: int = 1) -> dict:
        row = self.db.execute(
            "SELECT state, void_reason, executed_by FROM schema_manager_changerequest "
            "WHERE id = %s",
            [number],
        ).fetchone()
        return dict(zip(["state", "void_reason", "executed_by"], row, strict=True))

    def approvals(self, number: int = 1) -> list[tuple[str, bool]]:
        return self.db.execute(
            "SELECT u.username, a.voided_at IS NOT NULL FROM schema_manager_approval a "
            "JOIN auth_user u ON u.id = a.user_id WHERE a.request_id = %s ORDER BY a.id",
            [number],
        ).fetchall()

    def blocked(self, fragment: str) -> int:
        """Sessions of the app database waiting for a lock in a statement with ``fragment``."""
        # A connection of its own: within the test's transaction the view would not change.
        row = self.watch.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query ILIKE %s",
            [f"%{fragment}%"],
        ).fetchone()
        return int(row[0])

    def activity(self) -> str:
        rows = self.watch.execute(
            "SELECT pid, state, wait_event_type, wait_event, left(query, 120) "
            "FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchall()
        return "\n".join(map(str, rows))

    def submitted(self) -> None:
        """Request 1 for 001_orders in production, submitted by its author."""
        self.manage(
            "schema_change_request",
            "create",
            "001_orders",
            "-e",
            "production",
            "--title",
            "Orders",
            "--submit",
            "--user",
            "author",
        )


def production_ledger() -> list[tuple[str, str]]:
    from django.db import connections

    with connections["pg_production"].cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass(%s) IS NOT NULL",
            [f"{POSTGRES_SCHEMAS['production']}._prisma_migrations"],
        )
        if not cursor.fetchone()[0]:
            return []
        cursor.execute(
            f"SELECT migration_name, checksum FROM {POSTGRES_SCHEMAS['production']}"
            "._prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL"
        )
        return cursor.fetchall()


@pytest.fixture
def app(postgres_targets, tmp_path):
    if not POSTGRES_URL:
        pytest.skip("needs PostgreSQL")
    processes = ApprovalProcesses(tmp_path)
    try:
        yield processes
    finally:
        processes.watch.close()
        processes.close()


def test_the_core_flow_with_the_app_database_on_postgresql(app):
    # A new folder on disk: create imports it (as CI opens a request for a merge request's).
    app.submitted()
    refused = app.manage("schema_change_request", "approve", "1", "--user", "author", check=False)
    assert refused.returncode == 1
    assert "author" in refused.stderr
    app.manage("schema_change_request", "approve", "1", "--user", "alice")
    assert app.request()["state"] == "submitted"  # one of the two required
    early = app.manage(
        "apply_schema_migration",
        "-e",
        "production",
        "--change-request",
        "1",
        "--user",
        "deployer",
        check=False,
    )
    assert early.returncode == 1
    assert "is submitted, not approved" in early.stderr
    app.manage("schema_change_request", "approve", "1", "--user", "bob")
    assert app.request()["state"] == "approved"

    app.manage(
        "apply_schema_migration",
        "-e",
        "production",
        "--change-request",
        "1",
        "--user",
        "deployer",
    )
    assert app.request() == {"state": "done", "void_reason": "", "executed_by": "deployer"}
    [(name, checksum)] = production_ledger()
    pinned = app.db.execute(
        "SELECT sql_checksum FROM schema_manager_pinnedmigration WHERE request_id = 1"
    ).fetchone()[0]
    assert (name, checksum) == ("001_orders", pinned)
    [(record_env, record_status)] = app.db.execute(
        "SELECT environment, status FROM schema_manager_versionrecord"
    ).fetchall()
    assert (record_env, record_status) == ("production", "applied")


def test_an_edit_voids_the_approvals_and_the_edited_sql_is_refused(app):
    app.submitted()
    app.manage("schema_change_request", "approve", "1", "--user", "alice")
    app.manage("schema_change_request", "approve", "1", "--user", "bob")
    app.manage("shell", "-c", EDIT)
    request = app.request()
    assert request["state"] == "draft"
    assert "001_orders's SQL (checksum" in request["void_reason"]
    assert app.approvals() == [("alice", True), ("bob", True)]
    refused = app.manage(
        "apply_schema_migration",
        "001_orders",
        "-e",
        "production",
        "--change-request",
        "1",
        "--user",
        "deployer",
        check=False,
    )
    assert refused.returncode == 1
    assert "is draft" in refused.stderr
    assert production_ledger() == []


def test_two_approvers_deciding_at_once_approve_it_once(app):
    """Both wait on the request's row (the test holds it), then decide one after the other:
    the second sees the first's approval and approves the request."""
    app.submitted()
    with app.db.transaction():
        app.db.execute("SELECT id FROM schema_manager_changerequest WHERE id = 1 FOR UPDATE")
        deciders = [
            app.start(name, "schema_change_request", "approve", "1", "--user", name)
            for name in ("alice", "bob")
        ]
        deadline = time.monotonic() + 60
        while app.blocked("schema_manager_changerequest") < 2:
            assert time.monotonic() < deadline, app.activity()
            time.sleep(0.1)
    assert [process.wait(timeout=60) for process in deciders] == [0, 0]
    assert app.request()["state"] == "approved"
    assert sorted(app.approvals()) == [("alice", False), ("bob", False)]
    approved = app.db.execute(
        "SELECT count(*) FROM schema_manager_changerequest WHERE approved_at IS NOT NULL"
    ).fetchone()[0]
    assert approved == 1


def test_an_edit_racing_the_start_of_the_approved_run_voids_nothing_that_ran(app):
    """The run starts (approved -> executing) while the edit that read the request as
    approved waits to void it: the edit must not turn the running request back to a draft,
    nor void the approvals the run went ahead under. The approved bytes run."""
    app.submitted()
    app.manage("schema_change_request", "approve", "1", "--user", "alice")
    app.manage("schema_change_request", "approve", "1", "--user", "bob")
    with app.db.transaction():
        app.db.execute("SELECT id FROM schema_manager_changerequest WHERE id = 1 FOR UPDATE")
        apply = app.start(
            "apply",
            "apply_schema_migration",
            "001_orders",
            "-e",
            "production",
            "--change-request",
            "1",
            "--user",
            "deployer",
        )
        deadline = time.monotonic() + 60
        while app.blocked("schema_manager_changerequest") < 1:
            assert time.monotonic() < deadline, app.activity() + app.log("apply")
            time.sleep(0.1)
        edit = app.start("edit", "shell", "-c", EDIT)
        while app.blocked("schema_manager_changerequest") < 2:
            assert time.monotonic() < deadline, "the edit never reached the request's row"
            time.sleep(0.1)
    applied = apply.wait(timeout=60)
    assert edit.wait(timeout=60) == 0, app.log("edit")
    request = app.request()
    # The approvals the run went ahead under stand; the run ended in its own state.
    assert app.approvals() == [("alice", False), ("bob", False)]
    assert request["void_reason"] == ""
    pinned = app.db.execute(
        "SELECT sql_checksum FROM schema_manager_pinnedmigration WHERE request_id = 1"
    ).fetchone()[0]
    if applied == 0:  # the approved bytes ran
        assert request["state"] == "done"
        assert production_ledger() == [("001_orders", pinned)]
    else:  # or the edit, committed by then, was seen under the lock: nothing ran
        assert request["state"] == "failed", app.log("apply")
        assert "already used with different SQL" in app.log("apply")
        assert production_ledger() == []


class HeldHook(BaseHTTPRequestHandler):
    """Holds every post until the test releases it, then answers 200."""

    arrived = threading.Event()
    release = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).arrived.set()
        type(self).release.wait(60)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_command_exits_without_waiting_for_a_held_webhook_and_the_message_is_not_lost(app):
    HeldHook.arrived, HeldHook.release = threading.Event(), threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), HeldHook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        app.env["SCHEMA_MANAGER_TEST_NOTIFICATIONS"] = json.dumps(
            # An attempt may last longer than an exiting process waits (outbox.EXIT_WAIT).
            {"WEBHOOKS": [url], "TIMEOUT": 6, "BACKOFF": 1}
        )
        app.submitted()  # returns, its process gone, while the hook holds the post
        assert HeldHook.arrived.is_set()
        [(attempts, status)] = app.db.execute(
            "SELECT attempts, status FROM schema_manager_notification"
        ).fetchall()
        # The exiting process gave it up unfinished (a send that ran to its end, as when it
        # was sent before the command returned, would count its timed-out attempt).
        assert (attempts, status) == (0, "pending")
        HeldHook.release.set()
        # Claimed for 2 * TIMEOUT + 1 seconds by the attempt that never ended; then due.
        deadline = time.monotonic() + 60
        while app.db.execute(
            "SELECT next_attempt_at > now() FROM schema_manager_notification"
        ).fetchone()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        sent = app.manage("drain_change_notifications")
        assert "1 notification(s) sent" in sent.stdout
        [(attempts, status)] = app.db.execute(
            "SELECT attempts, status FROM schema_manager_notification"
        ).fetchall()
        assert (attempts, status) == (1, "sent")
    finally:
        HeldHook.release.set()
        server.shutdown()
        server.server_close()
