"""An attacker's pass on the HTTP layer itself (sessions, sign-in, tokens, browser-side
protections), through the Flask test client on SQLite and (``WF_TEST_DATABASE_URL``)
PostgreSQL. Each test tries to break one guarantee the way a hostile user with an ordinary
account, or an anonymous one on the network, would; the guarantees already attacked
elsewhere (lock-out: test_access_lockout; revocation: test_access_revocation; ``next=`` of
the notification and language posts, the CSP: test_hostile_form_posts) are not repeated."""

from __future__ import annotations

import html
import io
import json
import re
from urllib.parse import urlsplit

import pytest

from engine.store import users as user_store
from tests.helpers.service import PASSWORD, add_users, answers, open_task, play, web_app
from tests.web.test_web_ui import Browser

PID = "after-sales-inspection"
EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    with sessions.begin() as s:
        # Every right at once, so that a refusal below is the CSRF check's and not a role's.
        user_store.add_user(s, "root", PASSWORD, ["admins", "editors", "qa-inspectors", "qa-supervisors"],
                            full_name="管理员")
    running = play(app.extensions["workflow"], sessions, answers(f"{PID}--pass-repair"), upto=1)
    app.config["RUNNING"] = running["id"]
    app.config["TASK"] = open_task(running, "inspect")
    yield app
    app.extensions["services"].database.engine.dispose()


def signed_in(app, user="inspector1", password=PASSWORD):
    b = Browser(app)
    b.login(user, password)
    return b


def events_of(app) -> int:
    from sqlalchemy import text

    with app.extensions["services"].database.reading() as s:
        return s.execute(text("SELECT count(*) FROM events")).scalar_one()


def _fill(rule: str, app) -> str:
    values = {"task_id": app.config["TASK"], "instance_id": app.config["RUNNING"], "pid": PID,
              "procedure_id": PID, "fid": "receipt", "name": "condition", "action": "up", "vid": "1",
              "lang": "en", "username": "inspector1"}
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: values.get(m.group(1), "X"), rule)


# --------------------------------------------------------------------------- CSRF


def test_every_state_changing_page_route_refuses_a_post_without_the_sessions_csrf_token(app):
    """Found from the URL map, so a route added later is attacked too: no token, another
    session's token (the attacker's own), and a cross-site origin with no token."""
    root = signed_in(app, "root")
    attacker = signed_in(app, "supervisor1")
    before = events_of(app)
    rules = [r for r in app.url_map.iter_rules() if not r.rule.startswith(("/api/", "/static"))
             and r.methods & {"POST", "PUT", "PATCH", "DELETE"}]
    assert len(rules) >= 40
    failures = []
    for rule in rules:
        url = _fill(rule.rule, app)
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            for data, headers in (({}, {"Origin": "https://evil.example"}),
                                  ({"csrf_token": attacker.token}, {}),
                                  ({"csrf_token": ""}, {"X-CSRF-Token": attacker.token})):
                r = root.c.open(url, method=method, data={**data, "action": "submit", "reason": "x"},
                                headers=headers)
                if r.status_code != 400 or "CSRF" not in r.text:
                    failures.append((method, url, data, r.status_code))
    assert not failures, failures
    assert events_of(app) == before
    assert root.get("/").status_code == 200, "a forged sign-out did not sign anybody out"


def test_the_api_ignores_the_session_cookie_so_a_cross_site_post_cannot_act(app):
    """A signed-in browser lured to another site: its cookie goes with a cross-site form or
    fetch to /api/..., but the API reads only the bearer token."""
    b = signed_in(app, "root")
    before = events_of(app)
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint in ("api.token", "api.change_password", "api.openapi"):
            continue
        url = _fill(rule.rule, app)
        method = "POST" if "POST" in rule.methods else "GET"
        for kw in ({"json": {"data": {}, "reason": "x"}},
                   {"data": '{"reason": "x"}', "content_type": "text/plain"},
                   {"data": {"reason": "x", "csrf_token": b.token}}):
            r = b.c.open(url, method=method, headers={"Origin": "https://evil.example"}, **kw)
            assert r.status_code == 401, (url, r.status_code)
            assert "Access-Control-Allow-Origin" not in r.headers
    assert events_of(app) == before


# --------------------------------------------------------------------------- sessions


def test_signing_in_starts_a_new_session_and_the_csrf_token_of_before_is_refused(app):
    b = Browser(app)
    b.get("/login")
    planted, token_before = b.c.get_cookie("session").value, b.token
    b.post("/login", {"username": "inspector1", "password": PASSWORD})
    b.get("/")
    assert b.token != token_before, "the CSRF token rotates at sign-in"
    assert b.c.post(f"/tasks/{app.config['TASK']}/claim", data={"csrf_token": token_before}).status_code == 400
    # The cookie an attacker planted (or read) before the sign-in is still nobody's.
    thief = app.test_client()
    thief.set_cookie("session", planted)
    assert thief.get("/").status_code == 302


def test_a_token_is_no_session_cookie_and_a_cookie_is_no_token(app):
    """Both are signed with the secret key; each is refused in the other's place."""
    b = signed_in(app)
    cookie = b.c.get_cookie("session").value
    token = app.test_client().post("/api/v1/auth/token", json={"username": "inspector1", "password": PASSWORD}).json["token"]
    r = app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {cookie}"})
    assert r.status_code == 401
    other = app.test_client()
    other.set_cookie("session", token)
    assert other.get("/").status_code == 302


def test_a_session_cookie_is_secure_always_when_configured(db_url, tmp_path):
    app = web_app(db_url, tmp_path, **{"server.secure_cookies": True})
    try:
        header = next(h for h in app.test_client().get("/login").headers.getlist("Set-Cookie")
                      if h.startswith("session="))
        assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header
    finally:
        app.extensions["services"].database.engine.dispose()


def test_deactivation_on_the_admin_page_ends_the_users_cookie_and_token_at_once(app):
    victim = signed_in(app, "inspector1")
    token = app.test_client().post("/api/v1/auth/token", json={"username": "inspector1", "password": PASSWORD}).json["token"]
    root = signed_in(app, "root")
    root.get("/admin/users/inspector1")
    assert root.post("/admin/users/inspector1", {"action": "deactivate", "confirm": "yes"}).status_code == 302
    assert victim.get("/").status_code == 302
    assert victim.c.post(f"/tasks/{app.config['TASK']}/claim", data={"csrf_token": victim.token}).status_code in (302, 400)
    assert app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 401


# --------------------------------------------------------------------------- sign-in


def test_sign_in_says_the_same_for_an_unknown_name_a_wrong_password_and_a_deactivated_user(app):
    with app.extensions["services"].database.writing() as s:
        user_store.add_user(s, "gone", PASSWORD, ["qa-inspectors"])
        user_store.set_active(s, "gone", False)
    answers_web, answers_api = set(), set()
    for name, password in (("nobody", PASSWORD), ("inspector1", "wrong password"), ("gone", PASSWORD)):
        b = Browser(app)
        b.get("/login")
        r = b.post("/login", {"username": name, "password": password})
        page = re.sub(r'value="[^"]*"', "", r.text)  # the typed name and the CSRF token differ
        answers_web.add((r.status_code, re.search(r'class="[^"]*error[^"]*"[^>]*>([^<]+)<', page).group(1)))
        r = app.test_client().post("/api/v1/auth/token", json={"username": name, "password": password})
        answers_api.add((r.status_code, r.text))
    assert answers_web == {(401, "用户名或密码错误。")} and len(answers_api) == 1


def test_an_unknown_name_is_locked_out_like_a_known_one(app):
    """Otherwise the lock-out would tell which names exist."""
    waits = {}
    for name in ("inspector1", "nobody"):
        client = app.test_client()
        for _ in range(6):  # the fifth failure shuts the door, the sixth meets it shut
            r = client.post("/api/v1/auth/token", json={"username": name, "password": "wrong password"})
        waits[name] = (r.status_code, r.headers.get("Retry-After"))
    assert waits["inspector1"] == waits["nobody"] and waits["nobody"][0] == 429


def test_an_unknown_name_costs_a_password_hash_like_a_known_one(app, monkeypatch):
    """The same work for both (scrypt), so the time taken does not tell them apart."""
    checked = []
    real = user_store.check_password_hash
    monkeypatch.setattr(user_store, "check_password_hash", lambda h, p: checked.append(p) or real(h, p))
    for name in ("nobody", "inspector1"):
        app.test_client().post("/api/v1/auth/token", json={"username": name, "password": "wrong password"})
    assert len(checked) == 2


@pytest.mark.parametrize("target", ["//evil.example", "/\\evil.example", "https:evil.example", "https://evil.example",
                                    "javascript:alert(1)", "/\t/evil.example", " //evil.example", "\\/evil.example",
                                    "http:/evil.example", "/%0d%0aSet-Cookie:x=1"])
def test_sign_in_sends_nobody_off_this_server(app, target):
    b = Browser(app)
    b.get("/login", query_string={"next": target})
    r = b.c.post("/login", query_string={"next": target},
                 data={"username": "inspector1", "password": PASSWORD, "csrf_token": b.token})
    assert r.status_code == 302
    location = r.headers["Location"]
    # What a browser would read as another host: a scheme, //, a backslash, a control character.
    assert location.startswith("/") and not location.startswith("//"), location
    assert "\\" not in location and not re.search(r"[\x00-\x1f\x7f]", location), location
    assert not urlsplit(location).scheme and not urlsplit(location).netloc, location
    assert list(r.headers.keys()).count("Set-Cookie") <= 1 and "x=1" not in r.headers.get("Set-Cookie", "")


def test_a_refused_sign_in_speaks_the_language_chosen_before_it(app):
    b = Browser(app)
    b.get("/login")
    b.post("/locale/en", {"next": "/login"})
    b.get("/login")
    r = b.post("/login", {"username": "nobody", "password": "x"})
    assert r.status_code == 401 and "The user name or password is wrong." in r.text
    r = b.c.post("/login", data={"username": "nobody", "password": "x", "csrf_token": "forged"})
    assert r.status_code == 400 and "was not sent by this site" in r.text


# --------------------------------------------------------------------------- tokens


def test_a_token_in_the_query_string_or_a_cookie_is_not_taken(app):
    """Addresses end up in access logs and browser histories: only the header counts."""
    token = app.test_client().post("/api/v1/auth/token", json={"username": "inspector1", "password": PASSWORD}).json["token"]
    client = app.test_client()
    for query in ({"token": token}, {"access_token": token}, {"bearer": token}):
        assert client.get("/api/v1/tasks", query_string=query).status_code == 401
    client.set_cookie("token", token)
    client.set_cookie("access_token", token)
    assert client.get("/api/v1/tasks").status_code == 401
    r = client.get("/api/v1/tasks", headers={"Authorization": f"Basic {token}"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_json_request_log_holds_no_token_no_password_and_no_query(db_url, tmp_path, capsys):
    app = web_app(db_url, tmp_path, **{"server.json_logs": True})
    try:
        add_users(app.extensions["services"].database.sessions, ["inspector1"])
        client = app.test_client()
        token = client.post("/api/v1/auth/token", json={"username": "inspector1", "password": PASSWORD}).json["token"]
        client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
        client.get("/api/v1/tasks", query_string={"token": token})
        b = Browser(app)
        b.login("inspector1", PASSWORD)
        out = capsys.readouterr().out
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert len(lines) >= 5 and any(line.get("user") == "inspector1" for line in lines)
        assert token not in out and token.split(".")[-1] not in out and PASSWORD not in out
        assert b.token not in out and b.c.get_cookie("session").value not in out
    finally:
        app.extensions["services"].database.engine.dispose()


# --------------------------------------------------------------------------- headers


def test_every_answer_forbids_framing_and_sniffing_and_pages_leak_no_referrer(app):
    b = signed_in(app)
    iid = app.config["RUNNING"]
    for url in ("/", "/login", f"/instances/{iid}", f"/tasks/{app.config['TASK']}", "/nowhere", "/api/v1/tasks",
                f"/audit/instances/{iid}"):
        r = b.get(url)
        assert r.headers["X-Frame-Options"] == "DENY", url
        assert r.headers["X-Content-Type-Options"] == "nosniff", url
        assert r.headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin"), url
        if r.mimetype == "text/html":
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], url
    r = b.c.post(f"/tasks/{app.config['TASK']}/claim")  # the CSRF refusal is a page too
    assert r.status_code == 400 and r.headers["X-Frame-Options"] == "DENY"


def test_pages_and_answers_with_records_are_not_kept_by_browsers_or_proxies(app):
    """A shared PC: after sign-out, Back or the cache must not show the records."""
    b = signed_in(app)
    iid = app.config["RUNNING"]
    token = app.test_client().post("/api/v1/auth/token", json={"username": "inspector1", "password": PASSWORD}).json["token"]
    for url in ("/", f"/instances/{iid}", f"/tasks/{app.config['TASK']}", "/instances", "/notifications",
                "/search?q=SN", "/login"):
        r = b.get(url)
        assert r.status_code == 200, url
        assert "no-store" in r.headers.get("Cache-Control", ""), url
    r = app.test_client().get(f"/api/v1/instances/{iid}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and "no-store" in r.headers.get("Cache-Control", "")
    r = app.test_client().post("/api/v1/auth/token", json={"username": "inspector1", "password": PASSWORD})
    assert "no-store" in r.headers.get("Cache-Control", ""), "a token answer is never cached"
    # The server's own scripts and styles may be cached.
    with b.c.get("/static/forms.js") as r:
        assert r.status_code == 200 and "no-store" not in (r.headers.get("Cache-Control") or "")


# --------------------------------------------------------------------------- injection


def _no_markup(page: str, where: str) -> None:
    assert "<script>alert(1)" not in page and "<img src=x onerror" not in page, where


def test_hostile_text_is_shown_as_text_on_every_page_it_reaches(app):
    """A full name, form fields, a reason, a file name and searches, each carrying markup
    meant to break out of text and of attributes."""
    with app.extensions["services"].database.writing() as s:
        user_store.add_user(s, "mallory", PASSWORD, ["qa-inspectors"], full_name=EVIL)
    m = signed_in(app, "mallory")
    m.get(f"/start/{PID}")
    r = m.post(f"/start/{PID}", {"f.customer": EVIL, "f.product_name": EVIL, "f.serial_no": "SN-1",
                                   "f.quantity": "1"})
    assert r.status_code == 302, r.text[:500]
    iid = r.location.rsplit("/", 1)[1]
    task = re.findall(rf'href="/tasks/({iid}\.t\d+)"', m.get("/").text)[0]
    m.get(f"/tasks/{task}")
    up = m.c.post("/api/v1/uploads")  # needs a token: the page upload below is the one that counts
    assert up.status_code == 401
    r = m.post(f"/tasks/{task}", {"f.received_on": "2026-05-11", "f.condition": EVIL, "f.reported_fault": EVIL,
                                  "action": "draft"})
    assert r.status_code in (200, 302)
    pages = ["/", f"/instances/{iid}", f"/tasks/{task}", "/instances", f"/search?q={EVIL}",
             f"/instances?q={EVIL}", f"/audit/instances/{iid}", f"/audit?q={EVIL}", f"/ledgers/{PID}",
             f"/ledgers/{PID}?q={EVIL}", "/notifications", "/org"]
    root = signed_in(app, "root")
    for url in pages:
        for who in (m, root):
            page = who.get(url).text
            _no_markup(page, url)
    for url in (f"/admin/users?q={EVIL}", "/admin/users/mallory", "/admin/users"):
        _no_markup(root.get(url).text, url)
    # A transfer's reason reaches another user's inbox and notifications.
    token = app.test_client().post("/api/v1/auth/token", json={"username": "mallory", "password": PASSWORD}).json["token"]
    r = app.test_client().post(f"/api/v1/tasks/{task}/transfer", json={"to_user": "inspector1", "reason": EVIL},
                               headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    other = signed_in(app)
    for url in ("/", "/notifications", f"/tasks/{task}"):
        _no_markup(other.get(url).text, url)
    r = root.post(f"/instances/{iid}/cancel", {"reason": EVIL})
    assert r.status_code == 302
    page = root.get(f"/instances/{iid}").text
    _no_markup(page, "cancel reason")
    with root.c.get(f"/audit/instances/{iid}.pdf") as r:  # markup in a PDF is only text: it must just not fail
        assert r.status_code == 200 and r.mimetype == "application/pdf"
    # Shown, as text: the test reached the places it attacks.
    assert page.count("&lt;script&gt;alert(1)") >= 3, "name, fields and reason"
    assert "&lt;script&gt;alert(1)" in m.get(f"/search?q={EVIL}").text


def test_hostile_titles_from_the_editor_are_text_in_its_pages_and_the_step_graph(app):
    """The procedure's and a step's title as a quality engineer may type them, read back by
    every editor page and the SVG graph (web/graph_svg.py) drawn into them."""
    b = signed_in(app, "root")
    page = b.get(f"/editor/{PID}/text?file=procedure").text
    text = html.unescape(page.split('id="yaml"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0])
    quoted = "'" + EVIL.replace("'", "''") + "'"
    text = re.sub(r"^title: .*$", f"title: {quoted}", text, count=1, flags=re.M)
    text = re.sub(r"^(\s+)title: 接收.*$", lambda m: f"{m.group(1)}title: {quoted}", text, count=1, flags=re.M)
    assert b.post(f"/editor/{PID}/text", {"text": text, "note": EVIL}).status_code == 302
    for url in ("/editor", f"/editor/{PID}", f"/editor/{PID}/text", f"/editor/{PID}/steps", f"/editor/{PID}/try",
                f"/editor/{PID}/versions"):
        page = b.get(url).text
        _no_markup(page, url)
        assert "&lt;script&gt;alert(1)" in page, url
    assert "<svg" in b.get(f"/editor/{PID}").text


@pytest.mark.parametrize("sort", ["x'; DROP TABLE users; --", "instance.started_at desc, (select 1)",
                                  "1 OR 1=1", "customer\"", "instance.id; --"])
def test_list_filters_and_sorts_are_values_not_sql(app, sort):
    b = signed_in(app, "root")
    for url, query in ((f"/ledgers/{PID}", {"sort": sort}), (f"/ledgers/{PID}", {"q": sort, "desc": "1"}),
                       ("/instances", {"q": sort, "status": sort, "procedure": sort}),
                       ("/admin/users", {"q": sort}), ("/audit", {"q": sort, "user": sort, "type": sort}),
                       ("/search", {"q": sort})):
        r = b.get(url, query_string=query)
        assert r.status_code < 500, (url, query, r.status_code)
    token = app.test_client().post("/api/v1/auth/token", json={"username": "root", "password": PASSWORD}).json["token"]
    r = app.test_client().get("/api/v1/instances", query_string={"status": sort, "procedure": sort},
                              headers={"Authorization": f"Bearer {token}"})
    assert r.status_code < 500
    with app.extensions["services"].database.reading() as s:
        assert user_store.get_user(s, "root") is not None


@pytest.mark.parametrize("name", ['x"; filename=evil.html\r\nSet-Cookie: a=b\r\n.txt', 'a\\" onload=".txt',
                                  '<svg onload=alert(1)>.txt', "到货记录%0d%0aX-Evil: 1.txt"])
def test_a_file_name_cannot_break_out_of_the_download_header(app, name):
    b = signed_in(app)
    token = app.test_client().post("/api/v1/auth/token", json={"username": "inspector1", "password": PASSWORD}).json["token"]
    auth = {"Authorization": f"Bearer {token}"}
    r = app.test_client().post("/api/v1/uploads", headers=auth, data={"file": (io.BytesIO(b"a record\n"), name)},
                               content_type="multipart/form-data")
    if r.status_code == 422:  # what the multipart parser made of the name is no allowed type: refused
        assert r.json["errors"][0]["field"] == "file"
        return
    assert r.status_code == 201, r.text
    fid = r.json["id"]
    for response in (app.test_client().get(f"/api/v1/uploads/{fid}", headers=auth), b.c.get(f"/attachments/{fid}")):
        with response:
            assert response.status_code == 200
            assert "X-Evil" not in response.headers and "a=b" not in response.headers.get("Set-Cookie", "")
            disposition = response.headers["Content-Disposition"]
            assert "\r" not in disposition and "\n" not in disposition
            assert re.fullmatch(r'attachment; filename="?[^"\\;]*"?(; filename\*=UTF-8\'\'[A-Za-z0-9%._~!*\'()-]+)?',
                                disposition), disposition
            assert response.headers["Content-Security-Policy"] == "default-src 'none'"
            assert "no-store" in response.headers["Cache-Control"], "a record's file is not kept either"


@pytest.mark.parametrize("referrer", ["http://localhost//evil.example/x", "http://localhost/\\evil.example",
                                      "http://localhost/\t/evil.example", "https://evil.example/tasks"])
def test_the_error_pages_way_back_stays_on_this_server(app, referrer):
    """The error page links back to the page the request came from (``Referer``); a path a
    browser reads as another host must not become that link."""
    b = signed_in(app)
    r = b.c.get("/instances/NOSUCH", headers={"Referer": referrer})
    assert r.status_code == 404
    links = re.findall(r'href="([^"]*)"', r.text)
    assert not [link for link in links if "evil" in link], links
    assert not re.search(r"\son[a-z]+=", r.text), "no inline handler: the CSP would block it"


def test_a_session_left_idle_for_token_hours_signs_nobody_in(app, monkeypatch):
    """A cookie copied from a PC left signed in, or one whose user walked away, ends after
    ``auth.token_hours`` (8) without a request, like a token; a user at work is not signed out."""
    import web.html.auth as auth

    now = [1_900_000_000.0]
    monkeypatch.setattr(auth, "_now", lambda: now[0])
    b = signed_in(app)
    thief = app.test_client()
    thief.set_cookie("session", b.c.get_cookie("session").value)
    for _ in range(10):  # an hour at a time, ten hours at work
        now[0] += 3600
        assert b.get("/").status_code == 200
    now[0] += 8 * 3600 + 60
    assert thief.get("/").status_code == 302, "the copy, unused for ten hours, has ended"
    r = b.get("/", follow_redirects=True)
    # (the Chinese comes with the catalogue; until then the English text stands)
    assert "/login" in r.request.path and ("8 小时" in r.text or "after 8 hours without activity" in r.text)


def test_a_new_ipv6_address_of_the_same_network_does_not_start_the_count_over(app):
    """An IPv6 client holds a whole /64 (2^64 addresses) and may pick a new source address
    for each try: counted per address, its guesses would never wait."""
    def attempt(host, password="wrong password"):
        return app.test_client().post("/api/v1/auth/token", json={"username": "inspector1", "password": password},
                                      environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{host:x}"})

    for host in range(1, 6):
        assert attempt(host).status_code == 401
    assert attempt(6).status_code == 429, "the sixth address of the network waits like the first"
    for host in ["::ffff:192.0.2.7"] * 5 + ["192.0.2.7"]:  # an IPv4 address mapped into IPv6 is that address
        r = app.test_client().post("/api/v1/auth/token", json={"username": "supervisor1", "password": "x"},
                                   environ_base={"REMOTE_ADDR": host})
    assert r.status_code == 429
    # Another network, and the user's own, are not held up.
    r = app.test_client().post("/api/v1/auth/token", json={"username": "inspector1", "password": PASSWORD},
                               environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"})
    assert r.status_code == 200


def test_markup_in_an_address_is_not_echoed_as_markup(app):
    """Every page route with a part of the address in it (an id, a name), and the query of
    every page, given markup: the refusal may name what was asked for, as text."""
    b = signed_in(app, "root")
    failures = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/static", "/api/")) or "GET" not in rule.methods:
            continue
        url = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: "1" if m.group(1) == "vid" else EVIL.replace("/", "%2F"),
                     rule.rule)
        with b.c.get(url, query_string={"q": EVIL, "next": EVIL, "instance": EVIL, "user": EVIL}) as r:
            if r.mimetype == "text/html" and ("<script>alert(1)" in r.text or "<img src=x onerror" in r.text):
                failures.append(url)
    assert not failures, failures
