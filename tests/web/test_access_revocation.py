"""Issue 15, finding 3: sessions and tokens can be revoked. An attacker who copied a user's
session cookie or API token keeps it after the user signs out, changes the password, is
deactivated or is signed out everywhere by an administrator; each time the copy stops
working at once, on every server process (two apps on one database), through the Flask
test client on SQLite and (``WF_TEST_DATABASE_URL``) PostgreSQL."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.store import users as user_store
from web import create_app

PW = "right-password-1"


@pytest.fixture
def apps(db_url):
    made = [create_app({"TESTING": True, "WF_OVERRIDES": {"database.url": db_url}, "SECRET_KEY": "k"})
            for _ in range(2)]
    with made[0].extensions["services"].database.writing() as s:
        user_store.add_user(s, "insp", PW, ["qa-inspectors"], full_name="检验员")
    yield made
    for app in made:
        app.extensions["services"].database.engine.dispose()


def signed_in(app):
    client = app.test_client()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"username": "insp", "password": PW, "csrf_token": csrf}).status_code == 302
    return client


def copy_of(client, app):
    """Another browser holding a copy of the client's session cookie (the stolen cookie)."""
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie("session", cookie.value)
    return thief


def inbox_opens(client) -> bool:
    r = client.get("/")
    return r.status_code == 200 and "检验员" in r.text


def api_token(app) -> str:
    r = app.test_client().post("/api/v1/auth/token", json={"username": "insp", "password": PW})
    assert r.status_code == 200, r.text
    return r.json["token"]


def api_works(app, token: str) -> int:
    return app.test_client().get("/api/v1/procedures", headers={"Authorization": f"Bearer {token}"}).status_code


def cli(db_url, monkeypatch, tmp_path, *args):
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setenv("WF_CONFIG", str(tmp_path / "missing.yaml"))
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_cookie_replayed_after_sign_out_signs_nobody_in(apps):
    first, second = apps
    user = signed_in(first)
    thief = copy_of(user, second)
    token = api_token(first)
    assert inbox_opens(thief) and api_works(second, token) == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', user.get("/").text).group(1)
    assert user.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert not inbox_opens(thief)
    assert thief.get("/").status_code == 302  # to the sign-in page
    assert api_works(first, token) == 401
    # Signing in again gives a working session; the old copy stays dead.
    again = signed_in(second)
    assert inbox_opens(again) and not inbox_opens(copy_of(user, first))


def test_a_password_change_ends_the_old_cookie_and_token(apps):
    first, second = apps
    thief = copy_of(signed_in(first), second)
    token = api_token(first)
    with first.extensions["services"].database.writing() as s:
        user_store.set_password(s, "insp", "another-password-2")
    assert not inbox_opens(thief)
    r = second.test_client().get("/api/v1/procedures", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "revoked" in r.json["message"]


def test_deactivate_activate_and_sign_out_everywhere_from_the_command_line(apps, db_url, monkeypatch, tmp_path):
    first, second = apps
    thief = copy_of(signed_in(first), second)
    token = api_token(first)
    assert "deactivated" in cli(db_url, monkeypatch, tmp_path, "user", "deactivate", "insp")
    assert not inbox_opens(thief) and api_works(first, token) == 401
    # A deactivated user neither signs in nor gets a token.
    assert first.test_client().post("/api/v1/auth/token",
                                    json={"username": "insp", "password": PW}).status_code == 401
    assert "(inactive)" in cli(db_url, monkeypatch, tmp_path, "user", "list")
    assert "activated" in cli(db_url, monkeypatch, tmp_path, "user", "activate", "insp")
    assert api_works(first, token) == 401, "activation brings no earlier token back"
    user, token = signed_in(first), api_token(second)
    thief = copy_of(user, second)
    assert inbox_opens(thief) and api_works(first, token) == 200
    assert "has ended" in cli(db_url, monkeypatch, tmp_path, "user", "tokens", "insp", "--revoke")
    assert not inbox_opens(user) and not inbox_opens(thief) and api_works(second, token) == 401


def test_unknown_user_and_missing_flag_are_refused_with_the_fix(apps, db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setenv("WF_CONFIG", str(tmp_path / "missing.yaml"))
    r = CliRunner().invoke(main, ["user", "deactivate", "nobody"])
    assert r.exit_code == 1 and "does not exist" in r.output and "wf user list" in r.output
    r = CliRunner().invoke(main, ["user", "tokens", "insp"])
    assert r.exit_code == 2 and "--revoke" in r.output


def test_token_lifetime_comes_from_config(db_url):
    app = create_app({"TESTING": True, "SECRET_KEY": "k",
                      "WF_OVERRIDES": {"database.url": db_url, "auth.token_hours": 2}})
    try:
        assert app.config["API_TOKEN_MAX_AGE"] == 2 * 3600
    finally:
        app.extensions["services"].database.engine.dispose()
    default = create_app({"TESTING": True, "SECRET_KEY": "k", "WF_OVERRIDES": {"database.url": db_url}})
    try:
        assert default.config["API_TOKEN_MAX_AGE"] == 8 * 3600
    finally:
        default.extensions["services"].database.engine.dispose()
