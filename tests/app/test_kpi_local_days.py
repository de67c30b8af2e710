"""KPI days and months are cut at local midnight (Asia/Shanghai), not UTC: instances at
00:30, 07:30 and 23:30 Beijing time around month ends count in the month people see on
their calendar, on the dashboard (page and app layer) and in its drill-downs; figures
counted in UTC days before 0016, or in another zone, are recounted."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from engine.app import kpis as kpi_app
from engine.app.access import Reader
from engine.app.ledgers import LedgerFilters
from engine.app.service import Workflow
from engine.config import load_config
from engine.runtime.machine import open_tasks
from engine.store import kpi_rollup, users
from engine.store.kpi_query import day_range, kpis
from engine.store.local_time import local_days_of_utc_day, local_label, offset_spans
from engine.store.tables import KpiCount, KpiSource
from tests.app.test_records_kpis import OVERRIDES, ROOT
from tests.helpers.time import SHANGHAI, Clock, local

PID = "complaint-demo"
# Beijing wall-clock times of the starts, and the local month each must count in.
STARTS = {
    "2026-10-31 23:30": "2026-10",   # 15:30 UTC on 31 October
    "2026-11-30 23:30": "2026-11",   # 15:30 UTC on 30 November: still November
    "2026-12-01 00:30": "2026-12",   # 16:30 UTC on 30 November: December here
    "2026-12-01 07:30": "2026-12",   # 23:30 UTC on 30 November: December here
    "2026-12-31 23:30": "2026-12",   # 15:30 UTC: the year's last day
}


def _play(sessions, wf: Workflow, clock: Clock) -> dict[str, str]:
    """One complaint started and completed (register, then approved) at each of STARTS,
    within ten minutes; returns start text -> instance id."""
    ids = {}
    with sessions.begin() as s:
        wf.load_procedures(s)
        users.add_user(s, "q1", "pw-q1", ["quality-dept"], full_name="质管员")
    for n, text in enumerate(STARTS):
        clock.set(local(text))
        with sessions.begin() as s:
            st = wf.start(s, PID, "q1")
            clock.advance(minutes=5)
            st = wf.complete_task(s, f"{st['id']}.{open_tasks(st)[0]['id']}", "q1", {
                "complaint_no": f"TS-{n}", "customer": "某医院", "category": "服务", "severity": "一般"})
            clock.advance(minutes=5)
            wf.decide(s, f"{st['id']}.{open_tasks(st)[0]['id']}", "q1", approve=True)
            ids[text] = st["id"]
    return ids


@pytest.fixture
def played(sessions):
    clock = Clock(local("2026-10-01 09:00"))
    wf = Workflow(load_config(ROOT / "config.yaml", overrides=OVERRIDES), clock=clock)
    ids = _play(sessions, wf, clock)
    clock.set(local("2027-01-05 10:00"))
    return wf, clock, ids


def _months(sessions, wf, now, zone=SHANGHAI):
    with sessions() as s:
        k = kpis(s, PID, datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 10, tzinfo=UTC), "month", now, zone)
    return {p["period"]: (p["started"], p["completed"]) for p in k.periods}


def test_months_are_cut_at_beijing_midnight(played, sessions):
    wf, clock, _ids = played
    assert wf.config.timezone.key == "Asia/Shanghai"
    with sessions.begin() as s:
        wf.refresh_kpis(s, PID)
    assert _months(sessions, wf, clock.now) == {"2026-10": (1, 1), "2026-11": (1, 1), "2026-12": (3, 3)}
    with sessions() as s:
        days = set(s.scalars(select(KpiCount.day).where(KpiCount.metric == "instances")))
    assert days == {"2026-10-31", "2026-11-30", "2026-12-01", "2026-12-31"}


def test_the_dashboard_and_its_drill_down_by_local_month(played, sessions, db_url):
    """Through the application layer: the month figures, and the instances behind each."""
    from engine.app.services import open_services

    wf, clock, ids = played
    cfg = load_config(ROOT / "config.yaml", overrides={**OVERRIDES, "database.url": db_url})
    services = open_services(cfg, clock=clock)
    try:
        reader = Reader("aud", frozenset({"auditors"}), auditor=True, admin=False, cleared=False)
        since, until = local("2026-11-01 00:00"), local("2027-01-01 00:00")
        d = kpi_app.dashboard(services, reader, PID, since=since, until=until, period="month")
        assert [(p["period"], p["started"], p["completed"]) for p in d.kpis.periods] == [
            ("2026-11", 1, 1), ("2026-12", 3, 3)]  # 31 October 23:30 is outside, though 15:30 UTC on the 31st

        def drill(month: str) -> set[str]:
            found = kpi_app.drill_down(services, reader, PID, since=since, until=until, period="month",
                                       what="completed", at=month, filters=LedgerFilters())
            return {r["id"] for r in found.page.rows}

        assert drill("2026-11") == {ids["2026-11-30 23:30"]}
        assert drill("2026-12") == {ids["2026-12-01 00:30"], ids["2026-12-01 07:30"], ids["2026-12-31 23:30"]}
        week = kpi_app.dashboard(services, reader, PID, since=since, until=until, period="week")
        # Monday 30 November holds 23:30 that day; Tuesday's 00:30 and 07:30 too (same week)
        assert {p["period"]: p["started"] for p in week.kpis.periods} == {"2026-11-30": 3, "2026-12-28": 1}
    finally:
        services.database.engine.dispose()


def test_figures_counted_in_utc_days_are_recounted(played, sessions):
    """Figures from before 0016 (no zone) or counted in another zone are recounted in the
    configured one by the next refresh, found stale by the worker's look."""
    wf, clock, _ids = played
    utc = ZoneInfo("UTC")
    with sessions.begin() as s:
        kpi_rollup.refresh(s, PID, wf.kpi_keys(s, PID), clock.now, utc)
    # in UTC days the 00:30 and 07:30 starts fall on 30 November
    assert _months(sessions, wf, clock.now, utc) == {"2026-10": (1, 1), "2026-11": (3, 3), "2026-12": (1, 1)}
    with sessions.begin() as s:
        assert not kpi_rollup.is_current(s, PID, wf.kpi_keys(s, PID), SHANGHAI)
        assert PID in kpi_rollup.stale(s, clock.now, SHANGHAI)
        s.execute(update(KpiSource).where(KpiSource.procedure_id == PID).values(zone=None))  # as 0016 finds them
        assert PID in kpi_rollup.stale(s, clock.now, SHANGHAI)
        assert wf.refresh_kpis(s) >= 62  # every day from 31 October to 31 December
        assert kpi_rollup.stale(s, clock.now, SHANGHAI) == []
        assert s.get(KpiSource, PID).zone == "Asia/Shanghai"
    assert _months(sessions, wf, clock.now) == {"2026-10": (1, 1), "2026-11": (1, 1), "2026-12": (3, 3)}


def test_a_step_after_midnight_recounts_both_local_days(played, sessions):
    """A write marks UTC days; the refresh recounts the local days they overlap."""
    wf, clock, _ids = played
    with sessions.begin() as s:
        wf.refresh_kpis(s, PID)
    clock.set(local("2027-01-05 07:30"))  # 23:30 UTC on 4 January
    with sessions.begin() as s:
        wf.start(s, PID, "q1")
    assert local_days_of_utc_day("2027-01-04", SHANGHAI) == {"2027-01-04", "2027-01-05"}
    with sessions.begin() as s:
        assert wf.refresh_kpis(s, PID) == 2
    with sessions() as s:
        k = kpis(s, PID, local("2027-01-05 00:00"), local("2027-01-06 00:00"), "month", clock.now, SHANGHAI)
    assert [(p["period"], p["started"]) for p in k.periods] == [("2027-01", 1)]
    assert k.steps[0]["open"] == 1


def test_day_range_and_offsets():
    assert day_range(local("2026-12-01 00:00"), local("2026-12-02 00:00"), SHANGHAI) == ("2026-12-01", "2026-12-02")
    assert day_range(local("2026-12-01 07:30"), local("2026-12-01 23:30"), SHANGHAI) == ("2026-12-01", "2026-12-02")
    assert offset_spans(SHANGHAI, local("2026-01-01 00:00"), local("2027-01-01 00:00")) == [(None, 8 * 3600)]
    # a zone with summer time: the change is found to the second
    berlin = ZoneInfo("Europe/Berlin")
    spans = offset_spans(berlin, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert spans == [(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), 3600), (None, 7200)]
    with pytest.raises(ValueError):
        local_label("sqlite", None, SHANGHAI, spans[0][0], spans[0][0], "year")


def test_summer_time_days_in_sql(sessions):
    """Both databases cut days at Berlin midnight on either side of the spring change."""
    from sqlalchemy import literal

    from engine.store.tables import UTCDateTime

    utc_type = UTCDateTime()

    berlin = ZoneInfo("Europe/Berlin")
    lo, hi = datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 4, 10, tzinfo=UTC)
    cases = {datetime(2026, 3, 27, 23, 30, tzinfo=UTC): "2026-03-28",   # 00:30 CET
             datetime(2026, 3, 28, 22, 30, tzinfo=UTC): "2026-03-28",   # 23:30 CET
             datetime(2026, 3, 29, 22, 30, tzinfo=UTC): "2026-03-30",   # 00:30 CEST
             datetime(2026, 3, 29, 21, 30, tzinfo=UTC): "2026-03-29"}   # 23:30 CEST
    with sessions() as s:
        dialect = s.get_bind().dialect.name
        for moment, want in cases.items():
            expr = local_label(dialect, literal(moment, utc_type), berlin, lo, hi)
            assert s.scalar(select(expr)) == want, moment
            month = local_label(dialect, literal(moment, utc_type), berlin, lo, hi, "month")
            assert s.scalar(select(month)) == "2026-03"


def test_dashboard_page_counts_in_local_months(db_url, tmp_path):
    """The page: from/to are local days, and the month columns follow Beijing midnight."""
    from tests.web.test_audit_web import login
    from web import create_app

    clock = Clock(local("2026-10-01 09:00"))
    app = create_app({"TESTING": True, "WF_CLOCK": clock, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "zh", **OVERRIDES}})
    try:
        _play(app.extensions["services"].database.sessions, app.extensions["workflow"], clock)
        clock.set(local("2027-01-05 10:00"))
        with app.extensions["services"].database.writing() as s:
            users.add_user(s, "aud", "pw-aud", ["auditors"])
        b = login(app, "aud")
        page = b.get(f"/kpi/{PID}", query_string={"from": "2026-12-01", "to": "2026-12-31"}).text
        assert re.search(r'id="kpi-started">3<', page), page
        nov = b.get(f"/kpi/{PID}", query_string={"from": "2026-11-01", "to": "2026-11-30"}).text
        assert re.search(r'id="kpi-started">1<', nov)
        drill = b.get(f"/kpi/{PID}/instances", query_string={
            "from": "2026-11-01", "to": "2026-12-31", "what": "started", "p": "2026-12"}).text
        assert drill.count("<tr data-instance=") == 3, drill
    finally:
        app.extensions["services"].database.engine.dispose()
