"""An insider's edit read through the API: ``GET /api/v1/instances/{id}`` says what the record
page says above a record that differs from its trail (``integrity``), so an integration copying
records into an ERP does not take an edit made outside the chain as the record. Masked values
stay masked in what it says; an intact record says how many events were verified."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select, text, update

from engine.store import users
from engine.store.tables import AccessLog, Event
from tests.app.test_tamper_records import (
    edit_state,
    finished_app,  # noqa: F401  (the app fixture)
)
from tests.helpers.service import PASSWORD
from tests.helpers.tamper import insider
from tests.web.test_web_ui import Browser


def reader(app, username="supervisor1"):
    client = app.test_client()
    got = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert got.status_code == 200, got.get_json()
    headers = {"Authorization": f"Bearer {got.get_json()['token']}"}

    def get(iid, language="zh", query=""):
        r = client.get(f"/api/v1/instances/{iid}{query}", headers={**headers, "Accept-Language": language})
        assert r.status_code == 200, r.get_json()
        return r

    return get


def test_an_intact_record_says_how_many_events_were_verified(app):
    iid = app.config["DONE"]
    get = reader(app)
    body = get(iid).get_json()
    assert body["integrity"] == {"ok": True, "checked": True, "events": len(body["history"])}
    assert get(iid, query="?history=false").get_json()["integrity"]["ok"] is True


def test_a_value_edited_outside_the_chain_is_said_in_the_callers_language(app):
    iid = app.config["DONE"]
    get = reader(app)
    edit_state(app, iid, lambda s: s["data"]["report"].update(conclusion="合格"))
    zh = get(iid).get_json()
    assert zh["data"]["report"]["conclusion"] == "合格"  # what is stored, as the record page shows it
    assert zh["integrity"]["ok"] is False and zh["integrity"]["record"] is True
    assert zh["integrity"]["message"].startswith(
        "已被破坏：所显示的记录与其审计轨迹不一致：「检验报告编制」的「结论」记录中为 '合格'，审计轨迹为 '不合格'。")
    en = get(iid, "en").get_json()["integrity"]
    assert en["message"].startswith(
        "BROKEN: the record shown differs from its audit trail: the value of “Conclusion” in "
        "“Write the inspection report” is '合格' in the record, '不合格' in its audit trail."), en


def test_a_masked_value_stays_masked_in_what_the_check_found(app):
    iid = app.config["DONE"]
    get = reader(app)
    edit_state(app, iid, lambda s: s["data"]["start"].update(contact_phone="13911112222"))
    r = get(iid)
    said = r.get_json()["integrity"]
    assert said["ok"] is False and "「联系电话」记录中为 ●●●●，审计轨迹为 ●●●●" in said["message"], said
    assert "13911112222" not in r.get_data(as_text=True) and "13800000000" not in r.get_data(as_text=True)


def test_a_changed_event_says_the_trail_itself_is_broken(app):
    iid = app.config["DONE"]
    get = reader(app)
    with insider(app.extensions["services"].database.engine) as conn:
        conn.execute(update(Event.__table__).where(Event.__table__.c.instance_id == iid, Event.__table__.c.seq == 3)
                     .values(actor="mallory"))
    said = get(iid).get_json()["integrity"]
    assert said == {"ok": False, "checked": True, "events": said["events"], "record": False,
                    "message": "已被破坏：事件 3 的内容被改动（哈希不符）；此记录不可信，请联系管理员并从备份核对。"}


def test_a_record_that_cannot_be_read_is_said_broken_not_unchecked(app):
    """An insider writes what no write of the application puts in a column (a task kind no
    enum knows) beside an edit: the check still runs the chain on its own and says the record
    is broken, rather than failing (the dossier answered 500, the API null)."""
    iid = app.config["DONE"]
    get = reader(app)
    with app.extensions["services"].database.engine.begin() as conn:
        conn.execute(text("UPDATE tasks SET kind = 'bogus' WHERE instance_id = :i"), {"i": iid})
    said = get(iid).get_json()["integrity"]
    assert said["ok"] is False and said["record"] is True
    assert "所存的记录无法读取：其中被写入了本应用从不写入的值" in said["message"], said
    with insider(app.extensions["services"].database.engine) as conn:
        conn.execute(update(Event.__table__).where(Event.__table__.c.instance_id == iid, Event.__table__.c.seq == 3)
                     .values(actor="mallory"))
    assert "事件 3 的内容被改动" in get(iid).get_json()["integrity"]["message"]
    page = Browser(app)
    page.login("supervisor1", PASSWORD)
    dossier = page.get(f"/audit/instances/{iid}")
    assert dossier.status_code == 200 and "事件 3 的内容被改动" in dossier.text


def test_a_value_the_check_shows_a_cleared_reader_is_in_the_access_log(app):
    """A cleared reader (data-officers) reads, without the history, a record whose sensitive
    value an insider removed from the stored state: the finding prints the trail's value in
    clear, so the access log counts that field as shown."""
    iid = app.config["DONE"]
    phone = app.config["STATE"]["data"]["start"]["contact_phone"]
    database = app.extensions["services"].database
    with database.writing() as s:
        users.add_user(s, "officer1", PASSWORD, ["qa-supervisors", "data-officers"], full_name="审计专员")
    edit_state(app, iid, lambda state: state["data"]["start"].pop("contact_phone"))
    said = reader(app, "officer1")(iid, query="?history=false").get_json()["integrity"]
    assert phone in said["message"], said
    with database.reading() as s:
        logged = [f for f, in s.execute(select(AccessLog.fields).where(AccessLog.username == "officer1"))]
    assert any("start.contact_phone" in f.split(",") for f in logged), logged


def test_a_record_being_worked_on_reads_intact_while_it_moves(db_url, tmp_path):
    """The check's reads (the record, its events, task rows and files) see one snapshot: on
    PostgreSQL each statement used to see its own, and a step committed between them made an
    intact record read as broken, about one read in a hundred with a claim and release going on."""
    from tests.app.test_perf_answers import START
    from tests.helpers.service import add_users, web_app

    app = web_app(db_url, tmp_path)
    try:
        add_users(app.extensions["services"].database.sessions, ["inspector1", "supervisor1"])
        writer = app.test_client()
        wh = {"Authorization": "Bearer " + writer.post("/api/v1/auth/token", json={
            "username": "inspector1", "password": PASSWORD}).get_json()["token"]}
        inst = writer.post("/api/v1/procedures/after-sales-inspection/instances", json={"data": START},
                           headers=wh).get_json()
        task = next(t for t in inst["tasks"] if t["status"] == "open")["id"]
        stop = time.monotonic() + 6
        moved, bad, reads = [0], [], [0]

        def work() -> None:
            while time.monotonic() < stop:
                for action in ("claim", "release"):
                    moved[0] += writer.post(f"/api/v1/tasks/{task}/{action}", json={}, headers=wh).status_code == 200

        def look() -> None:
            get = reader(app)
            while time.monotonic() < stop:
                said = get(inst["id"], query="?history=false").get_json()["integrity"]
                reads[0] += 1
                if not (said or {}).get("ok"):
                    bad.append(said)

        threads = [threading.Thread(target=work), *(threading.Thread(target=look) for _ in range(2))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert moved[0] > 20 and reads[0] > 20 and not bad, (moved[0], reads[0], bad[:3])
    finally:
        app.extensions["services"].database.engine.dispose()
