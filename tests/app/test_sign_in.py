"""Lock-out after failed sign-ins, counted in the database: it holds across server
processes (two apps on one database stand for two gunicorn workers), ends after the window,
and a success clears it; the store functions on their own."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from engine.store import sign_in
from engine.store import users as user_store
from engine.store.tables import SignInFailure
from web import create_app

PW = "right-password-1"
WINDOW = timedelta(minutes=15)


@pytest.fixture
def apps(db_url):
    made = [create_app({"TESTING": True, "WF_OVERRIDES": {"database.url": db_url}, "SECRET_KEY": "k"})
            for _ in range(2)]
    with made[0].extensions["services"].database.writing() as s:
        user_store.add_user(s, "insp", PW, ["qa-inspectors"], full_name="检验员")
    yield made
    for app in made:
        app.extensions["services"].database.engine.dispose()


def _login(app, password: str):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    return client.post("/login", data={"username": "insp", "password": password, "csrf_token": token})


def _token(app, password: str):
    return app.test_client().post("/api/v1/auth/token", json={"username": "insp", "password": password})


def test_web_lock_out_holds_across_processes_and_ends(apps, sessions):
    first, second = apps
    for n in range(4):  # the failures alternate between the two processes
        assert _login(apps[n % 2], "wrong").status_code == 401
    assert _login(first, "wrong").status_code == 429
    locked = _login(second, PW)
    assert locked.status_code == 429 and "分钟" in locked.text, "the other process refuses too"
    with sessions.begin() as s:  # as if the window had passed
        s.execute(update(SignInFailure).values(last_at=datetime.now(UTC) - WINDOW - timedelta(seconds=1)))
    assert _login(second, PW).status_code == 302
    with sessions() as s:
        assert s.get(SignInFailure, "web:insp|127.0.0.1") is None  # the success cleared it


def test_api_lock_out_holds_across_processes(apps):
    first, second = apps
    for n in range(5):
        assert _token(apps[n % 2], "wrong").status_code == 401
    r = _token(second, PW)
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 300
    assert _login(first, PW).status_code == 302, "the web sign-in is a door of its own"


def test_failures_in_a_row_and_the_window(sessions):
    now = datetime(2026, 11, 30, 8, tzinfo=UTC)
    with sessions.begin() as s:
        assert [sign_in.failed(s, "k", now + timedelta(minutes=i), window=WINDOW) for i in range(3)] == [1, 2, 3]
        assert sign_in.locked_until(s, "k", now, limit=3, window=WINDOW) == now + timedelta(minutes=2) + WINDOW
        assert sign_in.locked_until(s, "k", now, limit=4, window=WINDOW) is None
        later = now + timedelta(minutes=2) + WINDOW
        assert sign_in.locked_until(s, "k", later, limit=3, window=WINDOW) is None
        assert sign_in.failed(s, "k", later, window=WINDOW) == 1  # a pause as long as the window starts over
        sign_in.succeeded(s, "k")
        assert s.get(SignInFailure, "k") is None
