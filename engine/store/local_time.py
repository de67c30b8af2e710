"""Local days, weeks and months of stored (naive UTC) times, in SQL.

People count days from their own midnight: an instance completed at 23:30 on 30 November
in Shanghai (15:30 UTC) belongs to November, one at 00:30 on 1 December (16:30 UTC on
30 November) to December. The database holds UTC, so a local day is the UTC time shifted
by the zone's offset. A zone's offset changes (summer time), so over a range the shift is
piecewise: :func:`offset_spans` finds the offsets in force over ``[lo, hi)`` from the
zone database (``zoneinfo``) and :func:`local_label` writes one CASE over them; for a zone
without changes (Asia/Shanghai) it is a single shift. SQLite and PostgreSQL get the same
answer without either needing its own copy of the zone database.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, literal_column

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

LABELS = ("day", "week", "month")


def _offset(zone: ZoneInfo, moment: datetime) -> int:
    delta = moment.astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def offset_spans(zone: ZoneInfo, lo: datetime, hi: datetime) -> list[tuple[datetime | None, int]]:
    """The zone's UTC offsets (seconds) over ``[lo, hi)``: ``[(until, offset), ...]``, each
    in force before ``until`` (``None``: to the end). Found day by day, a change bisected
    to the second."""
    spans: list[tuple[datetime | None, int]] = []
    t, current = lo, _offset(zone, lo)
    while t < hi:
        nxt = min(t + timedelta(days=1), hi)
        if _offset(zone, nxt) == current:
            t = nxt
            continue
        a, b = int(t.timestamp()), int(nxt.timestamp())  # current at a, changed at b
        while b - a > 1:
            mid = (a + b) // 2
            a, b = (mid, b) if _offset(zone, datetime.fromtimestamp(mid, UTC)) == current else (a, mid)
        t = datetime.fromtimestamp(b, UTC)
        spans.append((t, current))
        current = _offset(zone, t)
    spans.append((None, current))
    return spans


def _one(dialect: str, column: Any, seconds: int, label: str) -> Any:
    if dialect == "postgresql":
        shifted = column + literal_column(f"interval '{int(seconds)} seconds'")
        if label == "day":
            return func.to_char(shifted, "YYYY-MM-DD")
        if label == "month":
            return func.to_char(shifted, "YYYY-MM")
        return func.to_char(func.date_trunc("week", shifted), "YYYY-MM-DD")
    shift = f"{int(seconds):+d} seconds"
    if label == "day":
        return func.date(column, shift)
    if label == "month":
        return func.strftime("%Y-%m", column, shift)
    return func.date(column, shift, "-6 days", "weekday 1")  # the Monday on or before


def local_label(dialect: str, column: Any, zone: ZoneInfo, lo: datetime, hi: datetime,
                label: str = "day") -> Any:
    """SQL for the local ``label`` of ``column`` (a stored UTC time within ``[lo, hi)``):
    the day ``YYYY-MM-DD``, the week (its Monday, ``YYYY-MM-DD``) or the month ``YYYY-MM``
    in ``zone``."""
    if label not in LABELS:
        raise ValueError(f"label must be one of {LABELS}")
    spans = offset_spans(zone, lo, hi)
    if len(spans) == 1:
        return _one(dialect, column, spans[0][1], label)
    whens = [(column < until, _one(dialect, column, secs, label)) for until, secs in spans[:-1]]
    return case(*whens, else_=_one(dialect, column, spans[-1][1], label))


def midnight(day: date | str, zone: ZoneInfo) -> datetime:
    """The UTC instant of local midnight starting ``day`` in ``zone``."""
    d = date.fromisoformat(day) if isinstance(day, str) else day
    return datetime.combine(d, time(), zone).astimezone(UTC)


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """The local day of an instant (a naive one is UTC, as stored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).date()


def local_days_of_utc_day(day: str, zone: ZoneInfo) -> set[str]:
    """The local days that share some instant with the UTC day ``day`` (one or two)."""
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    end = start + timedelta(days=1) - timedelta(microseconds=1)
    first, last = local_date(start, zone), local_date(end, zone)
    return {(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)}
