"""Notifications: in-app per user, e-mail to a real SMTP server on 127.0.0.1 (aiosmtpd) and
signed webhooks to a real HTTP receiver on 127.0.0.1 that fails the first tries."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from engine.app.worker import Worker
from engine.store import timekeeping as tk
from tests.helpers.service import open_task
from tests.helpers.time import Clock, local, time_config, time_setup

SECRET = "s3cret-for-tests"


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Mailbox]]:
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller.port, box
    finally:
        controller.stop()


class _Receiver:
    """Answers 503 to the first ``fail`` requests, then 200; keeps what it got."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.calls: list[tuple[dict, bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 503 if len(receiver.calls) < receiver.fail else 200
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body, code))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver(fail=2)
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _subject(raw: bytes) -> str:
    return str(make_header(decode_header(message_from_bytes(raw)["Subject"])))


def test_email_webhook_and_in_app_notifications(sessions, smtp, receiver):
    port, box = smtp
    cfg = time_config(
        smtp={"host": "127.0.0.1", "port": port, "from": "qualityflow@example.com"},
        webhooks=[{"url": receiver.url, "secret": SECRET, "events": ["assigned", "missed", "completed"]}],
        retry={"attempts": 5, "backoff_seconds": 60}, base_url="http://qf.example")
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock, cfg)
    worker = Worker(wf, sessions)
    with sessions() as s:
        state = wf.start(s, "timed-steps", "clerk1", {"kind": "h"})
        s.commit()
    # In-app: every clerk hears of the new task.
    with sessions() as s:
        assert [n.kind for n in tk.notifications_for(s, "clerk1")] == ["assigned"]
        assert [n.kind for n in tk.notifications_for(s, "clerk2")] == ["assigned"]
        assert tk.unread_count(s, "chief1") == 0
    stats = worker.run_once()
    assert stats.sent == 1 and stats.failed == 1  # the e-mail; the webhook's first try
    [(sender, rcpts, raw)] = box.messages  # clerk2 has no address
    assert sender == "qualityflow@example.com" and rcpts == ["clerk1@example.com"]
    assert _subject(raw) == "新任务：各种时限 · 1小时内派人"
    assert f"http://qf.example/tasks/{open_task(state, 'hours')}" in raw.decode()
    # The webhook is retried with back-off: nothing before the delay, then again.
    clock.advance(seconds=30)
    assert worker.run_once().failed == 0
    clock.advance(seconds=30)
    assert worker.run_once().failed == 1  # second try (503)
    clock.advance(seconds=119)
    assert worker.run_once().sent == 0
    clock.advance(seconds=1)
    assert worker.run_once().sent == 1  # third try: 200
    assert [c[2] for c in receiver.calls] == [503, 503, 200]
    headers, body, _ = receiver.calls[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-qualityflow-signature"] == expected
    assert headers["x-qualityflow-event"] == "assigned"
    payload = json.loads(body)
    assert payload["instance"] == state["id"] and payload["recipients"] == ["clerk1", "clerk2"]
    assert len({c[0]["x-qualityflow-delivery"] for c in receiver.calls}) == 1  # same delivery
    with sessions() as s:
        [hook] = tk.deliveries(s, status="sent", limit=10)[:1]
        log = tk.attempts_of(s, hook.id)
        assert [a.ok for a in log] == [False, False, True] and "503" in log[0].detail
    # Missed deadline and completion reach the webhook; read marks are per user.
    clock.set(local("2026-09-30 17:00"))
    worker.run_once()
    with sessions() as s:
        mine = [n for n in tk.notifications_for(s, "clerk1", unread_only=True) if n.instance_id == state["id"]]
        assert [n.kind for n in mine] == ["missed", "reminder", "assigned"]  # newest first
        # Nobody held the task, so the escalation to a manager fell back to the chief's role.
        [esc] = [n for n in tk.notifications_for(s, "chief1") if n.instance_id == state["id"]]
        assert esc.kind == "escalated" and esc.data["fallback"] == "manager"
        before = tk.unread_count(s, "clerk2")
        assert tk.mark_read(s, "clerk1", [n.id for n in mine], clock()) == 3
        s.commit()
        assert tk.unread_count(s, "clerk2") == before
        assert not [n for n in tk.notifications_for(s, "clerk1", unread_only=True) if n.instance_id == state["id"]]
    with sessions() as s:
        wf.complete_task(s, open_task(state, "hours"), "clerk1", {"result": "已派人"})
        s.commit()
    worker.run_once()
    events = [json.loads(c[1])["event"] for c in receiver.calls
              if c[2] == 200 and json.loads(c[1])["instance"] == state["id"]]
    assert events == ["assigned", "missed", "completed"]
    with sessions() as s:
        assert [n.kind for n in tk.notifications_for(s, "clerk1", unread_only=True)
                if n.instance_id == state["id"]] == ["completed"]


def test_undeliverable_notification_is_retried_then_kept_as_failed(sessions):
    dead = f"http://127.0.0.1:{_free_port()}/nobody-listens"
    cfg = time_config(webhooks=[{"url": dead, "secret": SECRET}],
                      retry={"attempts": 3, "backoff_seconds": 10})
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock, cfg)
    worker = Worker(wf, sessions)
    with sessions() as s:
        wf.start(s, "timed-steps", "clerk1", {"kind": "d"})
        s.commit()
    for _ in range(5):
        worker.run_once()
        clock.advance(minutes=1)
    with sessions() as s:
        [failed] = tk.deliveries(s, status="failed")
        assert failed.attempts == 3 and "Connection refused" in failed.last_error
        assert len(tk.attempts_of(s, failed.id)) == 3
        # Once the receiver is fixed, an operator puts it back in the queue.
        assert tk.retry_failed(s, clock()) == 1
        s.commit()
        assert tk.deliveries(s, status="pending")[0].id == failed.id


def test_a_note_of_several_lines_reaches_the_mail_on_one_subject_line(sessions, smtp):
    """A 催办 note typed on two lines (the page's box allows it) went into the e-mail's
    subject, which may hold no line break: the mail library refused it on every try and the
    person was never told. Nor may the note add a header (Bcc) to the mail."""
    port, box = smtp
    cfg = time_config(smtp={"host": "127.0.0.1", "port": port, "from": "qualityflow@example.com"},
                      retry={"attempts": 2, "backoff_seconds": 60})
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock, cfg)
    worker = Worker(wf, sessions)
    with sessions() as s:
        state = wf.start(s, "timed-steps", "clerk2", {"kind": "h"})
        wf.claim(s, open_task(state, "hours"), "clerk1")
        s.commit()
    worker.run_once()
    box.messages.clear()
    with sessions() as s:
        wf.urge(s, open_task(state, "hours"), "clerk2", "第一行\r\nBcc: evil@example.com\n第二行")
        s.commit()
    stats = worker.run_once()
    assert stats.sent == 1 and stats.failed == 0
    [(_sender, rcpts, raw)] = box.messages
    assert rcpts == ["clerk1@example.com"]
    assert "第一行 Bcc: evil@example.com 第二行" in _subject(raw)
    assert message_from_bytes(raw)["Bcc"] is None
