"""KPI aggregates of one procedure over a time range, by week or month, computed in SQL.

Periods are UTC weeks (starting Monday, labelled by that date) or UTC months (``YYYY-MM``)
of the instance's start (of the task's creation for step figures). Durations are in hours.
Median and 90th percentile use ``percentile_cont`` on PostgreSQL; SQLite has none, so the
durations are read sorted per group and interpolated the same way in Python.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, literal_column, select

from engine.records import FIRST
from engine.store.tables import FieldIndex, Instance, InstanceStatus, Task, TaskStatus

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

PERIODS = ("week", "month")


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def period_of(session: Session, column: Any, period: str) -> Any:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    if _dialect(session) == "postgresql":
        if period == "month":
            return func.to_char(column, "YYYY-MM")
        return func.to_char(func.date_trunc("week", column), "YYYY-MM-DD")
    if period == "month":
        return func.strftime("%Y-%m", column)
    return func.date(column, "-6 days", "weekday 1")  # the Monday on or before


def seconds_between(session: Session, start: Any, end: Any) -> Any:
    if _dialect(session) == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _interpolate(values: list[float], q: float) -> float | None:
    """``percentile_cont``: linear interpolation between the closest ranks."""
    if not values:
        return None
    pos = (len(values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def percentiles(session: Session, group: Any, seconds: Any, source: Any,
                where: Any) -> dict[Any, tuple[float | None, float | None]]:
    """{group: (median hours, p90 hours)} of ``seconds`` over the rows of ``source``."""
    if _dialect(session) == "postgresql":
        stmt = (select(group.label("g"),
                       func.percentile_cont(0.5).within_group(seconds).label("p50"),
                       func.percentile_cont(0.9).within_group(seconds).label("p90"))
                .select_from(source).where(where).group_by(literal_column("g")))
        return {r.g: (_hours(r.p50), _hours(r.p90)) for r in session.execute(stmt)}
    stmt = (select(group.label("g"), seconds.label("s")).select_from(source).where(where)
            .order_by(literal_column("g"), literal_column("s")))
    by: dict[Any, list[float]] = defaultdict(list)
    for g, s in session.execute(stmt):
        if s is not None:
            by[g].append(float(s))
    return {g: (_hours(_interpolate(v, 0.5)), _hours(_interpolate(v, 0.9))) for g, v in by.items()}


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


def kpis(session: Session, procedure_id: str, since: datetime, until: datetime, period: str,
         now: datetime, *, first_pass: tuple[str, str] | None = None,
         breakdown: tuple[str, ...] = (), scores: tuple[str, ...] = ()) -> Kpis:
    """Every figure of the dashboard for instances started in ``[since, until)``."""
    inst = Instance.__table__
    out = Kpis()
    in_range = and_(inst.c.procedure_id == procedure_id, inst.c.started_at >= since,
                    inst.c.started_at < until)
    p = period_of(session, inst.c.started_at, period)
    done = InstanceStatus.COMPLETED
    rows = session.execute(
        select(p.label("p"), func.count().label("started"),
               func.sum(case((inst.c.status == done, 1), else_=0)).label("completed"),
               func.sum(case((inst.c.status == InstanceStatus.RUNNING, 1), else_=0)).label("open"),
               func.sum(case((inst.c.status == InstanceStatus.CANCELLED, 1), else_=0)).label("cancelled"))
        .where(in_range).group_by(literal_column("p")).order_by(literal_column("p"))).all()
    durations = percentiles(session, p, seconds_between(session, inst.c.started_at, inst.c.ended_at),
                            inst, and_(in_range, inst.c.status == done, inst.c.ended_at.is_not(None)))
    for r in rows:
        med, p90 = durations.get(r.p, (None, None))
        out.periods.append({"period": r.p, "started": r.started, "completed": int(r.completed or 0),
                            "open": int(r.open or 0), "cancelled": int(r.cancelled or 0),
                            "median_h": med, "p90_h": p90})
    total = percentiles(session, literal_column("1"), seconds_between(session, inst.c.started_at, inst.c.ended_at),
                        inst, and_(in_range, inst.c.status == done, inst.c.ended_at.is_not(None)))
    med, p90 = next(iter(total.values()), (None, None))
    out.totals = {k: sum(r[k] for r in out.periods) for k in ("started", "completed", "open", "cancelled")}
    out.totals.update(median_h=med, p90_h=p90)
    out.steps = _steps(session, procedure_id, since, until, now)
    out.totals["overdue"] = sum(s["overdue"] for s in out.steps)
    done_tasks = sum(s["with_due"] for s in out.steps)
    out.totals["on_time_rate"] = (round(sum(s["on_time"] for s in out.steps) / done_tasks, 4)
                                  if done_tasks else None)
    fi = FieldIndex.__table__
    if first_pass:
        key, passed = first_pass
        stmt = (select(p.label("p"), func.count().label("n"),
                       func.sum(case((fi.c.value == passed, 1), else_=0)).label("ok"))
                .select_from(inst.join(fi, and_(fi.c.instance_id == inst.c.id, fi.c.key == key + FIRST)))
                .where(in_range).group_by(literal_column("p")))
        out.first_pass = {r.p: (int(r.ok or 0), r.n) for r in session.execute(stmt)}
    for key in (*breakdown, *scores):
        stmt = (select(fi.c.value, func.count().label("n"))
                .select_from(inst.join(fi, and_(fi.c.instance_id == inst.c.id, fi.c.key == key)))
                .where(in_range).group_by(fi.c.value).order_by(func.count().desc(), fi.c.value))
        counts = [(r.value, r.n) for r in session.execute(stmt)]
        if key in breakdown:
            out.breakdown[key] = counts
        if key in scores:
            out.scores[key] = dict(counts)
    return out


def _steps(session: Session, procedure_id: str, since: datetime, until: datetime,
           now: datetime) -> list[dict[str, Any]]:
    """Per step: tasks created in range, done, open, overdue now, on time, durations."""
    t = Task.__table__
    where = and_(t.c.procedure_id == procedure_id, t.c.created_at >= since, t.c.created_at < until)
    is_done = t.c.status == TaskStatus.DONE
    rows = session.execute(
        select(t.c.step, func.count().label("created"),
               func.sum(case((is_done, 1), else_=0)).label("done"),
               func.sum(case((t.c.status == TaskStatus.OPEN, 1), else_=0)).label("open"),
               func.sum(case((and_(t.c.status == TaskStatus.OPEN, t.c.due_at < now), 1), else_=0)).label("overdue"),
               func.sum(case((and_(is_done, t.c.due_at.is_not(None)), 1), else_=0)).label("with_due"),
               func.sum(case((and_(is_done, t.c.due_at.is_not(None), t.c.completed_at <= t.c.due_at), 1), else_=0)).label("on_time"))
        .where(where).group_by(t.c.step).order_by(t.c.step)).all()
    durations = percentiles(session, t.c.step, seconds_between(session, t.c.created_at, t.c.completed_at),
                            t, and_(where, is_done, t.c.completed_at.is_not(None)))
    out = []
    for r in rows:
        med, p90 = durations.get(r.step, (None, None))
        with_due, on_time = int(r.with_due or 0), int(r.on_time or 0)
        out.append({"step": r.step, "created": r.created, "done": int(r.done or 0),
                    "open": int(r.open or 0), "overdue": int(r.overdue or 0),
                    "with_due": with_due, "on_time": on_time,
                    "on_time_rate": round(on_time / with_due, 4) if with_due else None,
                    "median_h": med, "p90_h": p90})
    return out


def drill(session: Session, procedure_id: str, *, what: str, since: datetime, until: datetime,
          period: str | None = None, period_kind: str = "month", step: str | None = None,
          key: str | None = None, value: str | None = None, now: datetime) -> Any:
    """A SELECT of the instance ids behind one number of the dashboard (for the ledger)."""
    inst, t, fi = Instance.__table__, Task.__table__, FieldIndex.__table__
    if step is not None or what in ("overdue", "late", "on_time"):
        where = [t.c.procedure_id == procedure_id, t.c.created_at >= since, t.c.created_at < until]
        if step:
            where.append(t.c.step == step)
        if period:
            where.append(period_of(session, t.c.created_at, period_kind) == period)
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
        where.append(period_of(session, inst.c.started_at, period_kind) == period)
    status = {"completed": InstanceStatus.COMPLETED, "open": InstanceStatus.RUNNING,
              "cancelled": InstanceStatus.CANCELLED}.get(what)
    if status is not None:
        where.append(inst.c.status == status)
    stmt = select(inst.c.id).where(*where)
    if key:
        cond = [fi.c.instance_id == inst.c.id, fi.c.key == key]
        if value is not None:
            cond.append(fi.c.value == value)
        stmt = stmt.where(select(fi.c.instance_id).where(*cond).exists())
    return stmt
