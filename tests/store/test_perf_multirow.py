"""Several rows of one INSERT sent as a single multi-row VALUES on PostgreSQL (issue 20,
"cheaper steps": each execution costs the driver about 50 µs): the rows read back as
written through the ORM (JSON, aware UTC times, NULLs), ids follow the order of the rows,
a duplicate anywhere among them fails the whole statement as SQLAlchemy's IntegrityError,
and more rows than ``MULTIROW_MAX`` still go in. SQLite (one execution per row, its own
executemany) must read back the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from engine.store.prepared import MULTIROW_MAX, Prepared, batch
from engine.store.tables import Group, Notification

T0 = datetime(2026, 5, 11, 1, 30, 15, 123456, tzinfo=UTC)
NOTES = Prepared(insert(Notification.__table__),
                 ["username", "kind", "instance_id", "task_id", "data", "created_at", "read_at"])


def rows(n: int) -> list[dict]:
    return [{"username": f"u{i:03d}", "kind": "assigned", "instance_id": f"I{i}",
             "task_id": None if i % 2 else f"I{i}.t1", "data": {"步骤": "检验", "n": i, "x": [i, None]},
             "created_at": T0 + timedelta(seconds=i), "read_at": None if i % 3 else T0}
            for i in range(n)]


@pytest.mark.parametrize("n", [2, 5, MULTIROW_MAX + 3])
def test_rows_read_back_as_written_in_their_order(session, n):
    written = rows(n)
    batch(session, [(NOTES, written)])
    session.flush()
    got = list(session.scalars(select(Notification).order_by(Notification.id)))
    assert [(x.username, x.kind, x.instance_id, x.task_id, x.data, x.created_at, x.read_at)
            for x in got] == [tuple(r.values()) for r in written]
    if session.connection().dialect.name == "postgresql" and n <= MULTIROW_MAX:
        assert n in NOTES._multi  # sent as one statement


def test_a_duplicate_among_the_rows_fails_the_whole_insert(session):
    groups = Prepared(insert(Group.__table__), ["name"])
    with pytest.raises(IntegrityError):
        batch(session, [(groups, [{"name": "质检"}, {"name": "仓库"}, {"name": "质检"}])])
