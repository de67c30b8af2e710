"""Whether the working calendars still know their public holidays far enough ahead, and
whether the ones running procedures name are still configured.

``chinesecalendar`` (or a calendar's own ``holidays`` list) knows the State Council's
notices up to the last year published. A deadline that reaches past it counts every weekday
as a working day, a Spring Festival included, and nobody would notice: administrators are
told on their inbox, and the worker says it in its log, well before (``HOLIDAYS_AHEAD``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from engine import store
from engine.language.deployment import DEFAULT_CALENDAR

if TYPE_CHECKING:
    from engine.app.services import Services

# The State Council publishes a year's holidays in its last months; a deadline of a few
# weeks must not reach into an unknown year unnoticed.
HOLIDAYS_AHEAD = timedelta(days=60)


@dataclass(frozen=True)
class HolidaysRunningOut:
    """A working calendar whose public holidays are known only up to ``known_until`` (None:
    none at all)."""

    calendar: str
    known_until: date | None


def holidays_running_out(services: Services) -> list[HolidaysRunningOut]:
    """The calendars with public holidays (``public_holidays:`` or listed ``holidays``) that
    know them for less than ``HOLIDAYS_AHEAD`` more, by name; a calendar without holidays
    (a line that runs every day) is none of them."""
    now = services.now()
    out = []
    for name, cal in sorted(services.workflow.calendars.items()):
        if not (cal.official_years or cal.holidays):
            continue
        known = cal.known_until()
        # Days are the calendar's own: at 07:00 in Shanghai it is already the next day.
        if known is None or known < now.astimezone(cal.timezone).date() + HOLIDAYS_AHEAD:
            out.append(HolidaysRunningOut(name, known))
    return out


@dataclass(frozen=True)
class CalendarGone:
    """A calendar that a version with running instances counts its deadlines in, and that
    config.yaml no longer has; ``procedure`` is the procedure's id, ``title`` its title."""

    procedure: str
    title: str
    calendar: str


def calendars_gone(services: Services) -> list[CalendarGone]:
    """Calendars named by versions that running instances are pinned to but gone from
    config.yaml (renamed or removed after the version was published). Their deadlines count
    in the default calendar (``runtime.machine.calendar_named``) without a word in the record:
    administrators are told on their inbox and the worker says it in its log."""
    wf = services.workflow
    known = {DEFAULT_CALENDAR, *wf.calendars}
    out: set[CalendarGone] = set()
    with services.database.reading() as s:
        current = {proc.id for proc, _vid in wf.current(s)}
        for vid in store.running_version_ids(s, current):
            proc = wf.runtime(s, vid).procedure
            named = {proc.calendar, *(st.deadline.calendar for st in proc.steps.values() if st.deadline)}
            out |= {CalendarGone(proc.id, proc.title, name) for name in named - known}
    return sorted(out, key=lambda g: (g.procedure, g.calendar))
