"""A promised date-time at the end of the calendar as a task's due time: "9999-12-31T20:00Z"
passes the form's date-time check (a year 9999 "no deadline" placeholder, or a mistyped
offset), but in Shanghai that instant is already in year 10000."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.store import users as user_store
from tests.helpers.time import TIME, Clock
from tests.web.test_audit_web import login
from web import create_app


def test_a_far_due_time_does_not_break_the_inbox(db_url, tmp_path):
    app = create_app({"TESTING": True, "WF_CLOCK": Clock(datetime(2026, 11, 2, 1, tzinfo=UTC)), "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "zh",
        "paths.procedures": str(TIME / "procedures"), "paths.forms": str(TIME / "forms"),
        "roles": {"clerk": ["clerks"], "chief": ["chiefs"], "director": ["directors"]}}})
    try:
        services = app.extensions["services"]
        with services.database.writing() as s:
            user_store.add_user(s, "clerk1", "pw-clerk1", ["clerks"], full_name="专员")
        with services.database.writing() as s:
            state = app.extensions["workflow"].start(
                s, "timed-steps", "clerk1", {"kind": "due", "promised": "9999-12-31T20:00:00+00:00"})
        b = login(app, "clerk1")
        assert b.c.get("/").status_code == 200
        assert b.c.get(f"/instances/{state['id']}").status_code == 200
    finally:
        app.extensions["services"].database.engine.dispose()
