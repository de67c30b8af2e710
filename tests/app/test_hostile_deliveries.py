"""Deliveries attacked from the operator's side: a webhook receiver that redirects, one that
hangs, and two workers sending at once while a batch takes longer than its lease. Real HTTP
receivers on 127.0.0.1; nothing mocked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from engine.app import notify
from engine.app.database import Database
from engine.app.worker import Worker
from engine.store import timekeeping as tk
from tests.helpers.time import Clock, local, time_config, time_setup

SECRET = "s3cret-for-tests"


class _Receiver:
    """A webhook receiver: ``mode`` 'redirect' answers POST /hook with 302 to /moved (whose
    GET answers 200); 'slow' sleeps ``delay`` seconds before answering 200."""

    def __init__(self, mode: str, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, str, bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else b""
                with receiver.lock:
                    receiver.calls.append((method, self.path, body))
                if mode == "redirect" and self.path == "/hook":
                    self.send_response(302)
                    self.send_header("Location", "/moved")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if delay:
                    time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):  # noqa: N802 - http.server's hook name
                self._answer("POST")

            def do_GET(self):  # noqa: N802
                self._answer("GET")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[list[_Receiver]]:
    made: list[_Receiver] = []
    yield made
    for r in made:
        r.close()


def _start(sessions, wf, n: int) -> None:
    with sessions() as s:
        for _ in range(n):
            wf.start(s, "timed-steps", "clerk1", {"kind": "d"})
        s.commit()


def test_a_webhook_that_redirects_is_not_counted_as_delivered(sessions, receivers):
    """urllib followed a 302 of the receiver with a GET without the body, and the 200 of the
    new address marked the delivery sent: the receiver never got the event, and nobody
    was told. A redirect is now a failed try that names where the receiver points to."""
    r = _Receiver("redirect")
    receivers.append(r)
    cfg = time_config(webhooks=[{"url": r.url, "secret": SECRET, "events": ["assigned"]}],
                      retry={"attempts": 2, "backoff_seconds": 10})
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock, cfg)
    _start(sessions, wf, 1)
    stats = Worker(wf, sessions).run_once()
    assert stats.sent == 0 and stats.failed == 1
    assert [(m, p) for m, p, _ in r.calls] == [("POST", "/hook")]  # not followed
    with sessions() as s:
        [d] = tk.deliveries(s, status="pending")
        assert "302" in d.last_error and "/moved" in d.last_error
        assert "notifications.webhooks" in d.last_error


def test_a_hanging_receiver_costs_one_timeout_per_pass_not_one_per_delivery(sessions, receivers):
    """Every delivery to a receiver that does not answer waited out its timeout in turn
    (10 s each, 100 a batch: a quarter of an hour) while reminders and escalations waited
    for the pass to end. After one timeout the rest for that address wait for the next try,
    their tries not used up; a webhook's ``timeout`` can be set."""
    r = _Receiver("slow", delay=3)
    receivers.append(r)
    cfg = time_config(webhooks=[{"url": r.url, "secret": SECRET, "events": ["assigned"], "timeout": 0.5}],
                      retry={"attempts": 3, "backoff_seconds": 60})
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock, cfg)
    _start(sessions, wf, 5)
    began = time.monotonic()
    stats = Worker(wf, sessions).run_once()
    took = time.monotonic() - began
    assert stats.failed == 1 and stats.sent == 0
    assert took < 2.5, took
    with sessions() as s:
        pending = tk.deliveries(s, status="pending")
        assert len(pending) == 5
        assert sorted(d.attempts for d in pending) == [0, 0, 0, 0, 1]
        tried = [d for d in pending if d.attempts == 1]
        assert "timed out" in tried[0].last_error
        # the others wait with it, for the back-off of the one that failed
        assert {d.next_attempt_at for d in pending} == {tried[0].next_attempt_at}


class _RealClock:
    """Wall-clock time from a fixed start: two workers' leases run out as they really do."""

    def __init__(self, start) -> None:
        self.start, self.began = start, time.monotonic()

    def __call__(self):
        return self.start + timedelta(seconds=time.monotonic() - self.began)


def test_two_workers_never_send_the_same_delivery_when_sending_outlasts_the_lease(sessions, receivers):
    """One worker leased 100 deliveries at once and sent them one by one; when that took
    longer than ``lease_seconds``, a second worker found the unsent rest expired, leased
    them too, and both sent them: every person got the e-mail twice. A worker now leases
    no more than it can send within the lease."""
    r = _Receiver("slow", delay=0.3)
    receivers.append(r)
    cfg = time_config(webhooks=[{"url": r.url, "secret": SECRET, "events": ["assigned"], "timeout": 0.9}],
                      retry={"attempts": 3, "backoff_seconds": 60, "lease_seconds": 2})
    start = local("2026-09-30 16:00")
    wf = time_setup(sessions, Clock(start), cfg)
    _start(sessions, wf, 10)
    clock = _RealClock(start)
    database = Database(sessions.kw["bind"])
    results: list[tuple[int, int]] = []

    def work(wait: float) -> None:
        time.sleep(wait)
        while True:
            sent, failed = notify.deliver_due(database, cfg, clock(), limit=100)
            results.append((sent, failed))
            if not sent + failed:
                return

    threads = [threading.Thread(target=work, args=(w,)) for w in (0, 2.3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ids = [json.loads(body)["instance"] for m, _, body in r.calls if m == "POST"]
    assert len(ids) == 10 and len(set(ids)) == 10, sorted(ids)
    with sessions() as s:
        assert len(tk.deliveries(s, status="sent")) == 10


class _PickyMailbox:
    """An SMTP server that refuses one address (550) and takes the others."""

    def __init__(self, refused: str) -> None:
        self.refused = refused
        self.messages: list[list[str]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address == self.refused:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(list(envelope.rcpt_tos))
        return "250 OK"


@contextmanager
def _mailed(sessions, refused: str) -> Iterator[tuple[_PickyMailbox, Any, Clock]]:
    """A local SMTP server that refuses ``refused`` and a Workflow sending through it, with a
    third clerk (clerk3) who has an address: ``(mailbox, workflow, clock)``."""
    import socket

    from aiosmtpd.controller import Controller

    from tests.helpers.time import PEOPLE

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    box = _PickyMailbox(refused)
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        cfg = time_config(smtp={"host": "127.0.0.1", "port": port, "from": "qf@example.com", "timeout": 2},
                          retry={"attempts": 3, "backoff_seconds": 60})
        clock = Clock(local("2026-09-30 16:00"))
        PEOPLE["clerk3"] = (["clerks"], None, "clerk3@example.com")
        try:
            wf = time_setup(sessions, clock, cfg)
        finally:
            del PEOPLE["clerk3"]
        yield box, wf, clock
    finally:
        controller.stop()


def test_one_refused_address_does_not_hold_up_the_others_and_a_dead_server_costs_one_try(sessions):
    """A mail server that refuses one address answered: the others are still sent in the same
    pass. A mail server that does not answer at all is the same for every address: one try
    per pass, the rest wait with their tries unused."""
    with _mailed(sessions, "clerk1@example.com") as (box, wf, clock):
        _start(sessions, wf, 2)
        stats = Worker(wf, sessions).run_once()
        assert (stats.sent, stats.failed) == (2, 2)  # clerk3 twice; clerk1 refused twice
        assert box.messages == [["clerk3@example.com"]] * 2
        with sessions() as s:
            # a 5xx refusal of an address is for good: failed at once (not tried 8 times),
            # saying what fixes it
            refused = tk.deliveries(s, status="failed")
            assert len(refused) == 2 and all("550" in d.last_error for d in refused)
            assert all("Users page" in d.last_error and d.attempts == 1 for d in refused)
            assert tk.deliveries(s, status="pending") == []
    _start(sessions, wf, 3)  # six more e-mails, and nobody answers on that port now
    clock.advance(minutes=5)
    stats = Worker(wf, sessions).run_once()
    assert (stats.sent, stats.failed) == (0, 1)
    with sessions() as s:
        pending = tk.deliveries(s, status="pending")
        assert len(pending) == 6 and sum(d.attempts for d in pending) == 1


def test_an_email_queued_for_someone_deactivated_before_it_went_out_is_not_sent(sessions):
    """Deactivating an account stops its in-app notices at once; an e-mail already queued for
    it still went out (the record's titles and a link, to someone who has left)."""
    from engine.store import users as user_store

    with _mailed(sessions, "nobody@example.com") as (box, wf, _clock):
        _start(sessions, wf, 1)
        with sessions() as s:
            user_store.get_user(s, "clerk3").active = False
            s.commit()
        stats = Worker(wf, sessions).run_once()
        assert box.messages == [["clerk1@example.com"]]
        assert (stats.sent, stats.failed) == (1, 1)
        with sessions() as s:
            [dropped] = tk.deliveries(s, status="failed")
            assert "clerk3 was deactivated" in dropped.last_error


def test_a_webhook_whose_secret_is_not_set_sends_nothing_unsigned(sessions, receivers, monkeypatch):
    """``secret_env`` naming a variable the server's environment does not have signed every
    event with an empty key, which anyone can reproduce: a receiver that checks signatures
    took forgeries for ours. Nothing is sent to it now; the try fails with what to set."""
    monkeypatch.delenv("WF_TEST_HOOK_SECRET_UNSET", raising=False)
    r = _Receiver("ok")
    receivers.append(r)
    cfg = time_config(webhooks=[{"url": r.url, "secret_env": "WF_TEST_HOOK_SECRET_UNSET", "events": ["assigned"]}],
                      retry={"attempts": 2, "backoff_seconds": 10})
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock, cfg)
    _start(sessions, wf, 1)
    stats = Worker(wf, sessions).run_once()
    assert stats.sent == 0 and stats.failed == 1
    assert r.calls == []
    with sessions() as s:
        [d] = tk.deliveries(s, status="pending")
        assert "WF_TEST_HOOK_SECRET_UNSET" in d.last_error and "not signed" in d.last_error
