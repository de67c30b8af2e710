"""Issue 15, finding 7 and its acceptance: a hand-fuzz of every HTML form post and page of
the app, signed in as an inspector holding an open task (and as an editor for the
editor's posts): wrong types, 1 MB strings, NUL bytes, unusual unicode, unknown targets
and ids, on SQLite and (``WF_TEST_DATABASE_URL``) PostgreSQL. Not one answer may be a 500:
a user's bad input gets a 4xx naming the field."""

from __future__ import annotations

import re

import pytest

from engine.store import users as user_store
from tests.helpers.service import PASSWORD, add_users, answers, play, web_app
from tests.web.test_web_ui import Browser

PID = "after-sales-inspection"
HOSTILE = ["", "abc", "-1", "1e309", "9" * 40, "x" * 1_000_000, "a\x00b", "\x00",
           "𠜎👩‍👩‍👧‍👦\u202e\u200b", "'; DROP TABLE users; --", "../../etc/passwd", "[]", "{}",
           "2026-02-30", "true", "https://evil.example/", "//evil.example", "/\\evil.example"]
FIELDS = ["username", "password", "next", "target", "value", "reason", "comment", "decision",
          "current_password", "new_password", "confirm_password", "answers", "text", "file", "note",
          "id", "rev", "version", "serial_no", "customer", "contact_phone", "model", "step", "name"]


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    with sessions.begin() as s:
        user_store.add_user(s, "author", PASSWORD, ["editors", "qa-inspectors"], full_name="编写人")
    running = play(app.extensions["workflow"], sessions, answers(f"{PID}--pass-repair"), upto=1)
    app.config["RUNNING"] = running["id"]
    yield app
    app.extensions["services"].database.engine.dispose()


def signed_in(app, user):
    b = Browser(app)
    b.login(user, PASSWORD)
    return b


def _routes(app, method):
    return sorted({r.rule for r in app.url_map.iter_rules()
                   if method in r.methods and not r.rule.startswith(("/api/", "/static"))})


def _fill(rule, values):
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: values.get(m.group(1), "X"), rule)


def test_no_form_post_answers_500_whatever_it_is_sent(app):
    inst = app.config["RUNNING"]
    task = re.search(r'/tasks/([A-Z0-9]+\.t\d+)', signed_in(app, "inspector1").get("/").text).group(1)
    ids = [{"instance_id": inst, "task_id": task, "pid": PID, "procedure_id": PID, "lang": "en",
            "fid": "product-receipt", "name": "receipt_no", "action": "delete", "vid": "1"},
           {"instance_id": "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "task_id": "nope.t9", "pid": "nope",
            "procedure_id": "../x", "lang": "xx", "fid": "\u202e", "name": "x" * 300, "action": "??",
            "vid": "999999"}]
    failures = []
    for user in ("inspector1", "author"):
        b = signed_in(app, user)
        for rule in _routes(app, "POST"):
            if rule == "/logout":
                continue  # would end the session the fuzz runs in
            for values in ids:
                url = _fill(rule, values)
                for n, bad in enumerate(HOSTILE):
                    data = {f: bad for f in FIELDS}
                    if n % 2:  # half the time, the right shape for the task's own form
                        data["target"] = f"start:{bad}"
                    r = b.post(url, data)
                    if r.status_code >= 500:
                        failures.append((user, url, repr(bad)[:40], r.status_code))
                b.get("/")  # a fresh CSRF token, in case a post ended the session
    assert not failures, failures


def test_no_page_answers_500_whatever_its_query(app):
    inst = app.config["RUNNING"]
    b = signed_in(app, "author")
    args = ["page", "from", "to", "period", "what", "p", "step", "key", "value", "sort", "dir", "status",
            "procedure", "actor", "type", "field", "instance", "user", "v", "next", "unread", "limit"]
    failures = []
    for rule in _routes(app, "GET"):
        for values in ({"instance_id": inst, "pid": PID, "procedure_id": PID},
                       {"instance_id": "a\x00b", "pid": "x" * 500, "procedure_id": "%00"}):
            url = _fill(rule, values)
            for bad in HOSTILE[:-3] + ["0", "100001", "9" * 400]:
                r = b.c.get(url, query_string={a: bad[:5000] for a in args})
                # /readyz says 503 by design while no worker has run (it ignores its query).
                if r.status_code >= 500 and not (url == "/readyz" and r.status_code == 503):
                    failures.append((url, repr(bad)[:40], r.status_code))
    assert not failures, failures


def test_nul_and_unknown_targets_get_a_clear_answer(app):
    inst = app.config["RUNNING"]
    b = signed_in(app, "inspector1")
    b.get(f"/instances/{inst}")
    r = b.post(f"/instances/{inst}/correct", {"target": "nosuchstep:field", "value": "1", "reason": "笔误"})
    assert r.status_code == 422 and "nosuchstep:field" in r.text and "请从列表中选择" in r.text
    r = b.post(f"/instances/{inst}/cancel", {"reason": "a\x00b"})
    assert r.status_code == 400 and "reason" in r.text and "NUL" in r.text
    r = b.post("/login", {"username": "u" * 400, "password": "x"})
    assert r.status_code == 401


def test_next_stays_on_this_server(app):
    b = signed_in(app, "inspector1")
    for target in ("https://evil.example", "//evil.example", "/\\evil.example", "/\t/evil.example",
                   "\\\\evil.example", "javascript:alert(1)"):
        r = b.post("/notifications/read", {"next": target})
        assert r.status_code == 302 and "evil" not in r.headers["Location"] and "javascript" not in r.headers["Location"]
        r = b.post("/locale/en", {"next": target})
        assert r.status_code == 302 and "evil" not in r.headers["Location"]
    assert b.post("/notifications/read", {"next": "/instances"}).headers["Location"].endswith("/instances")


def test_html_pages_carry_a_content_security_policy_with_scripts_from_the_server_only(app):
    b = signed_in(app, "inspector1")
    r = b.get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp and r.headers["X-Content-Type-Options"] == "nosniff"
    # No page relies on inline scripts or handlers, which the policy would block.
    for url in ("/", "/login", f"/instances/{app.config['RUNNING']}", "/ledgers", "/kpi", "/editor",
                f"/editor/{PID}/versions", "/password"):
        page = b.get(url).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), url
        assert not re.search(r"\son[a-z]+=\"", page), url
