"""Overdue state on the inbox and instance pages, the notifications page with its unread count,
and the notifications API — with the server's clock injected (``WF_CLOCK``)."""

from __future__ import annotations

import re

import pytest

from engine import store
from engine.app.worker import Worker
from engine.store import timekeeping as tk
from tests.helpers.time import TIME, Clock, local
from tests.web.test_web_ui import Browser
from web import create_app


@pytest.fixture
def clock():
    return Clock(local("2026-09-30 16:00"))


@pytest.fixture
def app(db_url, clock):
    app = create_app({"TESTING": True, "WF_CLOCK": clock, "WF_OVERRIDES": {
        "database.url": db_url, "locale": "en",
        "paths.procedures": str(TIME / "procedures"), "paths.forms": str(TIME / "forms"),
        "roles": {"clerk": ["clerks"], "chief": ["chiefs"], "director": ["directors"],
                  "admin": ["admins"]}}})
    with app.extensions["services"].database.sessions.begin() as s:
        store.add_user(s, "boss", "pw-boss", ["directors", "admins"])
        store.add_user(s, "chief1", "pw-chief1", ["chiefs"], manager="boss")
        store.add_user(s, "clerk1", "pw-clerk1", ["clerks"], manager="chief1")
    yield app
    app.extensions["services"].database.engine.dispose()


def _worker(app) -> Worker:
    return Worker(app.extensions["workflow"], app.extensions["services"].database.sessions)


def _start(app, kind: str = "h") -> str:
    with app.extensions["services"].database.sessions.begin() as s:
        state = app.extensions["workflow"].start(s, "timed-steps", "clerk1", {"kind": kind})
    return state["id"]


def test_overdue_escalated_and_notifications_pages(app, clock):
    iid = _start(app)
    b = Browser(app)
    b.login("clerk1")
    page = b.get("/").text
    assert 'class="overdue"' not in page
    assert re.search(r'id="unread-count">1<', page)  # the new task
    clock.set(local("2026-09-30 17:05"))
    # Overdue shows as soon as the due time has passed, before any worker ran ...
    assert 'class="overdue"' in b.get("/").text
    assert "Overdue" in b.get(f"/instances/{iid}").text
    # ... and the worker records the miss and the escalations, shown on the instance page.
    clock.set(local("2026-10-01 19:30"))
    _worker(app).run_once()
    page = b.get(f"/instances/{iid}").text
    assert "Escalated (level 3)" in page
    assert "Escalated to chief1, manager of -" not in page
    assert "no manager known: escalated to 服务主任 instead (nobody held the task)" in page
    notes = b.get("/notifications").text
    assert "Overdue: 各种时限 · 1小时内派人" in notes
    count = int(re.search(r'id="unread-count">(\d+)<', notes).group(1))
    ids = re.findall(r'name="id" value="(\d+)"', notes)
    assert len(ids) == count >= 2
    r = b.post("/notifications/read", {"id": ids[:1]})
    assert r.status_code == 302
    after = b.get("/notifications").text
    assert int(re.search(r'id="unread-count">(\d+)<', after).group(1)) == count - 1
    b.post("/notifications/read", {})
    assert 'id="unread-count"' not in b.get("/").text


def test_admin_sees_failed_deliveries_and_requeues_them(app, clock):
    app.config["WF"].raw["notifications"] = {
        "webhooks": [{"url": "http://127.0.0.1:9/closed", "secret": "x"}], "retry": {"attempts": 1}}
    _start(app)
    _worker(app).run_once()
    b = Browser(app)
    b.login("boss")
    page = b.get("/notifications").text
    assert 'id="deliveries"' in page and "http://127.0.0.1:9/closed" in page and "failed" in page
    b.post("/notifications/deliveries/retry")
    with app.extensions["services"].database.sessions() as s:
        assert tk.deliveries(s, status="failed") == []
    clerk = Browser(app)
    clerk.login("clerk1")
    assert 'id="deliveries"' not in clerk.get("/notifications").text


def test_notifications_api(app, clock):
    _start(app)
    c = app.test_client()
    token = c.post("/api/v1/auth/token", json={"username": "clerk1", "password": "pw-clerk1"}).get_json()["token"]
    h = {"Authorization": f"Bearer {token}", "Accept-Language": "zh"}
    body = c.get("/api/v1/notifications?unread=true", headers=h).get_json()
    assert body["unread"] == 1 and body["items"][0]["kind"] == "assigned"
    assert body["items"][0]["text"] == "新任务：各种时限 · 1小时内派人"
    nid = body["items"][0]["id"]
    assert c.post("/api/v1/notifications/read", json={"ids": "all"}, headers=h).status_code == 400
    for far in (2**63, -1, 0):  # no such notification (and beyond what the id column holds)
        r = c.post("/api/v1/notifications/read", json={"ids": [far]}, headers=h)
        assert r.status_code == 200 and r.get_json()["marked"] == 0
    r = c.post("/api/v1/notifications/read", json={"ids": [nid]}, headers=h).get_json()
    assert r == {"marked": 1, "unread": 0}
    assert c.get("/api/v1/notifications?unread=true", headers=h).get_json()["items"] == []
    assert c.get("/api/v1/notifications?unread=maybe", headers=h).status_code == 400
    assert c.get("/api/v1/notifications").status_code == 401
    doc = c.get("/api/v1/openapi.json").get_json()
    assert {"/notifications", "/notifications/read"} <= set(doc["paths"])


def test_manager_a_deadline_escalated_to_acts_from_the_task_page(app, clock):
    """The inbox, the API and the task page ask one rule (``engine.runtime.access.may_act``):
    a task escalated to the holder's manager by name may be done by that manager from the
    page. (Before, the page refused what the inbox offered and the API allowed.)"""
    iid = _start(app)
    clerk = Browser(app)
    clerk.login("clerk1")
    task_id = f"{iid}.{tasks_in_instance(app, iid)}"
    assert clerk.post(f"/tasks/{task_id}/claim").status_code == 302
    assert clerk.post(f"/tasks/{task_id}/release").status_code == 302
    clock.set(local("2026-09-30 17:05"))  # due 17:00; level 1 goes to the holder's manager
    _worker(app).run_once()
    chief = Browser(app)
    chief.login("chief1")
    assert task_id in chief.get("/").text  # offered in the manager's inbox ...
    page = chief.get(f"/tasks/{task_id}")
    assert page.status_code == 200, page.text  # ... and the page lets the manager act
    r = chief.post(f"/tasks/{task_id}", {"f.result": "已派人", "action": "submit"})
    assert r.status_code == 302, r.text
    assert app.extensions["workflow"].instance(
        app.extensions["services"].database.sessions(), iid)["status"] == "completed"
    # Someone the task was never for is still refused.
    other = Browser(app)
    other.login("boss")
    assert other.get(f"/tasks/{task_id}").status_code in (302, 403)


def tasks_in_instance(app, iid: str) -> str:
    with app.extensions["services"].database.sessions() as s:
        inst = app.extensions["workflow"].instance(s, iid)
    return next(t["id"] for t in inst["tasks"] if t["status"] == "open")
