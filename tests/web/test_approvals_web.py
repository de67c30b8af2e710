"""Multi-party approvals on the task page and through the API: each approver sees the others'
decisions so far, 加签 is a form on the task page and ``POST /api/v1/tasks/{id}/add-approver``,
and both refuse an approver outside the step's candidate set (the same use case)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine import store
from tests.web.test_api import _check
from tests.web.test_web_ui import Browser

LANG_FORMS = Path(__file__).parents[1] / "data" / "lang" / "forms"
PROCEDURE = """
id: cosign
title: 会签
roles:
  inspector: 检验员
  head: 部门负责人
  gm: 总经理
start: {roles: [inspector], step: sign}
steps:
  sign:
    type: approval
    title: 三方会签
    approvers:
      - role: inspector
      - role: head
      - user: boss
    add_approver: {from: gm}
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""


def make_app(db_url, tmp_path, procedure: str, users: dict[str, list[str]]):
    """A server (pages in Chinese) with one procedure, the test forms and these users."""
    from web import create_app

    (tmp_path / "procedures").mkdir()
    pid = next(line.split(":", 1)[1].strip() for line in procedure.splitlines() if line.startswith("id:"))
    (tmp_path / "procedures" / f"{pid}.yaml").write_text(procedure, encoding="utf-8")
    shutil.copytree(LANG_FORMS, tmp_path / "forms")
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "locale": "zh", "paths.uploads": str(tmp_path / "uploads"),
        "paths.procedures": str(tmp_path / "procedures"), "paths.forms": str(tmp_path / "forms"),
        "roles": {"inspector": ["inspectors"], "head": ["heads"], "gm": ["gms"], "admin": ["admins"]}}})
    with app.extensions["services"].database.sessions.begin() as s:
        for user, groups in users.items():
            store.add_user(s, user, f"pw-{user}", groups)
    return app


@pytest.fixture
def app(db_url, tmp_path):
    app = make_app(db_url, tmp_path, PROCEDURE, {"ins1": ["inspectors"], "head1": ["heads"], "boss": ["gms"],
                                                 "gm2": ["gms"], "ins2": ["inspectors"]})
    yield app
    app.extensions["services"].database.engine.dispose()


def start(app) -> dict:
    with app.extensions["services"].database.sessions.begin() as s:
        return app.extensions["workflow"].start(s, "cosign", "ins1", {})


def task(state: dict, **match) -> str:
    for t in state["tasks"].values():
        if t["status"] == "open" and all(t[k] == v for k, v in match.items()):
            return f"{state['id']}.{t['id']}"
    raise AssertionError(match)


def test_the_task_page_shows_the_other_approvers_and_adds_an_approver(app):
    state = start(app)
    head_task = task(state, role="head")
    with app.extensions["services"].database.sessions.begin() as s:
        app.extensions["workflow"].decide(s, task(state, role="inspector"), "ins2", approve=True, comment="可以")
    b = Browser(app)
    b.login("head1")
    page = b.get(f"/tasks/{head_task}").text
    assert 'id="party"' in page and "可以" in page and "ins2" in page and "boss" in page
    assert 'id="add-approver-form"' in page
    # Not a holder of gm: refused on the page, nothing recorded.
    r = b.post(f"/tasks/{head_task}/add-approver", {"user": "ins2", "position": "before", "reason": "请看"})
    assert r.status_code == 302
    page = b.get(f"/tasks/{head_task}").text
    assert "总经理" in page and "不能加签" in page
    r = b.post(f"/tasks/{head_task}/add-approver", {"user": "gm2", "position": "after", "reason": "金额大"})
    assert r.status_code == 302
    assert "已加签" in b.get(f"/tasks/{head_task}").text


def test_the_named_approvers_inbox_offers_no_release(app):
    state = start(app)
    b = Browser(app)
    b.login("boss")
    page = b.get("/").text
    row = page[page.index(f'data-task="{task(state, assignee="boss")}"'):]
    row = row[:row.index("</tr>")]
    assert "指名给我" in row and "/release" not in row and "/claim" not in row


def test_api_add_approver_and_its_refusals(app):
    state = start(app)
    client = app.test_client()

    def headers(user: str) -> dict:
        r = client.post("/api/v1/auth/token", json={"username": user, "password": f"pw-{user}"})
        assert r.status_code == 200, r.json
        return {"Authorization": f"Bearer {r.json['token']}"}

    head, boss = headers("head1"), headers("boss")
    head_task, boss_task = task(state, role="head"), task(state, assignee="boss")
    url = f"/api/v1/tasks/{head_task}/add-approver"
    _check(client.post(url, json={"user": "ins2", "position": "before", "reason": "x"}, headers=head), 403, None)
    _check(client.post(url, json={"user": "gm2", "position": "sideways", "reason": "x"}, headers=head), 422, None)
    _check(client.post(url, json={"user": "gm2", "position": "before"}, headers=head), 400, None)
    # The named approver's own task is theirs only: head1 can neither add to it nor decide it.
    _check(client.post(f"/api/v1/tasks/{boss_task}/add-approver",
                       json={"user": "gm2", "position": "before", "reason": "x"}, headers=head), 403, None)
    _check(client.post(f"/api/v1/tasks/{boss_task}/complete", json={"data": {"decision": "approve"}},
                       headers=head), 403, None)
    body = _check(client.post(url, json={"user": "gm2", "position": "before", "reason": "金额大"}, headers=head),
                  200, "Instance")
    added = [h for h in body["history"] if h["type"] == "approval:added"]
    assert len(added) == 1
    _check(client.post(f"/api/v1/tasks/{boss_task}/complete", json={"data": {"decision": "approve"}},
                       headers=boss), 200, "Instance")


def test_why_the_other_approvers_tasks_closed_reads_in_each_readers_language(app):
    """One rejection rejects the 会签 and closes the other approvers' tasks; the record says
    why in the reader's language (it stored English before: a Chinese record page read
    "rejected: one rejection rejects this approval"). The stored text stays English for the
    API and older readers; its key and values are kept beside it."""
    state = start(app)
    with app.extensions["services"].database.sessions.begin() as s:
        state = app.extensions["workflow"].decide(s, task(state, role="inspector"), "ins2", approve=False,
                                                  comment="数据不全")
    cancelled = [e for e in app.extensions["workflow"].events(app.extensions["services"].database.sessions(),
                                                               state["id"]) if e["type"] == "task:cancelled"]
    assert cancelled and all(e["data"]["reason"] == "rejected: one rejection rejects this approval"
                             and e["data"]["reason_message"]["key"] == e["data"]["reason"] for e in cancelled)
    b = Browser(app)
    b.login("ins1")
    page = b.get(f"/instances/{state['id']}").text
    assert "已驳回：一人驳回即驳回本次审批" in page and "one rejection" not in page
    b.post("/locale/en", {"next": "/"})
    page = b.get(f"/instances/{state['id']}").text
    assert "rejected: one rejection rejects this approval" in page and "一人驳回" not in page


def test_an_approver_found_nobody_is_explained_in_the_readers_language(db_url, tmp_path):
    """A manager source whose starter has no manager in the chart: the approval goes on
    without them, and the record says why in Chinese on a Chinese page."""
    app = make_app(db_url, tmp_path, PROCEDURE.replace("      - user: boss\n", "      - manager: starter\n"),
                   {"ins1": ["inspectors"], "head1": ["heads"]})
    try:
        state = start(app)
        b = Browser(app)
        b.login("ins1")
        page = b.get(f"/instances/{state['id']}").text
        assert "未找到审批人（发起人的上级）：组织架构中 ins1 向上 1 级没有主管；改由管理员审批" in page, \
            page[page.find("approval"):][:2000]
        assert "has no manager" not in page and "manager: starter" not in page
        b.post("/locale/en", {"next": "/"})
        page = b.get(f"/instances/{state['id']}").text
        assert ("no approver found for the manager of the starter: ins1 has no manager 1 level(s) up in the "
                "org chart; the approval went to the administrators") in page
    finally:
        app.extensions["services"].database.engine.dispose()


def test_an_approval_without_a_form_that_may_correct_a_person_offers_people(db_url, tmp_path):
    """An approval step has no form of its own but may change the start's person field
    (``edit:``): its page carries the people list (it was written only inside the form's
    block, so the field to correct offered no one)."""
    app = make_app(db_url, tmp_path, """
id: pickedit
title: 选人审批
roles:
  inspector: 检验员
  head: 部门负责人
start: {roles: [inspector], form: pick, step: sign}
steps:
  sign: {type: approval, title: 审批, role: head, edit: [start.approver], next: done}
  done: {type: end, title: 结束, outcome: 完成}
""", {"ins1": ["inspectors"], "head1": ["heads"]})
    try:
        with app.extensions["services"].database.sessions.begin() as s:
            state = app.extensions["workflow"].start(s, "pickedit", "ins1", {"approver": "ins1"})
        b = Browser(app)
        b.login("head1")
        page = b.get(f"/tasks/{task(state, role='head')}").text
        assert 'list="wf-users"' in page  # the start's approver, to correct
        assert page.count('<datalist id="wf-users" data-complete>') == 1
        assert '<option value="ins1">ins1</option>' in page  # no full name: the user name
    finally:
        app.extensions["services"].database.engine.dispose()
