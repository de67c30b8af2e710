"""Issue 15, finding 1 through the pages: the inspector's prefix probe on the ledger's phone
column is answered 403 naming the field, in the reader's language, and the drill-down by an
uncounted field 400; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.helpers.service import PASSWORD, add_users, answers, play, web_app
from tests.web.test_web_ui import Browser

PID = "after-sales-inspection"


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"))
    yield app
    app.extensions["services"].database.engine.dispose()


def test_the_phone_prefix_probe_is_refused_naming_the_field(app):
    b = Browser(app)
    b.get("/login")
    assert b.post("/login", {"username": "inspector1", "password": PASSWORD}).status_code == 302
    for prefix in ("138", "139"):  # the example: both answered alike, neither with a row
        r = b.get(f"/ledgers/{PID}", query_string={"f.start.contact_phone": prefix})
        assert r.status_code == 403 and "start.contact_phone" in r.text and "<tbody" not in r.text
    assert b.get(f"/ledgers/{PID}.csv", query_string={"sort": "start.contact_phone"}).status_code == 403
    r = b.get(f"/kpi/{PID}/instances", query_string={"key": "start.contact_phone", "value": "13800000000"})
    assert r.status_code == 400 and "统计看板计数的字段" in r.text and "“start.contact_phone”" in r.text  # a Chinese page
    assert b.get(f"/ledgers/{PID}", query_string={"f.start.serial_no": "SN2026"}).status_code == 200
