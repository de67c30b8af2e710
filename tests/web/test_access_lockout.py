"""Issue 15, finding 5: the lock-out cannot be turned against a user. Five wrong passwords
for ``admins`` on the token endpoint from anywhere locked the real admin out for five
minutes. Now failures count per user name and client address, with a doubling delay for
that address only, a limit per address over all names, ``X-Forwarded-For`` believed only
from a configured trusted proxy, and ``wf user unlock``. Also: the session cookie is
``Secure`` whenever the request came over HTTPS, behind the trusted proxy too. Through the
Flask test client on SQLite and (``WF_TEST_DATABASE_URL``) PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from engine.cli import main
from engine.store import users as user_store
from engine.store.tables import SignInFailure
from web import create_app

PW = "the admin's phrase 1"
ATTACKER = {"REMOTE_ADDR": "10.0.0.66"}
ADMIN_DESK = {"REMOTE_ADDR": "10.0.0.7"}


def make(db_url, **overrides):
    app = create_app({"TESTING": True, "SECRET_KEY": "k", "WF_OVERRIDES": {"database.url": db_url, **overrides}})
    with app.extensions["services"].database.writing() as s:
        user_store.add_user(s, "admins", PW, ["admins"], full_name="管理员")
    return app


@pytest.fixture
def app(db_url):
    app = make(db_url)
    yield app
    app.extensions["services"].database.engine.dispose()


def token(app, password, environ, headers=None, name="admins"):
    return app.test_client().post("/api/v1/auth/token", json={"username": name, "password": password},
                                  environ_base=environ, headers=headers or {})


def login(app, password, environ, headers=None):
    client = app.test_client()
    page = client.get("/login", environ_base=environ, headers=headers or {}).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"username": "admins", "password": password, "csrf_token": csrf},
                       environ_base=environ, headers=headers or {})


def test_an_attacker_elsewhere_cannot_lock_the_admin_out(app):
    for _n in range(8):
        token(app, "guess", ATTACKER)
        login(app, "guess", ATTACKER)
    assert token(app, PW, ATTACKER).status_code == 429, "the attacker's address waits"
    assert login(app, PW, ATTACKER).status_code == 429
    assert token(app, PW, ADMIN_DESK).status_code == 200, "the admin's own address does not"
    assert login(app, PW, ADMIN_DESK).status_code == 302


def test_a_forwarded_for_header_from_anybody_is_ignored(app):
    # Pretending to be the admin's desk does not count failures against it...
    for n in range(6):
        token(app, "guess", ATTACKER, {"X-Forwarded-For": ADMIN_DESK["REMOTE_ADDR"]})
        # ...and a new pretended address each time does not escape the attacker's own count.
        token(app, "guess", ATTACKER, {"X-Forwarded-For": f"192.0.2.{n}"})
    assert token(app, PW, ADMIN_DESK).status_code == 200
    assert token(app, PW, ATTACKER, {"X-Forwarded-For": "192.0.2.200"}).status_code == 429


def test_the_delay_doubles_for_the_attackers_address_only(app):
    sessions = app.extensions["services"].database.sessions
    waits = []
    for _round in range(3):
        while (r := token(app, "guess", ATTACKER)).status_code == 401:
            pass
        waits.append(int(r.headers["Retry-After"]))
        with sessions.begin() as s:  # as if the wait had passed
            s.execute(update(SignInFailure).where(SignInFailure.key == "api:admins|10.0.0.66")
                      .values(last_at=datetime.now(UTC) - timedelta(seconds=waits[-1] + 1)))
        assert token(app, "guess", ATTACKER).status_code == 401  # one more try, counted
    assert 50 <= waits[0] <= 61 and 100 <= waits[1] <= 121 and 200 <= waits[2] <= 241, waits


def test_behind_a_trusted_proxy_the_forwarded_client_counts(db_url):
    app = make(db_url, **{"server.trusted_proxies": ["127.0.0.1"]})
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    try:
        for _n in range(6):  # the leftmost entry is the client's own claim and proves nothing
            token(app, "guess", proxy, {"X-Forwarded-For": "198.51.100.1, 203.0.113.5"})
        assert token(app, PW, proxy, {"X-Forwarded-For": "203.0.113.5"}).status_code == 429
        assert token(app, PW, proxy, {"X-Forwarded-For": "198.51.100.1"}).status_code == 200
        assert token(app, PW, proxy, {"X-Forwarded-For": "203.0.113.9"}).status_code == 200
        with app.extensions["services"].database.reading() as s:
            keys = set(s.scalars(select(SignInFailure.key)))
        assert "api:admins|203.0.113.5" in keys and not any("198.51.100.1" in k for k in keys)
    finally:
        app.extensions["services"].database.engine.dispose()


def test_one_address_trying_many_names_waits_too(db_url):
    app = make(db_url, **{"auth.lockout.per_address": 6})
    try:
        codes = [token(app, "guess", ATTACKER, name=f"user{n}").status_code for n in range(8)]
        assert codes[:6] == [401] * 6 and codes[6:] == [429, 429]
        assert token(app, PW, ATTACKER).status_code == 429, "even the right password waits there"
        assert token(app, PW, ADMIN_DESK).status_code == 200
    finally:
        app.extensions["services"].database.engine.dispose()


def test_wf_user_unlock_lets_the_name_in_again_at_once(app, db_url, tmp_path, monkeypatch):
    for _n in range(6):
        token(app, "guess", ATTACKER)
        login(app, "guess", ATTACKER)
    assert token(app, PW, ATTACKER).status_code == 429 and login(app, PW, ATTACKER).status_code == 429
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setenv("WF_CONFIG", str(tmp_path / "missing.yaml"))
    r = CliRunner().invoke(main, ["user", "unlock", "admins"])
    assert r.exit_code == 0 and "unlocked" in r.output, r.output
    assert token(app, PW, ATTACKER).status_code == 200 and login(app, PW, ATTACKER).status_code == 302
    r = CliRunner().invoke(main, ["user", "unlock", "nobody"])
    assert r.exit_code == 1 and "does not exist" in r.output


def _cookie(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))


def test_the_session_cookie_is_secure_over_https_behind_the_trusted_proxy_too(db_url):
    app = make(db_url, **{"server.trusted_proxies": ["127.0.0.1"]})
    try:
        client = app.test_client()
        assert "Secure" not in _cookie(client.get("/login"))  # plain HTTP on a test desk
        assert "Secure" in _cookie(app.test_client().get("/login", base_url="https://localhost"))
        via_proxy = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"},
                                          environ_base={"REMOTE_ADDR": "127.0.0.1"})
        assert "Secure" in _cookie(via_proxy)
        forged = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"}, environ_base=ATTACKER)
        assert "Secure" not in _cookie(forged)
    finally:
        app.extensions["services"].database.engine.dispose()
