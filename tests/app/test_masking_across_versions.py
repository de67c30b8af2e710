"""A value recorded under a version that marks it ``x-sensitive`` stays masked where many
instances are read at once (the ledger, its export, its filters and sort, the search), after
a later version of the procedure drops the mark: its own instance page masks it (its pinned
version says so), and the ledger must not tell it either. SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.app import ledgers
from engine.app.access import reader_of
from engine.app.masking import MASK
from engine.errors import NotPermitted
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
        user_store.add_user(s, "q1", "pw-q1", ["quality-dept"], full_name="q1")
    app.config["LIB"] = lib
    yield app
    app.extensions["services"].database.engine.dispose()


def _registered(app) -> str:
    wf = app.extensions["workflow"]
    with app.extensions["services"].database.sessions.begin() as s:
        st = wf.start(s, PID, "q1")
        st = wf.complete_task(s, f"{st['id']}.{open_tasks(st)[0]['id']}", "q1", DATA)
    return st["id"]


def _unmark_mobile(app) -> None:
    form = app.config["LIB"] / "forms" / "contact-sheet.yaml"
    text = form.read_text(encoding="utf-8")
    unmarked = text.replace("mobile: {type: string, title: 现场手机, x-sensitive: true}",
                            "mobile: {type: string, title: 现场手机}")
    assert unmarked != text
    form.write_text(unmarked, encoding="utf-8")
    with app.extensions["services"].database.sessions.begin() as s:
        assert [r for r in app.extensions["workflow"].load_procedures(s) if r.procedure_id == PID][0].created


def test_a_mark_dropped_by_a_later_version_still_masks_the_older_values_in_the_ledger(app):
    services = app.extensions["services"]
    old = _registered(app)
    _unmark_mobile(app)
    new = {**DATA, "ref": "C-2", "site": {"street": "黄河路2号", "mobile": "13700000007"}}
    wf = app.extensions["workflow"]
    with services.database.sessions.begin() as s:
        st = wf.start(s, PID, "q1")
        wf.complete_task(s, f"{st['id']}.{open_tasks(st)[0]['id']}", "q1", new)
    reader = reader_of(services.config, "q1", ["quality-dept"])

    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "q1", "password": "pw-q1"}).get_json()["token"]
    shown = client.get(f"/api/v1/instances/{old}", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert shown["data"]["register"]["site"]["mobile"] == MASK  # its pinned version marks it

    page = ledgers.ledger_page(services, reader, PID, ledgers.LedgerFilters())
    cells = {r["id"]: r["cells"]["register.site.mobile"] for r in page.rows}
    assert cells[old] == MASK, cells
    export = ledgers.export_ledger(services, reader, PID, ledgers.LedgerFilters())
    assert "13900000009" not in str(list(export.rows))
    for filters in (ledgers.LedgerFilters(columns={"register.site.mobile": "139"}),
                    ledgers.LedgerFilters(sort="register.site.mobile")):
        with pytest.raises(NotPermitted):
            ledgers.ledger_page(services, reader, PID, filters)


def test_the_audit_search_offers_no_field_its_query_would_refuse(app):
    """The search form listed fields by the current version's marks while its query refuses by
    every version's: an auditor without clearance was offered the field, then answered 403."""
    from engine.app import audit

    services = app.extensions["services"]
    _registered(app)
    auditor = reader_of(services.config, "aud", ["auditors"])
    before = audit.search_events(services, auditor, audit.EventFilters(procedure=PID))
    assert "register.site.mobile" not in before.field_keys
    _unmark_mobile(app)
    after = audit.search_events(services, auditor, audit.EventFilters(procedure=PID))
    assert "register.site.mobile" not in after.field_keys
    with pytest.raises(NotPermitted):
        audit.search_events(services, auditor, audit.EventFilters(procedure=PID, field="register.site.mobile",
                                                                  value="139"))
    cleared = reader_of(services.config, "officer", ["auditors", "data-officers"])
    assert "register.site.mobile" in audit.search_events(services, cleared,
                                                         audit.EventFilters(procedure=PID)).field_keys
