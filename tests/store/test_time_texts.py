"""The faster writers of times on the step path write exactly the text the slower ones did: a
changed character in an event's time would break every hash chain written before, and a
changed DATETIME text would no longer compare with the rows already stored."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import create_engine
from sqlalchemy.types import DateTime

from engine.store.audit import TIME_FORMAT, format_time, parse_time
from engine.store.tables import UTCDateTime


def _times(n: int = 20000):
    rng = random.Random(20)
    start = datetime(1, 1, 2)
    for _ in range(n):
        dt = start + timedelta(microseconds=rng.randrange(0, 315_537_000_000_000_000))
        if rng.random() < 0.5:
            dt = dt.replace(tzinfo=timezone(timedelta(minutes=rng.randrange(-900, 900))))
        if rng.random() < 0.2:
            dt = dt.replace(microsecond=0)
        yield dt
    yield datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    yield datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_an_events_time_is_written_as_strftime_wrote_it():
    for dt in _times():
        try:
            utc = parse_time(dt)
        except OverflowError:
            continue
        assert format_time(dt) == utc.strftime(TIME_FORMAT), dt


def test_sqlite_stores_a_utc_time_as_sqlalchemys_datetime_wrote_it():
    dialect = create_engine("sqlite://").dialect
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    theirs = DateTime().dialect_impl(dialect).bind_processor(dialect)
    for dt in _times():
        try:
            naive = (dt.astimezone(UTC) if dt.tzinfo else dt).replace(tzinfo=None)
        except OverflowError:
            continue
        assert ours(dt) == theirs(naive), dt
    assert ours(None) is None
