"""A hostile pass over accounts (issue: accounts, the organisation chart and administration),
through the Flask test client on a real database: what becomes of the open work of someone
deactivated or moved out of a group, and what sign-in tells about who has an account."""

from __future__ import annotations

import re

import pytest

from engine.app import user_admin
from engine.store import users as user_store
from tests.web.test_approvals_web import make_app, task
from tests.web.test_web_ui import Browser

PROCEDURE = """
id: signoff
title: 签批
roles:
  inspector: 检验员
  head: 部门负责人
start: {roles: [inspector], step: work}
steps:
  work:
    title: 检验
    role: inspector
    form: note
    next: sign
  sign:
    type: approval
    title: 批准
    approvers:
      - user: boss
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""


@pytest.fixture
def app(db_url, tmp_path):
    app = make_app(db_url, tmp_path, PROCEDURE, {"ins1": ["inspectors"], "ins2": ["inspectors"], "boss": ["heads"],
                                                 "head2": ["heads"], "root": ["admins"]})
    yield app
    app.extensions["services"].database.engine.dispose()


def login(app, user):
    b = Browser(app)
    b.login(user)
    return b


def flashes(page: str) -> list[str]:
    return re.findall(r'class="flash[^"]*"[^>]*>([^<]+)<', page)


def to_approval(app) -> str:
    """ins1 starts and does the inspection; the approval now waits for boss, by name."""
    wf, db = app.extensions["workflow"], app.extensions["services"].database
    with db.sessions.begin() as s:
        state = wf.start(s, "signoff", "ins1", {})
    work = task(state, step="work")
    with db.sessions.begin() as s:
        wf.claim(s, work, "ins1")
        state = wf.complete_task(s, work, "ins1", {})
    return task(state, step="sign")


def test_an_approval_named_for_a_deactivated_user_is_handed_on_by_an_administrator(app):
    """boss, the approver named by the procedure, leaves the company and is deactivated while
    the approval waits for him. Before: nobody could ever decide it (the administrator's
    transfer was refused as "boss's own approval"), so the record waited for ever."""
    sign = to_approval(app)
    instance = sign.rpartition(".")[0]
    user_admin.set_active(app.extensions["services"], "cli:ops", "boss", False)
    root = login(app, "root")
    page = root.get(f"/instances/{instance}").text
    assert f'id="hand-on-{sign.rpartition(".")[2]}"' in page and 'value="head2"' in page
    assert 'value="boss"' not in page  # never offered back to the one who left
    # A reason is required, and the page says so in the reader's language.
    r = root.post(f"/tasks/{sign}/transfer", {"to_user": "head2", "reason": " ", "back": "instance"})
    assert r.status_code == 302 and r.location.endswith(f"/instances/{instance}")
    assert any("boss" in f and ("原因" in f or "reason" in f) for f in flashes(root.get(r.location).text)), flashes(root.get(r.location).text)
    r = root.post(f"/tasks/{sign}/transfer", {"to_user": "head2", "reason": "boss 已离职", "back": "instance"})
    assert r.status_code == 302
    head2 = login(app, "head2")
    assert sign in head2.get("/").text
    r = head2.post(f"/tasks/{sign}", {"action": "approve"})
    assert r.status_code == 302, r.text
    assert "已完成" in root.get(f"/instances/{instance}").text or "完成" in root.get(f"/instances/{instance}").text


def test_an_active_approvers_own_approval_is_still_theirs_alone(app):
    """The hand-on is for an approver who can no longer decide: an administrator cannot take
    an active approver's decision away from them (nor may anyone else)."""
    sign = to_approval(app)
    root = login(app, "root")
    assert 'class="wf-form stranded-form"' not in root.get(f"/instances/{sign.rpartition('.')[0]}").text
    r = root.post(f"/tasks/{sign}/transfer", {"to_user": "head2", "reason": "faster", "back": "instance"})
    assert any("boss" in f for f in flashes(root.get(r.location).text))
    with app.extensions["services"].database.reading() as s:
        from engine import store

        state = store.load_instance(s, sign.rpartition(".")[0]).state
    assert state["tasks"][sign.rpartition(".")[2]]["assignee"] == "boss"


def test_only_an_administrator_hands_on_a_stranded_approval_and_the_api_does_the_same(app):
    sign = to_approval(app)
    user_admin.set_active(app.extensions["services"], "cli:ops", "boss", False)
    client = app.test_client()

    def token(user):
        return {"Authorization": "Bearer " + client.post("/api/v1/auth/token", json={
            "username": user, "password": f"pw-{user}"}).json["token"]}

    r = client.post(f"/api/v1/tasks/{sign}/transfer", headers=token("head2"),
                    json={"to_user": "head2", "reason": "I'll do it"})
    assert r.status_code == 403, r.text
    r = client.post(f"/api/v1/tasks/{sign}/transfer", headers=token("root"),
                    json={"to_user": "ins1", "reason": "boss left"})
    assert r.status_code == 200, r.text  # a by-name approver's place asks no role: anyone active
    assert any(e["type"] == "task:reassigned" and e["data"]["to"] == "ins1" and e["data"]["from"] == "boss"
               for e in r.json["history"]), r.json.get("history")
    r = client.post(f"/api/v1/tasks/{sign}/transfer", headers=token("root"),
                    json={"to_user": "boss", "reason": "back"})
    assert r.status_code in (403, 404), r.text  # the deactivated user is never handed anything


@pytest.mark.parametrize("password", ["", "wrong-password"])
def test_sign_in_costs_one_password_hash_whether_or_not_the_name_exists(app, monkeypatch, password):
    """A user name must not be told from an unknown one by the time a failed sign-in takes: an
    empty password was answered at once for a known name, while an unknown name paid for a
    (dummy) hash, about 0.1 s. Every attempt now checks exactly one hash, on the page and the API."""
    calls: list[str] = []
    real = user_store.check_password_hash

    def counted(hashed, given):
        calls.append(given)
        return real(hashed, given)

    monkeypatch.setattr(user_store, "check_password_hash", counted)
    answers = {}
    for name in ("boss", "nobody-by-that-name"):
        calls.clear()
        b = Browser(app)
        b.get("/login")
        r = b.post("/login", {"username": name, "password": password})
        api = app.test_client().post("/api/v1/auth/token", json={"username": name, "password": password})
        answers[name] = (r.status_code, flashes(r.text) + re.findall(r'role="alert">([^<]+)<', r.text),
                         api.status_code, api.json.get("message"), len(calls))
    assert answers["boss"] == answers["nobody-by-that-name"]
    # one hash at each door (the API refuses an empty password before checking anything)
    assert answers["boss"][-1] == (2 if password else 1)


def claimed_by_ins2(app) -> str:
    wf, db = app.extensions["workflow"], app.extensions["services"].database
    with db.sessions.begin() as s:
        state = wf.start(s, "signoff", "ins1", {})
    work = task(state, step="work")
    with db.sessions.begin() as s:
        wf.claim(s, work, "ins2")
    return work


def test_a_task_claimed_by_a_deactivated_user_is_handed_on_from_the_records_page(app):
    """ins2 claims an inspection and is deactivated. Nobody else may act on a claimed task and
    the task page lets in only who may act, so an administrator had no page to transfer it
    from (only the API): now the record's page lists it for administrators."""
    work = claimed_by_ins2(app)
    instance, local = work.rpartition(".")[::2]
    user_admin.set_active(app.extensions["services"], "cli:ops", "ins2", False)
    assert login(app, "root").get(f"/tasks/{work}").status_code == 403  # the task page is the holder's
    root = login(app, "root")
    page = root.get(f"/instances/{instance}").text
    assert f'id="hand-on-{local}"' in page and 'value="ins1"' in page and 'value="ins2"' not in page
    r = root.post(f"/tasks/{work}/transfer", {"to_user": "ins1", "reason": "ins2 已离职", "back": "instance"})
    assert r.status_code == 302 and r.location.endswith(f"/instances/{instance}")
    assert f'id="hand-on-{local}"' not in root.get(r.location).text
    ins1 = login(app, "ins1")
    assert ins1.post(f"/tasks/{work}", {"action": "submit", "text": "ok"}).status_code == 302


def test_a_claimer_moved_out_of_the_role_can_no_longer_do_the_task(app):
    """ins2 claims an inspection, then is taken out of the inspectors' group. With the API
    token they already had, they completed the inspection of a role they no longer held (a
    named approver in the same position was refused: ``may_act``). Now refused alike, with what
    to do; the record page lists the task for an administrator to hand on."""
    work = claimed_by_ins2(app)
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "ins2", "password": "pw-ins2"}).json["token"]
    user_admin.edit(app.extensions["services"], "cli:ops", "ins2", groups=[])
    r = client.post(f"/api/v1/tasks/{work}/complete", headers={"Authorization": f"Bearer {token}"},
                    json={"data": {"text": "done anyway"}})
    assert r.status_code == 403, r.text


@pytest.mark.parametrize("bad", ["²", "9" * 5000, "99999999999999999999999"])
def test_marking_notifications_read_with_a_forged_id_is_no_server_error(app, bad):
    """str.isdigit takes "²" for a digit, and int() then raised: a forged form was a 500."""
    b = login(app, "ins1")
    b.get("/notifications")
    r = b.post("/notifications/read", {"id": [bad, "1"]})
    assert r.status_code == 302 and r.location.endswith("/notifications")


@pytest.mark.parametrize("page", ["²", "9" * 5000])
def test_a_forged_page_number_on_the_user_list_is_refused_with_words(app, page):
    """/admin/users?page=² (and a 5,000-digit page) was a server error: int() refuses what
    str.isdigit accepted."""
    r = login(app, "root").get("/admin/users", query_string={"page": page})
    assert r.status_code == 400 and "page" in r.text
