"""Issue 15, finding 4: a password policy (21 CFR 11.300). ``x`` and a single space were
accepted. Now the command line, the web page and the API refuse short, name-bearing,
common and recently used passwords with a message naming the rule, an expired password
forces a change before anything else, and the change form cannot be used to guess the
current password without limit. Through the Flask test client and the ``wf`` command on
SQLite and (``WF_TEST_DATABASE_URL``) PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from engine.app.people import common_passwords
from engine.cli import main
from engine.store import users as user_store
from engine.store.tables import User
from web import create_app

PW = "right-password-1"


@pytest.fixture
def wf(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setenv("WF_CONFIG", str(tmp_path / "missing.yaml"))
    monkeypatch.setenv("WF_LOCALE", "en")
    return lambda *args, stdin=None: CliRunner().invoke(main, list(args), input=stdin)


@pytest.mark.parametrize(("password", "rule"), [
    ("x", "at least 10 characters"),
    (" ", "at least 10 characters"),
    (" " * 12, "only spaces"),
    ("zhang.san-2026!", "must not contain your user name"),
    ("ZHANG.SAN.ZHANG", "must not contain your user name"),
    ("password123", "most common"),
    ("qwertyuiop", "most common"),
    ("woaini1314", "most common"),
])
def test_the_command_line_refuses_weak_passwords_naming_the_rule(wf, password, rule):
    r = wf("user", "add", "zhang.san", "--password-stdin", stdin=password + "\n")
    assert r.exit_code == 1 and rule in r.output, r.output
    assert "zhang.san" not in wf("user", "list").output  # nothing was created


def test_a_password_cannot_come_back_within_the_last_five(wf):
    first = "first good phrase 1"
    assert wf("user", "add", "li", "--password-stdin", stdin=first + "\n").exit_code == 0
    for n in range(2, 6):
        assert wf("user", "passwd", "li", "--password-stdin", stdin=f"passphrase number {n}\n").exit_code == 0
    for reused in (first, "passphrase number 3", "passphrase number 5"):
        r = wf("user", "passwd", "li", "--password-stdin", stdin=reused + "\n")
        assert r.exit_code == 1 and "last 5 passwords" in r.output, r.output
    assert wf("user", "passwd", "li", "--password-stdin", stdin="passphrase number 6\n").exit_code == 0
    # The first one is now six passwords back: allowed again.
    assert wf("user", "passwd", "li", "--password-stdin", stdin=first + "\n").exit_code == 0


def test_the_common_list_is_large_and_the_demo_users_keep_their_documented_password(db_url):
    assert len(common_passwords()) > 30_000 and "1qaz2wsx3edc" in common_passwords()
    app = create_app({"TESTING": True, "SECRET_KEY": "k", "WF_OVERRIDES": {"database.url": db_url}})
    try:
        from engine.app import admin

        made = admin.create_demo_users(app.extensions["services"])
        assert made  # README: one user per group, password "demo", printed at start-up
        r = app.test_client().post("/api/v1/auth/token", json={"username": made[0][0], "password": "demo"})
        assert r.status_code == 200
    finally:
        app.extensions["services"].database.engine.dispose()


@pytest.fixture
def app(db_url):
    app = create_app({"TESTING": True, "SECRET_KEY": "k", "WF_OVERRIDES": {"database.url": db_url}})
    with app.extensions["services"].database.writing() as s:
        user_store.add_user(s, "insp", PW, ["qa-inspectors"], full_name="检验员")
    yield app
    app.extensions["services"].database.engine.dispose()


def _csrf(client, path="/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def signed_in(app, password=PW):
    client = app.test_client()
    r = client.post("/login", data={"username": "insp", "password": password, "csrf_token": _csrf(client)})
    assert r.status_code == 302, r.text
    return client


def change(client, current, new, confirm=None):
    return client.post("/password", data={"csrf_token": _csrf(client, "/password"), "current_password": current,
                                          "new_password": new, "confirm_password": new if confirm is None else confirm})


def test_the_change_page_applies_the_policy_and_ends_the_other_sessions(app):
    user = signed_in(app)
    other = signed_in(app)
    assert 'id="nav-password"' in user.get("/").text
    r = change(user, PW, "short")
    assert r.status_code == 422 and "密码至少需要 10 个字符" in r.text
    assert change(user, PW, "a new phrase 1", "a new phrase 2").status_code == 422
    assert change(user, "wrong", "a new phrase 1").status_code == 403
    assert change(user, PW, PW).status_code == 422
    assert signed_in(app).get("/").status_code == 200, "nothing changed so far"
    r = change(user, PW, "a new phrase 1")
    assert r.status_code == 302
    assert user.get("/").status_code == 200, "the changing session goes on"
    assert other.get("/").status_code == 302, "every other session ended"
    signed_in(app, "a new phrase 1")


def test_the_change_form_does_not_let_anyone_guess_the_current_password_without_limit(app):
    user = signed_in(app)
    codes = [change(user, f"guess-{n}", "a new phrase 1").status_code for n in range(6)]
    assert codes == [403] * 6
    r = change(user, PW, "a new phrase 1")  # the right one, but the door is shut for now
    assert r.status_code == 403 and "错误次数过多" in r.text
    # until when, in the reader's zone (it said the stored UTC time, labelled UTC)
    shown = re.search(r"请在 (\d{4}-\d\d-\d\d \d\d:\d\d) \(Asia/Shanghai\) 之后再试", r.text)
    assert shown, r.text
    local = datetime.strptime(shown.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    assert timedelta(seconds=-60) < local - datetime.now(UTC) <= timedelta(minutes=16)  # to the minute


def test_the_api_changes_a_password_under_the_policy_and_revokes_old_tokens(app):
    client = app.test_client()
    old = client.post("/api/v1/auth/token", json={"username": "insp", "password": PW}).json["token"]
    r = client.post("/api/v1/auth/password", json={"username": "insp", "password": PW, "new_password": "x"})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "new_password"
    assert "at least 10 characters" in r.json["errors"][0]["message"]
    r = client.post("/api/v1/auth/password", json={"username": "insp", "password": "nope",
                                                   "new_password": "a new phrase 1"})
    assert r.status_code == 403
    r = client.post("/api/v1/auth/password", json={"username": "insp", "password": PW,
                                                   "new_password": "a new phrase 1"})
    assert r.status_code == 200, r.text
    new = r.json["token"]
    headers = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
    assert client.get("/api/v1/procedures", headers=headers(old)).status_code == 401
    assert client.get("/api/v1/procedures", headers=headers(new)).status_code == 200


def test_an_expired_password_must_be_changed_before_anything_else(db_url):
    app = create_app({"TESTING": True, "SECRET_KEY": "k",
                      "WF_OVERRIDES": {"database.url": db_url, "auth.password.max_age_days": 90}})
    try:
        with app.extensions["services"].database.writing() as s:
            user_store.add_user(s, "insp", PW, ["qa-inspectors"], full_name="检验员")
        user = signed_in(app)
        assert user.get("/").status_code == 200  # a fresh password is not expired
        with app.extensions["services"].database.writing() as s:
            s.execute(update(User).values(password_changed_at=datetime.now(UTC) - timedelta(days=91)))
        r = user.get("/")
        assert r.status_code == 302 and r.headers["Location"].endswith("/password")
        assert "已过期" in user.get("/password").text
        client = app.test_client()
        r = client.post("/api/v1/auth/token", json={"username": "insp", "password": PW})
        assert r.status_code == 403 and "/api/v1/auth/password" in r.json["message"]
        assert change(user, PW, "a new phrase 1").status_code == 302
        assert user.get("/").status_code == 200
        assert client.post("/api/v1/auth/token", json={"username": "insp",
                                                       "password": "a new phrase 1"}).status_code == 200
    finally:
        app.extensions["services"].database.engine.dispose()


def test_failed_sign_ins_and_a_lock_out_notify_the_user_and_the_administrators(app):
    with app.extensions["services"].database.writing() as s:
        user_store.add_user(s, "boss", "boss password 1", ["admins"], full_name="管理员")
    client = app.test_client()
    for _n in range(5):
        r = client.post("/login", data={"username": "insp", "password": "wrong", "csrf_token": _csrf(client)})
    assert r.status_code == 429
    client.post("/login", data={"username": "nobody", "password": "wrong", "csrf_token": _csrf(client)})
    from engine.app import notifications

    services = app.extensions["services"]
    mine, _unread = notifications.listing(services, "insp", locale="en")
    assert [n["kind"] for n in mine] == ["locked_out", "sign_in_failed"], "two notices for five failures"
    assert "127.0.0.1" in mine[1]["text"] and "change your password" in mine[1]["text"]
    admins, _unread = notifications.listing(services, "boss", locale="zh")
    assert [n["kind"] for n in admins] == ["locked_out"] and "insp" in admins[0]["text"]
    # until when, in the reader's local time (the stored instant is UTC: it was printed as is)
    import re
    from datetime import datetime
    from zoneinfo import ZoneInfo

    until = re.search(r"锁定至 (\d{4}-\d\d-\d\d \d\d:\d\d) 北京时间", admins[0]["text"])
    assert until, admins[0]["text"]
    shown = datetime.strptime(until.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    # shown to the minute: the lock may end up to 59 s after the minute shown
    assert -60 < (shown - datetime.now(ZoneInfo("Asia/Shanghai"))).total_seconds() < 3600
