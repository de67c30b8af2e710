"""An insider who writes into a record what no write of the application puts there: an event's
data that is not JSON (or not an object), a time that is not one, an instance state that is not
an object. Before, one such row ended ``wf audit verify`` with a traceback (nothing after it was
checked), answered 500 on the record page, the dossier and the API, and left the API's
``integrity`` null, which an integration could take for "not broken". Now the verifier names the
row and checks the rest, and every page that shows the record refuses it with what the check
found, in the reader's language."""

from __future__ import annotations

import html
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from engine.cli import main
from engine.store.audit_file import verify_lines
from tests.app.test_tamper_records import PID, finished_app  # noqa: F401  (the app fixture)
from tests.helpers.service import PASSWORD, add_users, answers, play
from tests.helpers.tamper import insider
from tests.web.test_api_integrity import reader
from tests.web.test_web_ui import Browser

# PostgreSQL's json and timestamp types refuse these outright; SQLite stores any text.
NOT_JSON = ["'{bad'", "'42'", "x'FFFE'"]


def tamper(app, sql: str, **params) -> None:
    with insider(app.extensions["services"].database.engine) as conn:
        conn.execute(text(sql), params)


def sqlite_only(app) -> None:
    if app.extensions["services"].database.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's column types refuse this value")


def verify() -> tuple[int, str, BaseException | None]:
    out = CliRunner().invoke(main, ["audit", "verify"])
    return out.exit_code, out.output, None if isinstance(out.exception, SystemExit) else out.exception


def api_error(app, iid: str, path: str = "", language: str = "zh") -> dict:
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "supervisor1", "password": PASSWORD}).get_json()["token"]
    r = client.get(f"/api/v1/instances/{iid}{path}",
                   headers={"Authorization": f"Bearer {token}", "Accept-Language": language})
    assert r.status_code == 409, r.get_data(as_text=True)[:300]
    return r.get_json()


def page(app, url: str) -> tuple[int, str]:
    b = Browser(app)
    b.login("supervisor1", PASSWORD)
    r = b.c.get(url)
    return r.status_code, html.unescape(r.get_data(as_text=True))


@pytest.mark.parametrize("value", NOT_JSON)
def test_an_event_that_is_not_json_is_named_and_the_other_records_still_verified(app, value):
    sqlite_only(app)
    iid = app.config["DONE"]
    sessions = app.extensions["services"].database.sessions
    other = play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"))["id"]
    tamper(app, f"UPDATE events SET data = {value} WHERE instance_id = :i AND seq = 3", i=iid)
    # and a second, ordinary forgery after it in the table: still found
    tamper(app, "UPDATE events SET actor = 'mallory' WHERE instance_id = :i AND seq = 2", i=other)
    code, out, crash = verify()
    assert crash is None and code == 1, out
    assert f"{iid}: event seq 3" in out and "unreadable: the event cannot be read (data:" in out, out
    assert f"{other}: event seq 2" in out and "hash mismatch" in out, out
    assert "2 of 2 instances" in out, out


def test_a_time_that_is_not_one_is_named(app):
    sqlite_only(app)
    iid = app.config["DONE"]
    tamper(app, "UPDATE events SET at = 'garbage' WHERE instance_id = :i AND seq = 3", i=iid)
    code, out, crash = verify()
    assert crash is None and code == 1 and "unreadable: the event cannot be read (at:" in out, out
    said = api_error(app, iid)
    assert said["code"] == "record_damaged"
    assert said["message"] == ("已被破坏：事件 3 无法读取：其中被写入了本应用从不写入的值；"
                               "此记录不可信，请联系管理员并从备份核对。")


@pytest.mark.parametrize("path", ["", "/events"])
def test_the_api_refuses_an_unreadable_event_with_what_the_check_found(app, path):
    sqlite_only(app)
    iid = app.config["DONE"]
    tamper(app, "UPDATE events SET data = '{bad' WHERE instance_id = :i AND seq = 3", i=iid)
    broken = ("BROKEN: event 3 cannot be read: a value was written into it that the application never writes. "
              "This record cannot be trusted: contact an administrator and check it against a backup.")
    assert api_error(app, iid, path, "en") == {"code": "record_damaged", "errors": [], "message": broken}
    # Without its history the answer reads no event: the record, and the check's word on it.
    said = reader(app)(iid, "en", "?history=false").get_json()["integrity"]
    assert said == {"ok": False, "checked": True, "events": said["events"], "record": False, "message": broken}


def test_an_event_whose_data_is_not_an_object_breaks_no_page(app):
    """A list where an object belongs is valid JSON, so PostgreSQL stores it too."""
    iid = app.config["DONE"]
    tamper(app, "UPDATE events SET data = :d WHERE instance_id = :i AND seq = 3", d="[1, 2]", i=iid)
    code, out, crash = verify()
    assert crash is None and code == 1 and f"{iid}: event seq 3" in out and "hash mismatch" in out, out
    for url in (f"/instances/{iid}", f"/audit/instances/{iid}", f"/audit/instances/{iid}.pdf"):
        status, body = page(app, url)
        assert status == 409, (url, body[:300])
        assert "已被破坏：事件 3 的内容被改动（哈希不符）" in body, url
    assert api_error(app, iid, "/events")["code"] == "record_damaged"


def test_an_instance_state_that_is_not_an_object_is_refused_to_readers_only(app):
    iid = app.config["DONE"]
    add_users(app.extensions["services"].database.sessions, ["tech1"])  # no role in this procedure
    tamper(app, "UPDATE instances SET state = :s WHERE id = :i", s="[1]", i=iid)
    code, out, crash = verify()
    assert crash is None and code == 1 and f"{iid}: event seq 0 (id 0): record cannot be read" in out, out
    said = api_error(app, iid)
    assert said["code"] == "record_damaged"
    assert said["message"] == ("已被破坏：所存的记录无法读取：其中被写入了本应用从不写入的值。此记录无法显示；"
                               "其审计轨迹完好，请联系管理员从备份恢复此记录。")
    status, body = page(app, f"/instances/{iid}")
    assert status == 409 and "此记录无法显示" in body
    # Someone who may not read the procedure's records is told that, not what happened to one.
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "tech1", "password": PASSWORD}).get_json()["token"]
    r = client.get(f"/api/v1/instances/{iid}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and "已被破坏" not in r.get_data(as_text=True), r.get_json()


def test_a_check_that_cannot_run_is_not_taken_for_an_intact_record(app):
    """A table the check reads is gone: the record is still shown, said to be unverified,
    and the API's ``integrity`` is not ok (a program copying records on ``ok`` stops)."""
    sqlite_only(app)  # on PostgreSQL the failed read ends the transaction and the page with it
    iid = app.config["DONE"]
    tamper(app, "ALTER TABLE field_index RENAME TO field_index_gone")
    get = reader(app)
    said = get(iid, "en").get_json()["integrity"]
    assert said["ok"] is False and said["checked"] is False and said["events"] is None, said
    assert said["message"].startswith("NOT VERIFIED: whether this record is what its audit trail proves"), said
    status, body = page(app, f"/instances/{iid}")
    assert status == 200 and 'id="record-integrity"' in body and "未经核验" in body


def test_one_unreadable_state_does_not_end_the_lists(app):
    """The lists read an instance's columns, not its state: the others are still listed."""
    sqlite_only(app)
    iid = app.config["DONE"]
    tamper(app, "UPDATE instances SET state = '{bad' WHERE id = :i", i=iid)
    status, body = page(app, "/instances")
    assert status == 200 and iid in body
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "supervisor1", "password": PASSWORD}).get_json()["token"]
    listed = client.get("/api/v1/instances", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [i["id"] for i in listed["items"]] == [iid]
    assert api_error(app, iid)["code"] == "record_damaged"


@pytest.mark.parametrize(("column", "value"), [("data", "'{bad'"), ("at", "'garbage'"), ("data", "'[1, 2]'")])
def test_the_audit_search_lists_an_unreadable_event_as_such(app, column, value):
    """One event a hand made unreadable is one row of the audit search that says so, on the
    page and in the API; the other events are still listed."""
    if value != "'[1, 2]'":
        sqlite_only(app)
    iid = app.config["DONE"]
    with app.extensions["services"].database.writing() as s:
        from engine.store import users

        users.add_user(s, "aud", PASSWORD, ["auditors"], full_name="审计员")
    tamper(app, f"UPDATE events SET {column} = {value} WHERE instance_id = :i AND seq = 3", i=iid)
    b = Browser(app)
    b.login("aud", PASSWORD)
    r = b.c.get("/audit")
    assert r.status_code == 200
    assert "事件 3 无法读取：其中被写入了本应用从不写入的值" in html.unescape(r.get_data(as_text=True))
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "aud", "password": PASSWORD}).get_json()["token"]
    got = client.get("/api/v1/audit/events?limit=100", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.get_data(as_text=True)[:300]
    items = got.get_json()["items"]
    assert sorted(i["seq"] for i in items) == list(range(1, len(items) + 1)) and len(items) > 3  # all of them
    assert [i for i in items if i["seq"] == 3][0]["summary"] == "事件 3 无法读取：其中被写入了本应用从不写入的值"


@pytest.mark.parametrize(("column", "value"), [("data", "'{bad'"), ("at", "'garbage'"), ("data", "x'FFFE'")])
def test_the_audit_export_names_an_unreadable_event_and_goes_on(app, column, value):
    """An event a hand made unreadable ended the audit export (``wf audit export`` with a
    traceback, the download cut short), so the auditor got no line after it. It is now one line
    that says what could not be read, the export goes on to its footer, and the offline check of
    the file names that line."""
    sqlite_only(app)
    iid = app.config["DONE"]
    sessions = app.extensions["services"].database.sessions
    other = play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"))["id"]
    tamper(app, f"UPDATE events SET {column} = {value} WHERE instance_id = :i AND seq = 3", i=iid)
    out = CliRunner().invoke(main, ["audit", "export"])
    assert out.exit_code == 0 and out.exception is None, out.output[-500:]
    lines = out.output.splitlines()
    assert '"kind":"footer"' in lines[-1], lines[-1]
    unreadable = [json.loads(line) for line in lines if '"unreadable"' in line]
    assert len(unreadable) == 1, unreadable
    assert unreadable[0]["instance_id"] == iid and unreadable[0]["seq"] == 3
    assert unreadable[0]["unreadable"].startswith(f"{column}:"), unreadable[0]
    assert any(json.loads(line).get("instance_id") == other for line in lines[1:-1])  # the rest is there
    report = verify_lines(lines)
    assert not report.ok
    assert any(f"instance {iid} seq 3: the event could not be read from the database ({column}:" in p
               for p in report.problems), report.problems
    # the same through the web download
    with app.extensions["services"].database.writing() as s:
        from engine.store import users

        users.add_user(s, "officer2", PASSWORD, ["auditors", "data-officers"], full_name="数据官")
    b = Browser(app)
    b.login("officer2", PASSWORD)
    web = b.c.get("/audit/export.jsonl")
    assert web.status_code == 200
    assert web.get_data(as_text=True).splitlines()[-1] == lines[-1]


@pytest.mark.parametrize("column", ["started_at", "ended_at", "updated_at", "next_timer_at"])
def test_an_instance_time_that_is_not_one_does_not_end_the_lists(app, column):
    """An instance row whose time a hand made unreadable ended the record list and the API's
    list for everyone who may read the procedure. That record is now listed without the time,
    the others as before, and opening it gives the integrity finding."""
    sqlite_only(app)
    iid = app.config["DONE"]
    sessions = app.extensions["services"].database.sessions
    other = play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"))["id"]
    tamper(app, f"UPDATE instances SET {column} = 'garbage' WHERE id = :i", i=iid)
    status, body = page(app, "/instances")
    assert status == 200 and iid in body and other in body
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "supervisor1", "password": PASSWORD}).get_json()["token"]
    listed = client.get("/api/v1/instances", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.get_data(as_text=True)[:300]
    assert {i["id"] for i in listed.get_json()["items"]} == {iid, other}
