"""The notification outbox against a real local HTTP server that fails, then succeeds: the
migration is unaffected, and the webhook gets the message on a retry after its backoff."""

from __future__ import annotations

import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.core import mail
from django.test import override_settings

from schema_manager import Migration, services
from schema_manager.change_requests import clock, outbox, service
from schema_manager.change_requests.models import ChangeRequest, Notification
from tests.utils import make_user

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=["engine"]),
]

APPROVE = "schema_manager.approve_changerequest"


class Hook(BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` posts, then 200; keeps what it received."""

    failures = 0
    received: list[dict] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append(body)
        failing = len(type(self).received) <= type(self).failures
        self.send_response(503 if failing else 200)
        self.end_headers()
        self.wfile.write(b"busy" if failing else b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook():
    Hook.failures, Hook.received = 1, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token"
    server.shutdown()
    server.server_close()


@pytest.fixture
def notifying(targets, webhook):
    config = {
        **settings.SCHEMA_MANAGER,
        "APPROVALS": {"production": {"required": 1}},
        "CHANGE_NOTIFICATIONS": {
            "WEBHOOKS": [webhook],
            "EMAILS": ["board@example.com"],
            "BACKOFF": 60,
            "TIMEOUT": 2,
        },
    }
    with override_settings(
        SCHEMA_MANAGER=config, EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"
    ):
        yield targets


def test_a_failing_webhook_is_retried_and_never_fails_the_migration(notifying, webhook):
    Migration(id="001_t", name="t", sql="CREATE TABLE t (id INTEGER PRIMARY KEY);\n").save()
    author, reviewer = make_user("author"), make_user("reviewer", APPROVE)

    request = service.create("production", ["001_t"], author=author, title="t", submit_now=True)
    assert outbox.settle(30)  # sent by the outbox's thread

    submitted = Notification.objects.get(event="submitted", channel="webhook")
    assert submitted.status == "pending"  # the server answered 503
    assert submitted.attempts == 1
    assert "HTTP 503" in submitted.last_error
    assert Hook.received[0]["text"].startswith("[production] change request #")
    assert Hook.received[0]["event"] == "submitted"
    assert mail.outbox[0].to == ["board@example.com"]

    Hook.failures = 10**6  # from now on the webhook always fails
    service.decide(request, reviewer, "approve")
    [result] = services.apply(
        [Migration.objects.get()], "production", applied_by="author", change_request=request
    )
    assert result.success, result.message
    assert outbox.settle(30)
    assert "t" in notifying.tables("production")
    request.refresh_from_db()
    assert request.state == ChangeRequest.State.DONE
    executed = Notification.objects.get(event="executed", channel="webhook")
    assert executed.status == "pending"

    Hook.failures = 0
    assert outbox.drain() == 0  # not due yet: backoff
    with clock.at(submitted.next_attempt_at + datetime.timedelta(minutes=5)):
        sent = outbox.drain()
    assert sent >= 2
    submitted.refresh_from_db()
    assert submitted.status == "sent"
    assert submitted.attempts == 2
    assert {"submitted", "executed"} <= {body["event"] for body in Hook.received}


def test_an_unreachable_webhook_gives_up_after_its_attempts(notifying):
    with override_settings(
        SCHEMA_MANAGER={
            **settings.SCHEMA_MANAGER,
            "CHANGE_NOTIFICATIONS": {"WEBHOOKS": ["http://127.0.0.1:9/"], "MAX_ATTEMPTS": 2},
        }
    ):
        Migration(id="001_t", name="t", sql="CREATE TABLE t (id INTEGER);\n").save()
        service.create("production", ["001_t"], author=make_user("a"), title="t", submit_now=True)
        assert outbox.settle(30)
        message = Notification.objects.get()
        with clock.at(message.next_attempt_at + datetime.timedelta(days=1)):
            outbox.drain()
        message.refresh_from_db()
        assert message.status == "gave_up"
        assert message.attempts == 2


class SlowHook(BaseHTTPRequestHandler):
    """Holds each post until the test lets it go (``release``), then answers 200."""

    release = threading.Event()
    arrived = threading.Event()
    received: list[dict] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).arrived.set()
        type(self).release.wait(30)
        type(self).received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def slow_webhook():
    SlowHook.release, SlowHook.arrived, SlowHook.received = (
        threading.Event(),
        threading.Event(),
        [],
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowHook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/slow"
    SlowHook.release.set()
    server.shutdown()
    server.server_close()


def test_a_slow_webhook_never_holds_up_the_apply_and_still_gets_the_message(targets, slow_webhook):
    """The webhook answers only once the apply has returned: sent in the background, the
    first attempt is delivered; sent before the apply returned, it would have timed out."""
    config = {
        **settings.SCHEMA_MANAGER,
        "APPROVALS": {"production": {"required": 1}},
        "CHANGE_NOTIFICATIONS": {"WEBHOOKS": [slow_webhook], "TIMEOUT": 3, "BACKOFF": 60},
    }
    with override_settings(SCHEMA_MANAGER=config):
        Migration(id="001_t", name="t", sql="CREATE TABLE t (id INTEGER PRIMARY KEY);\n").save()
        author, reviewer = make_user("author"), make_user("reviewer", APPROVE)
        request = service.create("production", ["001_t"], author=author, title="t")
        service.submit(request, author)
        # Its post is held from here on (nothing else of ours writes while it is claimed).
        assert SlowHook.arrived.wait(30)
        service.decide(request, reviewer, "approve")
        [result] = services.apply(
            [Migration.objects.get()], "production", applied_by="author", change_request=request
        )
        # The apply is back; the webhook holds the first message it was sent.
        assert result.success, result.message
        assert [body["event"] for body in SlowHook.received] == []
        SlowHook.release.set()
        assert outbox.settle(30)
    sent = Notification.objects.order_by("pk")
    assert [(n.event, n.status, n.attempts) for n in sent] == [
        ("submitted", "sent", 1),
        ("approved", "sent", 1),
        ("executed", "sent", 1),
    ]
    assert [body["event"] for body in SlowHook.received] == ["submitted", "approved", "executed"]


def test_a_forked_child_starts_its_own_sending_thread(targets, slow_webhook):
    """A worker that forks (RQ's work-horse, a pre-forking web server) inherits no thread: its
    child must start one of its own, not take the parent's for running."""
    import os

    config = {
        **settings.SCHEMA_MANAGER,
        "CHANGE_NOTIFICATIONS": {"WEBHOOKS": [slow_webhook], "TIMEOUT": 3},
    }
    with override_settings(SCHEMA_MANAGER=config):
        Migration(id="001_t", name="t", sql="CREATE TABLE t (id INTEGER PRIMARY KEY);\n").save()
        service.create("production", ["001_t"], author=make_user("a"), title="t", submit_now=True)
        assert SlowHook.arrived.wait(30)  # the parent's thread is sending (held)
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe
            started = outbox._sender._thread is None
            os.write(write, b"1" if started else b"0")
            os._exit(0)
        os.close(write)
        answer = os.read(read, 1)
        os.close(read)
        os.waitpid(child, 0)
        SlowHook.release.set()
        assert outbox.settle(30)
    assert answer == b"1"  # the child's sender is free to start a thread of its own
