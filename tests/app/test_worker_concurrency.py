"""Several workers on one backlog: every due item fires exactly once, and a worker that dies
mid-batch leaves nothing half-done."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select, text

from engine.app.service import Workflow
from engine.app.worker import Worker
from engine.store import Event, Instance, make_engine, session_factory
from engine.store import timekeeping as tk
from tests.helpers.service import check_consistent
from tests.helpers.time import Clock, local, time_config, time_setup

BACKLOG = 2000
WORKERS = 4


def _backlog(wf, sessions, n: int) -> None:
    with sessions() as s:
        for i in range(n):
            state = wf.start(s, "timed-steps", "clerk1", {"kind": "h"})
            if i % 2:  # half of them held by clerk1, whose manager is chief1
                wf.claim(s, f"{state['id']}.t1", "clerk1")
        s.commit()


def _fired(sessions) -> Counter:
    with sessions() as s:
        rows = s.execute(select(Event.instance_id, Event.type, Event.data)
                         .where(Event.type.like("deadline:%"))).all()
    return Counter((r.instance_id, r.type, (r.data or {}).get("level")) for r in rows)


def _wait_until_gone(sessions, pid: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as s:
            if not s.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).first():
                return
        time.sleep(0.05)
    raise AssertionError(f"PostgreSQL backend {pid} still alive {timeout} s after its connection dropped")


def test_many_workers_fire_each_due_item_exactly_once(sessions, backend, db_url):
    if backend != "postgresql":
        pytest.skip("several workers on one database need PostgreSQL (SQLite has one writer)")
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock)
    Worker(wf, sessions).run_once()  # the schedules are installed now
    _backlog(wf, sessions, BACKLOG)
    # A day later: every task is past its reminder, its miss and its three escalation levels,
    # and the daily schedule is due once; the workers start together on the whole backlog.
    clock.set(local("2026-10-01 19:00"))
    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []
    stats = []

    def run() -> None:
        engine = make_engine(db_url)
        try:
            worker = Worker(Workflow(time_config(), clock=clock), session_factory(engine), batch=100)
            barrier.wait(timeout=60)
            stats.append(worker.run_once())
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    assert sum(s.changed for s in stats) == BACKLOG
    assert sum(1 for s in stats if s.changed) >= 2, "the backlog was shared between workers"
    fired = _fired(sessions)
    assert set(fired.values()) == {1}  # nothing twice
    with sessions() as s:
        ids = list(s.scalars(select(Instance.id).where(Instance.procedure_id == "timed-steps")))
    for iid in ids:  # nothing missed
        for kind, level in [("deadline:reminder", None), ("deadline:missed", None),
                            ("deadline:escalated", 1), ("deadline:escalated", 2), ("deadline:escalated", 3)]:
            assert fired[(iid, kind, level)] == 1
    with sessions() as s:
        daily = [f for f in tk.firings(s, "periodic-report") if f.subject.endswith("T09:00:00+00:00")]
        # 17:00 on 30 September and on 1 October: each occurrence started once.
        assert len(daily) == 2 and all(f.instance_id for f in daily)
        assert s.scalar(select(func.count()).select_from(Instance)
                        .where(Instance.procedure_id == "periodic-report")) == len(tk.firings(s, "periodic-report"))
        check_consistent(s)


def test_a_worker_that_dies_mid_batch_leaves_nothing_half_done(sessions, backend):
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock)
    _backlog(wf, sessions, 50)
    clock.set(local("2026-09-30 18:00"))
    # A worker claims and processes a batch, then dies before its commit.
    doomed = sessions()
    claimed, changed = wf.tick_due(doomed, limit=20)
    assert claimed == changed == 20
    if backend == "postgresql":
        # Meanwhile another worker takes the rows the doomed one has not locked.
        other = Worker(wf, sessions, batch=10)
        assert other.run_once().changed == 30
    pid = doomed.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar() \
        if backend == "postgresql" else None
    doomed.connection().invalidate()  # the connection drops: the transaction is gone
    doomed.close()
    if pid is not None:
        # PostgreSQL notices the dropped socket a moment later; until it has, the dead
        # transaction's row locks stand and SKIP LOCKED rightly passes those rows by.
        _wait_until_gone(sessions, pid)
    assert Worker(wf, sessions).run_once().changed == (20 if backend == "postgresql" else 50)
    fired = _fired(sessions)
    assert set(fired.values()) == {1} and len({k[0] for k in fired}) == 50
    with sessions() as s:
        check_consistent(s)
