"""Ordinary use never reads a whole table that grows with use (issue 20, cheaper steps).

Benchmarks run on small databases, where a scan costs nothing: a step that read every
membership to find whom to notify cost 0.8 ms more with 5,000 users, and the instance page
read every fired schedule occurrence to find its own failed spawns. Here a company-sized
database (5,000 users in 500 groups, records with their tasks, events, notifications and
searchable fields) serves a day's requests through the API and the pages, each SQL statement
SQLite runs is recorded, and its query plan may not scan a table that grows.

SQLite without statistics (as the embedded default runs: nothing calls ANALYZE) plans as
if every table were large, so a plan that scans here scans in production. PostgreSQL plans by
its statistics and is checked where it matters (tests/app/test_perf_notifications.py)."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter

import pytest
from sqlalchemy import event

from engine import store
from engine.app.worker import Worker
from tests.helpers.store import add_colleagues
from tests.web.test_web_ui import Browser
from web import create_app

# Tables whose size is set by configuration, not by use (procedures and their versions,
# rules, the chart's stamp), and kpi_pending, a queue of (procedure, day) that every worker
# pass empties: a scan of them is a scan of a handful of rows.
SMALL = {"procedure_versions", "start_rules", "org_state", "kpi_sources", "departments", "groups",
         "kpi_pending"}

START = {"customer": "某市人民医院", "product_name": "多参数监护仪", "model": "PM-9000",
         "serial_no": "SN20260101", "quantity": 1}
RECEIVE = {"receipt_no": "RK-2026-0101", "received_on": "2026-11-02", "condition": "包装完好，附件齐全",
           "reported_fault": "开机后血氧读数跳变"}


# Whole reads on purpose, each with why it stays cheap: the statement's text -> the reason.
CHART = "users.department, users.manager FROM users ORDER BY users.username"
ON_PURPOSE = {
    CHART: "the organisation chart's snapshot: read once per change of the chart and kept by "
           "each process",
    "lower(coalesce(users.full_name,":
        "the people a person field suggests as a name is typed: a search for text inside "
        "names (no index serves that), of the users table only, 20 rows at most returned",
}


def _scans(db: str, statements: list[str]) -> list[tuple[str, str]]:
    raw = sqlite3.connect(db)
    found = []
    try:
        for sql in statements:
            if not re.match(r"(SELECT|INSERT|UPDATE|DELETE|WITH)\b", sql, re.I):
                continue
            for *_, detail in raw.execute("EXPLAIN QUERY PLAN " + sql):
                m = re.match(r"SCAN (\w+)", detail)
                if not m or m.group(1) in SMALL or m.group(1).startswith("anon_") \
                        or "COVERING INDEX" in detail or "VIRTUAL TABLE" in detail \
                        or any(text in sql for text in ON_PURPOSE):
                    continue
                # Walking an index in its order and stopping after a page (the newest events,
                # the latest accesses) reads a page, not the table.
                if "USING INDEX" in detail and re.search(r"\bLIMIT\b", sql):
                    continue
                found.append((detail, sql[:300]))
    finally:
        raw.close()
    return found


def test_a_days_requests_read_no_growing_table_whole(backend, tmp_path):
    if backend != "sqlite":
        pytest.skip("SQLite's plans without statistics; PostgreSQL's are checked where they matter")
    db = tmp_path / "company.db"
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": f"sqlite:///{db}", "paths.uploads": str(tmp_path / "uploads"), "locale": "zh"}})
    services = app.extensions["services"]
    with services.database.writing() as s:
        store.add_user(s, "insp", "pw-insp", ["qa-inspectors"], full_name="检验员甲")
        store.add_user(s, "sup", "pw-sup", ["qa-supervisors"], full_name="主管乙")
        store.add_user(s, "aud", "pw-aud", ["auditors"], full_name="审核员")
        add_colleagues(s, 5000, 500)
    api = app.test_client()
    token = api.post("/api/v1/auth/token", json={"username": "insp", "password": "pw-insp"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def record() -> dict:
        r = api.post("/api/v1/procedures/after-sales-inspection/instances", json={"data": START},
                     headers=headers)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    for _ in range(30):
        record()
    seen: Counter[str] = Counter()
    engine = services.database.engine
    engine.dispose()

    @event.listens_for(engine, "connect")
    def _trace(dbapi_connection, _record):
        dbapi_connection.set_trace_callback(lambda sql: seen.update([" ".join(sql.split())]))

    inst = record()
    task = next(t for t in inst["tasks"] if t["status"] == "open")
    assert task["step"] == "receive"
    done = api.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers,
                    json={"data": RECEIVE, "expected_rev": inst["rev"]})
    assert done.status_code == 200, done.get_json()
    for url in (f"/api/v1/instances/{inst['id']}", "/api/v1/tasks", "/api/v1/notifications",
                "/api/v1/procedures", "/api/v1/instances?procedure=after-sales-inspection",
                f"/api/v1/search?q={inst['serial']}"):
        assert api.get(url, headers=headers).status_code == 200, url
    pages = (["/", f"/instances/{inst['id']}", "/instances", "/notifications", "/search?q=PM-9000",
              "/search?q=某市人民医院", f"/search?q={inst['serial']}", "/instances?procedure=after-sales-inspection&status=running",
              "/kpi", "/kpi/after-sales-inspection", "/kpi/after-sales-inspection/instances",
              "/ledgers", "/ledgers/after-sales-inspection"])  # not /org: the chart's page shows the whole chart
    inspect = next(t for t in done.get_json()["tasks"] if t["status"] == "open")
    for user, urls in (("insp", [*pages, f"/tasks/{inspect['id']}", "/start/after-sales-inspection",
                                 "/people/suggest?q=张"]), ("sup", pages),
                       ("aud", ["/audit", f"/audit/instances/{inst['id']}", "/audit/access-log",
                                "/audit?actor=insp", "/audit?procedure=after-sales-inspection&type=task:completed"])):
        browser = Browser(app)
        browser.login(user, f"pw-{user}")
        for url in urls:
            assert browser.get(url).status_code in (200, 302), (user, url)  # a record number opens its record
        if user == "insp":  # a draft, and a task claimed and given back
            browser.get(f"/tasks/{inspect['id']}")
            assert browser.post(f"/tasks/{inspect['id']}", {"action": "draft", "instrument": "万用表"}).status_code in (200, 302)
            assert browser.post(f"/tasks/{inspect['id']}/claim").status_code == 302
            assert browser.post(f"/tasks/{inspect['id']}/release").status_code == 302
    # The worker's pass: timers, reminders, schedules, triggers, deliveries and KPI figures.
    Worker(services.workflow, services.database).run_once()
    engine.dispose()
    assert len(seen) > 50, "too few statements recorded: the trace did not attach"
    assert sum(n for sql, n in seen.items() if CHART in sql) <= 1, "the chart was read more than once"
    found = _scans(str(db), list(seen))
    assert found == [], "\n".join(f"{plan}: {sql}" for plan, sql in found)
