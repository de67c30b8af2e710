"""An insider's edit read through the API: ``GET /api/v1/instances/{id}`` says what the record
page says above a record that differs from its trail (``integrity``), so an integration copying
records into an ERP does not take an edit made outside the chain as the record. Masked values
stay masked in what it says; an intact record says how many events were verified."""

from __future__ import annotations

from sqlalchemy import update

from engine.store.tables import Event
from tests.app.test_tamper_records import (
    edit_state,
    finished_app,  # noqa: F401  (the app fixture)
)
from tests.helpers.service import PASSWORD
from tests.helpers.tamper import insider


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
    assert body["integrity"] == {"ok": True, "events": len(body["history"])}
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
    assert said == {"ok": False, "events": said["events"], "record": False,
                    "message": "已被破坏：事件 3 的内容被改动（哈希不符）；此记录不可信，请联系管理员并从备份核对。"}
