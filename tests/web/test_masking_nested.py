"""Sensitive values below the top of a form (``x-sensitive`` on a table column, on a group's
property, on a group as a whole) follow the rule of top-level sensitive fields everywhere:
only those values are masked for readers without clearance (the other cells stay), a
cleared view is logged by the field at the top, corrections of such a field are masked as a
whole, and a mask sent back in a table cell never finds its way into the record."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from engine.app.access import Reader
from engine.app.masking import MASK, in_clear, keep_masked, mask_data, mask_errors, sensitive_keys
from engine.language.procedure import load_library
from engine.runtime.machine import open_tasks
from engine.store import users as user_store
from engine.store.audit_search import access_log
from tests.helpers.service import web_app
from tests.web.test_web_ui import Browser

PID = "contacts-demo"
ROOT = Path(__file__).resolve().parents[2]
NESTED = ROOT / "tests" / "data" / "nested"
PHONES = ("13800000001", "13800000002")
MOBILE = "13900000009"
CITY = "南京"
SECRETS = (*PHONES, MOBILE, CITY)
DATA = {
    "ref": "C-1",
    "contacts": [{"dept": "售后", "person": "王工", "phone": PHONES[0]},
                 {"dept": "技术", "person": "李工", "phone": PHONES[1]},
                 {"dept": "财务", "person": "赵工"}],
    "site": {"street": "长江路1号", "mobile": MOBILE},
    "home": {"city": CITY},
}
FIELDS = "register.contacts,register.home,register.site"  # the access log's fields


@pytest.fixture
def app(db_url, tmp_path):
    """contacts-demo: register (contact-sheet, quality) -> verify (approval, approver; a
    rejection sends register back). q1, q2: quality; a1: approver; officer: quality with
    clearance. The register step is recorded, verify is open."""
    app = web_app(db_url, tmp_path, **{
        "paths.procedures": str(NESTED / "procedures"), "paths.forms": str(NESTED / "forms"),
        "roles.quality": ["quality-dept"], "roles.approver": ["approvers"]})
    sessions = app.extensions["services"].database.sessions
    with sessions.begin() as s:
        for name, groups in (("q1", ["quality-dept"]), ("q2", ["quality-dept"]), ("a1", ["approvers"]),
                             ("officer", ["quality-dept", "data-officers"])):
            user_store.add_user(s, name, f"pw-{name}", groups, full_name=name)
    wf = app.extensions["workflow"]
    with sessions.begin() as s:
        st = wf.start(s, PID, "q1")
        st = wf.complete_task(s, f"{st['id']}.{open_tasks(st)[0]['id']}", "q1", DATA)
    app.config["INST"] = st["id"]
    app.config["VERIFY"] = f"{st['id']}.{open_tasks(st)[0]['id']}"
    yield app
    app.extensions["services"].database.engine.dispose()


def login(app, user):
    b = Browser(app)
    b.login(user, f"pw-{user}")
    return b


def token(app, user):
    r = app.test_client().post("/api/v1/auth/token", json={"username": user, "password": f"pw-{user}"})
    return {"Authorization": "Bearer " + r.get_json()["token"]}


def log_rows(app):
    with app.extensions["services"].database.sessions() as s:
        rows, _more = access_log(s, limit=200)
    return sorted((r.username, r.view, r.fields) for r in rows)


def stored(app, instance_id=None):
    with app.extensions["services"].database.sessions() as s:
        return app.extensions["workflow"].instance(s, instance_id or app.config["INST"])


def masked_register(data):
    """What an uncleared reader gets for the register step's data."""
    assert data["contacts"] == [{"dept": "售后", "person": "王工", "phone": MASK},
                                {"dept": "技术", "person": "李工", "phone": MASK},
                                {"dept": "财务", "person": "赵工"}]  # an empty cell stays empty
    assert data["site"] == {"street": "长江路1号", "mobile": MASK}
    assert data["home"] == MASK and data["ref"] == "C-1"
    return True


# --------------------------------------------------------------------------- the keys


def test_the_keys_name_the_values_below_the_top():
    lib = load_library([ROOT / "procedures", ROOT / "forms"]).require_valid()
    keys = sensitive_keys(lib.procedures["project-handover"])
    assert "docs.contacts[].phone" in keys and "docs.contacts" not in keys
    lib = load_library([NESTED / "procedures", NESTED / "forms"]).require_valid()
    assert sensitive_keys(lib.procedures[PID]) == {
        "register.contacts[].phone", "register.site.mobile", "register.home"}


def test_mask_data_masks_only_the_sensitive_cells():
    keys = frozenset({"register.contacts[].phone", "register.site.mobile", "register.home"})
    uncleared = Reader("x", frozenset(), auditor=False, admin=False, cleared=False)
    data, shown = mask_data(keys, "register", DATA, uncleared)
    assert masked_register(data) and shown == set()
    assert DATA["contacts"][0]["phone"] == PHONES[0]  # the original is left alone
    cleared = in_clear(uncleared)
    data, shown = mask_data(keys, "register", DATA, cleared)
    assert data == DATA and shown == {"register.contacts", "register.site", "register.home"}
    # nothing filled below: nothing masked, nothing shown
    empty = {"contacts": [{"dept": "售后", "person": "王工", "phone": ""}], "site": {"street": "x"}}
    assert mask_data(keys, "register", empty, cleared) == (empty, set())
    assert mask_data(keys, "register", empty, uncleared) == (empty, set())


def test_a_mask_sent_back_in_a_cell_keeps_the_paired_row_or_is_refused():
    keys = frozenset({"register.contacts[].phone", "register.site.mobile"})
    rec = DATA
    sent = {"ref": "C-1", "site": {"street": "新地址", "mobile": MASK},
            "contacts": [{"dept": "技术", "person": "李工", "phone": MASK},      # moved up
                         {"dept": "售后", "person": "王工", "phone": "13700000000"},  # changed
                         {"dept": "质管", "person": "孙工"}]}                      # added
    out, errors = keep_masked(keys, "register", sent, rec)
    assert errors == []
    assert [c.get("phone") for c in out["contacts"]] == [PHONES[1], "13700000000", None]
    assert out["site"] == {"street": "新地址", "mobile": MOBILE}
    # a row edited apart from its masked cell pairs with no recorded row: refused
    sent = {"contacts": [{"dept": "售后", "person": "王工", "phone": MASK},
                         {"dept": "技术", "person": "李工二", "phone": MASK}]}
    out, errors = keep_masked(keys, "register", sent, rec)
    assert [e["field"] for e in errors] == ["contacts.1.phone"]
    assert out["contacts"][0]["phone"] == PHONES[0]
    # nothing recorded: refused; a whole table sent as the mask: refused
    assert [e["field"] for e in keep_masked(keys, "register", sent, None)[1]] == [
        "contacts.0.phone", "contacts.1.phone"]
    assert [e["field"] for e in mask_errors(keys, "register", {"contacts": MASK})] == ["contacts"]


# --------------------------------------------------------------------------- pages and API


def _section(text: str) -> str:
    return re.search(r'<section class="step-data" data-step="register">.*?</section>', text, re.S).group(0)


def test_uncleared_readers_see_masked_cells_on_every_page_and_in_the_api(app):
    inst = app.config["INST"]
    # a1 may act on the open verify task: still masked off the task page
    for user in ("q2", "a1"):
        b = login(app, user)
        text = b.get(f"/instances/{inst}").text
        assert not any(v in text for v in SECRETS), user
        section = _section(text)
        assert section.count(MASK) == 4 and "王工" in section and "赵工" in section and "长江路1号" in section
        timeline = re.search(r'<ol class="timeline".*?</ol>', text, re.S).group(0)
        assert timeline.count(MASK) == 4
        if user == "q2":  # a1 holds no role of register's: no dossier
            dossier = b.get(f"/audit/instances/{inst}")
            assert dossier.status_code == 200 and not any(v in dossier.text for v in SECRETS)
            assert "王工" in dossier.text and MASK in dossier.text and 'id="masked-notice"' in dossier.text
        client, auth = app.test_client(), token(app, user)
        body = client.get(f"/api/v1/instances/{inst}", headers=auth).get_json()
        assert masked_register(body["data"]["register"])
        done = next(e for e in body["history"] if e["type"] == "task:completed")
        assert masked_register(done["data"]["data"])
        events = client.get(f"/api/v1/instances/{inst}/events", headers=auth)
        assert events.status_code == 200 and not any(v in events.text for v in SECRETS)
    assert log_rows(app) == []


def test_the_task_page_shows_the_cells_to_its_holder_only(app):
    verify = app.config["VERIFY"]
    page = login(app, "a1").get(f"/tasks/{verify}")
    assert page.status_code == 200
    earlier = re.search(r'<details class="earlier".*?</details>', page.text, re.S).group(0)
    assert all(v in earlier for v in SECRETS) and MASK not in page.text
    assert log_rows(app) == [("a1", "task", FIELDS)]
    # q2 may not act on the approval: no page, nothing shown, nothing logged
    page = login(app, "q2").get(f"/tasks/{verify}")
    assert page.status_code == 403 and not any(v in page.text for v in SECRETS)
    assert len(log_rows(app)) == 1


def test_a_cleared_reader_sees_the_cells_and_each_view_is_logged(app):
    inst = app.config["INST"]
    b = login(app, "officer")
    for url in (f"/instances/{inst}", f"/audit/instances/{inst}"):
        text = b.get(url).text
        assert all(v in text for v in SECRETS) and MASK not in text, url
    body = app.test_client().get(f"/api/v1/instances/{inst}", headers=token(app, "officer")).get_json()
    assert body["data"]["register"] == DATA
    assert log_rows(app) == [("officer", "api", FIELDS), ("officer", "dossier", FIELDS),
                             ("officer", "instance", FIELDS)]


def test_ledger_columns_inside_groups_are_masked_and_logged(app):
    q2 = login(app, "q2")
    text = q2.get(f"/ledgers/{PID}").text
    assert MOBILE not in text and CITY not in text and "长江路1号" in text and text.count(MASK) == 2
    rows = list(csv.reader(io.StringIO(q2.get(f"/ledgers/{PID}.csv").text.lstrip("\ufeff"))))
    assert rows[1][:4] == ["C-1", "长江路1号", MASK, MASK]
    assert log_rows(app) == []
    officer = login(app, "officer")
    text = officer.get(f"/ledgers/{PID}").text
    assert MOBILE in text and CITY in text and MASK not in text
    rows = list(csv.reader(io.StringIO(officer.get(f"/ledgers/{PID}.csv").text.lstrip("\ufeff"))))
    assert rows[1][:4] == ["C-1", "长江路1号", MOBILE, CITY]
    assert log_rows(app) == [("officer", "ledger", "register.home,register.site"),
                             ("officer", "ledger-export", "register.home,register.site")]


def test_corrections_of_a_table_are_masked_as_a_whole(app):
    inst = app.config["INST"]
    client = app.test_client()
    new = [{"dept": "售后", "person": "王工", "phone": "13600000000"}]
    r = client.post(f"/api/v1/instances/{inst}/corrections", headers=token(app, "q1"),
                    json={"step": "register", "field": "contacts", "value": new, "reason": "换人"})
    assert r.status_code == 200, r.text
    body = r.get_json()
    assert body["corrections"]["register.contacts"][0]["old"] == MASK
    assert body["corrections"]["register.contacts"][0]["new"] == MASK
    assert body["data"]["register"]["contacts"] == [{"dept": "售后", "person": "王工", "phone": MASK}]
    text = login(app, "q2").get(f"/instances/{inst}").text
    assert "13600000000" not in text and f"{MASK} → {MASK}" in text and "换人" in text
    assert log_rows(app) == []
    text = login(app, "officer").get(f"/instances/{inst}").text
    assert "13600000000" in text and PHONES[0] in text
    # the mask sent back in a cell of a corrected table is refused, the field named
    r = client.post(f"/api/v1/instances/{inst}/corrections", headers=token(app, "q1"),
                    json={"step": "register", "field": "contacts", "reason": "r",
                          "value": [{"dept": "售后", "person": "王工", "phone": MASK}]})
    assert r.status_code == 422 and [e["field"] for e in r.get_json()["errors"]] == ["contacts.0.phone"]
    assert stored(app)["data"]["register"]["contacts"] == new


# --------------------------------------------------------------------------- masks never stored


def _reject(app):
    r = app.test_client().post(f"/api/v1/tasks/{app.config['VERIFY']}/complete", headers=token(app, "a1"),
                               json={"data": {"decision": "reject", "comment": "再核实"}})
    assert r.status_code == 200, r.text
    return next(t["id"] for t in r.get_json()["tasks"] if t["status"] == "open")


def test_a_table_sent_back_with_masked_cells_keeps_the_recorded_cells(app):
    register = _reject(app)
    client, auth = app.test_client(), token(app, "q1")
    read = client.get(f"/api/v1/instances/{app.config['INST']}", headers=auth).get_json()["data"]["register"]
    assert masked_register(read)
    # an edited row's mask pairs with no recorded phone: refused, nothing stored
    edited = {**read, "contacts": [{**read["contacts"][0], "person": "王工二"}, *read["contacts"][1:]]}
    r = client.post(f"/api/v1/tasks/{register}/complete", headers=auth, json={"data": edited})
    assert r.status_code == 422 and [e["field"] for e in r.get_json()["errors"]] == ["contacts.0.phone"]
    # the home group was masked as a whole: sent back as the mask it keeps the recorded one too
    sent = {**read, "contacts": [read["contacts"][1], read["contacts"][0], {"dept": "质管", "person": "孙工"}]}
    r = client.post(f"/api/v1/tasks/{register}/complete", headers=auth, json={"data": sent})
    assert r.status_code == 200, r.text
    data = stored(app)["data"]["register"]
    assert data["contacts"] == [DATA["contacts"][1], DATA["contacts"][0], {"dept": "质管", "person": "孙工"}]
    assert data["site"] == DATA["site"] and data["home"] == DATA["home"]
    assert MASK not in str(stored(app))


def test_the_web_form_keeps_or_refuses_a_masked_cell(app):
    register = _reject(app)
    q1 = login(app, "q1")
    page = q1.get(f"/tasks/{register}").text  # prefilled in clear for the worker
    assert PHONES[0] in page and MOBILE in page and MASK not in page
    post = {"f.ref": "C-1", "f.contacts.0.dept": "售后", "f.contacts.0.person": "王工",
            "f.contacts.0.phone": MASK, "f.contacts.1.dept": "技术", "f.contacts.1.person": "李工二",
            "f.contacts.1.phone": MASK, "f.site.street": "长江路1号", "f.site.mobile": MASK,
            "f.home.city": CITY, "rev": str(stored(app)["rev"]), "action": "submit"}
    r = q1.post(f"/tasks/{register}", post)
    assert r.status_code == 422 and 'data-error-for="contacts.1.phone"' in r.text
    assert 'data-error-for="contacts.0.phone"' not in r.text
    assert stored(app)["data"]["register"] == DATA
    post["f.contacts.1.phone"] = "13500000000"
    r = q1.post(f"/tasks/{register}", post)
    assert r.status_code == 302, r.text
    data = stored(app)["data"]["register"]
    assert data["contacts"] == [DATA["contacts"][0], {"dept": "技术", "person": "李工二", "phone": "13500000000"}]
    assert data["site"] == DATA["site"] and MASK not in str(stored(app))


def test_a_first_submission_with_a_masked_cell_is_refused(app):
    client, auth = app.test_client(), token(app, "q1")
    new = client.post(f"/api/v1/procedures/{PID}/instances", headers=auth, json={}).get_json()
    first = next(t["id"] for t in new["tasks"] if t["status"] == "open")
    data = {"ref": "C-2", "contacts": [{"dept": "售后", "person": "王工", "phone": MASK}],
            "site": {"mobile": MASK}}
    r = client.post(f"/api/v1/tasks/{first}/complete", headers=auth, json={"data": data})
    assert r.status_code == 422
    assert [e["field"] for e in r.get_json()["errors"]] == ["contacts.0.phone", "site.mobile"]
    assert "register" not in stored(app, new["id"])["data"]
