"""Local dates in expressions: what a person in Beijing calls "today" and "this month".

Clocks are fixed at 00:30, 07:30 and 23:30 Beijing time around month ends: the hours when
the UTC date and the local date differ (00:30 and 07:30 are still the previous day in UTC).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from engine.errors import ExpressionError
from engine.language.calendar import Calendar
from engine.language.expressions import compile_expr

SH = ZoneInfo("Asia/Shanghai")
# The shipped calendar's 2026 notice: 1-2 January are holidays, Sunday 4 January a make-up day.
CAL = Calendar.from_config("default", {
    "timezone": "Asia/Shanghai", "rest_days": ["sat", "sun"],
    "holidays": ["2026-01-01", "2026-01-02"], "workdays": ["2026-01-04"],
})


def ev(source: str, now: dt.datetime, **data: object) -> object:
    return compile_expr(source).evaluate({**data, "__now__": now, "__calendar__": CAL,
                                          "instance": {"started_at": now.astimezone(dt.UTC).isoformat()}})


@pytest.mark.parametrize("hhmm", ["00:30", "07:30", "23:30"])
def test_today_is_the_local_date_at_every_hour_of_the_first_of_the_month(hhmm):
    h, m = map(int, hhmm.split(":"))
    now = dt.datetime(2026, 12, 1, h, m, tzinfo=SH)
    assert ev("today()", now) == dt.date(2026, 12, 1)
    assert ev("local_date(instance.started_at)", now) == dt.date(2026, 12, 1)
    assert ev("month_start(instance.started_at)", now) == dt.date(2026, 12, 1)
    assert ev("month_end(now())", now) == dt.date(2026, 12, 31)
    # The UTC slicing the shipped procedures used to do gets the early hours wrong.
    if hhmm != "23:30":
        assert ev("instance.started_at[:10]", now) == "2026-11-30"


@pytest.mark.parametrize("hhmm", ["00:30", "07:30", "23:30"])
def test_month_end_evening_stays_in_its_month(hhmm):
    h, m = map(int, hhmm.split(":"))
    now = dt.datetime(2026, 11, 30, h, m, tzinfo=SH)
    assert ev("month_start(now())", now) == dt.date(2026, 11, 1)
    assert ev("at(month_start(now()) + days(9), '17:30')", now) == dt.datetime(2026, 11, 10, 17, 30, tzinfo=SH)


def test_next_workday_skips_weekends_and_holidays_and_keeps_make_up_days():
    eve = dt.datetime(2025, 12, 31, 23, 30, tzinfo=SH)
    # 1 and 2 January are holidays, 3 January a Saturday, Sunday 4 January a make-up day.
    assert ev("next_workday(now())", eve) == dt.date(2026, 1, 4)
    friday = dt.datetime(2026, 11, 27, 7, 30, tzinfo=SH)
    assert ev("next_workday(now())", friday) == dt.date(2026, 11, 30)
    assert ev("workday_on_or_after(now())", friday) == dt.date(2026, 11, 27)
    saturday = dt.datetime(2026, 11, 28, 0, 30, tzinfo=SH)
    assert ev("workday_on_or_after(now())", saturday) == dt.date(2026, 11, 30)


def test_a_customer_file_started_at_seven_is_due_the_next_morning():
    started = dt.datetime(2026, 12, 1, 7, 0, tzinfo=SH)
    due = ev("at(next_workday(instance.started_at), '09:00')", started)
    assert due == dt.datetime(2026, 12, 2, 9, 0, tzinfo=SH)


def test_dates_from_forms_are_local_days():
    now = dt.datetime(2026, 12, 1, 0, 30, tzinfo=SH)
    assert ev("local_date(f.d)", now, f={"d": "2026-11-30"}) == dt.date(2026, 11, 30)
    assert ev("local_date(f.d)", now, f={"d": "2026-11-30T17:00:00+00:00"}) == dt.date(2026, 12, 1)
    assert ev("local_date(f.missing)", now, f={}) is None


@pytest.mark.parametrize("source, message", [
    ("at(today(), '9:00')", r'at\(\) takes the local time as "HH:MM" text'),
    ("at(today(), '25:00')", "is not a time of day"),
    ("local_date(f.d)", "needs a date or date-time"),
])
def test_bad_local_time_input_is_named(source, message):
    with pytest.raises(ExpressionError, match=message):
        ev(source, dt.datetime(2026, 12, 1, 7, 30, tzinfo=SH), f={"d": "soon"})


def test_local_dates_need_the_callers_calendar():
    with pytest.raises(ExpressionError, match="no calendar"):
        compile_expr("today()").evaluate({"__now__": dt.datetime(2026, 12, 1, tzinfo=dt.UTC)})


ROWS = [{"score": 8, "weight": 2, "result": "合格"}, {"score": 5, "weight": 1, "result": "不合格"},
        {"score": None, "weight": 3}, "not a row"]


@pytest.mark.parametrize("source, expected", [
    ("sum_of(t.rows, 'score')", 13),
    ("weighted_sum(t.rows, 'score', 'weight')", 21),
    ("column(t.rows, 'result')", ["合格", "不合格", None]),
    ("count(t.rows, 'result', '合格')", 1),
    ("sum_of(t.none, 'score')", 0),
    ("all(column(t.rows, 'score'))", False),
])
def test_table_functions(source, expected):
    assert compile_expr(source).evaluate({"t": {"rows": ROWS}}) == expected


def test_table_functions_refuse_text_cells_by_name():
    with pytest.raises(ExpressionError, match=r"sum_of\(\) adds numbers, but a row holds 'x'"):
        compile_expr("sum_of(t.rows, 'score')").evaluate({"t": {"rows": [{"score": "x"}]}})


# --- working-day schedules ---------------------------------------------------------------

from engine.language.starts import Schedule  # noqa: E402

OFFICIAL = Calendar.from_config("default", {"public_holidays": "china"})


def test_official_holidays_and_make_up_days_come_from_chinesecalendar():
    assert OFFICIAL.day_kind(dt.date(2026, 10, 1)) == "holiday"
    assert OFFICIAL.day_kind(dt.date(2026, 10, 10)) == "makeup"  # Saturday, worked (调休)
    assert OFFICIAL.day_kind(dt.date(2025, 1, 28)) == "holiday"  # not only 2026
    assert OFFICIAL.known_until() is not None and OFFICIAL.known_until() >= dt.date(2026, 12, 31)


def test_configured_days_override_the_official_ones():
    cal = Calendar.from_config("x", {"public_holidays": "china", "workdays": ["2026-10-07"],
                                     "holidays": ["2026-10-10", "2027-01-01"]})
    assert cal.is_working_day(dt.date(2026, 10, 7))       # the company works that holiday
    assert not cal.is_working_day(dt.date(2026, 10, 10))  # and gives the make-up Saturday off
    assert not cal.is_working_day(dt.date(2027, 1, 1))    # a year the package does not know yet
    # A listed day after the official years is a company's own, not the next notice.
    assert cal.known_until() == dt.date(max(cal.official_years), 12, 31)


def test_unknown_public_holiday_source_is_named():
    with pytest.raises(ValueError, match="calendars.x.public_holidays: unknown source 'japan'"):
        Calendar.from_config("x", {"public_holidays": "japan"})


@pytest.mark.parametrize("hhmm", ["00:30", "07:30", "23:30"])
def test_workday_schedule_skips_national_day_and_keeps_the_make_up_saturday(hhmm):
    daily = Schedule(every="daily", day=1, at=(8, 30), workdays=True)
    h, m = map(int, hhmm.split(":"))
    after = dt.datetime(2026, 9, 30, h, m, tzinfo=SH)
    got = daily.occurrences(after, dt.datetime(2026, 10, 12, 23, 59, tzinfo=SH), SH, calendar=OFFICIAL)
    days = [t.astimezone(SH).date().isoformat() for t in got]
    first = [] if hhmm == "23:30" else ["2026-09-30"]
    assert days == [*first, "2026-10-08", "2026-10-09", "2026-10-10", "2026-10-12"]
    assert all(t.astimezone(SH).time() == dt.time(8, 30) for t in got)


def test_monthly_workday_schedule_moves_off_a_holiday():
    monthly = Schedule(every="monthly", day=1, at=(9, 0), workdays=True)
    after = dt.datetime(2026, 9, 30, 23, 30, tzinfo=SH)
    assert monthly.next_after(after, SH, OFFICIAL) == dt.datetime(2026, 10, 8, 9, 0, tzinfo=SH)
    # the next one is 1 November (a Sunday), so Monday 2 November
    nxt = monthly.next_after(dt.datetime(2026, 10, 8, 9, 0, tzinfo=SH), SH, OFFICIAL)
    assert nxt == dt.datetime(2026, 11, 2, 9, 0, tzinfo=SH)


def test_schedules_written_before_keep_their_rule_key():
    plain = Schedule(every="daily", day=1, at=(8, 30))
    assert plain.rule == Schedule(every="daily", day=1, at=(8, 30), workdays=False).rule
    assert plain.rule != Schedule(every="daily", day=1, at=(8, 30), workdays=True).rule
