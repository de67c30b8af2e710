"""Hostile pass on the KPI dashboards and the schedules: what a quality manager or an
ordinary user can type in the address bar or write in a procedure."""

from __future__ import annotations

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
    {"from": "2026-01-01T00:00+14:00", "to": "9999-12-31T23:59+00:00"},
])
def test_a_date_out_of_range_is_named_not_a_server_error(app, args):  # noqa: F811
    b = login(app, "boss")
    for url in (f"/kpi/{PID}", f"/kpi/{PID}/instances", f"/ledgers/{PID}", "/audit"):
        r = b.get(url, query_string=args)
        assert r.status_code == 400, (url, r.status_code)
        assert "1900-01-01" in r.text and "2999-12-31" in r.text
