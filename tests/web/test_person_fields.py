"""A person field (``x-widget: user``: 检验人员, 处理人, 售后工程师...) names a user of the
system. A name that is no user, or a deactivated user's, was stored as typed, through the
page and the API alike, and a record named a person nobody can find. One rule in the
application layer (``engine.app.people.refuse_unknown_people``) refuses it at the field,
with what may be chosen, and the page keeps everything typed."""

from __future__ import annotations

import pytest

from engine import store
from engine.store import users as user_store
from tests.web.test_web_ui import INSPECT, RECEIPT, START, errors_in, login, start_instance, task_of
from web import create_app


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "zh"}})
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "insp", "pw-insp", ["qa-inspectors"], full_name="检验员甲")
        store.add_user(s, "gone", "pw-gone", ["qa-inspectors"], full_name="离职者")
        user_store.set_active(s, "gone", False)
    yield app
    app.extensions["services"].database.engine.dispose()


def _inspect_task(b):
    iid = start_instance(b)
    r = b.post(f"/tasks/{task_of(b, iid)}", RECEIPT)
    assert r.status_code == 302, r.text
    return iid, task_of(b, iid)


@pytest.mark.parametrize("who", ["nobody-here", "gone"])
def test_the_page_refuses_a_person_who_is_no_active_user_at_the_field(app, who):
    b = login(app, "insp")
    iid, task = _inspect_task(b)
    r = b.post(f"/tasks/{task}", {**INSPECT, "f.inspector": who, "f.defect": "电源板烧毁（原文）"})
    assert r.status_code == 422, r.text
    message = errors_in(r.text).get("inspector", "")
    assert who in message and "有效用户" in message, errors_in(r.text)
    assert "电源板烧毁（原文）" in r.text and f'value="{who}"' in r.text  # nothing typed is lost
    assert task_of(b, iid) == task  # nothing recorded: the task is still open
    r = b.post(f"/tasks/{task}", {**INSPECT, "f.inspector": "insp"})
    assert r.status_code == 302, r.text


@pytest.mark.parametrize("who", ["nobody-here", "gone", 7])
def test_the_api_refuses_a_person_who_is_no_active_user_at_the_field(app, who):
    c = app.test_client()
    token = c.post("/api/v1/auth/token", json={"username": "insp", "password": "pw-insp"}).json["token"]
    h = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    start = {k[2:]: v for k, v in START.items()} | {"quantity": 1}
    inst = c.post("/api/v1/procedures/after-sales-inspection/instances", json={"data": start}, headers=h)
    assert inst.status_code == 201, inst.json
    task = next(t["id"] for t in inst.json["tasks"] if t["status"] == "open")
    receipt = {k[2:]: v for k, v in RECEIPT.items()}
    r = c.post(f"/api/v1/tasks/{task}/complete", json={"data": receipt}, headers=h)
    assert r.status_code == 200, r.json
    task = next(t["id"] for t in r.json["tasks"] if t["status"] == "open")
    data = {"items": [{"item": "外观", "method": "目视", "requirement": "无破损", "result": "合格"}],
            "instrument": "万用表 E-01", "inspected_at": "2026-05-11T10:00:00+08:00", "verdict": "合格",
            "inspector": who}
    r = c.post(f"/api/v1/tasks/{task}/complete", json={"data": data}, headers=h)
    assert r.status_code == 422, r.json
    found = [e for e in r.json["errors"] if e["field"] == "inspector"]
    assert found, r.json
    if isinstance(who, str):
        assert who in found[0]["message"] and "active user" in found[0]["message"], found
    r = c.post(f"/api/v1/tasks/{task}/complete", json={"data": {**data, "inspector": "insp"}}, headers=h)
    assert r.status_code == 200, r.json


def _api(app, user, password):
    c = app.test_client()
    token = c.post("/api/v1/auth/token", json={"username": user, "password": password}).json["token"]
    return c, {"Authorization": f"Bearer {token}", "Accept-Language": "en"}


def test_a_correction_of_a_person_field_names_an_active_user(app):
    b = login(app, "insp")
    iid, task = _inspect_task(b)
    assert b.post(f"/tasks/{task}", {**INSPECT, "f.inspector": "insp"}).status_code == 302
    c, h = _api(app, "insp", "pw-insp")
    body = {"step": "inspect", "field": "inspector", "value": "gone", "reason": "笔误"}
    r = c.post(f"/api/v1/instances/{iid}/corrections", json=body, headers=h)
    assert r.status_code == 422, r.json
    assert r.json["errors"][0]["field"] == "value" and "gone" in r.json["errors"][0]["message"], r.json
    r = c.get(f"/api/v1/instances/{iid}", headers=h)
    assert r.json["data"]["inspect"]["inspector"] == "insp"  # nothing changed
    # the page's correction form answers the same, at its value
    page = b.get(f"/instances/{iid}")
    r = b.post(f"/instances/{iid}/correct", {"target": "inspect:inspector", "value": "nobody-here",
                                              "reason": "笔误"})
    assert r.status_code == 422 and "nobody-here" in r.text, (page.status_code, r.status_code)


def test_a_person_in_a_table_row_is_found_at_its_row():
    """The pure walk the rule uses: a table column's values with their rows' paths; a
    field the form does not have is none of them."""
    from engine.language import yaml_source
    from engine.language.forms import parse_form

    form = parse_form(yaml_source.load(
        "id: plan\ntitle: 计划\nschema:\n  type: object\n  properties:\n"
        "    visits:\n      type: array\n      x-widget: table\n      items:\n        type: object\n"
        "        properties:\n          month: {type: string}\n          owner: {type: string, x-widget: user}\n"
        "    lead: {type: string, x-widget: user}\n"))[0]
    assert form is not None
    data = {"visits": [{"month": "1", "owner": "a"}, {"owner": "b"}], "lead": "c", "other": "d"}
    assert form.values_with_widget("user", data) == [("lead", "c"), ("visits.0.owner", "a"),
                                                    ("visits.1.owner", "b")]
    assert form.values_with_widget("user", "x", "lead") == [("lead", "x")]


def test_a_correction_names_its_corrector_as_they_were_named_then_with_the_user_id(app, db_url):
    """The record's correction notes said "by" with the corrector's current name: after
    检验员甲 was renamed 王五, a correction made by 检验员甲 read as made by 王五, a name the
    person did not have then. An auditor reads the name at the time (from the chart's
    chained ``user_edited`` event, or the name the correction's signature recorded), with the
    user id beside it (its title, as the page names people); a correction made after the
    rename carries the new name."""
    from engine.app import user_admin
    from tests.web.test_web_ui import Browser

    b = login(app, "insp")
    iid, task = _inspect_task(b)
    assert b.post(f"/tasks/{task}", {**INSPECT, "f.inspector": "insp"}).status_code == 302
    b.get(f"/instances/{iid}")
    r = b.post(f"/instances/{iid}/correct", {"target": "start:customer", "value": "某市中心医院", "reason": "笔误"})
    assert r.status_code == 302, r.text
    services = app.extensions["services"]
    user_admin.edit(services, "cli:test", "insp", full_name="王五")
    b2 = Browser(app)
    b2.login("insp", "pw-insp")
    page = b2.get(f"/instances/{iid}").text
    notes = _notes(page, "笔误")
    (note,) = notes
    assert "检验员甲" in note and 'title="insp"' in note and "王五" not in note, notes
    # the dossier's table of corrections reads the same
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "aud", "pw-aud", ["auditors"], full_name="审计员")
    dossier = login(app, "aud").get(f"/audit/instances/{iid}").text
    row = dossier.split('id="corrections"', 1)[1].split("笔误", 1)[1].split("</tr>", 1)[0]
    assert '<td title="insp">检验员甲</td>' in row and "王五" not in row, row
    b2.post(f"/instances/{iid}/correct", {"target": "start:customer", "value": "某市第一医院", "reason": "再次更正"})
    page = b2.get(f"/instances/{iid}").text
    (later,) = _notes(page, "再次更正")
    assert "王五" in later and "检验员甲" not in later, later


def _notes(page: str, reason: str) -> list[str]:
    """The correction notes under the recorded values (not the timeline's) with ``reason``."""
    found = [n.split("</div>")[0] for n in page.split('<div class="correction">')[1:]]
    return [n for n in found if 'class="muted"' in n and reason in n]
