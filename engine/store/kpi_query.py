"""KPI aggregates of one procedure over a time range, by week or month, computed in SQL.

Periods are local weeks (starting Monday, labelled by that date) or local months
(``YYYY-MM``) of the instance's start (of the task's creation for step figures), cut at
midnight of the configured zone (``engine.store.local_time``). Durations are in hours.
The figures are read from the daily aggregates of ``kpi_rollup``; the drill-down behind a
number selects the instances themselves.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Date, and_, case, cast, func, literal_column, or_, select

from engine.language.records import FIRST
from engine.store.kpi_rollup import FIRST_PASS, Histogram
from engine.store.local_time import local_date, local_label, midnight
from engine.store.tables import FieldIndex, Instance, InstanceStatus, KpiCount, Task, TaskStatus

if TYPE_CHECKING:
    from collections.abc import Mapping
    from zoneinfo import ZoneInfo

    from sqlalchemy.orm import Session

PERIODS = ("week", "month")


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def period_of(session: Session, column: Any, period: str, zone: ZoneInfo, since: datetime,
              until: datetime) -> Any:
    """The local period label of ``column`` (a stored time within ``[since, until)``)."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    return local_label(_dialect(session), column, zone, since, until, period)


def _hours(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds) / 3600.0, 2)


@dataclass
class Kpis:
    periods: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    first_pass: dict[str, tuple[int, int]] = field(default_factory=dict)   # period -> (passed, all)
    breakdown: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    scores: dict[str, dict[str, int]] = field(default_factory=dict)        # key -> {label: n}


def day_range(since: datetime, until: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """The whole local days ``[first, end)`` that cover ``[since, until)``."""
    first = local_date(since, zone)
    last = local_date(until, zone)
    end = last if midnight(last, zone) == until.astimezone(UTC) else last + timedelta(days=1)
    return first.isoformat(), end.isoformat()


def _label_of_day(session: Session, day: Any, period: str) -> Any:
    """:func:`period_label` in SQL, of a YYYY-MM-DD column."""
    if period == "month":
        return func.substr(day, 1, 7)
    if _dialect(session) == "postgresql":
        return func.to_char(func.date_trunc("week", cast(day, Date)), "YYYY-MM-DD")
    return func.date(day, "-6 days", "weekday 1")


def period_label(day: str, period: str) -> str:
    if period == "month":
        return day[:7]
    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()


_STATUS = {"completed": InstanceStatus.COMPLETED, "open": InstanceStatus.RUNNING,
           "cancelled": InstanceStatus.CANCELLED}
_NAME_OF = {status.value: name for name, status in _STATUS.items()}  # stored status -> figure
_STEP_COUNTS = ("created", "done", "open", "with_due", "on_time")


def kpis(session: Session, procedure_id: str, since: datetime, until: datetime, period: str,
         now: datetime, zone: ZoneInfo, *, first_pass: tuple[str, str] | None = None,
         first_pass_of: Mapping[int, tuple[str, str]] | None = None,
         breakdown: tuple[str, ...] = (), scores: tuple[str, ...] = ()) -> Kpis:
    """Every figure of the dashboard for the whole days of ``zone`` covering ``[since, until)``:
    instance figures by start day, step figures by task creation day.

    ``first_pass`` is the current version's ``(field, pass)``; ``first_pass_of`` the same per
    version id, by which each record is judged (a version not in it: by ``first_pass``).

    Reads the pre-aggregated ``kpi_counts`` (bring them up to date first with
    ``kpi_rollup.refresh``); "overdue now" adds the open tasks due before today (counted by
    due day) and those due today before ``now`` (counted live)."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    first, end = day_range(since, until, zone)
    k = KpiCount.__table__
    by_period: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(("started", *_STATUS), 0))
    period_hist: dict[str, Histogram] = defaultdict(Histogram)
    total_hist = Histogram()
    steps: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_STEP_COUNTS, 0))
    step_hist: dict[str, Histogram] = defaultdict(Histogram)
    fields: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    judged = {vid: (f + FIRST, p) for vid, (f, p) in (first_pass_of or {}).items()}
    current = (first_pass[0] + FIRST, first_pass[1]) if first_pass else None
    today = local_date(now, zone).isoformat()
    overdue = _due_today(session, procedure_id, first, end, now, zone)
    out = Kpis()
    # Summed in SQL: per period where the figure is shown per period, else over the range.
    per_period = or_(k.c.metric.in_(("instances", "instance_hours")), k.c.metric.startswith(FIRST_PASS))
    label = case((per_period, _label_of_day(session, k.c.day, period)), else_="").label("label")
    for lbl, metric, key, value, n, total in session.execute(
            select(label, k.c.metric, k.c.key, k.c.value, func.sum(k.c.n), func.sum(k.c.total))
            .where(k.c.procedure_id == procedure_id, k.c.day >= first, k.c.day < end)
            .group_by(literal_column("label"), k.c.metric, k.c.key, k.c.value)):
        n = int(n)
        if metric == "instances":
            row = by_period[lbl]
            row["started"] += n
            name = _NAME_OF.get(value)
            if name:
                row[name] += n
        elif metric == "instance_hours":
            period_hist[lbl].add(int(value), n, total or 0.0)
            total_hist.add(int(value), n, total or 0.0)
        elif metric == "tasks":
            steps[key][value] += n
        elif metric == "task_hours":
            step_hist[key].add(int(value), n, total or 0.0)
        elif metric == "open_due":
            if value < today:
                overdue[key] = overdue.get(key, 0) + n
        elif metric.startswith(FIRST_PASS):
            rule = judged.get(int(metric.removeprefix(FIRST_PASS)), current) if current else None
            if rule is not None and key == rule[0]:  # another version's field is not its answer
                ok, all_ = out.first_pass.get(lbl, (0, 0))
                out.first_pass[lbl] = (ok + (n if value == rule[1] else 0), all_ + n)
        else:
            fields[key][value] += n
    for label in sorted(by_period):
        med, p90 = period_hist[label].percentiles(0.5, 0.9)
        out.periods.append({"period": label, **by_period[label], "median_h": _hours(med), "p90_h": _hours(p90)})
    med, p90 = total_hist.percentiles(0.5, 0.9)
    out.totals = {name: sum(r[name] for r in out.periods) for name in ("started", *_STATUS)}
    out.totals.update(median_h=_hours(med), p90_h=_hours(p90))
    for step in sorted(set(steps) | set(overdue)):
        item = steps[step]
        med, p90 = step_hist[step].percentiles(0.5, 0.9)
        out.steps.append({"step": step, **item, "overdue": overdue.get(step, 0),
                          "median_h": _hours(med), "p90_h": _hours(p90),
                          "on_time_rate": round(item["on_time"] / item["with_due"], 4) if item["with_due"] else None})
    out.totals["overdue"] = sum(s["overdue"] for s in out.steps)
    done_tasks = sum(s["with_due"] for s in out.steps)
    out.totals["on_time_rate"] = (round(sum(s["on_time"] for s in out.steps) / done_tasks, 4)
                                  if done_tasks else None)
    for key in breakdown:
        out.breakdown[key] = sorted(fields.get(key, {}).items(), key=lambda kv: (-kv[1], kv[0]))
    for key in scores:
        out.scores[key] = dict(fields.get(key, {}))
    return out


def _due_today(session: Session, procedure_id: str, first: str, end: str, now: datetime,
               zone: ZoneInfo) -> dict[str, int]:
    """Per step, the open tasks (created in the days) that fell due today before ``now``:
    the part of "overdue now" that the daily figures (open tasks by due day) cannot tell."""
    t = Task.__table__
    start_of_today = midnight(local_date(now, zone), zone)
    stmt = (select(t.c.step, func.count()).where(
        t.c.procedure_id == procedure_id, t.c.status == TaskStatus.OPEN,
        t.c.due_at >= start_of_today, t.c.due_at < now,
        t.c.created_at >= midnight(first, zone), t.c.created_at < midnight(end, zone)).group_by(t.c.step))
    return {r[0]: r[1] for r in session.execute(stmt)}


def drill(session: Session, procedure_id: str, *, what: str, since: datetime, until: datetime,
          period: str | None = None, period_kind: str = "month", step: str | None = None,
          key: str | None = None, value: str | None = None, now: datetime, zone: ZoneInfo,
          first_pass: tuple[str, str] | None = None,
          first_pass_of: Mapping[int, tuple[str, str]] | None = None) -> Any:
    """A SELECT of the instance ids behind one number of the dashboard (for the ledger);
    ``period`` is a label of ``zone``'s weeks or months. ``what="first_pass"`` with
    ``first_pass``: the records that passed at once, each judged as :func:`kpis` does."""
    inst, t, fi = Instance.__table__, Task.__table__, FieldIndex.__table__
    if step is not None or what in ("overdue", "late", "on_time"):
        where = [t.c.procedure_id == procedure_id, t.c.created_at >= since, t.c.created_at < until]
        if step:
            where.append(t.c.step == step)
        if period:
            where.append(period_of(session, t.c.created_at, period_kind, zone, since, until) == period)
        if what == "overdue":
            where += [t.c.status == TaskStatus.OPEN, t.c.due_at < now]
        elif what == "open":
            where.append(t.c.status == TaskStatus.OPEN)
        elif what == "done":
            where.append(t.c.status == TaskStatus.DONE)
        elif what == "late":
            where += [t.c.status == TaskStatus.DONE, t.c.completed_at > t.c.due_at]
        elif what == "on_time":
            where += [t.c.status == TaskStatus.DONE, t.c.completed_at <= t.c.due_at]
        return select(t.c.instance_id).where(*where)
    where = [inst.c.procedure_id == procedure_id, inst.c.started_at >= since, inst.c.started_at < until]
    if period:
        where.append(period_of(session, inst.c.started_at, period_kind, zone, since, until) == period)
    status = _STATUS.get(what)
    if status is not None:
        where.append(inst.c.status == status)
    if what == "first_pass" and first_pass is not None:
        rules = dict(first_pass_of or {})

        def answered(rule: tuple[str, str]) -> Any:
            return select(fi.c.instance_id).where(fi.c.instance_id == inst.c.id, fi.c.key == rule[0] + FIRST,
                                                  fi.c.value == rule[1]).exists()

        where.append(or_(*(and_(inst.c.version_id == vid, answered(rule)) for vid, rule in rules.items()),
                         and_(inst.c.version_id.not_in(list(rules)), answered(first_pass))))
    stmt = select(inst.c.id).where(*where)
    if key:
        cond = [fi.c.instance_id == inst.c.id, fi.c.key == key]
        if value is not None:
            cond.append(fi.c.value == value)
        stmt = stmt.where(select(fi.c.instance_id).where(*cond).exists())
    return stmt
