"""Durations and working calendars, with the real 2026 holidays from config.yaml."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cli import main
from engine.config import load_config
from engine.language.calendar import Calendar, Duration, DurationError, parse_duration

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config.yaml"
SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def cal() -> Calendar:
    return Calendar.from_config("default", load_config(CONFIG).calendar("default"))


def local(text: str, tz: ZoneInfo = SH) -> datetime:
    """An aware datetime from local wall-clock text, e.g. ``"2026-10-09 16:00"``."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def at(result: datetime, tz: ZoneInfo = SH) -> str:
    assert result.tzinfo is UTC
    return result.astimezone(tz).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [("30m", 30, "m"), ("24h", 24, "h"), ("3d", 3, "d"), ("2w", 2, "w"), ("1mo", 1, "mo"),
     ("8wh", 8, "wh"), ("3wd", 3, "wd"), ("-1mo", -1, "mo"), ("-2wh", -2, "wh"), ("0h", 0, "h")],
)
def test_parse_duration(text: str, amount: int, unit: str) -> None:
    d = parse_duration(text)
    assert d == Duration(amount=amount, unit=unit)
    assert str(d) == text
    assert d.working is (unit in ("wh", "wd"))


def test_parse_duration_is_cached() -> None:
    assert parse_duration("17wd") is parse_duration("17wd")


HINT = ("write a number and a unit without a space, e.g. 30m, 24h, 3d, 2w, 1mo, "
        "8wh (working hours), 3wd (working days)")


@pytest.mark.parametrize("text", ["24 hours", "24 h", "1.5h", "24", "h", "24H", " 24h", "24h ",
                                  "+3d", "3days", "", "--1d", "1y"])
def test_parse_duration_errors(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == f"bad duration {text!r}: {HINT}"
    assert isinstance(info.value, ValueError)


def test_parse_duration_message_example() -> None:
    with pytest.raises(DurationError, match=r"^bad duration '24 hours': write a number and a unit"):
        parse_duration("24 hours")


@pytest.mark.parametrize("value", [24, 1.5, None, ["24h"]])
def test_parse_duration_rejects_non_text(value: object) -> None:
    with pytest.raises(DurationError, match="bad duration"):
        parse_duration(value)  # type: ignore[arg-type]


def test_parse_duration_rejects_absurd_amounts() -> None:
    with pytest.raises(DurationError, match=r"at most 25000wd"):
        parse_duration("99999999wd")


def test_duration_validates_its_fields() -> None:
    with pytest.raises(DurationError, match="unknown duration unit 'y'"):
        Duration(1, "y")
    with pytest.raises(DurationError, match="whole number"):
        Duration(1.5, "h")  # type: ignore[arg-type]
    assert -Duration(2, "wh") == Duration(-2, "wh")


# --------------------------------------------------------------------------- configuration


def test_default_calendar_when_not_configured() -> None:
    c = Calendar.from_config("default", None)
    assert c.timezone == SH
    assert c.periods == ((510, 720), (780, 1050))
    assert c.rest_days == frozenset({5, 6})
    assert not c.holidays and not c.workdays
    assert c.is_working_day(date(2026, 10, 1))  # no holidays in the default


def test_config_accepts_strings_and_yaml_dates() -> None:
    cfg = yaml.safe_load("""
        timezone: Europe/Berlin
        working_hours: "09:00-17:00"
        rest_days: [Sunday, sat]
        holidays: [2026-12-25, "2026-12-26"]
        """)
    c = Calendar.from_config("eu", cfg)
    assert c.timezone.key == "Europe/Berlin"
    assert c.periods == ((540, 1020),)
    assert c.rest_days == frozenset({5, 6})
    assert c.holidays == frozenset({date(2026, 12, 25), date(2026, 12, 26)})


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"working_hours": ["8:30-12:00"]},
         "calendars.x.working_hours: bad time range '8:30-12:00'; write HH:MM-HH:MM"),
        ({"working_hours": ["12:00-08:30"]}, "calendars.x.working_hours: bad time range '12:00-08:30'"),
        ({"working_hours": ["08:30-24:00"]}, "calendars.x.working_hours: bad time range '08:30-24:00'"),
        ({"working_hours": ["08:00-12:00", "11:00-17:00"]},
         "calendars.x.working_hours: time ranges 08:00-12:00 and 11:00-17:00 overlap"),
        ({"working_hours": []}, "calendars.x.working_hours: at least one working period"),
        ({"rest_days": ["sat", "sab"]}, "calendars.x.rest_days: unknown weekday 'sab'"),
        ({"rest_days": "sat"}, "calendars.x.rest_days: expected a list of weekdays"),
        ({"rest_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
         "calendars.x.rest_days: every weekday is a rest day"),
        ({"holidays": ["2026-13-01"]}, "calendars.x.holidays: bad date '2026-13-01'; write YYYY-MM-DD"),
        ({"workdays": [20261010]}, "calendars.x.workdays: bad date 20261010"),
        ({"holidays": "2026-10-01"}, "calendars.x.holidays: expected a list of dates"),
        ({"holidays": [date(2026, 10, 10)], "workdays": [date(2026, 10, 10)]},
         "calendars.x.workdays: 2026-10-10 is also listed in calendars.x.holidays"),
        ({"timezone": "Asia/Beijing"}, "calendars.x.timezone: unknown time zone 'Asia/Beijing'"),
        ({"timezone": 8}, "calendars.x.timezone: expected an IANA time zone name"),
        ({"holiday": []}, "calendars.x: unknown key 'holiday'"),
    ],
)
def test_config_errors_name_the_key(cfg: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        Calendar.from_config("x", cfg)
    assert str(info.value).startswith(message)


def test_config_must_be_a_mapping() -> None:
    with pytest.raises(ValueError, match=r"^calendars\.x: expected a mapping"):
        Calendar.from_config("x", ["08:30-12:00"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- working days


@pytest.mark.parametrize(
    ("day", "working", "kind"),
    [
        (date(2026, 10, 1), False, "holiday"),   # Thursday, National Day
        (date(2026, 10, 3), False, "holiday"),   # Saturday inside the holiday week (part of the official holiday)
        (date(2026, 10, 8), True, "workday"),    # Thursday after the holiday
        (date(2026, 10, 10), True, "makeup"),    # Saturday, 调休上班
        (date(2026, 10, 11), False, "rest"),     # Sunday
        (date(2026, 9, 20), True, "makeup"),     # Sunday, 调休上班
        (date(2026, 9, 25), False, "holiday"),   # Friday, Mid-Autumn
        (date(2026, 9, 14), True, "workday"),    # ordinary Monday
    ],
)
def test_is_working_day(cal: Calendar, day: date, working: bool, kind: str) -> None:
    assert cal.is_working_day(day) is working
    assert cal.day_kind(day) == kind


# --------------------------------------------------------------------------- working hours


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        # across a weekend: Fri 16:00-17:30 is 1.5h, the other 2.5h on Monday morning
        ("2026-09-11 16:00", "4wh", "2026-09-14 11:00"),
        # across National Day: Wed 16:00, 1.5h left that day, then nothing until Thu 10-08
        ("2026-09-30 16:00", "8wh", "2026-10-08 16:00"),
        # over the make-up Saturday 10-10
        ("2026-10-09 16:00", "8wh", "2026-10-10 16:00"),
        # over the make-up Sunday 09-20 (Saturday 09-19 is off)
        ("2026-09-18 17:00", "1wh", "2026-09-20 09:00"),
        # starting outside working hours
        ("2026-09-14 07:00", "1wh", "2026-09-14 09:30"),
        ("2026-09-14 20:00", "1wh", "2026-09-15 09:30"),
        ("2026-09-12 10:00", "1wh", "2026-09-14 09:30"),  # Saturday
        ("2026-10-01 10:00", "1wh", "2026-10-08 09:30"),  # holiday
        # lunch break: not counted, and a start inside it waits for 13:00
        ("2026-09-14 11:00", "2wh", "2026-09-14 14:00"),
        ("2026-09-14 12:30", "1wh", "2026-09-14 14:00"),
        # a result that fills a period exactly is that period's end, not the next start
        ("2026-09-14 16:30", "1wh", "2026-09-14 17:30"),
        ("2026-09-14 08:30", "8wh", "2026-09-14 17:30"),
        ("2026-09-14 10:00", "2wh", "2026-09-14 12:00"),
        # a whole working week (5 x 8h) from Monday morning ends Friday evening
        ("2026-09-14 08:30", "40wh", "2026-09-18 17:30"),
        # zero: a start inside working hours stays, outside moves to the next period start
        ("2026-09-14 10:00", "0wh", "2026-09-14 10:00"),
        ("2026-09-14 17:30", "0wh", "2026-09-14 17:30"),
        ("2026-09-14 12:15", "0wh", "2026-09-14 13:00"),
        ("2026-09-14 18:00", "0wh", "2026-09-15 08:30"),
    ],
)
def test_add_working_hours(cal: Calendar, start: str, duration: str, due: str) -> None:
    assert at(cal.add(local(start), parse_duration(duration))) == due


@pytest.mark.parametrize(
    ("due", "before", "reminder"),
    [
        ("2026-09-14 09:30", "2wh", "2026-09-11 16:30"),  # Monday due, reminder Friday
        ("2026-09-14 13:30", "1wh", "2026-09-14 11:30"),  # skips the lunch break
        ("2026-09-14 10:30", "2wh", "2026-09-14 08:30"),  # lands on a period start: that start
        ("2026-10-08 09:30", "2wh", "2026-09-30 16:30"),  # back over National Day
        ("2026-10-12 09:00", "1wh", "2026-10-10 17:00"),  # back onto the make-up Saturday
        ("2026-09-14 07:00", "1wh", "2026-09-11 16:30"),  # due outside hours: from Friday's end
    ],
)
def test_subtract_working_hours(cal: Calendar, due: str, before: str, reminder: str) -> None:
    d = parse_duration(before)
    assert at(cal.subtract(local(due), d)) == reminder
    assert cal.subtract(local(due), d) == cal.add(local(due), -d)


# --------------------------------------------------------------------------- working days


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        ("2026-09-11 10:00", "3wd", "2026-09-16 10:00"),  # Friday 10:00 -> Wednesday 10:00
        ("2026-09-30 10:00", "1wd", "2026-10-08 10:00"),  # over National Day
        ("2026-10-09 16:00", "3wd", "2026-10-13 16:00"),  # Sat 10-10 counts, Sun 10-11 not
        ("2026-09-11 19:00", "3wd", "2026-09-17 08:30"),  # evening: anchor Monday 08:30
        ("2026-09-14 12:30", "1wd", "2026-09-15 13:00"),  # lunch: anchor 13:00 the same day
        ("2026-09-19 10:00", "1wd", "2026-09-21 08:30"),  # Sat: anchor make-up Sun 09-20 08:30
        ("2026-09-14 17:30", "1wd", "2026-09-15 17:30"),  # a period end is inside hours
        ("2026-09-14 10:00", "0wd", "2026-09-14 10:00"),
        ("2026-09-14 20:00", "0wd", "2026-09-15 08:30"),
        ("2026-09-14 10:00", "30wd", "2026-10-30 10:00"),
    ],
)
def test_add_working_days(cal: Calendar, start: str, duration: str, due: str) -> None:
    assert at(cal.add(local(start), parse_duration(duration))) == due


@pytest.mark.parametrize(
    ("due", "before", "reminder"),
    [
        ("2026-09-16 10:00", "3wd", "2026-09-11 10:00"),
        ("2026-10-08 10:00", "1wd", "2026-09-30 10:00"),
        ("2026-10-12 10:00", "1wd", "2026-10-10 10:00"),  # the make-up Saturday
        ("2026-10-09 19:00", "1wd", "2026-10-08 17:30"),  # evening: anchor 17:30 the same day
        ("2026-09-14 12:30", "1wd", "2026-09-11 12:00"),  # lunch: anchor 12:00
    ],
)
def test_subtract_working_days(cal: Calendar, due: str, before: str, reminder: str) -> None:
    assert at(cal.subtract(local(due), parse_duration(before))) == reminder


# --------------------------------------------------------------------------- calendar units


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        ("2026-01-31 10:00", "1mo", "2026-02-28 10:00"),
        ("2028-01-31 10:00", "1mo", "2028-02-29 10:00"),  # leap year
        ("2026-03-31 10:00", "-1mo", "2026-02-28 10:00"),
        ("2027-01-15 00:00", "-1mo", "2026-12-15 00:00"),  # "1mo before expiry"
        ("2026-12-15 09:00", "1mo", "2027-01-15 09:00"),
        ("2026-05-31 09:00", "12mo", "2027-05-31 09:00"),
        ("2026-10-01 10:00", "3d", "2026-10-04 10:00"),    # calendar days ignore holidays
        ("2026-10-01 10:00", "-2w", "2026-09-17 10:00"),
        ("2026-10-01 10:00", "24h", "2026-10-02 10:00"),
        ("2026-10-01 10:00", "90m", "2026-10-01 11:30"),
        ("2026-10-01 10:00", "0h", "2026-10-01 10:00"),
    ],
)
def test_add_calendar_units(cal: Calendar, start: str, duration: str, due: str) -> None:
    assert at(cal.add(local(start), parse_duration(duration))) == due


def test_days_keep_local_wall_time_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    c = Calendar.from_config("eu", {"timezone": "Europe/Berlin"})
    start = local("2026-03-28 10:00", berlin)  # DST starts on Sunday 2026-03-29
    assert at(c.add(start, parse_duration("1d")), berlin) == "2026-03-29 10:00"
    assert c.add(start, parse_duration("1d")) - start == timedelta(hours=23)
    assert at(c.add(start, parse_duration("24h")), berlin) == "2026-03-29 11:00"
    assert at(c.add(start, parse_duration("1w")), berlin) == "2026-04-04 10:00"


def test_start_must_be_aware(cal: Calendar) -> None:
    with pytest.raises(ValueError, match="must be timezone-aware"):
        cal.add(datetime(2026, 10, 9, 16, 0), parse_duration("1wd"))


def test_result_is_utc_for_any_aware_start(cal: Calendar) -> None:
    start = local("2026-09-11 16:00").astimezone(ZoneInfo("America/New_York"))
    result = cal.add(start, parse_duration("4wh"))
    assert result.tzinfo is UTC
    assert result == datetime(2026, 9, 14, 3, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- working_time


def test_working_time(cal: Calendar) -> None:
    assert cal.working_time(local("2026-09-30 16:00"), local("2026-10-08 16:00")) == timedelta(hours=8)
    assert cal.working_time(local("2026-09-14 11:00"), local("2026-09-14 14:00")) == timedelta(hours=2)
    assert cal.working_time(local("2026-09-14 14:00"), local("2026-09-14 11:00")) == timedelta(hours=-2)
    assert cal.working_time(local("2026-10-03 10:00"), local("2026-10-04 10:00")) == timedelta(0)


# --------------------------------------------------------------------------- explain


def test_explain_working_hours_over_holiday(cal: Calendar) -> None:
    lines = cal.explain(local("2026-09-30 16:00"), parse_duration("8wh"))
    assert lines[0] == "start: 2026-09-30 Wed 16:00 Asia/Shanghai (2026-09-30 08:00 UTC)"
    assert lines[2:] == [
        "2026-09-30 Wed: counted 16:00-17:30, 6h30m left",
        "2026-10-01 Thu skipped: 节假日 (public holiday)",
        "2026-10-02 Fri skipped: 节假日 (public holiday)",
        "2026-10-03 Sat skipped: 节假日 (public holiday)",   # the notice counts the weekend in
        "2026-10-04 Sun skipped: 节假日 (public holiday)",
        "2026-10-05 Mon skipped: 节假日 (public holiday)",
        "2026-10-06 Tue skipped: 节假日 (public holiday)",
        "2026-10-07 Wed skipped: 节假日 (public holiday)",
        "2026-10-08 Thu: counted 08:30-12:00, 13:00-16:00, done",
        "result: 2026-10-08 Thu 16:00 Asia/Shanghai",
    ]


def test_explain_working_days_with_makeup_day(cal: Calendar) -> None:
    lines = cal.explain(local("2026-10-09 16:00"), parse_duration("3wd"))
    assert lines[2:] == [
        "start is inside working hours: keep 16:00 as the time of day",
        "2026-10-10 Sat 调休上班 (make-up working day): working day 1 of 3",
        "2026-10-11 Sun skipped: 周末 (rest day)",
        "2026-10-12 Mon: working day 2 of 3",
        "2026-10-13 Tue: working day 3 of 3",
        "result: 2026-10-13 Tue 16:00 Asia/Shanghai",
    ]


def test_explain_agrees_with_add(cal: Calendar) -> None:
    start = local("2026-09-18 11:11")
    for text in ("-3wh", "40wh", "-7wd", "2mo", "3d", "45m"):
        d = parse_duration(text)
        expected = cal.add(start, d).astimezone(SH).strftime("%Y-%m-%d")
        assert cal.explain(start, d)[-1].startswith(f"result: {expected}")
    assert "clamped" in " ".join(cal.explain(local("2026-01-31 10:00"), parse_duration("1mo")))


# --------------------------------------------------------------------------- properties


def _reference_working_time(c: Calendar, a: datetime, b: datetime) -> timedelta:
    """Independent of the implementation: per local day, naive wall-clock overlap."""
    la, lb = (x.astimezone(c.timezone).replace(tzinfo=None) for x in (a, b))
    total, day = timedelta(0), la.date()
    while day <= lb.date():
        if c.is_working_day(day):
            midnight = datetime.combine(day, datetime.min.time())
            for p, q in c.periods:
                lo = max(midnight + timedelta(minutes=p), la)
                hi = min(midnight + timedelta(minutes=q), lb)
                total += max(hi - lo, timedelta(0))
        day += timedelta(days=1)
    return total


def _next_working_instant(c: Calendar, s: datetime) -> datetime:
    """First instant at or after ``s`` inside a period, counting period ends as outside."""
    ls = s.astimezone(c.timezone).replace(tzinfo=None)
    day = ls.date()
    while True:
        if c.is_working_day(day):
            midnight = datetime.combine(day, datetime.min.time())
            for p, q in c.periods:
                ps, pe = midnight + timedelta(minutes=p), midnight + timedelta(minutes=q)
                if ps <= ls < pe:
                    return s
                if ls < ps:
                    return ps.replace(tzinfo=c.timezone).astimezone(UTC)
        day += timedelta(days=1)


starts = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2026, 12, 31),
                      timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(start=starts, hours=st.integers(min_value=0, max_value=80))
def test_property_working_hours(cal: Calendar, start: datetime, hours: int) -> None:
    d = Duration(hours, "wh")
    due = cal.add(start, d)
    assert due >= start
    # exactly the requested working time lies between start and due
    assert _reference_working_time(cal, start, due) == timedelta(hours=hours)
    assert cal.working_time(start, due) == timedelta(hours=hours)
    # the due time is inside a working period (ends included): 0wh leaves it alone
    assert cal.add(due, Duration(0, "wh")) == due
    if hours:
        # earliest such instant: one minute earlier is short of the duration
        assert _reference_working_time(cal, start, due - timedelta(minutes=1)) < timedelta(hours=hours)
        # and going back lands on the start, moved into working time
        assert cal.subtract(due, d) == _next_working_instant(cal, start)


@settings(max_examples=200, deadline=None)
@given(due=starts, hours=st.integers(min_value=1, max_value=80))
def test_property_working_hours_backwards(cal: Calendar, due: datetime, hours: int) -> None:
    remind = cal.subtract(due, Duration(hours, "wh"))
    assert remind <= due
    assert _reference_working_time(cal, remind, due) == timedelta(hours=hours)
    assert _reference_working_time(cal, remind + timedelta(minutes=1), due) < timedelta(hours=hours)


@settings(max_examples=200, deadline=None)
@given(start=starts, days=st.integers(min_value=0, max_value=40))
def test_property_working_days(cal: Calendar, start: datetime, days: int) -> None:
    d = Duration(days, "wd")
    due = cal.add(start, d)
    anchor = cal.add(start, Duration(0, "wh"))  # start moved into working hours
    assert anchor.astimezone(SH).time() == due.astimezone(SH).time()
    assert cal.is_working_day(due.astimezone(SH).date())
    first, last = anchor.astimezone(SH).date(), due.astimezone(SH).date()
    counted = sum(cal.is_working_day(first + timedelta(days=i)) for i in range(1, (last - first).days + 1))
    assert counted == days
    assert cal.subtract(due, d) == anchor


@settings(max_examples=100, deadline=None)
@given(start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                          timezones=st.just(UTC)),
       hours=st.integers(min_value=-60, max_value=60))
def test_property_working_hours_across_dst(start: datetime, hours: int) -> None:
    c = Calendar.from_config("eu", {"timezone": "Europe/Berlin", "working_hours": ["00:00-23:59"],
                                    "rest_days": ["sun"]})
    due = c.add(start, Duration(hours, "wh"))
    assert c.working_time(start, due) == timedelta(hours=hours)


# --------------------------------------------------------------------------- speed, purity


def test_working_durations_are_fast(cal: Calendar) -> None:
    start = datetime(2026, 9, 1, 1, 23, tzinfo=UTC)
    durations = [parse_duration(t) for t in ("8wh", "40wh", "-16wh", "3wd", "30wd", "-30wd")]
    cal.add(start, durations[0])  # warm the per-day cache
    began = time.perf_counter()
    for _ in range(200):
        for d in durations:
            cal.add(start, d)
    per_call = (time.perf_counter() - began) / (200 * len(durations))
    assert per_call < 0.001  # typically 5-20 microseconds


def test_engine_calendar_is_pure() -> None:
    code = ("import sys, engine.language.calendar; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --------------------------------------------------------------------------- CLI


def run_cli(*args: str, config: Path = CONFIG):
    return CliRunner().invoke(main, ["--config", str(config), "calendar", "check", *args])


def test_cli_check(cal: Calendar) -> None:
    result = run_cli("--from", "2026-10-09 16:00", "--within", "3wd")
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    assert "2026-10-10 Sat 调休上班 (make-up working day): working day 1 of 3" in out
    assert "2026-10-11 Sun skipped: 周末 (rest day)" in out
    assert out[-2:] == ["due (local): 2026-10-13 16:00 Asia/Shanghai",
                        "due (UTC):   2026-10-13 08:00 UTC"]


def test_cli_check_defaults_to_now() -> None:
    result = run_cli("--within", "0h")
    assert result.exit_code == 0, result.output
    assert "due (UTC):" in result.output


def test_cli_check_errors(tmp_path: Path) -> None:
    result = run_cli("--from", "2026-10-09 16:00", "--within", "3 wd")
    assert result.exit_code == 2
    assert "bad duration '3 wd': write a number and a unit without a space" in result.output

    result = run_cli("--calendar", "factory", "--within", "3wd")
    assert result.exit_code == 2
    assert "no calendar 'factory'" in result.output

    result = run_cli("--from", "tomorrow", "--within", "3wd")
    assert result.exit_code == 2
    assert "bad date-time 'tomorrow'" in result.output

    bad = tmp_path / "config.yaml"
    bad.write_text("calendars:\n  default:\n    rest_days: [sab]\n", encoding="utf-8")
    result = run_cli("--within", "3wd", config=bad)
    assert result.exit_code == 1
    assert "calendars.default.rest_days: unknown weekday 'sab'" in result.output


def test_cli_check_builtin_default(tmp_path: Path) -> None:
    empty = tmp_path / "config.yaml"
    empty.write_text("locale: zh\n", encoding="utf-8")
    result = run_cli("--from", "2026-10-01 10:00", "--within", "1wd", config=empty)
    assert result.exit_code == 0, result.output
    assert "built-in default calendar" in result.output
    assert "due (local): 2026-10-02 10:00 Asia/Shanghai" in result.output


def test_cli_check_says_how_far_public_holidays_are_known() -> None:
    result = run_cli("--from", "2026-12-30 16:00", "--within", "3wd")
    assert result.exit_code == 0, result.output
    assert "due (local): 2027-01-04 16:00 Asia/Shanghai" in result.output
    assert "note: public holidays are known only up to 2026-12-31" in result.output
    assert "Upgrade chinesecalendar" in result.output
    inside = run_cli("--from", "2026-09-30 16:00", "--within", "3wd")
    assert "note:" not in inside.output
