"""How long one worker takes to process 100,000 due items, on SQLite and PostgreSQL.

    python bench/worker_bench.py [--items N] [--batch N] [--pg URL | --no-pg]

Seeds ``--items`` running instances of ``tests/data/time/procedures/timed-steps.yaml`` whose
timers are all due (bulk-inserted copies of one real start: instance row, task row and the
hash-chained start events). Half have a 1-hour deadline with a reminder and three escalation
levels (to the assignee's manager, then two roles) and are claimed by a user who has a
manager; the other half have a 3-day deadline and are unclaimed. The clock is then moved a
month on and ONE worker (``Worker.run_once``) processes the backlog: per instance the runtime
tick, the optimistic state write, the changed task row, the chained events, and the in-app
notifications for the people concerned (four users in the groups of the roles). Every item
fires in one pass; the figure is wall time of that pass and items per second.

Target: under 60 s for 100,000 items on each database.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pg_schema import pg_schema_url  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from engine import store  # noqa: E402
from engine.app.worker import Worker  # noqa: E402
from engine.runtime.commands import Actor, Claim, Start  # noqa: E402
from engine.runtime.machine import next_wakeup  # noqa: E402
from engine.store import Event, Instance, Task  # noqa: E402
from engine.store import timekeeping as tk  # noqa: E402
from engine.store.audit import GENESIS  # noqa: E402
from engine.store.repo import _chain, _instance_columns, _task_columns  # noqa: E402
from tests.helpers.time import Clock, local, time_setup  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHUNK = 5000


def seed(wf, sessions, n: int) -> None:
    """``n`` due instances, bulk-inserted from two real starts (claimed 1 h, unclaimed 3 d)."""
    with sessions() as s:
        proc, version_id = wf.procedure(s, "timed-steps")
        rt = wf.runtime(s, version_id)
        s.rollback()
    clerk = Actor(user="clerk1", roles=frozenset({"clerk"}), name="clerk1")
    now = wf.clock()
    templates = []
    for kind in ("h", "d"):
        state, events = rt.apply(None, Start(actor=clerk, data={"kind": kind}, instance_id="X"), now)
        if kind == "h":
            state, more = rt.apply(state, Claim("t1", clerk), now)
            events += more
        templates.append((state, events))
    for lo in range(0, n, CHUNK):
        inst_rows, task_rows, event_rows = [], [], []
        for i in range(lo, min(n, lo + CHUNK)):
            state, events = templates[i % 2]
            iid = store.new_id(now)
            st = {**state, "id": iid}
            rows, seq, head = _chain(iid, events, 0, GENESIS)
            inst_rows.append({"id": iid, "version_id": version_id, "state": st, "rev": st["rev"],
                              "next_timer_at": next_wakeup(st), "updated_at": now,
                              "event_seq": seq, "event_hash": head, **_instance_columns(st)})
            for tid, t in st["tasks"].items():
                task_rows.append({"id": f"{iid}.{tid}", "instance_id": iid, "task_id": tid,
                                  "procedure_id": "timed-steps", **_task_columns(t, now)})
            event_rows += rows
        with sessions.begin() as s:
            s.execute(insert(Instance.__table__), inst_rows)
            s.execute(insert(Task.__table__), task_rows)
            s.execute(insert(Event.__table__), event_rows)
    with sessions.begin() as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("ANALYZE"))


def run(url: str, items: int, batch: int) -> tuple[float, int, int]:
    engine = store.make_engine(url)
    store.upgrade(engine)
    sessions = store.session_factory(engine)
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock)
    worker = Worker(wf, sessions, batch=batch)
    worker.run_once()  # install the schedules of the test procedures (not part of the figure)
    t0 = time.perf_counter()
    seed(wf, sessions, items)
    seeded = time.perf_counter() - t0
    clock.advance(days=30)
    t0 = time.perf_counter()
    stats = worker.run_once()
    elapsed = time.perf_counter() - t0
    with sessions() as s:
        due_left = len(store.due_instances(s, clock(), 10))
        notes = s.scalar(select(func.count()).select_from(tk.Notification))
        s.rollback()
    engine.dispose()
    print(f"  seeded {items:,} due instances in {seeded:.1f} s; worker pass: {stats}")
    print(f"  {notes:,} notifications written; instances still due afterwards: {due_left}")
    return elapsed, stats.changed, stats.claimed



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--pg", default=DEFAULT_PG)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    import tempfile

    targets = []
    if not args.no_sqlite:
        tmp = tempfile.mkdtemp(prefix="worker_bench_")
        targets.append(("SQLite", f"sqlite:///{tmp}/bench.db", lambda: None))
    if not args.no_pg:
        url, drop = pg_schema_url(args.pg)
        if url:
            targets.append(("PostgreSQL", url, drop))
    for name, url, cleanup in targets:
        print(f"{name}:")
        try:
            elapsed, changed, claimed = run(url, args.items, args.batch)
        finally:
            cleanup()
        verdict = "OK" if elapsed < 60 and changed >= args.items else "OVER TARGET"
        print(f"  {name}: {changed:,} of {args.items:,} due items fired in {elapsed:.1f} s "
              f"({changed / elapsed:,.0f}/s, batch {args.batch}) -- target 60 s: {verdict}")


if __name__ == "__main__":
    main()
