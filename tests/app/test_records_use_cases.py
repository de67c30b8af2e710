"""The records use cases (``engine.app.audit``, ``ledgers``, ``kpis``) called as the pages and
the API call them: each applies who may read, what is masked and what is logged by itself,
so no caller can forget a rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from engine.app import audit, kpis, ledgers
from engine.app.access import reader_of
from engine.app.database import Database
from engine.app.ledgers import LedgerFilters
from engine.app.masking import MASK
from engine.app.services import Services
from engine.errors import NotFound, NotPermitted, QueryInvalid
from engine.store import Event, users
from engine.store.audit_file import verify_lines
from engine.store.audit_search import access_log
from tests.helpers.service import answers, config, play, setup

PID = "after-sales-inspection"
PHONE = "13800000000"
EVER = {"since": datetime(2000, 1, 1, tzinfo=UTC), "until": datetime(2999, 1, 1, tzinfo=UTC)}


@pytest.fixture
def services(engine, sessions):
    """Two after-sales instances: one failed (SN20260101, with a contact phone), one stopped
    after receipt (SN-B)."""
    wf = setup(sessions)
    done = play(wf, sessions, answers(f"{PID}--fail"))
    script = answers(f"{PID}--pass-repair")
    script["start"]["data"] = {**script["start"]["data"], "serial_no": "SN-B"}
    running = play(wf, sessions, script, upto=1)
    with sessions.begin() as s:
        users.add_user(s, "dpo", "pw-dpo", ["data-officers"])
    services = Services(config(), Database(engine), wf)
    services.ids = (done["id"], running["id"])
    return services


def reader(*groups, name=None):
    return reader_of(config(), name or "-".join(groups) or "nobody", groups)


AUDITOR = reader("auditors", name="aud")
OFFICER = reader("auditors", "data-officers", name="officer")
INSPECTOR = reader("qa-inspectors", name="inspector1")
ADMIN = reader("admins", name="boss")


def logged(services):
    with services.database.reading() as s:
        return [(r.username, r.instance_id, r.view, r.fields) for r in access_log(s, limit=100)[0]]


def test_search_masks_for_auditors_and_logs_cleared_views_under_the_callers_name(services):
    done, _running = services.ids
    found = audit.search_events(services, AUDITOR, audit.EventFilters(value="SN20260101"))
    assert {e["instance_id"] for e in found.items} == {done}
    assert logged(services) == []  # nothing was shown in clear
    audit.search_events(services, OFFICER, audit.EventFilters(value="SN20260101"), view="api-search")
    rows = logged(services)
    assert rows and {(u, i, v) for u, i, v, _f in rows} == {("officer", done, "api-search")}
    assert all("start.contact_phone" in f for *_r, f in rows)


def test_search_is_for_overseers_and_within_the_procedures_they_may_read(services):
    with pytest.raises(NotPermitted):
        audit.search_events(services, INSPECTOR, audit.EventFilters())
    officer_only = reader("data-officers", name="dpo")  # cleared, but holds no role anywhere
    with pytest.raises(NotPermitted, match=PID):
        audit.search_events(services, officer_only, audit.EventFilters(procedure=PID))
    assert audit.search_events(services, officer_only, audit.EventFilters()).items == []


def test_export_needs_clearance_before_anything_is_logged(services):
    with pytest.raises(NotPermitted):
        audit.export_events(services, AUDITOR, audit.EventFilters())
    assert logged(services) == []
    lines = list(audit.export_events(services, OFFICER, audit.EventFilters(procedure=PID)))
    assert verify_lines(lines).ok and PHONE in "".join(lines)
    assert [(u, i, v) for u, i, v, _f in logged(services)] == [("officer", "*", "audit-export")]


def test_access_log_is_for_auditors_and_admins(services):
    done, _running = services.ids
    audit.dossier(services, OFFICER, done)
    with pytest.raises(NotPermitted):
        audit.access_log(services, reader("data-officers", name="dpo"))
    rows, more = audit.access_log(services, ADMIN, instance=done)
    assert [(r["username"], r["view"]) for r in rows] == [("officer", "dossier")] and not more
    assert audit.access_log(services, AUDITOR, user="nobody") == ([], False)


def test_dossier_masks_refuses_and_logs_under_the_view_asked_for(services):
    done, _running = services.ids
    d = audit.dossier(services, AUDITOR, done)
    assert d.masked and d.unmasked == [] and d.check.ok and d.version["label"] == "1.0"
    assert d.sections[0].step == "start" and d.sections[0].data["contact_phone"] == MASK
    assert {s["name"] for s in d.signatures} == {"检验员一", "质量主管一"}
    assert PHONE not in repr(d)  # nowhere in what the pages and the PDF are given
    assert logged(services) == []
    with pytest.raises(NotPermitted):
        audit.dossier(services, reader("production", name="applicant1"), done)
    cleared = audit.dossier(services, OFFICER, done, view="pdf")
    assert cleared.sections[0].data["contact_phone"] == PHONE and "start.contact_phone" in cleared.unmasked
    assert [(u, v) for u, _i, v, _f in logged(services)] == [("officer", "pdf")]
    with pytest.raises(NotFound):
        audit.dossier(services, ADMIN, "01ZZZZZZZZZZZZZZZZZZZZZZZZ")


def test_ledger_masks_page_and_export_alike_and_refuses_bad_queries(services):
    done, running = services.ids
    page = ledgers.ledger_page(services, INSPECTOR, PID, LedgerFilters())
    assert [r["id"] for r in page.rows] == [running, done] and page.masked
    assert {r["cells"]["start.contact_phone"] for r in page.rows} == {MASK}
    export = ledgers.export_ledger(services, INSPECTOR, PID, LedgerFilters(columns={"start.serial_no": "SN2026"}))
    phone = export.headings.index("联系电话")
    assert [row[phone] for row in export.rows] == [MASK]
    assert logged(services) == []
    cleared = ledgers.ledger_page(services, OFFICER, PID, LedgerFilters(status="completed"))
    assert [r["cells"]["start.contact_phone"] for r in cleared.rows] == [PHONE]
    assert [(u, i, v) for u, i, v, _f in logged(services)] == [("officer", done, "ledger")]
    for bad in (LedgerFilters(sort="nope"), LedgerFilters(status="nope")):
        with pytest.raises(QueryInvalid) as err:
            ledgers.ledger_page(services, INSPECTOR, PID, bad)
        assert err.value.code == "bad_request"  # web/errors.py answers it with 400
    with pytest.raises(NotPermitted):
        ledgers.ledger_page(services, reader("production", name="applicant1"), PID, LedgerFilters())
    assert PID in {i["id"] for i in ledgers.ledgers(services, INSPECTOR)}


def test_dashboard_and_drill_down(services):
    done, running = services.ids
    d = kpis.dashboard(services, ADMIN, PID, period="month", **EVER)
    assert (d.kpis.totals["started"], d.kpis.totals["completed"], d.kpis.totals["open"]) == (2, 1, 1)
    found = kpis.drill_down(services, ADMIN, PID, period="month", what="completed", filters=LedgerFilters(), **EVER)
    assert [r["id"] for r in found.page.rows] == [done]
    opened = kpis.drill_down(services, ADMIN, PID, period="month", what="open", step="inspect",
                             filters=LedgerFilters(), **EVER)
    assert [r["id"] for r in opened.page.rows] == [running] and len(opened.what) == 2  # what, step
    with pytest.raises(NotPermitted):
        kpis.dashboard(services, reader("production", name="applicant1"), PID, period="month", **EVER)
    for bad in ({"period": "day", **EVER}, {"period": "week", "since": EVER["until"], "until": EVER["since"]}):
        with pytest.raises(QueryInvalid):
            kpis.dashboard(services, ADMIN, PID, **bad)
    with pytest.raises(QueryInvalid):
        kpis.drill_down(services, ADMIN, PID, period="month", what="nope", filters=LedgerFilters(), **EVER)


def test_drill_down_of_a_procedure_without_a_ledger_lists_instance_columns(services):
    week = {"since": datetime.now(UTC) - timedelta(days=7), "until": datetime.now(UTC) + timedelta(days=1)}
    with pytest.raises(NotFound, match="declares no ledger"):
        ledgers.ledger_page(services, ADMIN, "capa", LedgerFilters())
    found = kpis.drill_down(services, ADMIN, "capa", period="week", what="started", filters=LedgerFilters(), **week)
    assert found.page.ledger is ledgers.DEFAULT_LEDGER and found.page.rows == []


def test_export_keeps_the_filters_and_the_dossier_names_a_changed_event(services, engine):
    done, running = services.ids
    lines = list(audit.export_events(services, ADMIN, audit.EventFilters(value="SN-B")))
    assert verify_lines(lines).ok and {json.loads(x)["instance_id"] for x in lines[1:-1]} == {running}
    assert audit.dossier(services, ADMIN, running).check.ok
    with engine.begin() as conn:
        conn.execute(update(Event.__table__).where(Event.__table__.c.instance_id == running,
                                                   Event.__table__.c.seq == 2).values(actor="mallory"))
    check = audit.dossier(services, ADMIN, running).check
    assert not check.ok and "seq 2" in check.message
    assert audit.dossier(services, ADMIN, done).check.ok
