"""The two procedures written from docs/ alone (tests/data/docs_walkthrough) run on the web pages
as the operators would use them: start, inbox, generated forms with tables, conditional fields,
uploads and masked values, a 会签 with signatures, a 退回, then the ledger and the KPI page.

They are not shipped procedures: they prove that a quality engineer who reads only docs/ writes
something the server runs end to end (docs/procedure-language.md, "Worked example")."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from engine import store
from tests.web.test_web_ui import Browser, errors_in, tasks_in
from web import create_app

DATA = Path(__file__).parents[1] / "data" / "docs_walkthrough"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100

USERS = {"metro": ["qa-inspectors"], "qe": ["qa-inspectors"], "super": ["qa-supervisors"],
         "super2": ["qa-supervisors"], "buyer": ["purchasing"], "sup": ["suppliers"],
         "officer": ["data-officers", "qa-supervisors"]}


@pytest.fixture
def app(db_url, tmp_path):
    """The server as the docs tell to run it: the shipped config.yaml, with the folders pointed at
    the new procedures and forms (WF_PROCEDURES_DIR / WF_FORMS_DIR, docs/operations.md)."""
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "zh",
        "paths.procedures": str(DATA / "procedures"), "paths.forms": str(DATA / "forms")}})
    with app.extensions["services"].database.writing() as s:
        for user, groups in USERS.items():
            store.add_user(s, user, f"pw-{user}", groups, full_name=f"{user}-姓名")
    yield app
    app.extensions["services"].database.engine.dispose()


def browser(app, user: str) -> Browser:
    b = Browser(app)
    b.login(user)
    return b


def open_task(b: Browser, iid: str, title: str) -> str:
    """The id of the instance's task in the reader's inbox, checked to show the step's title."""
    page = b.get("/")
    assert page.status_code == 200
    found = [t for t in tasks_in(page.text) if t.startswith(iid)]
    assert found, f"no task of {iid} in the inbox"
    form = b.get(f"/tasks/{found[0]}")
    assert form.status_code == 200 and title in form.text
    return found[0]


def submit(b: Browser, tid: str, data: dict, files: dict | None = None, expect: int = 302):
    body = {**data, "action": data.get("action", "submit")}
    for name, (content, filename) in (files or {}).items():
        body[f"{name}:upload"] = (io.BytesIO(content), filename)
    r = b.post(f"/tasks/{tid}", body, content_type="multipart/form-data")
    assert r.status_code == expect, errors_in(r.text) or r.text[:2000]
    return r


def status_of(app, iid: str) -> dict:
    with app.extensions["services"].database.sessions() as s:
        return app.extensions["workflow"].instance(s, iid)


def test_calibration_from_plan_to_signed_review_and_its_ledger(app):
    metro = browser(app, "metro")
    assert 'data-procedure="instrument-calibration"' in metro.get("/").text   # the inbox's start list
    r = metro.post("/start/instrument-calibration", {})
    assert r.status_code == 302, errors_in(r.text) or r.text[:2000]
    iid = r.location.rsplit("/", 1)[1]
    tid = open_task(metro, iid, "编制校准计划")
    submit(metro, tid, {"f.month": "2026-12",
                        "f.instruments.0.code": "GJ-001", "f.instruments.0.name": "游标卡尺",
                        "f.instruments.0.location": "来料检验", "f.instruments.0.due_on": "2026-12-10",
                        "f.instruments.1.code": "GJ-002", "f.instruments.1.name": "千分尺",
                        "f.instruments.1.due_on": "2026-12-15"})
    assert status_of(app, iid)["data"]["plan"]["instrument_count"] == 2

    tid = open_task(metro, iid, "校准")
    # The conditional fields are required only for an external laboratory; a restricted
    # instrument needs its restriction (a row's conditional field).
    record = {"f.method": "外部送检", "f.agency": "市计量院", "f.agency_contact": "13800000000",
              "f.cost": "380", "f.results.0.code": "GJ-001", "f.results.0.error": "0.2",
              "f.results.0.result": "合格", "f.results.1.code": "GJ-002", "f.results.1.error": "1.8",
              "f.results.1.result": "停用", "f.verdict": "有不合格", "f.next_due_on": "2027-12-01"}
    r = submit(metro, tid, record, expect=422)
    assert "certificates" in errors_in(r.text)
    submit(metro, tid, record, files={"f.certificates": (PDF, "证书.pdf")})
    data = status_of(app, iid)["data"]["calibrate"]
    assert data["failed"] == 1 and len(data["certificates"]) == 1

    tid = open_task(metro, iid, "不合格器具处置")
    submit(metro, tid, {"f.action": "报废", "f.impact_checked": "true", "f.impact": "追溯上月记录，无影响"})

    sup = browser(app, "super")
    tid = open_task(sup, iid, "校准结果审核")
    r = submit(sup, tid, {"action": "reject", "comment": "缺少 GJ-002 的证书"}, expect=422)   # no password
    submit(sup, tid, {"action": "reject", "comment": "缺少 GJ-002 的证书", "password": "pw-super"})
    tid = open_task(metro, iid, "校准")
    submit(metro, tid, {**record, "f.method": "内部校准", "f.results.1.result": "限用",
                        "f.results.1.restriction": "仅用于粗测", "f.verdict": "全部合格",
                        "f.results.1.error": "0.5"}, files={"f.certificates": (PDF, "证书2.pdf")})
    data = status_of(app, iid)["data"]["calibrate"]
    assert "agency" not in data and "cost" not in data, "hidden fields are dropped"
    tid = open_task(sup, iid, "校准结果审核")
    submit(sup, tid, {"action": "approve", "comment": "同意", "password": "pw-super"})
    state = status_of(app, iid)
    assert state["status"] == "completed" and state["outcome"] == "已完成"

    page = sup.get(f"/instances/{iid}")
    assert page.status_code == 200 and "审核" in page.text
    ledger = sup.get("/ledgers/instrument-calibration")
    assert ledger.status_code == 200 and "计量器具校准台帐" in ledger.text and "2026-12" in ledger.text
    kpi = sup.get("/kpi/instrument-calibration")
    assert kpi.status_code == 200
    csv = sup.c.get("/ledgers/instrument-calibration.csv")
    assert csv.status_code == 200 and "2026-12" in csv.text
    assert sup.c.get("/ledgers/instrument-calibration.xlsx").status_code == 200


def test_supplier_8d_with_cosign_return_and_masked_contact(app):
    qe = browser(app, "qe")
    page = qe.get("/start/supplier-8d")
    assert page.status_code == 200 and "供应商联系人手机" in page.text
    r = qe.post("/start/supplier-8d", {
        "f.supplier": "华东电子有限公司", "f.supplier_contact": "13900000000", "f.part_no": "PA-1001",
        "f.problem": "电源适配器外壳开裂", "f.severity": "严重", "f.qty_affected": "40",
        "f.reply_by": "2026-12-14", "f.evidence:upload": (io.BytesIO(PNG), "crack.png")},
        content_type="multipart/form-data")
    assert r.status_code == 302, errors_in(r.text) or r.text[:2000]
    iid = r.location.rsplit("/", 1)[1]

    sup = browser(app, "sup")
    report = {"f.team": "张三、李四", "f.containment": "库存全检", "f.root_cause": "注塑温度偏低",
              "f.actions.0.action": "调整注塑工艺", "f.actions.0.owner": "张三",
              "f.actions.0.due_on": "2026-12-20", "f.actions.0.done": "true"}
    tid = open_task(sup, iid, "提交8D报告")
    submit(sup, tid, report)

    # 会签: both must approve; the supervisor rejects the first time, back to the supplier.
    s1 = browser(app, "super")
    tid = open_task(s1, iid, "8D报告会签")
    submit(s1, tid, {"action": "reject", "comment": "根因分析不充分", "password": "pw-super"})
    tid = open_task(sup, iid, "提交8D报告")
    submit(sup, tid, {**report, "f.root_cause": "模具冷却水路堵塞"})
    tid = open_task(s1, iid, "8D报告会签")
    submit(s1, tid, {"action": "approve", "comment": "同意", "password": "pw-super"})
    buyer = browser(app, "buyer")
    tid = open_task(buyer, iid, "8D报告会签")
    submit(buyer, tid, {"action": "approve", "comment": "同意", "password": "pw-buyer"})
    # 严重: the quality manager approves (qa-supervisors hold quality_manager too).
    s2 = browser(app, "super2")
    tid = open_task(s2, iid, "质量经理批准")
    submit(s2, tid, {"action": "approve", "comment": "批准", "password": "pw-super2"})

    # 退回 from verification to the report, resumed straight back to verification.
    tid = open_task(qe, iid, "效果验证")
    r = qe.post(f"/tasks/{tid}/return", {"to_step": "report", "reason": "请补充 D7 预防措施"})
    assert r.status_code == 302, r.text[:2000]
    tid = open_task(sup, iid, "提交8D报告")
    submit(sup, tid, {**report, "f.prevention": "更新 PFMEA 与点检表"})
    tid = open_task(qe, iid, "效果验证")
    submit(qe, tid, {"f.checked_lots": "3", "f.effective": "有效", "f.rating": "满意",
                     "password": "pw-qe"})
    state = status_of(app, iid)
    assert state["status"] == "completed" and state["outcome"] == "已关闭", state["path"]

    # The supplier's mobile is masked for readers without clearance, in clear for the officer.
    assert "13900000000" not in s1.get(f"/instances/{iid}").text
    ledger = s1.get("/ledgers/supplier-8d")
    assert ledger.status_code == 200 and "华东电子有限公司" in ledger.text
    assert "13900000000" not in ledger.text and "●●●●" in ledger.text
    officer = browser(app, "officer")
    assert "13900000000" in officer.get("/ledgers/supplier-8d").text
    kpi = s1.get("/kpi/supplier-8d")
    assert kpi.status_code == 200 and "华东电子有限公司" in kpi.text
    assert re.search(r"满意", kpi.text)
    found = s1.get("/search", query_string={"q": "PA-1001"})
    assert found.status_code == 200 and iid in found.text


def test_the_monthly_calibration_starts_by_itself_and_escalates_when_late(db_url, tmp_path):
    """The worker starts the calibration on the first working day of the month (1 October 2026 is
    National Day: Thursday 8 October), due 9 days later; late, it is offered to the supervisor."""
    from engine.app.worker import Worker
    from tests.helpers.time import Clock, local

    clock = Clock(local("2026-09-30 16:00"))
    app = create_app({"TESTING": True, "WF_CLOCK": clock, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "zh",
        "paths.procedures": str(DATA / "procedures"), "paths.forms": str(DATA / "forms")}})
    try:
        with app.extensions["services"].database.writing() as s:
            for user, groups in USERS.items():
                store.add_user(s, user, f"pw-{user}", groups)
        worker = Worker(app.extensions["workflow"], app.extensions["services"].database.sessions)
        worker.run_once()
        clock.set(local("2026-10-01 09:00"))
        worker.run_once()
        metro = browser(app, "metro")
        assert not [t for t in tasks_in(metro.get("/").text)], "nothing starts on National Day"
        clock.set(local("2026-10-08 08:31"))
        worker.run_once()
        found = tasks_in(metro.get("/").text)
        assert len(found) == 1
        iid = found[0].split(".")[0]
        page = metro.get(f"/instances/{iid}")
        assert page.status_code == 200 and "编制校准计划" in page.text
        state = status_of(app, iid)
        assert state["tasks"][0]["due_at"].startswith("2026-10-17"), state["tasks"]
        submit(metro, found[0], {"f.month": "2026-10", "f.instruments.0.code": "GJ-001",
                                 "f.instruments.0.name": "游标卡尺", "f.instruments.0.due_on": "2026-10-20"})
        clock.set(local("2026-10-20 09:00"))   # 5 working days passed: overdue, escalated
        worker.run_once()
        sup = browser(app, "super")
        late = [t for t in tasks_in(sup.get("/").text) if t.startswith(iid)]
        assert late, "the overdue calibration is offered to the supervisor"
        assert sup.get(f"/tasks/{late[0]}").status_code == 200
    finally:
        app.extensions["services"].database.engine.dispose()
