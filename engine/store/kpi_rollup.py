"""Pre-aggregated dashboard figures: per procedure and local day, counters and duration
histograms, so that a dashboard over a year reads a few thousand rows, not every instance.

Days are cut at midnight of the configured zone (``Config.timezone``, the default
calendar's: Asia/Shanghai), not UTC: an instance started at 07:30 in Beijing counts on that
day, not on the day before. ``kpi_sources`` remembers the zone the figures were counted in;
figures counted in another zone (or before 0016, in UTC) are recounted by the next refresh.

* Every write of an instance appends to ``kpi_pending`` the UTC days it may change (the
  store's write path knows no zone): the instance's start day (its status, duration and
  KPI field values count there) and the creation day of each task it added or changed
  (step figures count by task creation). See :func:`pending_writes`, sent with the step's
  own statements in the same round trip.
* :func:`refresh` consumes a procedure's pending UTC days and recomputes each local day
  that shares an instant with one of them (one or two per UTC day) from the instances,
  tasks and field index. Recomputing a whole day (rather than adding deltas)
  keeps the figures exact whatever changed, corrections and cancellations included, and
  makes a repeated refresh harmless.
* When a procedure declares other KPI fields than its figures were counted with (or has
  never been counted, e.g. right after the upgrade that added these tables), every day of it
  is recomputed.

Durations are kept as histograms with buckets 2^(1/16) wide (about 4.4 %), each with the
count and the sum of its seconds. A percentile reads the mean of the bucket each
neighbouring rank falls in and interpolates between them as ``percentile_cont`` does:
exact where a bucket's durations are equal, otherwise within the bucket's width.

Refreshes of one procedure are serialised (an advisory lock on PostgreSQL; SQLite's write
transactions already begin IMMEDIATE), so run :func:`refresh` in a write transaction.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, case, cast, delete, func, insert, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.language.records import FIRST
from engine.store.db import serialise
from engine.store.local_time import local_date, local_days_of_utc_day, local_label, midnight
from engine.store.prepared import Prepared, batch
from engine.store.tables import (
    FieldIndex,
    Instance,
    InstanceStatus,
    KpiCount,
    KpiPending,
    KpiSource,
    ProcedureVersion,
    Task,
    TaskStatus,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

RATIO = 2 ** (1 / 16)
_LOG_RATIO = math.log(RATIO)
WINDOW = timedelta(days=31)  # days recomputed per pass: bounds the rows held in memory

_K = KpiCount.__table__
_P = KpiPending.__table__
_S = KpiSource.__table__
_I = Instance.__table__
_T = Task.__table__
_F = FieldIndex.__table__

_INSERT_PENDING = Prepared(insert(_P), ["procedure_id", "day"])
_INSERT_COUNTS = Prepared(insert(_K), ["procedure_id", "day", "metric", "key", "value", "n", "total"])


def day_of(moment: datetime) -> str:
    """The UTC day of a moment, as ``kpi_pending`` marks it."""
    return moment.astimezone(UTC).date().isoformat()


def bucket(seconds: float) -> int:
    """The histogram bucket of a duration; -1 holds everything under a second."""
    if seconds < 1:
        return -1
    return math.floor(math.log(seconds) / _LOG_RATIO + 1e-9)


def pending_writes(procedure_id: str, days: Iterable[str]) -> list[tuple[Prepared, list[dict]]]:
    """The statement (for ``prepared.batch``) that marks ``days`` of a procedure out of date."""
    rows = [{"procedure_id": procedure_id, "day": d} for d in sorted(set(days))]
    return [(_INSERT_PENDING, rows)] if rows else []


#: ``kpi_counts.metric`` of the first answers of a first-pass field, per procedure version:
#: ``fp:VERSION_ID`` (key: ``FIELD@first``, value: the answer). Each record is judged by the
#: ``pass:`` of the version it ran under (``kpi_query.kpis``), which may name another answer
#: than today's (合格 renamed 通过).
FIRST_PASS = "fp:"

# Marks figures counted with the first answers per version: before, they were counted as
# plain field values (metric "field"), and such figures are recounted.
_BY_VERSION = "@first by version"


def keys_text(keys: Iterable[str]) -> str:
    found = set(keys)
    if any(k.endswith(FIRST) for k in found):
        found.add(_BY_VERSION)
    return "\n".join(sorted(found))


def refresh(session: Session, procedure_id: str, keys: Iterable[str], now: datetime, zone: ZoneInfo) -> int:
    """Bring the figures of ``procedure_id`` up to date, counting the field-index ``keys``
    (``Records.kpi_keys`` of its versions) by days of ``zone``; returns how many days were
    recomputed. Figures counted with other keys or in another zone are all recounted."""
    serialise(session, f"kpi:{procedure_id}")
    keys = sorted(set(keys))
    wanted = keys_text(keys)
    pending = set(session.scalars(delete(_P).where(_P.c.procedure_id == procedure_id)
                                  .returning(_P.c.day)))
    days = {d for utc_day in pending for d in local_days_of_utc_day(utc_day, zone)}
    counted = session.execute(select(_S.c["keys"], _S.c.zone).where(_S.c.procedure_id == procedure_id)).first()
    latest = _latest_versions(session, procedure_id).get(procedure_id, 0)
    if counted is None or tuple(counted) != (wanted, zone.key):
        session.execute(delete(_K).where(_K.c.procedure_id == procedure_id))
        days = _all_days(session, procedure_id, zone)
    session.execute(delete(_S).where(_S.c.procedure_id == procedure_id))
    session.execute(insert(_S).values(procedure_id=procedure_id, keys=wanted, version_id=latest,
                                      refreshed_at=now, zone=zone.key))
    _recompute(session, procedure_id, days, keys, zone)
    return len(days)


def is_current(session: Session, procedure_id: str, keys: Iterable[str], zone: ZoneInfo) -> bool:
    """True when :func:`refresh` would change nothing (a read, so a page can skip the write)."""
    if session.scalar(select(_P.c.id).where(_P.c.procedure_id == procedure_id).limit(1)) is not None:
        return False
    counted = session.execute(select(_S.c["keys"], _S.c.zone).where(_S.c.procedure_id == procedure_id)).first()
    return counted is not None and tuple(counted) == (keys_text(keys), zone.key)


def _latest_versions(session: Session, procedure_id: str | None = None) -> dict[str, int]:
    v = ProcedureVersion.__table__
    stmt = select(v.c.procedure_id, func.max(v.c.id)).group_by(v.c.procedure_id)
    if procedure_id is not None:
        stmt = stmt.where(v.c.procedure_id == procedure_id)
    return {r[0]: r[1] for r in session.execute(stmt)}


def stale(session: Session, now: datetime, zone: ZoneInfo) -> list[str]:
    """Procedures :func:`refresh` may have work for, found without compiling any: those
    with pending days, those with a version registered since they were counted (their KPI
    fields may differ), those counted in another zone than ``zone`` (or before 0016, in
    UTC) and those never counted that have instances (after the upgrade).
    A procedure without instances is marked counted (with no fields) and left alone: its
    first instance leaves pending days, and their refresh compares the fields."""
    out = set(session.scalars(select(_P.c.procedure_id).distinct()))
    counted = {r[0]: (r[1], r[2]) for r in session.execute(select(_S.c.procedure_id, _S.c.version_id, _S.c.zone))}
    for pid, latest in _latest_versions(session).items():
        if pid in counted:
            if counted[pid] != (latest, zone.key):
                out.add(pid)
        elif pid not in out:
            if session.scalar(select(_I.c.id).where(_I.c.procedure_id == pid).limit(1)) is not None:
                out.add(pid)
            else:
                dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
                session.execute(dialect_insert(_S).values(procedure_id=pid, keys="", version_id=latest,
                                                          refreshed_at=now, zone=zone.key)
                                .on_conflict_do_nothing())
    return sorted(out)


def _all_days(session: Session, procedure_id: str, zone: ZoneInfo) -> set[str]:
    """Every local day from the first start or task creation of the procedure to the last."""
    bounds = [session.execute(select(func.min(col), func.max(col)).where(table.c.procedure_id == procedure_id)).one()
              for table, col in ((_I, _I.c.started_at), (_T, _T.c.created_at))]
    moments = [m for pair in bounds for m in pair if m is not None]
    if not moments:
        return set()
    first, last = (_as_date(min(moments), zone), _as_date(max(moments), zone))
    return {(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)}


def _as_date(moment: Any, zone: ZoneInfo) -> date:
    if isinstance(moment, str):  # SQLite's min()/max() bypass the column type
        moment = datetime.fromisoformat(moment)
    return local_date(moment, zone)


def _windows(days: Iterable[str]) -> list[list[str]]:
    """Sorted days cut into runs that span at most ``WINDOW``."""
    out: list[list[str]] = []
    for d in sorted(days):
        if out and date.fromisoformat(d) - date.fromisoformat(out[-1][0]) < WINDOW:
            out[-1].append(d)
        else:
            out.append([d])
    return out


def _recompute(session: Session, procedure_id: str, days: set[str], keys: list[str], zone: ZoneInfo) -> None:
    for window in _windows(days):
        lo = midnight(window[0], zone)
        hi = midnight(date.fromisoformat(window[-1]) + timedelta(days=1), zone)
        wanted = set(window)
        rows = _count(session, procedure_id, lo, hi, wanted, keys, zone)
        session.execute(delete(_K).where(_K.c.procedure_id == procedure_id, _K.c.day.in_(window)))
        batch(session, [(_INSERT_COUNTS, rows)] if rows else [])


def _seconds(dialect: str, start: Any, end: Any) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _bucket(seconds: Any) -> Any:
    """:func:`bucket` in SQL (SQLite gets ``ln`` from ``engine.store.db`` where it lacks it)."""
    return case((seconds < 1, -1),
                else_=cast(func.floor(func.ln(seconds) / _LOG_RATIO + 1e-9), Integer))


def _count(session: Session, procedure_id: str, lo: datetime, hi: datetime, wanted: set[str],
           keys: list[str], zone: ZoneInfo) -> list[dict[str, Any]]:
    """The rows of ``kpi_counts`` for the ``wanted`` local days in ``[lo, hi)``, grouped in
    SQL: the database returns one row per day and bucket, not one per instance."""
    dialect = session.get_bind().dialect.name

    def _day(dialect: str, column: Any, until: datetime = hi) -> Any:
        return local_label(dialect, column, zone, lo, until)

    counts: dict[tuple[str, str, str, str], list] = defaultdict(lambda: [0, None])

    def add(day: str, metric: str, key: str, value: str, n: int, seconds: float | None = None) -> None:
        if day not in wanted:
            return
        item = counts[(day, metric, key, value)]
        item[0] += n
        if seconds is not None:
            item[1] = (item[1] or 0.0) + float(seconds)

    day = _day(dialect, _I.c.started_at).label("day")
    done = and_(_I.c.status == InstanceStatus.COMPLETED, _I.c.ended_at.is_not(None))
    secs = case((done, _seconds(dialect, _I.c.started_at, _I.c.ended_at)), else_=None)
    b = case((done, _bucket(_seconds(dialect, _I.c.started_at, _I.c.ended_at))), else_=None).label("b")
    for d, status, bk, n, total in session.execute(
            select(day, _I.c.status, b, func.count(), func.sum(secs))
            .where(_I.c.procedure_id == procedure_id, _I.c.started_at >= lo, _I.c.started_at < hi)
            .group_by(literal_column("day"), _I.c.status, literal_column("b"))):
        add(d, "instances", "", str(status), n)
        if bk is not None:
            add(d, "instance_hours", "", str(int(bk)), n, total)

    day = _day(dialect, _T.c.created_at).label("day")
    done = and_(_T.c.status == TaskStatus.DONE, _T.c.completed_at.is_not(None))
    secs = case((done, _seconds(dialect, _T.c.created_at, _T.c.completed_at)), else_=None)
    b = case((done, _bucket(_seconds(dialect, _T.c.created_at, _T.c.completed_at))), else_=None).label("b")
    has_due = case((_T.c.due_at.is_not(None), 1), else_=0).label("has_due")
    on_time = case((and_(done, _T.c.completed_at <= _T.c.due_at), 1), else_=0).label("on_time")
    # Open tasks by the day they fall due: "overdue now" sums the days before today.
    # (due times may lie well after the window: their local day is found over a longer span)
    due_day = case((_T.c.status == TaskStatus.OPEN, _day(dialect, _T.c.due_at, hi + timedelta(days=400))), else_=None).label("due_day")
    for d, step, status, due, in_time, bk, due_on, n, total in session.execute(
            select(day, _T.c.step, _T.c.status, has_due, on_time, b, due_day, func.count(), func.sum(secs))
            .where(_T.c.procedure_id == procedure_id, _T.c.created_at >= lo, _T.c.created_at < hi)
            .group_by(literal_column("day"), _T.c.step, _T.c.status, literal_column("has_due"),
                      literal_column("on_time"), literal_column("b"), literal_column("due_day"))):
        add(d, "tasks", step, "created", n)
        if status == TaskStatus.OPEN:
            add(d, "tasks", step, "open", n)
            if due_on is not None:
                add(d, "open_due", step, due_on, n)
        elif status == TaskStatus.DONE:
            add(d, "tasks", step, "done", n)
            if bk is not None:
                add(d, "task_hours", step, str(int(bk)), n, total)
            if due:
                add(d, "tasks", step, "with_due", n)
                if in_time:
                    add(d, "tasks", step, "on_time", n)

    fields = [k for k in keys if not k.endswith(FIRST)]
    if fields:
        day = _day(dialect, _I.c.started_at).label("day")
        for d, key, value, n in session.execute(
                select(day, _F.c.key, _F.c.value, func.count())
                .select_from(_I.join(_F, _F.c.instance_id == _I.c.id))
                .where(_I.c.procedure_id == procedure_id, _I.c.started_at >= lo, _I.c.started_at < hi,
                       _F.c.key.in_(fields))
                .group_by(literal_column("day"), _F.c.key, _F.c.value)):
            add(d, "field", key, value, n)
    firsts = [k for k in keys if k.endswith(FIRST)]
    if firsts:
        day = _day(dialect, _I.c.started_at).label("day")
        for d, version_id, key, value, n in session.execute(
                select(day, _I.c.version_id, _F.c.key, _F.c.value, func.count())
                .select_from(_I.join(_F, _F.c.instance_id == _I.c.id))
                .where(_I.c.procedure_id == procedure_id, _I.c.started_at >= lo, _I.c.started_at < hi,
                       _F.c.key.in_(firsts))
                .group_by(literal_column("day"), _I.c.version_id, _F.c.key, _F.c.value)):
            add(d, f"{FIRST_PASS}{version_id}", key, value, n)
    return [{"procedure_id": procedure_id, "day": d, "metric": m, "key": k, "value": v, "n": n, "total": t}
            for (d, m, k, v), (n, t) in counts.items()]


# --------------------------------------------------------------------------- reading


class Histogram:
    """Merged duration buckets: ``{bucket: [count, seconds]}``."""

    def __init__(self) -> None:
        self.buckets: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])

    def add(self, b: int, n: int, seconds: float) -> None:
        item = self.buckets[b]
        item[0] += n
        item[1] += seconds

    def percentiles(self, *qs: float) -> list[float | None]:
        """Seconds at each quantile, interpolated between neighbouring ranks as
        ``percentile_cont`` does; a rank reads as the mean of its bucket."""
        order = sorted((b, n, s) for b, (n, s) in self.buckets.items() if n)
        total = sum(n for _b, n, _s in order)
        if not total:
            return [None for _ in qs]

        def rank(k: int) -> float:
            seen = 0
            for _b, n, s in order:
                seen += n
                if k < seen:
                    return s / n
            return order[-1][2] / order[-1][1]

        out = []
        for q in qs:
            pos = (total - 1) * q
            lo = int(pos)
            low = rank(lo)
            high = rank(lo + 1) if lo + 1 < total else low
            out.append(low + (high - low) * (pos - lo))
        return out
