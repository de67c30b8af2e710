"""Who may read a record, asked of one version: the lists, the search and the ledger go by the
roles of the procedure's current version, and showed a holder of a role added by version 2 the
records started under version 1 (their customer, their serial number) while the record itself
(its page, ``GET /instances/{id}``, its events) went by the pinned version's roles and refused
them. A role in the current version now reads the record too (``access.require_instance``)."""

from __future__ import annotations

from engine import store
from tests.web.test_web_ui import Browser
from web import create_app

PROCEDURE = """id: versioned
title: 版本测试
roles:
  inspector: 检验员
  qa_supervisor: 质量主管{extra}
start: {{roles: [inspector], form: customer-identification, step: report}}
index: [start.serial_no]
steps:
  report: {{title: 报告, role: qa_supervisor, form: customer-contact, next: done}}
  done: {{type: end, title: 完成, outcome: 完成}}
"""


def app_on(db_url, tmp_path):
    return create_app({"TESTING": True, "SECRET_KEY": "versions", "WF_OVERRIDES": {
        "database.url": db_url, "locale": "zh", "paths.uploads": str(tmp_path / "uploads"),
        "paths.procedures": str(tmp_path / "procs")}})


def token(client, user):
    r = client.post("/api/v1/auth/token", json={"username": user, "password": f"pw-{user}"})
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def test_a_role_added_by_a_later_version_reads_the_records_it_is_shown(db_url, tmp_path):
    (tmp_path / "procs").mkdir()
    (tmp_path / "procs" / "versioned.yaml").write_text(PROCEDURE.format(extra=""), encoding="utf-8")
    first = app_on(db_url, tmp_path)
    with first.extensions["services"].database.writing() as s:
        store.add_user(s, "insp1", "pw-insp1", ["qa-inspectors"], full_name="检验员一")
        store.add_user(s, "tech1", "pw-tech1", ["repair-technicians"], full_name="维修员一")
        store.add_user(s, "nobody", "pw-nobody", ["outsiders"], full_name="外人")
    c = first.test_client()
    iid = c.post("/api/v1/procedures/versioned/instances", json={"data": {"customer": "某市第一医院",
                 "serial_no": "SNV0001"}}, headers=token(c, "insp1")).get_json()["id"]
    first.extensions["services"].database.engine.dispose()

    (tmp_path / "procs" / "versioned.yaml").write_text(PROCEDURE.format(extra="\n  repair_lead: 维修负责人"),
                                                         encoding="utf-8")
    app = app_on(db_url, tmp_path)
    try:
        c = app.test_client()
        tech = token(c, "tech1")
        assert [i["id"] for i in c.get("/api/v1/instances?procedure=versioned", headers=tech).get_json()["items"]] == [iid]
        assert [h["instance"] for h in c.get("/api/v1/search?q=SNV0001", headers=tech).get_json()["items"]] == [iid]
        read = c.get(f"/api/v1/instances/{iid}", headers=tech)
        assert read.status_code == 200 and read.get_json()["data"]["start"]["customer"] == "某市第一医院"
        assert c.get(f"/api/v1/instances/{iid}/events", headers=tech).status_code == 200
        page = Browser(app)
        page.login("tech1")
        assert page.get(f"/instances/{iid}").status_code == 200
        # someone with no role in either version is refused, as before
        assert c.get(f"/api/v1/instances/{iid}", headers=token(c, "nobody")).status_code == 403
    finally:
        app.extensions["services"].database.engine.dispose()
