"""The answer of a step (issue 20, "cheaper steps"), through the Flask test client on SQLite
and (when configured) PostgreSQL.

A change answers with the instance built from the state it has just written instead of
reading the row back: what it answers must be what a reader then reads. ``?history=false``
leaves the events out of the answer and nothing else; a bad value changes nothing.
"""

from __future__ import annotations

import time
from functools import cache

import pytest

from engine.store import users as user_store
from web import create_app

PW = "s3cret-pw"
START = {"customer": "某市人民医院", "product_name": "多参数监护仪", "model": "PM-9000",
         "serial_no": "SN20260101", "quantity": 1}
RECEIVE = {"receipt_no": "RK-2026-0101", "received_on": "2026-11-02",
           "condition": "包装完好", "reported_fault": "开机后血氧读数跳变"}
INSPECT = {
    "items": [{"item": "外观", "method": "目视检查", "requirement": "无裂纹", "measured": "轻微划痕", "result": "合格"}],
    "instrument": "血氧模拟器 SIM-02", "ambient_temperature": 23.5, "ambient_humidity": 55,
    "inspector": "inspector1", "inspected_at": "2026-11-03T10:00:00+08:00", "verdict": "合格",
}
CONFORMING = {"disposition": "返修", "repair_record": "返厂返修", "repair_ref": "FX-2026-0034"}
REPORT = {"report_no": "JY-2026-0101", "process_summary": "检验完成", "conclusion": "合格"}


@cache
def _hash(password: str) -> str:
    return user_store.generate_password_hash(password, method=user_store.PASSWORD_METHOD)


@pytest.fixture
def client(db_url, monkeypatch):
    monkeypatch.setattr(user_store, "hash_password", _hash)
    app = create_app({"TESTING": True, "WF_OVERRIDES": {"database.url": db_url},
                      "SECRET_KEY": "test-secret"})
    with app.extensions["services"].database.writing() as session:
        user_store.add_user(session, "inspector1", PW, ["qa-inspectors"], full_name="检验员一")
        user_store.add_user(session, "supervisor1", PW, ["qa-supervisors"], full_name="主管一")
    yield app.test_client()
    app.extensions["services"].database.engine.dispose()


def headers(client, user: str) -> dict:
    r = client.post("/api/v1/auth/token", json={"username": user, "password": PW})
    assert r.status_code == 200, r.json
    return {"Authorization": f"Bearer {r.json['token']}"}


def read_back(client, iid: str, headers: dict, query: str = "") -> dict:
    """The instance as ``GET /instances/{id}`` answers it, without the integrity check it adds
    (an action's answer does not carry it: docs/api.md)."""
    read = client.get(f"/api/v1/instances/{iid}{query}", headers=headers).json
    events = len(client.get(f"/api/v1/instances/{iid}/events", headers=headers).json["items"])
    assert read.pop("integrity") == {"ok": True, "checked": True, "events": events}
    return read


def open_task(inst: dict) -> dict:
    return next(t for t in inst["tasks"] if t["status"] == "open")


def test_each_answer_is_what_a_reader_reads_afterwards(client):
    """Form steps, a signed step and an approval: every answer (built from the state the
    step wrote) equals the instance read back, history included."""
    insp, sup = headers(client, "inspector1"), headers(client, "supervisor1")
    r = client.post("/api/v1/procedures/after-sales-inspection/instances", json={"data": START}, headers=insp)
    assert r.status_code == 201
    inst = r.json
    assert inst == read_back(client, inst["id"], insp)
    for step, body, who in (("receive", {"data": RECEIVE}, insp), ("inspect", {"data": INSPECT}, insp),
                            ("conforming", {"data": CONFORMING}, insp),
                            ("report", {"data": REPORT, "password": PW}, insp),
                            ("review", {"data": {"decision": "reject", "comment": "结论不清", "password": PW}}, sup)):
        task = open_task(inst)
        assert task["step"] == step
        r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={**body, "expected_rev": inst["rev"]},
                        headers=who)
        assert r.status_code == 200, r.json
        answered = r.json
        assert answered == read_back(client, inst["id"], insp)
        assert answered["rev"] == inst["rev"] + 1 and answered["history"][-1]["seq"] == len(answered["history"])
        inst = answered
    assert open_task(inst)["step"] == "report"  # the rejection sent the report back


def test_history_false_leaves_out_the_events_and_nothing_else(client):
    insp = headers(client, "inspector1")
    r = client.post("/api/v1/procedures/after-sales-inspection/instances?history=false",
                    json={"data": START}, headers=insp)
    assert r.status_code == 201 and "history" not in r.json
    light = r.json
    full = read_back(client, light["id"], insp)
    assert {k: v for k, v in full.items() if k != "history"} == light
    # The light answer carries what a client needs for the next step: the task and rev.
    task = open_task(light)
    r = client.post(f"/api/v1/tasks/{task['id']}/complete?history=false",
                    json={"data": RECEIVE, "expected_rev": light["rev"]}, headers=insp)
    assert r.status_code == 200 and "history" not in r.json
    after = r.json
    assert after["rev"] == light["rev"] + 1 and open_task(after)["step"] == "inspect"
    assert after["data"]["receive"]["receipt_no"] == "RK-2026-0101"
    # The trail is complete all the same, and a read without history leaves it out too.
    events = client.get(f"/api/v1/instances/{light['id']}/events", headers=insp).json["items"]
    assert [e["type"] for e in events][-2:] == ["task:completed", "task:created"]
    assert read_back(client, light["id"], insp, "?history=0") == after
    assert client.get(f"/api/v1/instances/{light['id']}?history=1", headers=insp).json["history"] == [
        {k: e[k] for k in ("seq", "type", "step", "task", "actor", "at", "data")} for e in events]


def test_a_bad_history_value_is_refused_before_anything_changes(client):
    insp = headers(client, "inspector1")
    inst = client.post("/api/v1/procedures/after-sales-inspection/instances", json={"data": START},
                       headers=insp).json
    task = open_task(inst)
    r = client.post(f"/api/v1/tasks/{task['id']}/complete?history=no",
                    json={"data": RECEIVE, "expected_rev": inst["rev"]}, headers=insp)
    assert r.status_code == 400
    assert r.json["errors"] == [{"field": "history", "message": "true or false"}]
    after = client.get(f"/api/v1/instances/{inst['id']}", headers=insp).json
    assert after["rev"] == inst["rev"] and open_task(after)["id"] == task["id"]
    r = client.post("/api/v1/procedures/after-sales-inspection/instances?history=yes",
                    json={"data": START}, headers=insp)
    assert r.status_code == 400
    listed = client.get("/api/v1/instances", headers=insp).json
    assert listed["total"] == 1


def test_a_token_checked_once_still_expires_and_is_still_revocable(client, monkeypatch):
    """The API remembers which token signatures it has checked (issue 20): a remembered
    token is still refused once older than the configured age, and after a sign-out."""
    h = headers(client, "inspector1")
    issued_by = int(time.time())  # tokens carry whole seconds
    assert client.get("/api/v1/tasks", headers=h).status_code == 200  # checked, remembered
    assert client.get("/api/v1/tasks", headers=h).status_code == 200
    monkeypatch.setitem(client.application.config, "API_TOKEN_MAX_AGE", 0)
    while int(time.time()) <= issued_by:  # older than 0 s: the next whole second
        time.sleep(0.02)
    r = client.get("/api/v1/tasks", headers=h)
    assert r.status_code == 401 and "expired" in r.json["message"]
    monkeypatch.setitem(client.application.config, "API_TOKEN_MAX_AGE", 3600)
    assert client.get("/api/v1/tasks", headers=h).status_code == 200
    with client.application.extensions["services"].database.writing() as s:
        user_store.end_sessions(s, "inspector1")
    r = client.get("/api/v1/tasks", headers=h)
    assert r.status_code == 401 and "revoked" in r.json["message"]
    forged = {"Authorization": h["Authorization"][:-2] + ("AA" if not h["Authorization"].endswith("AA") else "BB")}
    assert client.get("/api/v1/tasks", headers=forged).status_code == 401
