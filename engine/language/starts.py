"""Automatic starts declared under ``starts:`` in a procedure: schedules and triggers.

A *schedule* starts an instance at every occurrence of a calendar rule (daily .. yearly, at a
local time of the procedure's calendar). A *trigger* starts one instance per record of another
procedure, at a date stored in that record plus an offset. This module parses and checks the
declarations and computes when they fall due; firing them (once, with many workers) is
``engine.app.scheduler``'s job.

Pure module: no I/O, no Flask, no SQLAlchemy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from engine.errors import Problem
from engine.i18n import _
from engine.language.calendar import Calendar, Duration
from engine.language.expressions import Expr, check_names
from engine.language.suggest import suggest

if TYPE_CHECKING:
    from engine.language.procedure import Procedure, ProcedureChecker
    from engine.language.yaml_source import Path

SCHEDULE_KINDS = ("daily", "weekly", "monthly", "quarterly", "yearly")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SCHEDULE_KEYS = {"schedule", "day", "at", "as", "data", "due", "days"}
#: ``days:`` of a schedule: only the calendar's working days, or every day. (Not ``on:``:
#: YAML 1.1 reads that key as the boolean true.)
SCHEDULE_DAYS = ("workdays", "all")
TRIGGER_KEYS = {"trigger", "with", "as", "due"}
TRIGGER_INNER_KEYS = {"procedure", "field", "offset", "when"}
_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_MONTH_STEP = {"monthly": 1, "quarterly": 3, "yearly": 12}


@dataclass(frozen=True)
class Schedule:
    """``every`` is one of ``SCHEDULE_KINDS``; ``day`` a weekday index (weekly) or a day of
    the month (monthly, quarterly, yearly: in the first month of the period)."""

    every: str
    day: int
    at: tuple[int, int]
    actor: str = "system"
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    due: Duration | None = None
    # Only on working days of the procedure's calendar (weekends, public holidays and make-up
    # days): a daily report is not due on a Sunday or on National Day. For weekly to yearly
    # schedules an occurrence on a day off moves to the next working day.
    workdays: bool = False

    @property
    def rule(self) -> str:
        parts: list[Any] = ["schedule", self.every, self.day, list(self.at), self.actor,
                            dict(self.data), str(self.due) if self.due else None]
        # Appended only when set, so the rules of schedules written before keep their key
        # (the firings already recorded under it).
        return _digest([*parts, "workdays"] if self.workdays else parts)

    def describe(self) -> str:
        day = WEEKDAYS[self.day] if self.every == "weekly" else (f"day {self.day}" if self.every != "daily" else "")
        on = "on workdays" if self.workdays else ""
        return " ".join(x for x in (self.every, day, on, f"at {self.at[0]:02d}:{self.at[1]:02d}") if x)

    def next_after(self, after: datetime, tz: ZoneInfo, calendar: Calendar | None = None) -> datetime:
        """The first occurrence strictly after ``after`` (an aware instant); with ``workdays``,
        on a working day of ``calendar`` (required then)."""
        if not self.workdays:
            return self._next_plain(after, tz)
        if calendar is None:
            raise ValueError("a working-day schedule needs the procedure's calendar")
        t = after
        for _day in range(3700):  # ten years of days: a calendar has working days
            t = self._next_plain(t, tz)
            if self.every == "daily":
                if calendar.is_working_day(t.astimezone(tz).date()):
                    return t
                continue
            moved = t.astimezone(tz).date()
            while not calendar.is_working_day(moved):
                moved += timedelta(days=1)
            cand = _at(moved, *self.at, tz)
            if cand > after:
                return cand
        raise ValueError("no working day found for this schedule")

    def _next_plain(self, after: datetime, tz: ZoneInfo) -> datetime:
        local = after.astimezone(tz)
        hh, mm = self.at
        if self.every in ("daily", "weekly"):
            d = local.date()
            if self.every == "weekly":
                d += timedelta(days=(self.day - d.weekday()) % 7)
            step = timedelta(days=1 if self.every == "daily" else 7)
            while True:
                cand = _at(d, hh, mm, tz)
                if cand > after:
                    return cand
                d += step
        n = _MONTH_STEP[self.every]
        y, m = local.year, local.month
        m -= (m - 1) % n  # first month of the current period
        while True:
            cand = _at(date(y, m, min(self.day, _days_in_month(y, m))), hh, mm, tz)
            if cand > after:
                return cand
            m += n
            if m > 12:
                y, m = y + 1, m - 12

    def occurrences(self, after: datetime, until: datetime, tz: ZoneInfo, limit: int = 1000,
                    calendar: Calendar | None = None) -> list[datetime]:
        """Occurrences in ``(after, until]``, oldest first, at most ``limit``."""
        out: list[datetime] = []
        t = self.next_after(after, tz, calendar)
        while t <= until and len(out) < limit:
            out.append(t)
            t = self.next_after(t, tz, calendar)
        return out


@dataclass(frozen=True)
class Trigger:
    """Start one instance per record of ``procedure`` at its ``step.field`` date + ``offset``."""

    procedure: str
    step: str
    field: str
    offset: Duration
    when: Expr | None = None
    with_: tuple[tuple[str, Expr], ...] = ()
    actor: str = "system"
    due: Duration | None = None
    # (line, col) of the parts checked against the watched procedure once it is known.
    # dataclasses.field in full: the class's own `field` (STEP.FIELD) hides the short name.
    where: Mapping[str, tuple[int, int]] = dataclasses.field(
        default_factory=dict, compare=False, hash=False
    )

    @property
    def rule(self) -> str:
        return _digest(["trigger", self.procedure, self.step, self.field, str(self.offset),
                        self.when.source if self.when else None,
                        [[k, e.source] for k, e in self.with_], self.actor,
                        str(self.due) if self.due else None])

    def due_at(self, data: Mapping[str, Any], cal: Calendar) -> datetime | None:
        """When the trigger fires for a record with ``data``; None while the date is not recorded."""
        value = (data.get(self.step) or {}).get(self.field)
        when = _as_datetime(value, cal.timezone)
        return None if when is None else cal.add(when, self.offset)


Start = Schedule | Trigger


def _digest(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:32]


def _at(d: date, hh: int, mm: int, tz: ZoneInfo) -> datetime:
    return datetime(d.year, d.month, d.day, hh, mm, tzinfo=tz)


def _days_in_month(y: int, m: int) -> int:
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def _as_datetime(value: Any, tz: ZoneInfo) -> datetime | None:
    """A recorded date (start of that local day) or date-time; None for anything else."""
    try:
        if isinstance(value, str) and value:
            value = datetime.fromisoformat(value) if ("T" in value or " " in value) else date.fromisoformat(value)
    except ValueError:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    return None


# ---------------------------------------------------------------------------------------
# Parsing (called by engine.language.procedure with its checker)


def parse_starts(c: ProcedureChecker, node: Any, roles: Mapping[str, str]) -> tuple[Start, ...]:
    """The ``starts:`` list; problems go to the checker ``c`` (see ``procedure.ProcedureChecker``)."""
    if node is None:
        return ()
    if not isinstance(node, list):
        c.err(("starts",), _("'starts' must be a list of {schedule: ...} or {trigger: ...} entries"))
        return ()
    out: list[Start] = []
    for i, item in enumerate(node):
        path = ("starts", i)
        if not isinstance(item, dict) or ("schedule" in item) == ("trigger" in item):
            c.err(path, _("each automatic start has exactly one of 'schedule: monthly' or 'trigger: {procedure, field, offset}'"))
            continue
        parsed = _parse_schedule(c, item, path, roles) if "schedule" in item else _parse_trigger(c, item, path, roles)
        if parsed is not None:
            out.append(parsed)
    return tuple(out)


def _actor(c: ProcedureChecker, item: Mapping[str, Any], path: Path, roles: Mapping[str, str]) -> str:
    actor = item.get("as", "system")
    if actor == "system":
        return "system"
    return c.ref(actor, roles, (*path, "as"), "role") or "system"


def _parse_schedule(c: ProcedureChecker, item: Mapping[str, Any], path: Path, roles: Mapping[str, str]) -> Schedule | None:
    c.keys(item, SCHEDULE_KEYS, path, "a schedule")
    every = item["schedule"]
    if every not in SCHEDULE_KINDS:
        c.err((*path, "schedule"), _("unknown schedule {name}; use one of {kinds}",
                                     name=repr(every), kinds=", ".join(SCHEDULE_KINDS)))
        return None
    ok = True
    day = 1
    raw_day = item.get("day")
    if every == "weekly":
        if raw_day not in WEEKDAYS:
            c.err((*path, "day") if "day" in item else path,
                  _("a weekly schedule needs 'day:' one of {days}", days=", ".join(WEEKDAYS)))
            ok = False
        else:
            day = WEEKDAYS.index(raw_day)
    elif every == "daily":
        if raw_day is not None:
            c.err((*path, "day"), _("a daily schedule has no 'day'; remove it"))
            ok = False
    elif raw_day is not None:
        if isinstance(raw_day, bool) or not isinstance(raw_day, int) or not 1 <= raw_day <= 31:
            c.err((*path, "day"), _("'day' of a {every} schedule is a day of the month, 1 to 31 (31 means the month's last day)",
                                    every=every))
            ok = False
        else:
            day = raw_day
    at = (0, 0)
    raw_at = item.get("at", "00:00")
    try:
        hh, mm = (int(x) for x in str(raw_at).split(":"))
        if not (0 <= hh < 24 and 0 <= mm < 60) or len(str(raw_at)) != 5:
            raise ValueError
        at = (hh, mm)
    except ValueError:
        if isinstance(raw_at, int) and not isinstance(raw_at, bool) and 60 <= raw_at < 24 * 60:
            # YAML 1.1 reads an unquoted 8:30 as a base-60 number, 510: name what was likely typed.
            hours, minutes = divmod(raw_at, 60)
            typed, fixed = f"{hours}:{minutes:02d}", f"{hours:02d}:{minutes:02d}"
            c.err((*path, "at"), _("at: {value} is a number, not a time: YAML reads {typed} without quotes as "
                                   "{value}; write the time in quotes as \"HH:MM\": at: \"{fixed}\"", typed=typed, value=raw_at,
                                   fixed=fixed))
        else:
            c.err((*path, "at"), _("bad time {value}: write the local time in quotes as \"HH:MM\", e.g. at: \"09:00\"",
                                   value=repr(raw_at)))
        ok = False
    data = item.get("data", {})
    if not isinstance(data, dict):
        c.err((*path, "data"), _("'data' is a mapping of start-form fields to literal values"))
        ok = False
    due = _due(c, item, path)
    actor = _actor(c, item, path, roles)
    days = item.get("days", "all")
    if days not in SCHEDULE_DAYS:
        c.err((*path, "days"), _("'days' is 'workdays' (working days of the procedure's calendar: no weekends "
                                 "or public holidays, make-up working days included) or 'all', not {value}",
                                 value=repr(days)))
        ok = False
    if not ok:
        return None
    return Schedule(every=every, day=day, at=at, actor=actor, data=dict(data), due=due,
                    workdays=days == "workdays")


def _due(c: ProcedureChecker, item: Mapping[str, Any], path: Path) -> Duration | None:
    """``due``: when the first task of a started instance is due, counted from the start."""
    due = c.duration(item.get("due"), (*path, "due"))
    if due is not None and due.amount < 1:
        # 0 or a negative time opens the first task already overdue (and escalates it at once),
        # as a step's deadline of 0m would (ProcedureChecker.duration, least=1).
        c.err((*path, "due"), _("'due: {value}' would open the first task already overdue: write how long after "
                                "the start it is due, e.g. due: 9d or due: 3wd", value=item.get("due")))
        return None
    return due


def _parse_trigger(c: ProcedureChecker, item: Mapping[str, Any], path: Path, roles: Mapping[str, str]) -> Trigger | None:
    c.keys(item, TRIGGER_KEYS, path, "a trigger")
    node = item["trigger"]
    tpath = (*path, "trigger")
    if not isinstance(node, dict):
        c.err(tpath, _("'trigger' is a mapping: {procedure: ID, field: STEP.FIELD, offset: -1mo}"))
        return None
    c.keys(node, TRIGGER_INNER_KEYS, tpath, "a trigger")
    ok = True
    for key in ("procedure", "field", "offset"):
        if key not in node:
            c.err(tpath, _("a trigger needs '{key}'", key=key))
            ok = False
    proc = node.get("procedure")
    if proc is not None and (not isinstance(proc, str) or not _KEBAB.match(proc)):
        c.err((*tpath, "procedure"), _("'procedure' must be a procedure id (kebab-case)"))
        ok = False
    step = fld = ""
    if "field" in node:
        raw = node["field"]
        if not isinstance(raw, str) or raw.count(".") != 1 or not all(raw.split(".")):
            c.err((*tpath, "field"), _("'field' is STEP.FIELD of the watched procedure holding a date, "
                                       "e.g. contract.expires_on, not {value}", value=repr(raw)))
            ok = False
        else:
            step, fld = raw.split(".")
    offset = c.duration(node.get("offset"), (*tpath, "offset")) if "offset" in node else None
    if "offset" in node and offset is None:
        ok = False
    if offset is not None and offset.working:
        c.err((*tpath, "offset"), _("a trigger offset is calendar time (m, h, d, w, mo), not working time"))
        ok = False
    where: dict[str, tuple[int, int]] = {}
    when = None
    if "when" in node:
        when = c.expr(node["when"], (*tpath, "when"), "", "trigger", checked=False)
        where["when"] = c.src.where((*tpath, "when"))
    if "field" in node:
        where["field"] = c.src.where((*tpath, "field"))
    where["procedure"] = c.src.where((*tpath, "procedure")) if "procedure" in node else c.src.where(tpath)
    with_: list[tuple[str, Expr]] = []
    w = item.get("with", {})
    if not isinstance(w, dict):
        c.err((*path, "with"), _("'with' maps start-data fields of the new instance to expressions over the watched record"))
        ok = False
    else:
        for k, v in w.items():
            e = c.expr(v, (*path, "with", k), "", "trigger", checked=False)
            where[f"with.{k}"] = c.src.where((*path, "with", k))
            where[f"with-key.{k}"] = c.src.where((*path, "with", k), key=True)
            if e is not None:
                with_.append((str(k), e))
    due = _due(c, item, path)
    actor = _actor(c, item, path, roles)
    if not ok or offset is None or when is None and "when" in node or not isinstance(proc, str):
        return None
    return Trigger(procedure=proc, step=step, field=fld, offset=offset, when=when,
                   with_=tuple(with_), actor=actor, due=due, where=where)


def watched_fields(watched: Procedure) -> set[str]:
    """Every STEP.FIELD a record of ``watched`` can hold (plus start.* and instance.*)."""
    from engine.language.procedure import APPROVAL_FIELDS, INSTANCE_FIELDS

    known = set(INSTANCE_FIELDS)
    start_form = watched.forms.get(watched.start_form) if watched.start_form else None
    if start_form is not None:
        known.update(f"start.{f}" for f in start_form.fields)
    for s in watched.steps.values():
        form = watched.forms.get(s.form) if s.form else None
        if form is not None:
            known.update(f"{s.id}.{f}" for f in form.fields)
        if s.type == "approval":
            known.update(f"{s.id}.{f}" for f in APPROVAL_FIELDS)
    return known


def check_triggers(proc: Procedure, procedures: Mapping[str, Procedure],
                   others: Collection[str] = ()) -> list[Problem]:
    """Check each trigger of ``proc`` against the procedure it watches: one of ``procedures``
    (checked in full) or of ``others`` (ids of procedures known only by outline)."""
    problems: list[Problem] = []
    start_fields = set(proc.forms[proc.start_form].fields) if proc.start_form else None
    for t in proc.starts:
        if not isinstance(t, Trigger):
            continue
        watched = procedures.get(t.procedure)
        if watched is None:
            if t.procedure not in others:
                # A misspelt id would watch nothing and never fire, without a word.
                ids = sorted({*procedures, *others})
                hint = suggest(t.procedure, ids)
                if hint:
                    message = _("unknown procedure '{target}' to watch; did you mean '{hint}'?",
                                target=t.procedure, hint=hint)
                else:
                    message = _("unknown procedure '{target}' to watch; known procedures: {known}",
                                target=t.procedure, known=", ".join(ids[:12]))
                line, col = t.where["procedure"]
                problems.append(Problem(proc.file, line, col, message))
            continue
        known = watched_fields(watched)
        if f"{t.step}.{t.field}" not in known:
            line, col = t.where["field"]
            dates = sorted(k for k in known if not k.startswith("instance."))
            watched_field = f"{t.step}.{t.field}"
            problems.append(Problem(proc.file, line, col, _(
                "'{field}' is not a field of procedure '{target}'; fields: {fields}",
                field=watched_field, target=t.procedure, fields=", ".join(dates[:12]))))
        exprs = ([("when", t.when)] if t.when else []) + [(f"with.{k}", e) for k, e in t.with_]
        for where, expr in exprs:
            for name, message in check_names(expr, known):
                line, col = t.where[where]
                problems.append(Problem(proc.file, line, col + max(expr.source.find(name), 0), message))
        if start_fields is not None:
            for k, _expr in t.with_:
                if k not in start_fields:
                    line, col = t.where[f"with-key.{k}"]
                    problems.append(Problem(proc.file, line, col, _(
                        "'{key}' is not a field of the start form '{form}'; fields: {fields}",
                        key=k, form=proc.start_form, fields=", ".join(sorted(start_fields)))))
        problems += _copies_in_clear(proc, t, watched)
    return problems


def _copies_in_clear(proc: Procedure, t: Trigger, watched: Procedure) -> list[Problem]:
    """A ``with`` value computed from a sensitive (``x-sensitive``) field of the watched record
    must land in a field the start form marks sensitive too: else the new instance shows in
    clear, to everyone who reads it, what the watched record masks."""
    secret: set[str] = set()
    for sid in ("start", *watched.steps):
        form_id = watched.start_form if sid == "start" else watched.steps[sid].form
        form = watched.forms.get(form_id) if form_id else None
        if form is not None:
            secret |= {f"{sid}.{path.split('[', 1)[0]}" for path in form.sensitive_paths}
    start = proc.forms.get(proc.start_form) if proc.start_form else None
    out = []
    for k, expr in t.with_:
        info = start.fields.get(k) if start is not None else None
        if info is None or info.sensitive:
            continue
        read = sorted({key for name in expr.names for key in secret
                       if name == key or key.startswith(name + ".") or name.startswith(key + ".")})
        if read:
            line, col = t.where[f"with-key.{k}"]
            out.append(Problem(proc.file, line, col, _(
                "'{key}' copies the sensitive field '{field}' of '{target}' into the start form "
                "'{form}', which shows it in clear; mark '{key}' x-sensitive: true in form '{form}', "
                "or copy another field", key=k, field=read[0], target=t.procedure, form=proc.start_form)))
    return out
