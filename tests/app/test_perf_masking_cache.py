"""The sensitive keys of a procedure are computed once per version content (issue 20,
"cheaper steps"): after a new version that marks one more field ``x-sensitive`` is
published, instances of the new version mask it and those of the old version do not, in
the same server process, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.app.masking import MASK, sensitive_keys
from engine.runtime.machine import open_tasks
from engine.store import users as user_store
from tests.helpers.service import web_app

PID = "contacts-demo"
NESTED = Path(__file__).resolve().parents[1] / "data" / "nested"
DATA = {"ref": "C-1", "site": {"street": "长江路1号", "mobile": "13900000009"}}


@pytest.fixture
def app(db_url, tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(NESTED, lib)
    app = web_app(db_url, tmp_path, **{
        "paths.procedures": str(lib / "procedures"), "paths.forms": str(lib / "forms"),
        "roles.quality": ["quality-dept"], "roles.approver": ["approvers"]})
    with app.extensions["services"].database.sessions.begin() as s:
        for name in ("q1", "q2"):
            user_store.add_user(s, name, f"pw-{name}", ["quality-dept"], full_name=name)
    app.config["LIB"] = lib
    yield app
    app.extensions["services"].database.engine.dispose()


def registered(app) -> str:
    """A new instance with its register step recorded (by q1); its id."""
    wf = app.extensions["workflow"]
    with app.extensions["services"].database.sessions.begin() as s:
        st = wf.start(s, PID, "q1")
        st = wf.complete_task(s, f"{st['id']}.{open_tasks(st)[0]['id']}", "q1", DATA)
    return st["id"]


def register_as_q2(app, inst: str) -> dict:
    client = app.test_client()
    r = client.post("/api/v1/auth/token", json={"username": "q2", "password": "pw-q2"})
    auth = {"Authorization": "Bearer " + r.get_json()["token"]}
    r = client.get(f"/api/v1/instances/{inst}", headers=auth)
    assert r.status_code == 200, r.text
    return r.get_json()["data"]["register"]


def test_a_field_marked_sensitive_in_a_new_version_is_masked_in_its_instances_only(app):
    wf = app.extensions["workflow"]
    old = registered(app)
    seen = register_as_q2(app, old)  # the first version's keys are now cached
    assert seen["ref"] == "C-1" and seen["site"]["mobile"] == MASK
    with app.extensions["services"].database.reading() as s:
        v_old = wf.procedure(s, PID)[0]

    form = app.config["LIB"] / "forms" / "contact-sheet.yaml"
    text = form.read_text(encoding="utf-8")
    marked = text.replace("ref: {type: string, title: 编号}",
                          "ref: {type: string, title: 编号, x-sensitive: true}")
    assert marked != text
    form.write_text(marked, encoding="utf-8")
    with app.extensions["services"].database.sessions.begin() as s:
        published = [r for r in wf.load_procedures(s) if r.procedure_id == PID]
    assert published and published[0].created

    new = registered(app)
    assert register_as_q2(app, new)["ref"] == MASK
    assert register_as_q2(app, old)["ref"] == "C-1"  # its version did not mark it
    with app.extensions["services"].database.reading() as s:
        v_new = wf.procedure(s, PID)[0]
    assert "register.ref" in sensitive_keys(v_new) and "register.ref" not in sensitive_keys(v_old)
