"""A hostile pass over what people take away: the dossier page and PDF, the ledger exports
and the search, fed with text an ordinary operator can type (very long unbroken strings,
numbers, marks), through the Flask test client on a real database."""

from __future__ import annotations

import pytest

from engine.store import users as user_store
from tests.helpers.pdf import pdf_text
from tests.helpers.service import add_users, answers, play, web_app
from tests.web.test_audit_web import login

PID = "after-sales-inspection"


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    with sessions.begin() as s:
        user_store.add_user(s, "aud", "pw-aud", ["auditors"], full_name="审计员")
    yield app
    app.extensions["services"].database.engine.dispose()


LONG = "血氧读数" + "跳变" * 3000 + "END"  # 6,007 characters, no space to break at
WORDS = "word " * 2000


def test_a_very_long_text_in_a_table_cell_and_a_comment_prints_in_the_dossier_pdf(app):
    """An inspector pastes a long log into a 实测值 cell and the reviewer a long comment: the
    dossier PDF failed with a 500 ("The row with index 1 is too high and cannot be rendered
    on a single page"). The row now runs on over as many pages as it needs, nothing left out."""
    script = answers(f"{PID}--fail")
    script["steps"][1]["data"]["items"][0]["measured"] = LONG
    script["steps"][1]["data"]["items"][1]["remark"] = WORDS
    review = next(e for e in script["steps"] if e["step"] == "review")
    review["comment"] = "同意" * 2500
    done = play(app.extensions["workflow"], app.extensions["services"].database.sessions, script)
    b = login(app, "aud")
    assert b.c.get(f"/audit/instances/{done['id']}").status_code == 200
    r = b.c.get(f"/audit/instances/{done['id']}.pdf")
    assert r.status_code == 200, r.text[:2000]
    text = pdf_text(r.data).replace("\n", "")
    assert "血氧读数跳变跳变" in text and "跳变END" in text  # the start and the end of the cell
    assert text.count("跳变") >= 3000
    assert text.count("同意") >= 2500


MEASURE = """\
id: measure-demo
title: 测量单（测试）
roles:
  quality: 质管部
start:
  roles: [quality]
  form: measure-sheet
  step: check
ledger:
  title: "'测量/复核台帐[2026]: 温度*数量?'"
  columns:
    - {field: start.ref, title: 编号}
    - {field: start.temp, title: 温度}
    - {field: start.count, title: 数量}
    - {field: start.ok, title: 合格}
    - {field: start.measured_at, title: 测量时间}
steps:
  check: {title: 复核, role: quality, form: measure-sheet, next: done}
  done: {type: end, title: 完成, outcome: 已完成}
"""
MEASURE_FORM = """\
id: measure-sheet
title: 测量单
schema:
  type: object
  required: [ref]
  properties:
    ref: {type: string, title: 编号}
    temp: {type: number, title: 温度, x-unit: ℃}
    count: {type: integer, title: 数量}
    ok: {type: boolean, title: 合格}
    measured_at: {type: string, format: date-time, title: 测量时间}
"""
READINGS = [("T1", -5.5, 3, True, "2026-11-30T16:30:00Z"), ("T2", 100, 12, False, "2026-12-01T02:00:00Z"),
            ("T3", 9, -2, True, None), ("T4", 10.25, 0, False, None)]


@pytest.fixture
def measured(db_url, tmp_path):
    """measure-demo (a start form only, then done): four records whose ledger columns are a
    number, an integer, a yes/no and a date-time."""
    (tmp_path / "procedures").mkdir()
    (tmp_path / "forms").mkdir()
    (tmp_path / "procedures" / "measure-demo.yaml").write_text(MEASURE, encoding="utf-8")
    (tmp_path / "forms" / "measure-sheet.yaml").write_text(MEASURE_FORM, encoding="utf-8")
    app = web_app(db_url, tmp_path, **{"paths.procedures": str(tmp_path / "procedures"),
                                       "paths.forms": str(tmp_path / "forms"), "roles.quality": ["quality-dept"]})
    sessions = app.extensions["services"].database.sessions
    with sessions.begin() as s:
        user_store.add_user(s, "q1", "pw-q1", ["quality-dept"], full_name="质管一")
    wf = app.extensions["workflow"]
    for ref, temp, count, ok, at in READINGS:
        with sessions.begin() as s:
            wf.start(s, "measure-demo", "q1", {"ref": ref, "temp": temp, "count": count, "ok": ok,
                                               **({"measured_at": at} if at else {})})
    yield app
    app.extensions["services"].database.engine.dispose()


def _csv(b, url, **args):
    import csv
    import io

    r = b.c.get(url, query_string=args)
    assert r.status_code == 200, r.text
    return list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))


def test_numbers_yes_no_and_times_in_a_ledger_read_as_on_the_record_page(measured):
    """The field index holds text, and the ledger passed it on as such: a negative temperature
    came out of the CSV as '-5.5 (the guard against formulas took the number for text), every
    number of the XLSX was a text cell (no sum, no chart), a yes/no read "true" on a Chinese
    page and a date-time its UTC ISO text (2026-11-30T16:30:00Z for 00:30 in Beijing). Numbers
    are numbers again, yes/no a word, times local under a heading naming the zone."""
    import io

    openpyxl = pytest.importorskip("openpyxl")
    b = login(measured, "q1")
    rows = _csv(b, "/ledgers/measure-demo.csv", sort="start.ref", dir="asc")
    head = rows[0]
    by_ref = {r[head.index("编号")]: r for r in rows[1:]}
    assert by_ref["T1"][head.index("温度")] == "-5.5" and by_ref["T3"][head.index("数量")] == "-2"
    assert by_ref["T1"][head.index("合格")] == "是" and by_ref["T2"][head.index("合格")] == "否"
    when = head.index("测量时间 (Asia/Shanghai)")
    assert by_ref["T1"][when] == "2026-12-01 00:30" and by_ref["T2"][when] == "2026-12-01 10:00"
    page = b.get("/ledgers/measure-demo").text
    assert "2026-12-01 00:30" in page and "T16:30" not in page and ">true<" not in page and ">是<" in page
    sheet = openpyxl.load_workbook(io.BytesIO(b.c.get("/ledgers/measure-demo.xlsx",
                                                      query_string={"sort": "start.ref", "dir": "asc"}).data)).active
    # The sheet is named by the ledger's title; Excel refuses []:*?/\ in a sheet's name and an
    # apostrophe at its ends, and such a title made the XLSX a 500.
    assert sheet.title == "测量_复核台帐_2026__ 温度_数量_"
    cells = {r[0].value: r for r in sheet.iter_rows(min_row=2)}
    assert cells["T1"][1].value == -5.5 and cells["T1"][1].data_type == "n"
    assert cells["T2"][1].value == 100 and cells["T3"][2].value == -2 and cells["T4"][2].value == 0
    assert all(cells[ref][2].data_type == "n" for ref in cells)


def test_a_ledger_sorted_by_a_number_column_is_in_number_order(measured):
    """Sorting by 温度 put 100 before 9 (the values were compared as text)."""
    b = login(measured, "q1")
    rows = _csv(b, "/ledgers/measure-demo.csv", sort="start.temp", dir="asc")
    assert [r[0] for r in rows[1:]] == ["T1", "T3", "T4", "T2"], rows
    page = b.get("/ledgers/measure-demo", query_string={"sort": "start.temp", "dir": "desc"}).text
    # the cells, not any "T1" (a record id is random letters and digits and may hold one)
    at = [page.index(f">{t}<") for t in ("T2", "T4", "T3", "T1")]
    assert at == sorted(at), at


def test_a_ledgers_time_column_is_filtered_by_the_local_day_it_shows(db_url, tmp_path):
    """登记时间 shows 2026-12-01 00:30 (Beijing) for a record started at 16:30 UTC on 30
    November; its filter matched the UTC text the database holds, so 2026-12-01 found nothing
    and 2026-11-30 found it (on PostgreSQL, LIKE on a timestamp is no query at all). A time
    column is filtered by the local day, month, year or minute; other text is a 400 saying so."""
    from datetime import UTC, datetime

    from tests.helpers.time import Clock

    clock = Clock(datetime(2026, 11, 30, 16, 30, tzinfo=UTC))
    from web import create_app

    app = create_app({"TESTING": True, "WF_CLOCK": clock, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "zh"}})
    try:
        sessions = app.extensions["services"].database.sessions
        add_users(sessions, ["inspector1", "supervisor1"])
        with sessions.begin() as s:
            user_store.add_user(s, "aud", "pw-aud", ["auditors"], full_name="审计员")
        play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"))
        b = login(app, "aud")

        def found(text):
            rows = _csv(b, f"/ledgers/{PID}.csv", **{"f.instance.started_at": text})
            return len(rows) - 1

        assert [found(t) for t in ("2026-12-01", "2026-12", "2026", "2026-12-01 00:30")] == [1, 1, 1, 1]
        assert [found(t) for t in ("2026-11-30", "2026-11", "2025", "2026-12-01 00:31")] == [0, 0, 0, 0]
        page = b.get(f"/ledgers/{PID}", query_string={"f.instance.started_at": "2026-12-01"}).text
        assert "SN20260101" in page
        r = b.c.get(f"/ledgers/{PID}", query_string={"f.instance.started_at": "昨天"})
        assert r.status_code == 400, r.status_code
        assert "登记时间" in r.get_data(as_text=True) and "YYYY-MM-DD" in r.get_data(as_text=True)
    finally:
        app.extensions["services"].database.engine.dispose()


def test_a_text_longer_than_the_index_keeps_is_shown_whole_in_the_ledger_and_its_export(app):
    """The field index keeps the first 200 characters of a text, and the ledger showed and
    exported that much, cut with no mark: a customer's full name, a long lot number. A value
    the index holds cut is now read whole from its record."""
    customer = "某市人民医院（" + "设备科" * 100 + "）END"  # 310 characters
    sessions = app.extensions["services"].database.sessions
    script = answers(f"{PID}--fail")
    script["start"]["data"] = {**script["start"]["data"], "customer": customer}
    iid = play(app.extensions["workflow"], sessions, script)["id"]
    b = login(app, "aud", "pw-aud")
    page = b.get(f"/ledgers/{PID}").text
    assert customer in page
    rows = _csv(b, f"/ledgers/{PID}.csv")
    col = rows[0].index("客户")
    assert [r[col] for r in rows[1:] if r[0] == iid] == [customer]
