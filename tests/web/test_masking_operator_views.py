"""Sensitive fields (``x-sensitive``) on the operator views: the instance page, the task page
and the API's instances, events and tasks. Cleared readers see them in clear (logged), the
user working on an open task sees them on that task's page (logged as ``task``), everybody
else sees the mask; a masked value never finds its way back into the record."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from engine.app.access import reader_of
from engine.app.masking import MASK, mask_event, sensitive_keys
from engine.runtime.machine import open_tasks
from engine.store import users as user_store
from engine.store.audit_search import access_log
from tests.helpers.service import PASSWORD, add_users, answers, open_task, play, web_app
from tests.web.test_web_ui import Browser

PID = "after-sales-inspection"
PHONE = "13800000000"
PERSON = "王工"
RECORDS = Path(__file__).resolve().parents[1] / "data" / "records"


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    with sessions.begin() as s:
        user_store.add_user(s, "insp2", PASSWORD, ["qa-inspectors"], full_name="检验员二")
        user_store.add_user(s, "officer", "pw-officer", ["qa-supervisors", "data-officers"],
                            full_name="数据专员")
    wf = app.extensions["workflow"]
    # Started with a contact (start.contact_person, start.contact_phone are sensitive),
    # received; the inspection is open for the inspectors.
    state = play(wf, sessions, answers(f"{PID}--pass-repair"), upto=1)
    plain = answers(f"{PID}--pass-repair")
    plain["start"]["data"] = {k: v for k, v in plain["start"]["data"].items()
                              if k not in ("contact_person", "contact_phone")}
    bare = play(wf, sessions, plain, upto=1)
    app.config["IDS"] = {"inst": state["id"], "task": open_task(state, "inspect"),
                         "bare": bare["id"], "bare_task": open_task(bare, "inspect")}
    yield app
    app.extensions["services"].database.engine.dispose()


def login(app, user, password=PASSWORD):
    b = Browser(app)
    b.login(user, password)
    return b


def token(app, user, password=PASSWORD):
    r = app.test_client().post("/api/v1/auth/token", json={"username": user, "password": password})
    return {"Authorization": "Bearer " + r.get_json()["token"]}


def log_rows(app, instance_id=None):
    with app.extensions["services"].database.sessions() as s:
        rows, _more = access_log(s, instance_id=instance_id, limit=200)
    return [(r.username, r.view, r.fields) for r in rows]


def stored(app, instance_id):
    wf = app.extensions["workflow"]
    with app.extensions["services"].database.sessions() as s:
        return wf.instance(s, instance_id)


# --------------------------------------------------------------------------- instance page


def test_instance_page_is_masked_without_clearance_even_for_a_task_holder(app):
    ids = app.config["IDS"]
    for user in ("inspector1", "supervisor1"):  # inspector1 may act on the open inspection
        page = login(app, user).get(f"/instances/{ids['inst']}")
        assert page.status_code == 200
        text = page.text
        assert PHONE not in text and PERSON not in text, user
        assert MASK in text
        # the data section, the timeline (instance:started) and the correction form's
        # current values are all masked
        start = re.search(r'<section class="step-data" data-step="start">.*?</section>', text, re.S).group(0)
        assert start.count(MASK) == 2
        timeline = re.search(r'<ol class="timeline".*?</ol>', text, re.S).group(0)
        assert timeline.count(MASK) == 2
        options = re.search(r'<select name="target".*?</select>', text, re.S)
        if options:  # inspector1 holds a start role, so may correct
            assert f"({MASK})" in options.group(0)
        assert "SN20260101" in text and 'id="masked-notice"' in text  # other values stay
    assert log_rows(app) == []


def test_cleared_reader_sees_the_instance_page_in_clear_and_the_view_is_logged(app):
    ids = app.config["IDS"]
    text = login(app, "officer", "pw-officer").get(f"/instances/{ids['inst']}").text
    assert PHONE in text and PERSON in text and MASK not in text and 'id="masked-notice"' not in text
    assert log_rows(app, ids["inst"]) == [("officer", "instance", "start.contact_person,start.contact_phone")]


def test_corrections_of_sensitive_fields_are_masked_on_the_instance_page(app):
    ids = app.config["IDS"]
    wf = app.extensions["workflow"]
    with app.extensions["services"].database.writing() as s:
        wf.correct(s, ids["inst"], "inspector1", "start", "contact_phone", "13900000000", "号码笔误")
    text = login(app, "supervisor1").get(f"/instances/{ids['inst']}").text
    assert PHONE not in text and "13900000000" not in text and "号码笔误" in text
    assert f"{MASK} → {MASK}" in text  # the correction (timeline and data section)
    assert log_rows(app) == []
    text = login(app, "officer", "pw-officer").get(f"/instances/{ids['inst']}").text
    assert f"{PHONE} → 13900000000" in text


# --------------------------------------------------------------------------- task page


def test_task_holder_sees_the_values_on_the_task_page_and_the_view_is_logged(app):
    ids = app.config["IDS"]
    b = login(app, "inspector1")
    page = b.get(f"/tasks/{ids['task']}")
    assert page.status_code == 200
    earlier = re.search(r'<details class="earlier".*?</details>', page.text, re.S).group(0)
    assert PHONE in earlier and PERSON in earlier and MASK not in page.text
    assert log_rows(app, ids["inst"]) == [("inspector1", "task", "start.contact_person,start.contact_phone")]

    # a supervisor may not act on the inspection: no page, nothing logged
    assert login(app, "supervisor1").get(f"/tasks/{ids['task']}").status_code == 403
    # once inspector1 claims it, the other inspector no longer works on it
    b.post(f"/tasks/{ids['task']}/claim", {})
    assert login(app, "insp2").get(f"/tasks/{ids['task']}").status_code == 403
    assert [r[0] for r in log_rows(app)] == ["inspector1"]


def test_nothing_is_logged_when_no_sensitive_value_is_shown(app):
    ids = app.config["IDS"]
    officer = login(app, "officer", "pw-officer")
    assert officer.get(f"/instances/{ids['bare']}").status_code == 200
    assert login(app, "inspector1").get(f"/tasks/{ids['bare_task']}").status_code == 200
    client = app.test_client()
    auth = token(app, "officer", "pw-officer")
    assert client.get(f"/api/v1/instances/{ids['bare']}", headers=auth).status_code == 200
    assert client.get(f"/api/v1/instances/{ids['bare']}/events", headers=auth).status_code == 200
    assert client.get("/api/v1/tasks", headers=token(app, "inspector1")).status_code == 200
    assert log_rows(app) == []


# --------------------------------------------------------------------------- API


def test_api_masks_instances_and_events_without_clearance(app):
    ids = app.config["IDS"]
    client = app.test_client()
    for user in ("inspector1", "supervisor1"):
        auth = token(app, user)
        inst = client.get(f"/api/v1/instances/{ids['inst']}", headers=auth)
        assert inst.status_code == 200 and PHONE not in inst.text and PERSON not in inst.text
        body = inst.get_json()
        assert body["data"]["start"]["contact_phone"] == MASK
        assert body["data"]["start"]["serial_no"] == "SN20260101"
        started = next(e for e in body["history"] if e["type"] == "instance:started")
        assert started["data"]["data"]["contact_person"] == MASK
        events = client.get(f"/api/v1/instances/{ids['inst']}/events", headers=auth)
        assert events.status_code == 200 and PHONE not in events.text
        started = next(e for e in events.get_json()["items"] if e["type"] == "instance:started")
        assert started["data"]["data"]["contact_phone"] == MASK and started["hash"]
        tasks = client.get("/api/v1/tasks", headers=auth)
        assert tasks.status_code == 200 and PHONE not in tasks.text
    # a write answers with the instance: masked as well
    r = client.post(f"/api/v1/tasks/{ids['task']}/claim", headers=token(app, "inspector1"))
    assert r.status_code == 200 and r.get_json()["data"]["start"]["contact_phone"] == MASK
    assert log_rows(app) == []


def test_api_shows_values_to_a_cleared_caller_and_logs_each_answer(app):
    ids = app.config["IDS"]
    client = app.test_client()
    auth = token(app, "officer", "pw-officer")
    body = client.get(f"/api/v1/instances/{ids['inst']}", headers=auth).get_json()
    assert body["data"]["start"]["contact_phone"] == PHONE
    events = client.get(f"/api/v1/instances/{ids['inst']}/events", headers=auth).get_json()
    assert PHONE in str(events["items"])
    fields = "start.contact_person,start.contact_phone"
    assert log_rows(app, ids["inst"]) == [("officer", "api", fields), ("officer", "api", fields)]
    assert client.get(f"/api/v1/instances/{ids['inst']}/nope", headers=auth).status_code == 404
    assert len(log_rows(app)) == 2


# --------------------------------------------------------------------------- masks never stored


def test_a_masked_value_is_never_stored(app):
    ids = app.config["IDS"]
    b = login(app, "inspector1")
    text = b.get(f"/instances/{ids['inst']}").text
    assert MASK in text
    # correcting another field after viewing the masked page keeps the contact
    r = b.post(f"/instances/{ids['inst']}/correct", {"target": "start:model", "value": "PM-9001", "reason": "笔误"})
    assert r.status_code == 302
    # sending the mask back as the value of a sensitive field is refused, web and API
    r = b.post(f"/instances/{ids['inst']}/correct", {"target": "start:contact_phone", "value": MASK, "reason": "r"})
    assert r.status_code == 422 and 'data-error-for="value"' in r.text
    client = app.test_client()
    auth = token(app, "inspector1")
    r = client.post(f"/api/v1/instances/{ids['inst']}/corrections", headers=auth,
                    json={"step": "start", "field": "contact_person", "value": MASK, "reason": "r"})
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "contact_person"
    data = stored(app, ids["inst"])["data"]["start"]
    assert data["contact_phone"] == PHONE and data["contact_person"] == PERSON and data["model"] == "PM-9001"

    # a new instance started with the mask (web and API) is refused too
    start = {"f.customer": "某医院", "f.product_name": "监护仪", "f.serial_no": "SN1", "f.quantity": "1",
             "f.contact_phone": MASK}
    b.get(f"/start/{PID}")
    r = b.post(f"/start/{PID}", start)
    assert r.status_code == 422 and 'data-error-for="contact_phone"' in r.text
    r = client.post(f"/api/v1/procedures/{PID}/instances", headers=auth, json={"data": {
        "customer": "某医院", "product_name": "监护仪", "serial_no": "SN1", "quantity": 1, "contact_phone": MASK}})
    assert r.status_code == 422


# --------------------------------------------------------------------------- a step that runs again


@pytest.fixture
def complaint_app(db_url, tmp_path):
    """complaint-demo: register (a sensitive contact_phone) -> verify (approval; a rejection
    sends the register step back, prefilled with what was recorded)."""
    app = web_app(db_url, tmp_path, **{
        "paths.procedures": str(RECORDS / "procedures"), "paths.forms": str(RECORDS / "forms"),
        "roles.quality": ["quality-dept"]})
    sessions = app.extensions["services"].database.sessions
    with sessions.begin() as s:
        user_store.add_user(s, "q1", "pw-q1", ["quality-dept"], full_name="质管员一")
        user_store.add_user(s, "q2", "pw-q2", ["quality-dept"], full_name="质管员二")
    wf = app.extensions["workflow"]
    with sessions.begin() as s:
        st = wf.start(s, "complaint-demo", "q1")
        st = wf.complete_task(s, f"{st['id']}.{open_tasks(st)[0]['id']}", "q1", {
            "complaint_no": "TS-1", "customer": "某医院", "contact_phone": "13912345678",
            "category": "服务", "severity": "一般"})
    app.config["INST"] = st["id"]
    yield app
    app.extensions["services"].database.engine.dispose()


def _inputs(page: str) -> dict[str, str]:
    """The values a browser would post back from the task form."""
    form = re.search(r'<form method="post" enctype="multipart/form-data".*?</form>', page, re.S).group(0)
    out = {n: html.unescape(v) for n, v in re.findall(r'<input id="(f\.[^"]+)" name="[^"]+" type="text" value="([^"]*)"', form)}
    out.update((n, html.unescape(v)) for n, v in
               re.findall(r'<input type="radio" name="(f\.[^"]+)" value="([^"]*)" checked>', form))
    for name, body in re.findall(r'<select id="(f\.[^"]+)" name="[^"]+">(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        out[name] = html.unescape(chosen.group(1)) if chosen else ""
    return out


def test_a_step_that_runs_again_is_prefilled_with_the_real_values(complaint_app):
    app = complaint_app
    inst = app.config["INST"]
    phone = "13912345678"
    q2 = login(app, "q2", "pw-q2")
    verify = re.findall(r'href="/tasks/([A-Z0-9]+\.t\d+)"', q2.get("/").text)[0]
    page = q2.get(f"/tasks/{verify}").text  # the approver works on the open verify task
    assert phone in page
    r = q2.post(f"/tasks/{verify}", {"action": "reject", "comment": "证据不足"})
    assert r.status_code == 302
    assert phone not in q2.get(f"/instances/{inst}").text  # browsing later: masked

    q1 = login(app, "q1", "pw-q1")
    register = re.findall(r'href="/tasks/([A-Z0-9]+\.t\d+)"', q1.get("/").text)[0]
    page = q1.get(f"/tasks/{register}").text
    values = _inputs(page)
    assert values["f.contact_phone"] == phone and MASK not in page
    # the prefill was shown in clear: logged
    assert ("q1", "task", "register.contact_phone") in log_rows(app, inst)
    values["f.batch_no"] = "B7"
    r = q1.post(f"/tasks/{register}", {**values, "rev": stored(app, inst)["rev"], "action": "submit"})
    assert r.status_code == 302, r.text
    data = stored(app, inst)["data"]["register"]
    assert data["contact_phone"] == phone and data["batch_no"] == "B7"

    # the API: a client re-sending the masked data it read keeps the recorded value
    client = app.test_client()
    auth = token(app, "q1", "pw-q1")
    body = client.get(f"/api/v1/instances/{inst}", headers=auth).get_json()
    assert body["data"]["register"]["contact_phone"] == MASK
    verify = next(t["id"] for t in body["tasks"] if t["status"] == "open")
    r = client.post(f"/api/v1/tasks/{verify}/complete", headers=auth, json={
        "data": {"decision": "reject", "comment": "再核实"}})
    assert r.status_code == 200
    register = next(t["id"] for t in r.get_json()["tasks"] if t["status"] == "open")
    r = client.post(f"/api/v1/tasks/{register}/complete", headers=auth,
                    json={"data": {**body["data"]["register"], "batch_no": "B8"}})
    assert r.status_code == 200, r.text
    assert r.get_json()["data"]["register"]["contact_phone"] == MASK
    data = stored(app, inst)["data"]["register"]
    assert data["contact_phone"] == phone and data["batch_no"] == "B8"

    # the mask where nothing is recorded (a first submission) is refused, API and web
    new = client.post("/api/v1/procedures/complaint-demo/instances", headers=auth, json={}).get_json()
    first = next(t["id"] for t in new["tasks"] if t["status"] == "open")
    fresh = {"complaint_no": "TS-2", "customer": "某医院", "category": "服务", "severity": "一般"}
    r = client.post(f"/api/v1/tasks/{first}/complete", headers=auth,
                    json={"data": {**fresh, "contact_phone": MASK}})
    assert r.status_code == 422 and [e["field"] for e in r.get_json()["errors"]] == ["contact_phone"]
    q1.get(f"/tasks/{first}")
    r = q1.post(f"/tasks/{first}", {**{f"f.{k}": v for k, v in fresh.items()}, "f.contact_phone": MASK,
                                    "action": "submit"})
    assert r.status_code == 422 and 'data-error-for="contact_phone"' in r.text
    assert "register" not in stored(app, new["id"])["data"]


# --------------------------------------------------------------------------- values a spawn copies


def test_values_a_spawn_step_copies_from_sensitive_fields_are_sensitive(app):
    wf = app.extensions["workflow"]
    with app.extensions["services"].database.sessions() as s, app.test_request_context():
        proc, _vid = wf.procedure(s, "service-request")
        keys = sensitive_keys(proc)
        reader = reader_of(wf.config, "someone", ["qa-inspectors"])
    assert {"start.contact_phone", "open_dispatch.contact_phone", "open_dispatch.address"} <= keys
    assert "open_dispatch.customer" not in keys
    event = {"type": "spawn:requested", "step": "open_dispatch",
             "data": {"procedure": "field-service-dispatch",
                      "data": {"customer": "某医院", "contact_phone": PHONE}}}
    masked, shown = mask_event(keys, event, reader)
    assert masked["data"]["data"] == {"customer": "某医院", "contact_phone": MASK} and shown == set()
    assert event["data"]["data"]["contact_phone"] == PHONE  # the original is left alone
