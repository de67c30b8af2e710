"""How far a calendar's public holidays are known. One company day off listed ahead (a company
anniversary in May 2027) made the calendar look known up to that day: the 60-day warning was
silenced, although the State Council's 2027 notice (Spring Festival 6-12 February 2027) was in
no list, and a 3wd deadline across it counted the Spring Festival weekdays as working days.
Lists typed in by hand count as a year's notice when ``holidays_listed_until`` says so."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from engine.app import calendars
from engine.language.calendar import Calendar
from tests.helpers.time import Clock, local
from web import create_app


def test_a_listed_company_day_does_not_silence_the_missing_official_year(db_url, tmp_path):
    import chinese_calendar

    known = max(d for d in chinese_calendar.holidays).year  # 2026 with chinesecalendar 1.11
    app = create_app({"TESTING": True, "WF_CLOCK": Clock(datetime(known, 11, 15, 2, tzinfo=UTC)),
                      "WF_OVERRIDES": {"database.url": db_url, "paths.uploads": str(tmp_path / "u"),
                                       "calendars.default.holidays": [f"{known + 1}-05-06"]}})
    try:
        services = app.extensions["services"]
        cal = services.workflow.calendars["default"]
        # Without the official notice the Spring Festival week is counted as working days:
        assert cal.add(local(f"{known + 1}-02-05 10:00"), "3wd") == local(f"{known + 1}-02-10 10:00")
        # ...so the administrators must still be told that the official days run out:
        assert [r.calendar for r in calendars.holidays_running_out(services)] == ["default"]
    finally:
        app.extensions["services"].database.engine.dispose()


def test_lists_typed_in_by_hand_count_up_to_the_day_they_say():
    import chinese_calendar

    known = max(d for d in chinese_calendar.holidays).year
    listed = {"public_holidays": "china", "holidays": [f"{known + 1}-02-08"]}
    assert Calendar.from_config("default", listed).known_until() == date(known, 12, 31)
    listed["holidays_listed_until"] = f"{known + 1}-12-31"
    assert Calendar.from_config("default", listed).known_until() == date(known + 1, 12, 31)
    # Without an official source, what is listed is all there is to know.
    assert Calendar.from_config("line", {"holidays": ["2027-05-06"]}).known_until() == date(2027, 5, 6)
    with pytest.raises(ValueError, match="calendars.default.holidays_listed_until: bad date 'end of 2027'"):
        Calendar.from_config("default", {"holidays_listed_until": "end of 2027"})
