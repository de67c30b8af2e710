"""Deadline durations and working calendars.

A :class:`Duration` is a number and a unit written without a space (``24h``, ``3wd``,
``-1mo``). A :class:`Calendar` knows a time zone, the daily working periods, the weekly
rest days, public holidays and make-up working days (调休), and adds durations to instants.

Rules shared by every unit (the details are on :meth:`Calendar.add`):

* Instants going in must be timezone-aware; results are aware UTC datetimes.
* ``m``/``h`` are elapsed time; ``d``/``w``/``mo`` are calendar arithmetic on the local wall
  clock; ``wh``/``wd`` count only working time of working days.
* Working periods lie inside one local day (``00:00``-``23:59``); a period is treated as a
  closed interval, so its start and its end both count as "inside working hours".
* Negative amounts go backwards with the mirrored rules.

Pure module: no I/O, no Flask, no SQLAlchemy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.config import DEFAULT_TIMEZONE
from engine.errors import WorkflowError
from engine.i18n import _

__all__ = ["Calendar", "Duration", "DurationError", "parse_duration", "UNITS"]

_UTC = UTC
_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)

UNITS: dict[str, str] = {
    "m": "minutes",
    "h": "hours",
    "d": "days",
    "w": "weeks",
    "mo": "calendar months",
    "wh": "working hours",
    "wd": "working days",
}

# Largest accepted |amount| per unit: about a century, so arithmetic never overflows and a
# typo such as ``99999999wd`` fails at parse time instead of looping for seconds.
_MAX_AMOUNT: dict[str, int] = {
    "m": 52_560_000,
    "h": 876_000,
    "d": 36_500,
    "w": 5_200,
    "mo": 1_200,
    "wh": 200_000,
    "wd": 25_000,
}

_DURATION_RE = re.compile(r"(-?\d+)(mo|wh|wd|m|h|d|w)")

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = {name: i for i, name in enumerate(_WEEKDAYS)}
_WEEKDAY_NAMES.update(
    {full: i for i, full in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}
)
_WEEKDAY_LABEL = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_TIME_RANGE_RE = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")

_DEFAULT_TZ = DEFAULT_TIMEZONE
_DEFAULT_HOURS = ("08:30-12:00", "13:00-17:30")
_DEFAULT_REST = ("sat", "sun")
_CONFIG_KEYS = ("timezone", "working_hours", "rest_days", "holidays", "workdays", "public_holidays",
                "holidays_listed_until")
#: Sources of official public holidays and make-up days: ``public_holidays: china`` reads the
#: State Council's notices as the maintained ``chinesecalendar`` package publishes them.
PUBLIC_HOLIDAYS = ("china",)


class DurationError(WorkflowError, ValueError):
    """A duration text could not be parsed (also a ``ValueError``)."""

    code = "invalid_duration"


@dataclass(frozen=True)
class Duration:
    """An amount of one unit; ``amount`` is an int and may be negative or zero."""

    amount: int
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise DurationError(_("unknown duration unit {unit}; use one of {units}",
                                  unit=repr(self.unit), units=", ".join(UNITS)))
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise DurationError(_("duration amount must be a whole number, not {value}", value=repr(self.amount)))

    @property
    def working(self) -> bool:
        """True for units that count working time of a calendar (``wh``, ``wd``)."""
        return self.unit in ("wh", "wd")

    def __neg__(self) -> Duration:
        return Duration(-self.amount, self.unit)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_duration(text: str) -> Duration:
    """Parse ``"24h"``-style text into a :class:`Duration`; raise :class:`DurationError`.

    Only text is accepted: a whole number (optionally negative) immediately followed by one
    of the units ``m h d w mo wh wd``. No spaces, no decimals, no other types.
    """
    if not isinstance(text, str):
        raise DurationError(_bad_duration(text))
    return _parse_duration(text)


def _bad_duration(text: Any) -> str:
    return _("bad duration {value}: write a number and a unit without a space, e.g. 30m, 24h, 3d, 2w, 1mo, "
             "8wh (working hours), 3wd (working days)", value=repr(text))


def _unit_words(unit: str) -> str:
    """``UNITS[unit]`` in the reader's language."""
    words = {"m": _("minutes"), "h": _("hours"), "d": _("days"), "w": _("weeks"), "mo": _("calendar months"),
             "wh": _("working hours"), "wd": _("working days")}
    return words.get(unit, UNITS.get(unit, unit))


@lru_cache(maxsize=1024)
def _parse_duration(text: str) -> Duration:
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        raise DurationError(_bad_duration(text))
    amount, unit = int(match.group(1)), match.group(2)
    limit = _MAX_AMOUNT[unit]
    if abs(amount) > limit:
        most = f"{limit}{unit}"
        raise DurationError(_("bad duration {value}: at most {limit} ({unit})",
                              value=repr(text), limit=most, unit=_unit_words(unit)))
    return Duration(amount, unit)


# --------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class Calendar:
    """A working calendar; build it with :meth:`Calendar.from_config`.

    ``periods`` are the daily working periods as ``(start, end)`` minutes after local
    midnight, sorted and disjoint. ``holidays`` are days off even on weekdays;
    ``workdays`` are make-up working days (调休) that are on even on rest days.
    ``official_years`` are the years whose holidays come from an official source
    (``public_holidays: china``); outside them only the configured dates are known.
    """

    name: str
    timezone: ZoneInfo
    periods: tuple[tuple[int, int], ...]
    rest_days: frozenset[int]
    holidays: frozenset[date]
    workdays: frozenset[date]
    official_years: tuple[int, ...] = ()
    # The last day up to which ``holidays``/``workdays`` list a whole year's notice by hand
    # (``holidays_listed_until``), beyond the official years.
    listed_until: date | None = None

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_config(cls, name: str, cfg: Mapping[str, Any] | None) -> Calendar:
        """Build from the mapping under ``calendars.<name>`` in ``config.yaml``.

        ``None`` gives the default calendar: Asia/Shanghai, 08:30-12:00 and 13:00-17:30,
        rest days Saturday and Sunday, no holidays. A missing key takes that default.
        Raises ``ValueError`` naming the offending key (``calendars.<name>.<key>``).
        """
        cfg = {} if cfg is None else cfg
        where = f"calendars.{name}"
        if not isinstance(cfg, Mapping):
            raise ValueError(_("{where}: expected a mapping with keys {keys}", where=where, keys=", ".join(_CONFIG_KEYS)))
        unknown = sorted(str(k) for k in cfg if k not in _CONFIG_KEYS)
        if unknown:
            raise ValueError(_("{where}: unknown key {key}; allowed keys: {keys}",
                               where=where, key=repr(unknown[0]), keys=", ".join(_CONFIG_KEYS)))

        tz = _parse_timezone(f"{where}.timezone", cfg.get("timezone", _DEFAULT_TZ))
        periods = _parse_periods(f"{where}.working_hours", cfg.get("working_hours", _DEFAULT_HOURS))
        rest = _parse_rest_days(f"{where}.rest_days", cfg.get("rest_days", _DEFAULT_REST))
        holidays = _parse_dates(f"{where}.holidays", cfg.get("holidays"))
        workdays = _parse_dates(f"{where}.workdays", cfg.get("workdays"))
        both = sorted(holidays & workdays)
        if both:
            raise ValueError(_("{where}.workdays: {date} is also listed in {where}.holidays",
                               where=where, date=both[0].isoformat()))
        years: tuple[int, ...] = ()
        source = cfg.get("public_holidays")
        if source is not None:
            if source not in PUBLIC_HOLIDAYS:
                raise ValueError(_("{where}.public_holidays: unknown source {source}; use {sources} "
                                   "(or leave it out and list the dates)",
                                   where=where, source=repr(source), sources=", ".join(PUBLIC_HOLIDAYS)))
            off_holidays, off_workdays, years = _china()
            # The configured dates win: a company may work on an official holiday or give a
            # make-up day off; both lists then say so.
            holidays = (off_holidays - workdays) | holidays
            workdays = (off_workdays - holidays) | workdays
        listed = cfg.get("holidays_listed_until")
        listed_until = None
        if listed is not None:
            [listed_until] = _parse_dates(f"{where}.holidays_listed_until", [listed])
        return cls(name, tz, periods, rest, holidays, workdays, years, listed_until)

    def known_until(self) -> date | None:
        """The last day whose public holidays are known, if any: the end of the last official
        year, or the day ``holidays_listed_until`` says the lists cover. A calendar without an
        official source knows what it lists. A listed day after the official years (a company's
        own day off) says nothing about the public holidays around it: one such day in May made
        the whole Spring Festival before it look known, and silenced the warning."""
        last = [date(max(self.official_years), 12, 31)] if self.official_years else []
        if not self.official_years and self.holidays:
            last.append(max(self.holidays))
        if self.listed_until is not None:
            last.append(self.listed_until)
        return max(last) if last else None

    # ---------------------------------------------------------------- days

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` (a local date) is a working day.

        Holidays are off even on weekdays; make-up working days are on even on rest days.
        """
        if d in self.workdays:
            return True
        return d not in self.holidays and d.weekday() not in self.rest_days

    def day_kind(self, d: date) -> str:
        """``"workday"``, ``"makeup"`` (调休上班), ``"holiday"`` (节假日) or ``"rest"`` (周末)."""
        if d in self.workdays:
            return "makeup"
        if d in self.holidays:
            return "holiday"
        if d.weekday() in self.rest_days:
            return "rest"
        return "workday"

    # ---------------------------------------------------------------- arithmetic

    def add(self, start: datetime, duration: Duration | str) -> datetime:
        """Return ``start + duration`` as an aware UTC datetime.

        ``start`` must be timezone-aware. Per unit:

        ``m``, ``h``
            Plain elapsed time (``start + timedelta``).
        ``d``, ``w``
            Calendar days in the calendar's time zone, keeping the local wall-clock time
            across DST changes (a wall time that does not exist is read as before the change).
        ``mo``
            Calendar months on the local wall clock; the day is clamped to the month's
            length (Jan 31 + 1mo = Feb 28 or 29), the time of day is kept.
        ``wh``
            Only time inside working periods of working days counts. Forward, the result is
            the earliest instant at which exactly the given working time has elapsed since
            ``start``; so a start outside working time effectively begins at the next period
            start, and a result that fills a period exactly is that period's end (17:30, not
            next morning 08:30). ``0wh`` moves a start outside working time to the next
            period start and leaves a start inside a period (ends included) alone.
        ``wd``
            Step 1, the anchor: a start inside working hours of a working day (period ends
            included) is kept; any other start moves to the start of the next working period
            (lunch break 12:30 -> 13:00 the same day, evening or holiday -> 08:30 of the next
            working day). Step 2: move the anchor's local date forward by N working days,
            skipping rest days and holidays and counting make-up working days, and keep the
            anchor's local time of day. "3 working days from Friday 10:00 is Wednesday
            10:00"; from Friday 19:00 it is Thursday 08:30 (anchor Monday 08:30). Because
            every working day has the same periods, the result is inside working hours.

        Negative amounts mirror these rules backwards: ``-2wh`` is the latest instant with
        exactly 2 working hours before ``start`` (a result at a period start is that start),
        ``-1wd`` anchors a start outside working time at the end of the previous working
        period and then steps back over working days.

        Invariants: for ``wh``, :meth:`working_time` between ``start`` and the result is
        exactly the duration; for a positive ``d``, ``subtract(add(s, d), d)`` is ``s`` when
        ``s`` is inside a working period and not at its end, else the next period start.
        """
        return self._add(_as_utc(start), _as_duration(duration), None)

    def subtract(self, when: datetime, duration: Duration | str) -> datetime:
        """Return ``when - duration``: :meth:`add` with the amount negated."""
        return self.add(when, -_as_duration(duration))

    def explain(self, start: datetime, duration: Duration | str) -> list[str]:
        """Human-readable lines showing how :meth:`add` computes its result.

        Lists each working day counted (with its periods for ``wh``), each day skipped and
        why (周末 rest day, 节假日 public holiday) and make-up working days (调休上班); the
        last line is the result in local time.
        """
        duration = _as_duration(duration)
        start = _as_utc(start)
        lines = [
            f"start: {self._fmt(start)} {self.timezone.key} ({_fmt_utc(start)})",
            f"duration: {duration} ({UNITS[duration.unit]})"
            + (f"; calendar {self.name}: {self._describe()}" if duration.working else ""),
        ]
        result = self._add(start, duration, lines.append)
        lines.append(f"result: {self._fmt(result)} {self.timezone.key}")
        return lines

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two instants (negative when ``end`` is before ``start``)."""
        a, b = _as_utc(start), _as_utc(end)
        if b < a:
            return -self.working_time(b, a)
        total = _ZERO
        day = a.astimezone(self.timezone).date()
        last = b.astimezone(self.timezone).date()
        while day <= last:
            if self.is_working_day(day):
                for ps, pe in self._spans(day)[0]:
                    lo, hi = max(ps, a), min(pe, b)
                    if hi > lo:
                        total += hi - lo
            day += _ONE_DAY
        return total

    # ---------------------------------------------------------------- internals

    def _add(self, start: datetime, duration: Duration, trace: Callable[[str], None] | None) -> datetime:
        n, unit = duration.amount, duration.unit
        if unit in ("m", "h"):
            delta = timedelta(minutes=n) if unit == "m" else timedelta(hours=n)
            if trace:
                trace(f"elapsed time: {'+' if n >= 0 else '-'}{_fmt_td(abs(delta))}")
            return start + delta
        if unit in ("d", "w"):
            days = n * 7 if unit == "w" else n
            local = start.astimezone(self.timezone).replace(tzinfo=None)
            if trace:
                trace(f"calendar days: {days:+d} in {self.timezone.key}, same local time of day")
            return _to_utc(local + timedelta(days=days), self.timezone)
        if unit == "mo":
            return self._add_months(start, n, trace)
        if unit == "wh":
            return self._add_working_time(start, timedelta(hours=n), trace)
        return self._add_working_days(start, n, trace)

    def _add_months(self, start: datetime, n: int, trace: Callable[[str], None] | None) -> datetime:
        local = start.astimezone(self.timezone).replace(tzinfo=None)
        index = local.year * 12 + local.month - 1 + n
        year, month = divmod(index, 12)
        month += 1
        last_day = _days_in_month(year, month)
        day = min(local.day, last_day)
        if trace:
            trace(f"calendar months: {n:+d} on the local wall clock")
            if day != local.day:
                trace(f"{year}-{month:02d} has {last_day} days: day {local.day} clamped to {day}")
        return _to_utc(local.replace(year=year, month=month, day=day), self.timezone)

    def _add_working_time(
        self, start: datetime, amount: timedelta, trace: Callable[[str], None] | None
    ) -> datetime:
        if amount >= _ZERO:
            return self._forward_time(start, amount, trace)
        return self._backward_time(start, -amount, trace)

    def _forward_time(
        self, t: datetime, remaining: timedelta, trace: Callable[[str], None] | None
    ) -> datetime:
        """Earliest instant ``r >= t`` with ``remaining`` working time in ``[t, r]``."""
        day = t.astimezone(self.timezone).date()
        while True:
            if not self.is_working_day(day):
                if trace:
                    trace(self._skip_line(day))
                day += _ONE_DAY
                continue
            spans, total = self._spans(day)
            if trace is None and spans[0][0] >= t and remaining > total:
                remaining -= total  # a whole working day, the common case: no per-period work
                day += _ONE_DAY
                continue
            parts: list[str] = []
            for ps, pe in spans:
                if pe < t:
                    continue
                s = ps if ps >= t else t
                avail = pe - s
                if remaining <= avail:
                    end = s + remaining
                    if trace:
                        parts.append(f"{self._hm(s)}-{self._hm(end)}")
                        trace(self._count_line(day, parts, _ZERO, ", done"))
                    return end
                remaining -= avail
                if trace:
                    parts.append(f"{self._hm(s)}-{self._hm(pe)}")
            if trace and parts:
                trace(self._count_line(day, parts, remaining, ""))
            day += _ONE_DAY

    def _backward_time(
        self, t: datetime, remaining: timedelta, trace: Callable[[str], None] | None
    ) -> datetime:
        """Latest instant ``r <= t`` with ``remaining`` working time in ``[r, t]``."""
        day = t.astimezone(self.timezone).date()
        while True:
            if not self.is_working_day(day):
                if trace:
                    trace(self._skip_line(day))
                day -= _ONE_DAY
                continue
            spans, total = self._spans(day)
            if trace is None and spans[-1][1] <= t and remaining > total:
                remaining -= total
                day -= _ONE_DAY
                continue
            parts: list[str] = []
            for ps, pe in reversed(spans):
                if ps > t:
                    continue
                e = pe if pe <= t else t
                avail = e - ps
                if remaining <= avail:
                    begin = e - remaining
                    if trace:
                        parts.insert(0, f"{self._hm(begin)}-{self._hm(e)}")
                        trace(self._count_line(day, parts, _ZERO, ", done"))
                    return begin
                remaining -= avail
                if trace:
                    parts.insert(0, f"{self._hm(ps)}-{self._hm(e)}")
            if trace and parts:
                trace(self._count_line(day, parts, remaining, ""))
            day -= _ONE_DAY

    def _add_working_days(self, start: datetime, n: int, trace: Callable[[str], None] | None) -> datetime:
        forward = n >= 0
        anchor = self._forward_time(start, _ZERO, None) if forward else self._backward_time(start, _ZERO, None)
        local = anchor.astimezone(self.timezone)
        if trace:
            if anchor == start:
                trace(f"start is inside working hours: keep {self._hm(anchor)} as the time of day")
            else:
                edge = "start of the next" if forward else "end of the previous"
                trace(f"start is outside working hours: moved to the {edge} working period, "
                      f"{self._fmt(anchor)}")
        day, wall = local.date(), local.time().replace(tzinfo=None)
        step = _ONE_DAY if forward else -_ONE_DAY
        counted, goal = 0, abs(n)
        while counted < goal:
            day += step
            if self.is_working_day(day):
                counted += 1
                if trace:
                    extra = " 调休上班 (make-up working day)" if day in self.workdays else ""
                    trace(f"{self._day_label(day)}{extra}: working day {counted} of {goal}")
            elif trace:
                trace(self._skip_line(day))
        return _to_utc(datetime.combine(day, wall), self.timezone)

    def _spans(self, day: date) -> tuple[tuple[tuple[datetime, datetime], ...], timedelta]:
        return _day_spans(self.timezone, self.periods, day)

    # ---------------------------------------------------------------- formatting

    def _describe(self) -> str:
        hours = ", ".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in self.periods)
        rest = ", ".join(_WEEKDAY_LABEL[i] for i in sorted(self.rest_days)) or "none"
        return f"{hours}; rest days {rest}; {len(self.holidays)} holidays, {len(self.workdays)} make-up working days"

    def _day_label(self, day: date) -> str:
        return f"{day.isoformat()} {_WEEKDAY_LABEL[day.weekday()]}"

    def _skip_line(self, day: date) -> str:
        reason = "节假日 (public holiday)" if day in self.holidays else "周末 (rest day)"
        return f"{self._day_label(day)} skipped: {reason}"

    def _count_line(self, day: date, parts: list[str], remaining: timedelta, suffix: str) -> str:
        extra = " 调休上班 (make-up working day)" if day in self.workdays else ""
        left = "" if suffix else f", {_fmt_td(remaining)} left"
        return f"{self._day_label(day)}{extra}: counted {', '.join(parts)}{left}{suffix}"

    def _hm(self, t: datetime) -> str:
        local = t.astimezone(self.timezone)
        return local.strftime("%H:%M:%S" if local.second or local.microsecond else "%H:%M")

    def _fmt(self, t: datetime) -> str:
        local = t.astimezone(self.timezone)
        return f"{self._day_label(local.date())} {self._hm(t)}"


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=16384)
def _day_spans(
    tz: ZoneInfo, periods: tuple[tuple[int, int], ...], day: date
) -> tuple[tuple[tuple[datetime, datetime], ...], timedelta]:
    """The working periods of ``day`` as UTC instants, and their total length."""
    midnight = datetime(day.year, day.month, day.day)
    spans = tuple(
        (_to_utc(midnight + timedelta(minutes=a), tz), _to_utc(midnight + timedelta(minutes=b), tz))
        for a, b in periods
    )
    return spans, sum((pe - ps for ps, pe in spans), _ZERO)


def _to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    return naive.replace(tzinfo=tz).astimezone(_UTC)


def _as_utc(t: datetime) -> datetime:
    if not isinstance(t, datetime):
        raise TypeError(f"expected a datetime, got {type(t).__name__}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"datetime {t.isoformat()} must be timezone-aware (e.g. UTC)")
    return t.astimezone(_UTC)


def _as_duration(duration: Duration | str) -> Duration:
    return parse_duration(duration) if isinstance(duration, str) else duration


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _fmt_td(td: timedelta) -> str:
    seconds = int(td.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    out += f"{secs}s" if secs else ""
    return out or "0m"


def _fmt_utc(t: datetime) -> str:
    return t.astimezone(_UTC).strftime("%Y-%m-%d %H:%M UTC")


def _parse_timezone(key: str, value: Any) -> ZoneInfo:
    if not isinstance(value, str) or not value:
        raise ValueError(_("{key}: expected an IANA time zone name such as Asia/Shanghai, got {value}",
                           key=key, value=repr(value)))
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(_("{key}: unknown time zone {value}; use an IANA name such as Asia/Shanghai",
                           key=key, value=repr(value))) from None


def _parse_periods(key: str, value: Any) -> tuple[tuple[int, int], ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise ValueError(_("{key}: expected a list of time ranges such as [\"08:30-12:00\", \"13:00-17:30\"]", key=key))
    periods: list[tuple[int, int]] = []
    for item in value:
        match = _TIME_RANGE_RE.fullmatch(item) if isinstance(item, str) else None
        bad = _("{key}: bad time range {value}; write HH:MM-HH:MM with start before end, e.g. 08:30-12:00",
                key=key, value=repr(item))
        if match is None:
            raise ValueError(bad)
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(bad + _(" (times run from 00:00 to 23:59)"))
        a, b = h1 * 60 + m1, h2 * 60 + m2
        if a >= b:
            raise ValueError(bad)
        periods.append((a, b))
    if not periods:
        raise ValueError(_("{key}: at least one working period is needed, e.g. [\"08:30-17:30\"]", key=key))
    periods.sort()
    for (a1, b1), (a2, b2) in zip(periods, periods[1:], strict=False):
        if a2 < b1:
            first, second = f"{_hhmm(a1)}-{_hhmm(b1)}", f"{_hhmm(a2)}-{_hhmm(b2)}"
            raise ValueError(_("{key}: time ranges {first} and {second} overlap", key=key, first=first, second=second))
    return tuple(periods)


def _parse_rest_days(key: str, value: Any) -> frozenset[int]:
    if value is None:
        return frozenset()
    if isinstance(value, str) or not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise ValueError(_("{key}: expected a list of weekdays such as [sat, sun]", key=key))
    days: set[int] = set()
    for item in value:
        index = _WEEKDAY_NAMES.get(item.strip().lower()) if isinstance(item, str) else None
        if index is None:
            raise ValueError(_("{key}: unknown weekday {value}; use {days}", key=key, value=repr(item),
                               days=", ".join(_WEEKDAYS)))
        days.add(index)
    if len(days) == 7:
        raise ValueError(_("{key}: every weekday is a rest day; leave at least one working weekday", key=key))
    return frozenset(days)


@lru_cache(maxsize=1)
def _china() -> tuple[frozenset[date], frozenset[date], tuple[int, ...]]:
    """Mainland China's public holidays, make-up working days and the years covered.

    From ``chinesecalendar`` (maintained from the State Council's yearly notices) rather than
    lists copied into config.yaml, which ran out at the end of 2026.
    """
    import chinese_calendar  # type: ignore[import-untyped]  # ships no type information

    holidays = frozenset(chinese_calendar.holidays)
    workdays = frozenset(chinese_calendar.workdays)
    years = tuple(sorted({d.year for d in holidays | workdays}))
    return holidays, workdays, years


def _parse_dates(key: str, value: Any) -> frozenset[date]:
    if value is None:
        return frozenset()
    if isinstance(value, str | date) or not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise ValueError(_("{key}: expected a list of dates such as [2026-10-01, 2026-10-02]", key=key))
    out: set[date] = set()
    for item in value:
        if isinstance(item, date) and not isinstance(item, datetime):
            out.add(item)
            continue
        try:
            if not isinstance(item, str):
                raise ValueError
            out.add(date.fromisoformat(item.strip()))
        except ValueError:
            raise ValueError(_("{key}: bad date {value}; write YYYY-MM-DD, e.g. 2026-10-01",
                               key=key, value=repr(item))) from None
    return frozenset(out)
