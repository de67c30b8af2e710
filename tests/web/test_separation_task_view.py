"""Separation of duties on the task page and in the API's task view: 'review' is kept from
whoever did 'report'. The inbox hid it and the runtime refused the submission, but the task
page and ``GET /api/v1/tasks/{id}`` (which show the earlier steps' sensitive values in clear
to whoever may do the task) let that user in, and kept their draft: a value masked everywhere
else was read back through the task view. One rule now (``tasks._refuse_unless_may_act`` asks
the runtime's ``check_separation``), on the page, the API and drafts alike."""

from __future__ import annotations

import pytest

from engine import store
from tests.web.test_web_ui import Browser
from web import create_app

PROCEDURE = """
id: kept-apart
title: 职责分离
roles:
  inspector: 检验员
  qa_supervisor: 质量主管
start: {roles: [inspector], form: customer-identification, step: report}
steps:
  report: {title: 报告, role: inspector, form: customer-contact, next: contact}
  contact: {title: 联系客户, role: qa_supervisor, form: customer-contact, next: review}
  review: {type: approval, title: 审核, role: inspector, separate_from: [report], next: done}
  done: {type: end, title: 完成, outcome: 完成}
"""
SECRET = "王秘密 13900000000"
CONTACT = {"contacted_at": "2026-11-02T09:10:00+08:00", "method": "电话", "content": "已联系"}


@pytest.fixture
def app(db_url, tmp_path):
    (tmp_path / "procedures").mkdir()
    (tmp_path / "procedures" / "kept-apart.yaml").write_text(PROCEDURE, encoding="utf-8")
    app = create_app({"TESTING": True, "SECRET_KEY": "kept-apart", "WF_OVERRIDES": {
        "database.url": db_url, "locale": "zh", "paths.uploads": str(tmp_path / "uploads"),
        "paths.procedures": str(tmp_path / "procedures")}})
    with app.extensions["services"].database.writing() as s:
        for name, groups in (("insp1", ["qa-inspectors"]), ("insp2", ["qa-inspectors"]), ("sup1", ["qa-supervisors"])):
            store.add_user(s, name, f"pw-{name}", groups, full_name=name)
    yield app
    app.extensions["services"].database.engine.dispose()


def api(app, user):
    c = app.test_client()
    token = c.post("/api/v1/auth/token", json={"username": user, "password": f"pw-{user}"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "zh"}
    return lambda method, path, **kw: getattr(c, method)(f"/api/v1{path}", headers=headers, **kw)


def open_task(inst, step):
    return next(t["id"] for t in inst["tasks"] if t["step"] == step and t["status"] == "open")


def test_a_user_kept_from_a_step_by_separation_does_not_get_its_task_view(app):
    insp1, insp2, sup1 = api(app, "insp1"), api(app, "insp2"), api(app, "sup1")
    inst = insp2("post", "/procedures/kept-apart/instances", json={"data": {"customer": "某医院"}}).get_json()
    inst = insp1("post", f"/tasks/{open_task(inst, 'report')}/complete", json={"data": CONTACT}).get_json()
    inst = sup1("post", f"/tasks/{open_task(inst, 'contact')}/complete",
                json={"data": {**CONTACT, "contact_person": SECRET}}).get_json()
    review = open_task(inst, "review")

    r = insp1("get", f"/tasks/{review}")
    assert r.status_code == 403 and SECRET not in r.get_data(as_text=True)
    assert "职责分离" in r.get_json()["message"], r.get_json()
    page = Browser(app)
    page.login("insp1")
    r = page.get(f"/tasks/{review}")
    assert r.status_code == 403 and SECRET not in r.text
    r = page.post(f"/tasks/{review}", {"action": "draft", "comment": "x"})
    assert r.status_code == 403 and SECRET not in r.text
    with app.extensions["services"].database.reading() as s:
        assert store.drafts.get(s, "insp1", review) is None

    # Another inspector, who did not do the report, gets the page with the value in clear.
    r = insp2("get", f"/tasks/{review}")
    assert r.status_code == 200 and SECRET in r.get_data(as_text=True)
