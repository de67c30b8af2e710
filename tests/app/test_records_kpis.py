"""KPIs declared in procedure YAML, with test procedures shaped like P12 (complaints by
category and severity, the complaint ledger with a sensitive contact) and P16 (the 4 x 4
technician rating): on a real database and through the dashboard page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.app.service import Workflow
from engine.config import load_config
from engine.runtime.machine import open_tasks
from engine.store import users
from engine.store.kpi_query import kpis
from engine.store.ledger_query import LedgerQuery, ledger_page

ROOT = Path(__file__).resolve().parents[2]
RECORDS = ROOT / "tests" / "data" / "records"
OVERRIDES = {"paths.procedures": str(RECORDS / "procedures"), "paths.forms": str(RECORDS / "forms"),
             "roles.quality": ["quality-dept"], "roles.service": ["service-dept"]}
RATINGS = [  # (technician, attitude, skill, arrival, promises)
    ("张工", "很满意", "很满意", "满意", "很满意"),
    ("张工", "满意", "很满意", "基本满意", "满意"),
    ("李工", "不满意", "满意", "不满意", "基本满意"),
]
COMPLAINTS = [("产品质量", "严重"), ("产品质量", "一般"), ("服务", "一般"), ("安装", "一般")]


def _fill(wf, sessions):
    with sessions.begin() as s:
        wf.load_procedures(s)
        users.add_user(s, "q1", "pw", ["quality-dept"], full_name="质管员")
        users.add_user(s, "s1", "pw", ["service-dept"], full_name="服务员")
    ids = []
    for n, (category, severity) in enumerate(COMPLAINTS):
        with sessions.begin() as s:
            st = wf.start(s, "complaint-demo", "q1")
            task = f"{st['id']}.{open_tasks(st)[0]['id']}"
            st = wf.complete_task(s, task, "q1", {
                "complaint_no": f"TS-{n}", "customer": "某医院", "contact_phone": "13912345678",
                "batch_no": f"B{n}", "category": category, "severity": severity})
            task = f"{st['id']}.{open_tasks(st)[0]['id']}"
            if n == 0:  # rejected once, then approved: not first-pass
                st = wf.decide(s, task, "q1", approve=False, comment="证据不足")
                task = f"{st['id']}.{open_tasks(st)[0]['id']}"
                st = wf.complete_task(s, task, "q1", {
                    "complaint_no": "TS-0", "customer": "某医院", "category": category, "severity": severity})
                task = f"{st['id']}.{open_tasks(st)[0]['id']}"
            wf.decide(s, task, "q1", approve=True)
            ids.append(st["id"])
    for tech, *rates in RATINGS:
        with sessions.begin() as s:
            st = wf.start(s, "survey-demo", "s1")
            task = f"{st['id']}.{open_tasks(st)[0]['id']}"
            wf.complete_task(s, task, "s1", dict(zip(
                ["technician", "rating_attitude", "rating_skill", "rating_arrival", "rating_promises"],
                [tech, *rates], strict=True)))
    return ids


@pytest.fixture
def wf(sessions):
    workflow = Workflow(load_config(ROOT / "config.yaml", overrides=OVERRIDES))
    workflow.ids = _fill(workflow, sessions)
    return workflow


def test_complaints_by_category_severity_and_first_pass(wf, sessions):
    now = datetime.now(UTC)
    with sessions() as s:
        proc, _ = wf.procedure(s, "complaint-demo")
        r = proc.records
        wf.refresh_kpis(s, "complaint-demo")
        k = kpis(s, "complaint-demo", now - timedelta(days=1), now + timedelta(days=1), "week", now, wf.config.timezone,
                 first_pass=(r.first_pass.field, r.first_pass.passed), breakdown=r.breakdown)
    assert k.breakdown["register.category"] == [("产品质量", 2), ("安装", 1), ("服务", 1)]
    assert k.breakdown["register.severity"] == [("一般", 3), ("严重", 1)]
    assert sum(ok for ok, _n in k.first_pass.values()) == 3
    assert sum(n for _ok, n in k.first_pass.values()) == 4
    assert k.totals["completed"] == 4
    register = next(st for st in k.steps if st["step"] == "register")
    assert register["created"] == 5 and register["with_due"] == 5 and register["on_time_rate"] == 1.0


def test_four_by_four_survey_scores(wf, sessions):
    now = datetime.now(UTC)
    with sessions() as s:
        proc, _ = wf.procedure(s, "survey-demo")
        wf.refresh_kpis(s, "survey-demo")
        k = kpis(s, "survey-demo", now - timedelta(days=1), now + timedelta(days=1), "month", now, wf.config.timezone,
                 breakdown=proc.records.breakdown, scores=proc.records.scores.fields)
    assert k.scores["survey.rating_attitude"] == {"很满意": 1, "满意": 1, "不满意": 1}
    assert k.scores["survey.rating_arrival"] == {"满意": 1, "基本满意": 1, "不满意": 1}
    assert k.breakdown["survey.technician"] == [("张工", 2), ("李工", 1)]


def test_complaint_ledger_values_come_from_the_index(wf, sessions):
    with sessions() as s:
        proc, _ = wf.procedure(s, "complaint-demo")
        cols = [c.field for c in proc.records.ledger.columns]
        rows, _more = ledger_page(s, LedgerQuery("complaint-demo", cols, sort="register.complaint_no",
                                                 descending=False))
    assert [r["cells"]["register.complaint_no"] for r in rows] == ["TS-0", "TS-1", "TS-2", "TS-3"]
    assert rows[0]["cells"]["register.contact_phone"] is None  # corrected away on resubmission
    assert rows[1]["cells"]["register.contact_phone"] == "13912345678"
    assert {r["cells"]["verify.decision"] for r in rows} == {"approve"}


def test_dashboard_shows_score_table_and_breakdowns(db_url, tmp_path):
    from tests.helpers.service import web_app
    from tests.web.test_audit_web import login

    app = web_app(db_url, tmp_path, **OVERRIDES)
    try:
        _fill(app.extensions["workflow"], app.extensions["services"].database.sessions)
        with app.extensions["services"].database.writing() as s:
            users.add_user(s, "aud", "pw-aud", ["auditors"])
        b = login(app, "aud")
        page = b.get("/kpi/survey-demo").text
        table = re.search(r'<table class="list" id="kpi-scores">.*?</table>', page, re.S).group(0)
        attitude = re.search(r'<tr data-key="survey.rating_attitude">.*?</tr>', table, re.S).group(0)
        assert ">2.67<" in attitude and ">3<" in attitude  # (4 + 3 + 1) / 3, three answers
        assert 'id="chart-scores"' in page
        complaints = b.get("/kpi/complaint-demo").text
        assert complaints.count('class="chart chart-breakdown"') == 2 and "产品质量" in complaints
        ledger = b.get("/ledgers/complaint-demo").text
        assert "顾客质量投诉台帐" in ledger and "13912345678" not in ledger and "●●●●" in ledger
    finally:
        app.extensions["services"].database.engine.dispose()
