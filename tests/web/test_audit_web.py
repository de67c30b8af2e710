"""Audit search, dossiers, ledgers, KPIs, masking with access logging, the auditor role and
the audit API, through the Flask test client on SQLite (and PostgreSQL when configured)."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest

from engine.store import users as user_store
from engine.store.audit_file import verify_lines
from tests.helpers.service import PASSWORD, add_users, answers, play, web_app
from tests.web.test_web_ui import Browser

PID = "after-sales-inspection"
PHONE = "13800000000"


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    with sessions.begin() as s:
        user_store.add_user(s, "aud", "pw-aud", ["auditors"], full_name="审计员")
        user_store.add_user(s, "officer", "pw-officer", ["auditors", "data-officers"], full_name="数据专员")
        user_store.add_user(s, "boss", "pw-boss", ["admins"], full_name="管理员")
    wf = app.extensions["workflow"]
    done = play(wf, sessions, answers(f"{PID}--fail"))
    with sessions.begin() as s:
        wf.correct(s, done["id"], "supervisor1", "start", "model", "PM-9001", "型号笔误", password=PASSWORD)
    script = answers(f"{PID}--pass-repair")
    script["start"]["data"] = {**script["start"]["data"], "serial_no": "SN-OPEN"}
    running = play(wf, sessions, script, upto=1)
    app.config["IDS"] = (done["id"], running["id"])
    yield app
    app.extensions["services"].database.engine.dispose()


def login(app, user, password=None):
    b = Browser(app)
    b.get("/login")
    r = b.post("/login", {"username": user, "password": password or f"pw-{user}"})
    assert r.status_code == 302, r.text
    b.get("/")
    return b


def test_auditor_searches_by_serial_number_and_every_filter(app):
    done, running = app.config["IDS"]
    b = login(app, "aud")
    page = b.get("/").text
    assert 'id="nav-audit"' in page and 'id="nav-ledgers"' in page and 'id="nav-kpi"' in page

    def found(**args):
        r = b.get("/audit", query_string=args)
        assert r.status_code == 200, r.text
        return set(re.findall(r'data-instance="([A-Z0-9]+)"', r.text)), r.text

    ids, text = found(value="SN-OPEN")
    assert ids == {running} and f'href="/audit/instances/{running}"' in text
    assert found(field="start.serial_no", value="SN20260101")[0] == {done}
    assert found(type="task:approved")[0] == {done}
    assert found(step="review")[0] == {done}
    assert found(actor="supervisor1")[0] == {done}
    assert found(procedure=PID)[0] == {done, running}
    assert found(procedure="repair-process-inspection")[0] == set()
    assert found(**{"from": "2999-01-01"})[0] == set()
    assert found(**{"to": "2000-01-01"})[0] == set()
    assert found(**{"from": "2000-01-01", "to": "2999-12-31"})[0] == {done, running}
    r = b.get("/audit", query_string={"from": "yesterday"})
    assert r.status_code == 400 and "YYYY-MM-DD" in r.text
    assert b.get("/audit", query_string={"page": "0"}).status_code == 400
    assert 'id="next-page"' not in b.get("/audit").text  # fewer than 50 events
    assert found(page=2)[0] == set()


def test_a_bad_search_filter_is_told_in_the_auditors_language_naming_the_filter(app):
    b = login(app, "aud")  # the pages speak Chinese unless the user picks English
    r = b.get("/audit", query_string={"from": "yesterday"})
    assert r.status_code == 400
    assert "“from”应为 YYYY-MM-DD 格式的日期，而不是“yesterday”" in html.unescape(r.text)
    r = b.get("/audit", query_string={"page": "0"})
    assert r.status_code == 400 and "“page”应为 1 到 100000 之间的页码" in html.unescape(r.text)
    r = b.get("/audit", query_string={"actor": "x" * 201})
    assert r.status_code == 400
    assert "“actor”应为不超过 200 个字符的文本，不能含换行符或控制字符" in html.unescape(r.text)
    b.post("/locale/en", {"next": "/"})
    r = b.get("/audit", query_string={"from": "yesterday"})
    text = html.unescape(r.text)
    assert r.status_code == 400 and "'from' must be a date written YYYY-MM-DD, not 'yesterday'" in text
    assert "from</b>: a date written YYYY-MM-DD" in text


def test_operators_may_not_use_the_audit_search_or_access_log(app):
    b = login(app, "inspector1", PASSWORD)
    page = b.get("/").text
    assert 'id="nav-audit"' not in page and 'id="nav-ledgers"' in page
    assert b.get("/audit").status_code == 403
    assert b.get("/audit/access-log").status_code == 403
    done, _running = app.config["IDS"]
    assert b.get(f"/audit/instances/{done}").status_code == 200  # their own procedure


def test_auditor_changes_nothing(app):
    done, running = app.config["IDS"]
    b = login(app, "aud")
    assert b.post(f"/instances/{running}/cancel", {"reason": "x"}).status_code == 403
    assert b.post(f"/instances/{done}/correct", {"target": "start:model", "value": "X", "reason": "r"}).status_code == 403
    assert b.post(f"/start/{PID}", {"f.customer": "c"}).status_code == 403
    assert b.post(f"/tasks/{running}.t2", {}).status_code == 403
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "aud", "password": "pw-aud"}).get_json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    r = client.post(f"/api/v1/procedures/{PID}/instances", json={"data": {}}, headers=auth)
    assert r.status_code == 403 and r.get_json()["code"] == "forbidden"
    assert client.post(f"/api/v1/instances/{running}/cancel", json={"reason": "x"}, headers=auth).status_code == 403
    assert b.post("/locale/en", {"next": "/"}).status_code == 302  # language is not a record
    assert b.post("/logout").status_code == 302


def test_dossier_shows_signatures_corrections_version_and_chain(app):
    done, _running = app.config["IDS"]
    b = login(app, "aud")
    r = b.get(f"/audit/instances/{done}")
    assert r.status_code == 200
    page = r.text
    sig = re.search(r'<table class="list" id="signatures">.*?</table>', page, re.S).group(0)
    assert "检验员一" in sig and "质量主管一" in sig and "审核" in sig and "确认" in sig
    corr = re.search(r'<table class="list" id="corrections">.*?</table>', page, re.S).group(0)
    assert "PM-9000" in corr and "PM-9001" in corr and "型号笔误" in corr
    assert 'id="chain-check" class="chain-ok"' in page
    assert 'id="dossier-version"><strong>v1.0</strong> #' in page
    css = b.get("/static/records.css")
    assert "@media print" in css.text
    css.close()
    pdf = b.c.get(f"/audit/instances/{done}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert len(pdf.data) > 2000
    assert b.get("/audit/instances/01ZZZZZZZZZZZZZZZZZZZZZZZZ").status_code == 404


def test_sensitive_fields_masked_without_clearance_and_views_logged(app):
    done, _running = app.config["IDS"]
    aud = login(app, "aud")
    page = aud.get(f"/audit/instances/{done}").text
    assert PHONE not in page and "●●●●" in page and 'id="masked-notice"' in page
    assert PHONE not in aud.get("/audit", query_string={"value": "SN20260101"}).text
    assert PHONE not in aud.get(f"/ledgers/{PID}").text
    assert "officer" not in aud.get("/audit/access-log").text

    officer = login(app, "officer")
    page = officer.get(f"/audit/instances/{done}").text
    assert PHONE in page and 'id="masked-notice"' not in page
    officer.c.get(f"/audit/instances/{done}.pdf")
    assert PHONE in officer.get(f"/ledgers/{PID}").text
    log = aud.get("/audit/access-log").text
    # The view and the fields as recorded are attributes for machines; the cells are words.
    rows = re.findall(r'<tr data-user="officer" data-view="([a-z-]+)" data-fields="([^"]*)"', log)
    views = {view for view, _fields in rows}
    assert {"dossier", "pdf", "ledger"} <= views
    assert all("start.contact_phone" in fields.split(",") for view, fields in rows if view == "dossier")
    assert "officer" in aud.get("/audit/access-log", query_string={"instance": done}).text
    assert "officer" not in aud.get("/audit/access-log", query_string={"user": "nobody"}).text


def test_ledger_page_filter_sort_and_exports(app):
    done, running = app.config["IDS"]
    b = login(app, "inspector1", PASSWORD)
    assert f'href="/ledgers/{PID}"' in b.get("/ledgers").text
    page = b.get(f"/ledgers/{PID}").text
    assert "售后检验台帐" in page and "产品编号/批号" in page
    assert re.findall(r'<tr data-instance="([A-Z0-9]+)"', page) == [running, done]
    asc = b.get(f"/ledgers/{PID}", query_string={"sort": "start.serial_no", "dir": "asc"}).text
    assert re.findall(r'<tr data-instance="([A-Z0-9]+)"', asc) == [running, done]
    only = b.get(f"/ledgers/{PID}", query_string={"f.start.serial_no": "SN2026"}).text
    assert re.findall(r'<tr data-instance="([A-Z0-9]+)"', only) == [done]
    assert re.findall(r'<tr data-instance="([A-Z0-9]+)"', b.get(f"/ledgers/{PID}", query_string={"status": "running"}).text) == [running]

    def found(text, match=None):
        q = {"f.start.serial_no": text, **({"match": match} if match else {})}
        return re.findall(r'<tr data-instance="([A-Z0-9]+)"', b.get(f"/ledgers/{PID}", query_string=q).text)
    # A filter finds text inside a value by default (血液 finds 某市血液中心), or at its start, or whole.
    assert found("0101") == [done] and found("0101", "prefix") == [] and found("0101", "contains") == [done]
    assert found("SN20260101", "exact") == [done] and found("SN2026", "exact") == []
    assert found("%") == [] and found("_") == []  # LIKE's wildcards are text here
    assert b.get(f"/ledgers/{PID}", query_string={"sort": "nope"}).status_code == 400
    assert b.get(f"/ledgers/{PID}", query_string={"status": "nope"}).status_code == 400

    r = b.get(f"/ledgers/{PID}.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    text = r.data.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "记录编号" and len(rows) == 3
    assert {r_[0] for r_ in rows[1:]} == {done, running}
    phone_col = rows[0].index("联系电话")
    assert {r_[phone_col] for r_ in rows[1:]} == {"●●●●"}  # an inspector has no clearance

    x = b.c.get(f"/ledgers/{PID}.xlsx", query_string={"f.start.serial_no": "SN2026"})
    assert x.status_code == 200 and x.data[:2] == b"PK"
    openpyxl = pytest.importorskip("openpyxl")
    sheet = openpyxl.load_workbook(io.BytesIO(x.data), read_only=True).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "记录编号" and [v[0] for v in values[1:]] == [done]
    assert b.get("/ledgers/repair-process-inspection.csv").status_code == 200


def test_kpi_dashboard_and_drill_down(app):
    done, running = app.config["IDS"]
    b = login(app, "boss")
    assert 'data-procedure="after-sales-inspection"' in b.get("/kpi").text
    r = b.get(f"/kpi/{PID}", query_string={"from": "2000-01-01", "to": "2999-12-31"})
    assert r.status_code == 200
    page = r.text
    assert len(re.findall(r'<div class="chart[ "]', page)) >= 4  # volume, durations, on time, first pass…
    assert re.search(r'id="kpi-started">2<', page) and re.search(r'id="kpi-completed">1<', page)
    assert re.search(r'id="kpi-open">1<', page)
    assert re.search(r'id="kpi-first-pass">0%<', page)
    link = re.search(r'<a href="([^"]+)" id="kpi-completed"', page).group(1).replace("&amp;", "&")
    drill = b.get(link)
    assert drill.status_code == 200 and re.findall(r'<tr data-instance="([A-Z0-9]+)"', drill.text) == [done]
    step_open = re.search(r'<tr data-step="inspect">.*?</tr>', page, re.S).group(0)
    href = re.findall(r'href="([^"]+what=open[^"]*)"', step_open)[0].replace("&amp;", "&")
    assert re.findall(r'<tr data-instance="([A-Z0-9]+)"', b.get(href).text) == [running]
    week = b.get(f"/kpi/{PID}", query_string={"period": "week"})
    assert week.status_code == 200
    assert b.get(f"/kpi/{PID}", query_string={"period": "day"}).status_code == 400
    assert b.get(f"/kpi/{PID}", query_string={"from": "2026-02-01", "to": "2026-01-01"}).status_code == 400


def test_audit_api_search_and_export(app):
    done, running = app.config["IDS"]
    client = app.test_client()

    def token(user, password):
        return {"Authorization": "Bearer " + client.post(
            "/api/v1/auth/token", json={"username": user, "password": password}).get_json()["token"]}

    aud = token("aud", "pw-aud")
    r = client.get("/api/v1/audit/events", query_string={"value": "SN-OPEN"}, headers=aud)
    assert r.status_code == 200
    body = r.get_json()
    assert {e["instance"] for e in body["items"]} == {running} and body["more"] is False
    assert body["items"][0]["links"]["dossier"] == f"/audit/instances/{running}"
    assert client.get("/api/v1/audit/events", query_string={"limit": 0}, headers=aud).status_code == 400
    assert client.get("/api/v1/audit/events").status_code == 401
    insp = token("inspector1", PASSWORD)
    assert client.get("/api/v1/audit/events", headers=insp).status_code == 403
    assert client.get("/api/v1/audit/export", headers=aud).status_code == 403  # no clearance
    officer = token("officer", "pw-officer")
    exp = client.get("/api/v1/audit/export", query_string={"procedure": PID}, headers=officer)
    assert exp.status_code == 200
    lines = exp.data.decode("utf-8").splitlines(keepends=True)
    report = verify_lines(lines)
    assert report.ok and report.instances == 2
    assert PHONE in exp.data.decode("utf-8")
    web = login(app, "officer").get("/audit/export.jsonl", query_string={"procedure": PID})
    assert web.status_code == 200 and verify_lines(web.data.decode("utf-8").splitlines()).ok
    assert done in {e["instance"] for e in client.get("/api/v1/audit/events", headers=aud).get_json()["items"]}


def _token(client, user, password):
    return {"Authorization": "Bearer " + client.post(
        "/api/v1/auth/token", json={"username": user, "password": password}).get_json()["token"]}


def test_audit_page_and_api_list_the_same_events(app):
    """One use case behind both: the same reader and filters give the same events, masked alike."""
    b = login(app, "aud")
    client = app.test_client()
    aud = _token(client, "aud", "pw-aud")
    for args in ({"value": "SN20260101"}, {"type": "task:approved"}, {"procedure": PID, "actor": "inspector1"}):
        page = b.get("/audit", query_string=args)
        api = client.get("/api/v1/audit/events", query_string=args, headers=aud).get_json()
        assert re.findall(r'data-event="(\d+)"', page.text) == [str(e["id"]) for e in api["items"]], args
        assert api["items"] and PHONE not in page.text and PHONE not in str(api)


def test_auditor_reads_the_instance_the_audit_api_links_to(app):
    """The audit API's ``links.instance`` must open for the auditor it was given to (auditors
    read every instance), masked as everywhere else."""
    done, _running = app.config["IDS"]
    client = app.test_client()
    aud = _token(client, "aud", "pw-aud")
    items = client.get("/api/v1/audit/events", query_string={"value": "SN20260101"}, headers=aud).get_json()["items"]
    link = items[0]["links"]["instance"]
    assert link == f"/api/v1/instances/{done}"
    r = client.get(link, headers=aud)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["id"] == done and PHONE not in r.get_data(as_text=True)


def _rows(page: str, table: str) -> list[str]:
    body = re.search(rf'<table class="list" id="{table}">.*?</table>', page, re.S)
    return re.findall(r"<tr\b.*?</tr>", body.group(0), re.S)[1:] if body else []


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment)))


def test_a_started_process_reads_as_the_new_records_start_form_in_the_readers_language(app):
    """A spawn step's event holds the new record's start data: it is labelled by that
    procedure's start form (the spawn step has no form of its own), in zh and in en."""
    sessions = app.extensions["services"].database.sessions
    parent = play(app.extensions["workflow"], sessions, answers(f"{PID}--pass-repair"))
    b = login(app, "aud")
    rows = _rows(b.get("/audit", query_string={"type": "spawn:requested"}).text, "audit-results")
    assert len(rows) == 1 and f'data-instance="{parent["id"]}"' in rows[0]
    row = _text(rows[0])
    assert "客户/使用单位: 某市人民医院" in row and "规格型号: PM-9000" in row and "数量: 1" in row, row
    assert not re.search(r"\b(customer|model|product_name|quantity)\b", row), row
    b.post("/locale/en", {"next": "/"})
    row = _text(_rows(b.get("/audit", query_string={"type": "spawn:requested"}).text, "audit-results")[0])
    assert "Customer / user: 某市人民医院" in row and "Model: PM-9000" in row, row
    page = b.get(f"/audit/instances/{parent['id']}").text
    meta = _text(re.search(r'<dl class="meta">.*?</dl>', page, re.S).group(0))
    assert "Repair-process inspection" in meta and "repair-process-inspection" not in meta, meta
    spawn = _text(re.search(r'<tr id="e\d+" data-type="spawn:requested">.*?</tr>', page, re.S).group(0))
    assert "Repair-process inspection" in spawn, spawn


def test_the_access_log_reads_in_words_in_the_readers_language(app):
    """The view, the procedure, the fields, the user and "every record" in words; the ids
    the log records stay in attributes (data-view, data-fields) for machines and tests."""
    done, _running = app.config["IDS"]
    officer = login(app, "officer")
    officer.get(f"/audit/instances/{done}")
    officer.c.get(f"/audit/instances/{done}.pdf")
    officer.get(f"/ledgers/{PID}")
    officer.c.get(f"/ledgers/{PID}.csv")
    aud = login(app, "aud")
    words = {"zh": {"dossier": "记录档案", "pdf": "记录档案 PDF", "ledger": "台帐", "ledger-export": "台帐导出"},
             "en": {"dossier": "Dossier", "pdf": "Dossier PDF", "ledger": "Ledger", "ledger-export": "Ledger export"}}
    for lang in ("zh", "en"):
        aud.post(f"/locale/{lang}", {"next": "/"})
        rows = _rows(aud.get("/audit/access-log").text, "access-log")
        seen = {}
        for row in rows:
            view = re.search(r'data-view="([a-z-]+)"', row).group(1)
            cells = [_text(c).strip() for c in re.findall(r"<td\b.*?</td>", row, re.S)]
            seen[view] = cells
        assert set(words[lang]) <= set(seen), seen
        for view, word in words[lang].items():
            time_, user, record, procedure, fields, shown = seen[view]
            assert shown == word, (view, shown)
            assert user == "数据专员 (officer)"
            assert procedure == ("售后检验" if lang == "zh" else "After-sales inspection")
            assert "联系电话" in fields if lang == "zh" else "Phone" in fields, fields
            assert "start." not in fields and "contact_phone" not in fields
        everything = "全部记录" if lang == "zh" else "All records"
        assert seen["ledger-export"][2] == everything and seen["dossier"][2] == done


def test_the_audit_search_form_offers_titles_in_the_readers_language(app):
    """The search form names procedures, steps and fields by their titles in the reader's
    language (the values sent stay the ids)."""
    b = login(app, "aud")
    page = b.get("/audit", query_string={"procedure": PID}).text
    assert re.search(r'<option value="start\.serial_no"[^>]*>发起表单 · 产品编号/批号</option>', page), page
    assert '<option value="receive">接收产品</option>' in page
    assert "接收服务请求" not in page  # only the chosen procedure's steps
    b.post("/locale/en", {"next": "/"})
    page = b.get("/audit", query_string={"procedure": PID}).text
    assert re.search(r'<option value="after-sales-inspection" selected>After-sales inspection</option>', page)
    assert re.search(r'<option value="start\.serial_no"[^>]*>Start form · Serial / batch number</option>', page)
    assert '<option value="receive">Receive the product</option>' in page
    row = _text(_rows(page, "audit-results")[0])
    assert "After-sales inspection" in row and "售后检验" not in row, row


def test_every_kind_of_event_can_be_searched_by_its_name(app):
    """The search's kind list offered the events of issue 14 only: an auditor could not pick
    转交, 退回, 收回, 催办, 撤回, 抄送, 已阅 or the files recorded. Every event the runtime
    writes (its ``event("…")`` calls) and ``files:recorded`` is offered, by its name."""
    from pathlib import Path

    from engine.app.audit import EVENT_TYPES

    written = {m for f in Path("engine/runtime").glob("*.py")
               for m in re.findall(r'\bevent\("([a-z]+:[a-z_]+)"', f.read_text(encoding="utf-8"))}
    assert written and written | {"files:recorded"} <= set(EVENT_TYPES), sorted(written - set(EVENT_TYPES))
    page = login(app, "aud").get("/audit").text
    for kind, name in (("task:transferred", "转交"), ("task:urged", "催办"), ("files:recorded", "登记附件")):
        assert re.search(rf'<option value="{kind}"[^>]*>[^<]*{name}', page), kind
