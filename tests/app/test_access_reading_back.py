"""Issue 15, findings 1 and 2: a masked value cannot be read back through what a query
matches. An inspector without clearance tries to recover a masked phone number digit by
digit through the ledger's prefix filter, its sort, the KPI drill-down and the audit
search by value; each is refused naming the field, and a cleared reader's use is logged.
Validate refuses a KPI breakdown on a sensitive field and an index entry that does not
declare its clearance. Runs on SQLite and (``WF_TEST_DATABASE_URL``) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.app import audit, kpis, ledgers
from engine.app.access import reader_of
from engine.app.database import Database
from engine.app.ledgers import LedgerFilters
from engine.app.masking import MASK
from engine.app.services import Services
from engine.errors import NotPermitted, QueryInvalid
from engine.language.procedure import load_library
from engine.store.audit_search import access_log
from tests.helpers.service import answers, config, play, setup

ROOT = Path(__file__).parents[2]
PID = "after-sales-inspection"
PHONE = "13800000000"
EVER = {"since": datetime(2000, 1, 1, tzinfo=UTC), "until": datetime(2999, 1, 1, tzinfo=UTC)}
INSPECTOR = reader_of(config(), "inspector1", ["qa-inspectors"])
AUDITOR = reader_of(config(), "aud", ["auditors"])
OFFICER = reader_of(config(), "officer", ["auditors", "data-officers"])


@pytest.fixture
def services(engine, sessions):
    wf = setup(sessions)
    done = play(wf, sessions, answers(f"{PID}--fail"))  # its start.contact_phone is PHONE
    services = Services(config(), Database(engine), wf)
    services.ids = (done["id"],)
    return services


def logged(services):
    with services.database.reading() as s:
        return [(r.username, r.instance_id, r.view, r.fields) for r in access_log(s, limit=100)[0]]


def test_the_digit_by_digit_attack_on_the_ledger_filter_is_refused_at_the_first_probe(services):
    for prefix in ("1", "13", "138", "139"):
        with pytest.raises(NotPermitted, match=r"联系电话|start\.contact_phone") as err:
            ledgers.ledger_page(services, INSPECTOR, PID, LedgerFilters(columns={"start.contact_phone": prefix}))
        assert "start.contact_phone" in str(err.value)
    with pytest.raises(NotPermitted, match="start.contact_phone"):
        ledgers.export_ledger(services, INSPECTOR, PID, LedgerFilters(columns={"start.contact_phone": "138"}))
    # The order of rows sorted by the phone tells its value as well.
    with pytest.raises(NotPermitted, match="start.contact_phone"):
        ledgers.ledger_page(services, INSPECTOR, PID, LedgerFilters(sort="start.contact_phone"))
    # Whatever was refused was not shown and nothing pretends it was.
    assert logged(services) == []
    # A filter on a column that is not sensitive still works, with the phone masked.
    page = ledgers.ledger_page(services, INSPECTOR, PID, LedgerFilters(columns={"start.serial_no": "SN2026"}))
    assert [r["cells"]["start.contact_phone"] for r in page.rows] == [MASK]


def test_a_cleared_reader_filters_and_sorts_by_the_phone_and_each_use_is_logged(services):
    (done,) = services.ids
    page = ledgers.ledger_page(services, OFFICER, PID, LedgerFilters(columns={"start.contact_phone": "138"},
                                                                     sort="start.contact_phone"))
    assert [r["id"] for r in page.rows] == [done]
    views = {(u, i, v, f) for u, i, v, f in logged(services)}
    assert ("officer", "*", "ledger-filter", "start.contact_phone") in views
    assert ("officer", "*", "ledger-sort", "start.contact_phone") in views
    list(ledgers.export_ledger(services, OFFICER, PID, LedgerFilters(columns={"start.contact_phone": "1"})).rows)
    assert ("officer", "*", "ledger-export-filter", "start.contact_phone") in {
        (u, i, v, f) for u, i, v, f in logged(services)}


def test_the_kpi_drill_down_only_matches_values_of_the_fields_the_dashboard_counts(services):
    # The drill-down matched any indexed field exactly: one request per candidate number.
    with pytest.raises(QueryInvalid, match="'key' must be a field the dashboard counts"):
        kpis.drill_down(services, INSPECTOR, PID, period="month", what="started", key="start.contact_phone",
                        value=PHONE, filters=LedgerFilters(), **EVER)
    with pytest.raises(QueryInvalid):  # not even for a cleared reader: it is no figure of the dashboard
        kpis.drill_down(services, OFFICER, PID, period="month", what="started", key="start.contact_phone",
                        value=PHONE, filters=LedgerFilters(), **EVER)
    # The figures' own drill-downs still work.
    found = kpis.drill_down(services, INSPECTOR, PID, period="month", what="started", key="inspect.verdict@first",
                            value="不合格", filters=LedgerFilters(), **EVER)
    assert [r["id"] for r in found.page.rows] == list(services.ids)


def test_the_audit_search_by_value_skips_sensitive_fields_for_readers_without_clearance(services):
    (done,) = services.ids
    assert audit.search_events(services, AUDITOR, audit.EventFilters(value=PHONE)).items == []
    with pytest.raises(NotPermitted, match="start.contact_phone"):
        audit.search_events(services, AUDITOR, audit.EventFilters(field="start.contact_phone", value=PHONE))
    offered = audit.search_events(services, AUDITOR, audit.EventFilters()).field_keys
    assert "start.contact_phone" not in offered and "start.serial_no" in offered
    assert logged(services) == []
    # A value that is not sensitive is still found (the search's ordinary use).
    assert {e["instance_id"] for e in audit.search_events(services, AUDITOR,
                                                          audit.EventFilters(value="SN20260101")).items} == {done}


def test_a_cleared_search_that_finds_a_sensitive_value_is_logged_and_an_ordinary_one_is_not(services):
    (done,) = services.ids
    audit.search_events(services, OFFICER, audit.EventFilters(value="SN20260101"))
    assert "search-value" not in {v for _u, _i, v, _f in logged(services)}
    found = audit.search_events(services, OFFICER, audit.EventFilters(value=PHONE))
    assert {e["instance_id"] for e in found.items} == {done}
    audit.search_events(services, OFFICER, audit.EventFilters(field="start.contact_phone", value=PHONE))
    searches = [(u, i, f) for u, i, v, f in logged(services) if v == "search-value"]
    assert searches == [("officer", "*", "start.contact_phone")] * 2


def _procedure(tmp_path: Path, records: str) -> list[str]:
    """The problems of after-sales-inspection with its records declarations replaced."""
    text = (ROOT / "procedures" / f"{PID}.yaml").read_text(encoding="utf-8")
    head, rest = text.split("index: [start.model, receive.receipt_no]\n", 1)
    rest = rest.split("\nsteps:\n", 1)[1]
    folder = tmp_path / "procedures"
    folder.mkdir(exist_ok=True)
    for other in (ROOT / "procedures").glob("*.yaml"):  # spawns name other procedures
        (folder / other.name).write_text(other.read_text(encoding="utf-8"), encoding="utf-8")
    path = folder / f"{PID}.yaml"
    path.write_text(head + records + "\nsteps:\n" + rest, encoding="utf-8")
    # Only this file's problems: while it is invalid, procedures that spawn it say so too.
    return [str(p) for p in load_library([folder, ROOT / "forms"]).problems if p.file == str(path)]


def _records_line() -> int:
    """The line the replaced records declarations start at (the header comments may change)."""
    text = (ROOT / "procedures" / f"{PID}.yaml").read_text(encoding="utf-8")
    return text.split("index: [start.model, receive.receipt_no]\n", 1)[0].count("\n") + 1


def test_validate_refuses_a_breakdown_on_a_sensitive_field_at_its_line(tmp_path):
    problems = _procedure(tmp_path, "kpis:\n  breakdown: [inspect.verdict, start.contact_phone]\n")
    assert len(problems) == 1, problems
    assert f":{_records_line() + 1}:" in problems[0] and "'start.contact_phone' is sensitive" in problems[0]
    assert "count by a field that is not sensitive" in problems[0]


def test_validate_asks_an_index_of_a_sensitive_field_to_declare_its_clearance(tmp_path):
    problems = _procedure(tmp_path, "index: [start.model, start.contact_phone]\n")
    assert len(problems) == 1 and f":{_records_line()}:" in problems[0], problems
    assert "{field: start.contact_phone, clearance: true}" in problems[0]
    assert _procedure(tmp_path, "index: [start.model, {field: start.contact_phone, clearance: true}]\n") == []
    bad = _procedure(tmp_path, "index: [{field: start.contact_phone, clearance: yes please}]\n")
    assert any("'clearance' is true" in p for p in bad), bad
