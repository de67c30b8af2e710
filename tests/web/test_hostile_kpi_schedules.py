"""Hostile pass on the KPI dashboards and the schedules: what a quality manager or an
ordinary user can type in the address bar or write in a procedure."""

from __future__ import annotations

import re

import pytest

from tests.web.test_audit_web import PID, app, login  # noqa: F401 - the fixture


@pytest.mark.parametrize("args", [
    {"from": "9999-12-31", "to": "9999-12-31"},
    {"from": "0001-01-01", "to": "2026-01-01"},
    {"from": "2026-01-01", "to": "9999-12-31"},
    {"from": "2026-01-01T00:00+14:00", "to": "9999-12-31T23:59+00:00"},
    {"from": "1900-01-01", "to": "2999-12-31", "period": "week"},
    {"from": "2026-01-01", "to": "2026-01-01"},
    {"from": "2026-01-01", "to": "2026-02-01", "p": "x' OR 1=1"},
    {"from": "\x00", "to": "2026-02-01"},
    {"from": "2026-01-01", "to": "2026-02-01", "period": ""},
])
def test_kpi_query_values(app, args):  # noqa: F811
    b = login(app, "boss")
    for url in (f"/kpi/{PID}", f"/kpi/{PID}/instances"):
        r = b.get(url, query_string=args)
        assert r.status_code in (200, 400), (url, args, r.status_code, r.text[:2000])


@pytest.mark.parametrize("args", [
    {"from": "2026-01-01", "to": "9999-12-31"},   # no midnight after it: was a 500
    {"from": "0001-01-01", "to": "2026-01-01"},   # no instant east of UTC before it: was a 500
    {"from": "0001-01-01", "to": "9999-12-31", "period": "week"},
    {"from": "2026-01-01T00:00+14:00", "to": "9999-12-31T23:59+00:00"},
])
def test_a_range_to_the_ends_of_the_calendar_finds_every_record(app, args):  # noqa: F811
    b = login(app, "boss")
    for url in (f"/kpi/{PID}", f"/kpi/{PID}/instances", f"/ledgers/{PID}", "/audit"):
        assert b.get(url, query_string=args).status_code == 200, url
    if args["from"].startswith("0001") and args["to"].startswith("9999"):
        page = b.get(f"/kpi/{PID}", query_string=args).text
        assert re.search(r'id="kpi-started">2<', page)  # both records, as from 2000 to 2999
