"""The holiday data runs out: ``chinesecalendar`` knows the State Council's notices up to
the last year published, and a deadline reaching past it counts the next Spring Festival's
weekdays as working days. Administrators see it on their inbox 60 days before (in their
language, with the command and the setting to change), operators do not, and the worker says
it in its log at start."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.store import users as user_store
from tests.helpers.time import Clock
from tests.web.test_web_ui import Browser
from web import create_app


@pytest.fixture
def made():
    """The apps a test made, their connections closed after it (a PostgreSQL connection left
    to the garbage collector warns in whichever test runs next)."""
    apps: list = []
    yield apps
    for app in apps:
        app.extensions["services"].database.engine.dispose()


def _app(made, db_url, tmp_path, now, **overrides):
    app = create_app({"TESTING": True, "WF_CLOCK": Clock(now), "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "zh", **overrides}})
    made.append(app)
    with app.extensions["services"].database.writing() as s:
        if user_store.get_user(s, "root") is None:
            user_store.add_user(s, "root", "pw-root", ["admins"], full_name="管理员")
            user_store.add_user(s, "op", "pw-op", ["qa-inspectors"], full_name="检验员")
    return app


def _inbox(app, user):
    b = Browser(app)
    b.login(user, f"pw-{user}")
    return b.get("/").text


def test_administrators_are_told_before_the_holiday_data_runs_out(made, db_url, tmp_path):
    known = max(d for d in __import__("chinese_calendar").holidays).year
    app = _app(made, db_url, tmp_path, datetime(known, 11, 15, 2, tzinfo=UTC))
    page = _inbox(app, "root")
    assert page.count('id="holidays-running-out"') == 1 and '<p class="flash warn" data-calendar="default">' in page
    assert f"日历“default”的法定节假日只知道到 {known}-12-31" in page
    assert "<code>pip install -U chinesecalendar</code>" in page and "<code>calendars.default.holidays / workdays</code>" in page
    assert "holidays-running-out" not in _inbox(app, "op")
    early = _app(made, db_url, tmp_path, datetime(known, 6, 1, 2, tzinfo=UTC))
    assert "holidays-running-out" not in _inbox(early, "root")


def test_the_60_days_are_counted_from_the_calendars_own_midnight(made, db_url, tmp_path):
    """Sixty days before the last known day (31 December) is 1 November: the notice starts
    on 2 November at 00:00 in Shanghai, which is 16:00 UTC on 1 November."""
    known = max(d for d in __import__("chinese_calendar").holidays).year
    before = _app(made, db_url, tmp_path, datetime(known, 11, 1, 15, 59, tzinfo=UTC))
    assert "holidays-running-out" not in _inbox(before, "root")
    after = _app(made, db_url, tmp_path, datetime(known, 11, 1, 16, 1, tzinfo=UTC))
    assert 'id="holidays-running-out"' in _inbox(after, "root")


def test_two_calendars_running_out_are_two_notices_under_one_id(made, db_url, tmp_path):
    known = max(d for d in __import__("chinese_calendar").holidays).year
    app = _app(made, db_url, tmp_path, datetime(known, 11, 15, 2, tzinfo=UTC),
               **{"calendars.line2": {"public_holidays": "china"}})
    page = _inbox(app, "root")
    assert page.count('id="holidays-running-out"') == 1
    assert 'data-calendar="default"' in page and 'data-calendar="line2"' in page


def test_a_calendar_that_lists_its_own_days_far_enough_is_not_named(made, db_url, tmp_path):
    known = max(d for d in __import__("chinese_calendar").holidays).year
    app = _app(made, db_url, tmp_path, datetime(known, 11, 15, 2, tzinfo=UTC), **{
        "calendars.default.holidays": [f"{known + 1}-02-0{d}" for d in range(5, 10)],
        "calendars.default.holidays_listed_until": f"{known + 1}-12-31"})
    assert "holidays-running-out" not in _inbox(app, "root")


def test_the_worker_says_it_at_start(db_url, monkeypatch, caplog):
    """(The clock of ``wf worker`` is the real one: the message is asserted only when the
    data does run out within 60 days of today, as on 2026-12-07.)"""
    from datetime import date, timedelta

    known = date(max(d for d in __import__("chinese_calendar").holidays).year, 12, 31)
    if known >= date.today() + timedelta(days=60):
        pytest.skip("the installed chinesecalendar reaches far enough today")
    from engine.app.worker import Worker

    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setattr(Worker, "run", lambda self, interval, stop: None)  # the start only
    with caplog.at_level(logging.WARNING, logger="engine.worker"):
        result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 0, result.output
    assert any("calendar default knows public holidays only up to" in r.getMessage() for r in caplog.records), \
        [r.getMessage() for r in caplog.records]


FACTORY_PROC = """
id: factory-check
title: 车间核实
calendar: factory
roles: {inspector: 检验员}
start: {roles: [inspector], step: check}
steps:
  check:
    title: 3个工作日内核实
    role: inspector
    form: onsite-verification
    deadline: {within: 3wd}
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""
FACTORY = {"timezone": "Asia/Shanghai", "working_hours": ["08:30-12:00", "13:00-17:30"],
           "rest_days": ["sat", "sun"], "public_holidays": "china"}


def test_a_calendar_running_records_name_but_the_config_no_longer_has_is_told_to_administrators(
        made, db_url, tmp_path, caplog, monkeypatch):
    """Deadlines of records pinned to a version whose calendar was renamed or removed in
    config.yaml count in the default calendar without a word anywhere (the check that names an
    unknown calendar runs when a version is published, not when config.yaml changes later).
    Administrators are told on their inbox, and the worker in its log."""
    procs = tmp_path / "procedures"
    procs.mkdir()
    (procs / "factory-check.yaml").write_text(FACTORY_PROC, encoding="utf-8")
    now = datetime(2026, 9, 30, 8, tzinfo=UTC)
    first = _app(made, db_url, tmp_path, now, **{"paths.procedures": str(procs), "calendars.factory": FACTORY,
                                                 "roles.inspector": ["qa-inspectors"]})
    b = Browser(first)
    b.login("op", "pw-op")
    assert b.post("/start/factory-check", {}).status_code == 302
    assert "calendars-gone" not in _inbox(first, "root")
    # config.yaml edited: the calendar renamed; the procedure file leaves the folder (a version
    # published from the editor has none), and the server restarts
    (procs / "factory-check.yaml").unlink()
    again = _app(made, db_url, tmp_path, now, **{"paths.procedures": str(procs), "roles.inspector": ["qa-inspectors"]})
    page = _inbox(again, "root")
    assert page.count('id="calendars-gone"') == 1 and 'data-calendar="factory"' in page
    assert "“车间核实”的在办记录按日历“factory”计算期限" in page and "<code>calendars.factory</code>" in page
    assert "calendars-gone" not in _inbox(again, "op")
    from engine.app.worker import Worker

    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setattr(Worker, "run", lambda self, interval, stop: None)  # the start only
    with caplog.at_level(logging.WARNING, logger="engine.worker"):
        result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 0, result.output
    assert any("running records of factory-check count their deadlines in calendar factory" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
