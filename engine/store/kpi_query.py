"""KPI aggregates of one procedure over a time range, by week or month, computed in SQL.

Periods are UTC weeks (starting Monday, labelled by that date) or UTC months (``YYYY-MM``)
of the instance's start (of the task's creation for step figures). Durations are in hours.
Median and 90th percentile use ``percentile_cont`` on PostgreSQL; SQLite has none, so there
window functions rank the values and the few around each percentile are interpolated the
same way in Python.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, and_, case, cast, func, literal_column, or_, select

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


def _sqlite_percentiles(session: Session, group: Any, seconds: Any,
                        where: Any) -> dict[Any, tuple[float | None, float | None]]:
    """{group: (median hours, p90 hours)} on SQLite, which has no percentile function:
    window functions rank each group's values in SQLite itself and only the (at most four)
    values around the 50th and 90th percentile of each group come back to be interpolated
    as ``percentile_cont`` does."""
    inner = select(group.label("g"), seconds.label("s")).where(where, seconds.is_not(None)).subquery()
    ranked = select(inner.c.g, inner.c.s,
                    func.row_number().over(partition_by=inner.c.g, order_by=inner.c.s).label("rn"),
                    func.count().over(partition_by=inner.c.g).label("n")).subquery()
    wanted = []
    for q in (0.5, 0.9):
        lo = cast((ranked.c.n - 1) * q, Integer) + 1
        wanted += [ranked.c.rn == lo, ranked.c.rn == lo + 1]
    by: dict[Any, dict[int, float]] = defaultdict(dict)
    sizes: dict[Any, int] = {}
    for g, value, rn, n in session.execute(select(ranked.c.g, ranked.c.s, ranked.c.rn, ranked.c.n)
                                           .where(or_(*wanted))):
        by[g][rn] = float(value)
        sizes[g] = n
    out = {}
    for g, ranks in by.items():
        n = sizes[g]
        result = []
        for q in (0.5, 0.9):
            pos = (n - 1) * q
            lo = int(pos)
            low = ranks[lo + 1]
            high = ranks.get(lo + 2, low)
            result.append(_hours(low + (high - low) * (pos - lo)))
        out[g] = (result[0], result[1])
    return out


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
    """Every figure of the dashboard for instances started in ``[since, until)``.

    One pass over the instances of the range and one over their tasks (both read from
    covering indexes), then one grouped look-up per declared field."""
    inst = Instance.__table__
    out = Kpis()
    in_range = and_(inst.c.procedure_id == procedure_id, inst.c.started_at >= since,
                    inst.c.started_at < until)
    p = period_of(session, inst.c.started_at, period)
    out.periods, out.totals = _instance_stats(session, in_range, p)
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
                .where(in_range, fi.c.procedure_id == procedure_id).group_by(literal_column("p")))
        out.first_pass = {r.p: (int(r.ok or 0), r.n) for r in session.execute(stmt)}
    for key in (*breakdown, *scores):
        stmt = (select(fi.c.value, func.count().label("n"))
                .select_from(inst.join(fi, and_(fi.c.instance_id == inst.c.id, fi.c.key == key)))
                .where(in_range, fi.c.procedure_id == procedure_id)
                .group_by(fi.c.value).order_by(func.count().desc(), fi.c.value))
        counts = [(r.value, r.n) for r in session.execute(stmt)]
        if key in breakdown:
            out.breakdown[key] = counts
        if key in scores:
            out.scores[key] = dict(counts)
    return out


_STATUS = {"completed": InstanceStatus.COMPLETED, "open": InstanceStatus.RUNNING,
           "cancelled": InstanceStatus.CANCELLED}


def _instance_stats(session: Session, in_range: Any, p: Any) -> tuple[list[dict], dict[str, Any]]:
    """Per period and in total: started, completed, open, cancelled, median and p90 hours."""
    inst = Instance.__table__
    secs = seconds_between(session, inst.c.started_at, inst.c.ended_at)
    done = and_(inst.c.status == InstanceStatus.COMPLETED, inst.c.ended_at.is_not(None))
    counts = [func.count().label("started")] + [
        func.sum(case((inst.c.status == st, 1), else_=0)).label(name) for name, st in _STATUS.items()]
    rows: list[dict[str, Any]] = []
    total: dict[str, Any] = {}
    if _dialect(session) == "postgresql":
        # ROLLUP: one scan gives each period and the total (the row whose period is NULL);
        # percentile_cont skips the NULLs of instances that are not completed.
        done_secs = case((done, secs), else_=None)
        stmt = (select(p.label("p"), *counts,
                       func.percentile_cont(0.5).within_group(done_secs).label("p50"),
                       func.percentile_cont(0.9).within_group(done_secs).label("p90"))
                .where(in_range).group_by(func.rollup(p)))
        for r in session.execute(stmt):
            item = {"period": r.p, "started": r.started, **{k: int(r._mapping[k] or 0) for k in _STATUS},
                    "median_h": _hours(r.p50), "p90_h": _hours(r.p90)}
            if r.p is None:
                total = item
            else:
                rows.append(item)
        rows.sort(key=lambda x: x["period"])
    else:
        stmt = select(p.label("p"), *counts).where(in_range).group_by(literal_column("p"))
        per = _sqlite_percentiles(session, p, secs, and_(in_range, done))
        for r in session.execute(stmt.order_by(literal_column("p"))):
            med, p90 = per.get(r.p, (None, None))
            rows.append({"period": r.p, "started": r.started,
                         **{k: int(r._mapping[k] or 0) for k in _STATUS}, "median_h": med, "p90_h": p90})
        med, p90 = _sqlite_percentiles(session, literal_column("'*'"), secs, and_(in_range, done)).get("*", (None, None))
        total = {"median_h": med, "p90_h": p90}
    totals = {k: sum(r[k] for r in rows) for k in ("started", *_STATUS)}
    totals.update(median_h=total.get("median_h"), p90_h=total.get("p90_h"))
    return rows, totals


def _steps(session: Session, procedure_id: str, since: datetime, until: datetime,
           now: datetime) -> list[dict[str, Any]]:
    """Per step: tasks created in range, done, open, overdue now, on time, durations."""
    t = Task.__table__
    where = and_(t.c.procedure_id == procedure_id, t.c.created_at >= since, t.c.created_at < until)
    is_done = t.c.status == TaskStatus.DONE
    is_open = t.c.status == TaskStatus.OPEN
    has_due = t.c.due_at.is_not(None)
    secs = case((and_(is_done, t.c.completed_at.is_not(None)),
                 seconds_between(session, t.c.created_at, t.c.completed_at)), else_=None)
    flags = [case((is_done, 1), else_=0), case((is_open, 1), else_=0),
             case((and_(is_open, t.c.due_at < now), 1), else_=0),
             case((and_(is_done, has_due), 1), else_=0),
             case((and_(is_done, has_due, t.c.completed_at <= t.c.due_at), 1), else_=0)]
    names = ("done", "open", "overdue", "with_due", "on_time")
    stats: dict[str, dict[str, Any]] = {}
    if _dialect(session) == "postgresql":
        stmt = (select(t.c.step, func.count().label("created"),
                       *[func.sum(f).label(n) for f, n in zip(flags, names, strict=True)],
                       func.percentile_cont(0.5).within_group(secs).label("p50"),
                       func.percentile_cont(0.9).within_group(secs).label("p90"))
                .where(where).group_by(t.c.step))
        for r in session.execute(stmt):
            stats[r.step] = {"created": r.created, **{n: int(r._mapping[n] or 0) for n in names},
                             "median_h": _hours(r.p50), "p90_h": _hours(r.p90)}
    else:
        per = _sqlite_percentiles(session, t.c.step, secs, where)
        stmt = (select(t.c.step, func.count().label("created"),
                       *[func.sum(f).label(n) for f, n in zip(flags, names, strict=True)])
                .where(where).group_by(t.c.step))
        for r in session.execute(stmt):
            med, p90 = per.get(r.step, (None, None))
            stats[r.step] = {"created": r.created, **{n: int(r._mapping[n] or 0) for n in names},
                             "median_h": med, "p90_h": p90}
    out = []
    for step in sorted(stats):
        item = stats[step]
        out.append({"step": step, **item, "on_time_rate": round(item["on_time"] / item["with_due"], 4)
                    if item["with_due"] else None})
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
