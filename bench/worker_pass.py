"""CPU of one worker pass: idle, and with N due items, on the shipped procedures.

    python bench/worker_pass.py [--open N] [--due N] [--passes N] [--profile] [--pg URL | --no-pg]

Loads the shipped library (``procedures/``, ``forms/``: twelve procedures with ``starts:``),
adds the people of the answers files and starts ``--open`` instances (one per answers file
in turn, each left at its first task, so each has an open deadline timer). One pass then
installs the schedules and catches up. Then:

- **idle**: ``--passes`` passes, the clock moved 5 s between them (as ``wf worker`` does),
  nothing due: what a pass costs when there is nothing to do;
- **N due**: before each of ``--passes`` passes, ``--due`` of the open instances get a
  timer due now (their ``next_timer_at`` set to the clock): a pass ticks them (load, the
  runtime's tick, the state write) and does everything else as when idle.

Figures are CPU seconds of this process per pass (``time.process_time``: the database's
own CPU on PostgreSQL is not in it), median over the passes; the wall time is printed too.
``--profile`` prints the top of cProfile for the idle passes.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pg_schema import pg_schema_url  # noqa: E402
from sqlalchemy import select, update  # noqa: E402

from engine import store  # noqa: E402
from engine.app.service import Workflow  # noqa: E402
from engine.app.worker import Worker  # noqa: E402
from engine.store import Instance, InstanceStatus  # noqa: E402
from tests.helpers.service import ANSWERS, add_users, answers, config  # noqa: E402
from tests.helpers.time import Clock, local  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def seed(wf: Workflow, sessions, n: int) -> None:
    """``n`` running instances, started by the answers files' first users, in turn."""
    scripts = [answers(p.stem) for p in sorted(ANSWERS.glob("*.yaml"))]
    started = 0
    while started < n:
        for script in scripts:
            if started >= n:
                break
            with sessions() as s:
                try:
                    wf.start(s, script["procedure"], script["start"]["user"], script["start"]["data"])
                except Exception:  # noqa: BLE001 - an answers file that starts elsewhere (a spawn)
                    s.rollback()
                    continue
                s.commit()
                started += 1


def passes(worker: Worker, clock: Clock, sessions, count: int, due: int,
           profile: cProfile.Profile | None = None) -> tuple[list[float], list[float], list]:
    cpu, wall, stats = [], [], []
    for _ in range(count):
        clock.advance(seconds=5)
        if due:
            with sessions.begin() as s:
                ids = list(s.scalars(select(Instance.id).where(Instance.status == InstanceStatus.RUNNING)
                                     .order_by(Instance.id).limit(due)))
                s.execute(update(Instance).where(Instance.id.in_(ids)).values(next_timer_at=clock()))
        c0, w0 = time.process_time(), time.perf_counter()
        if profile:
            profile.enable()
        stats.append(worker.run_once())
        if profile:
            profile.disable()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return cpu, wall, stats


def run(name: str, url: str, args: argparse.Namespace) -> None:
    engine = store.make_engine(url)
    store.upgrade(engine)
    sessions = store.session_factory(engine)
    clock = Clock(local("2026-03-02 10:00"))
    wf = Workflow(config(), clock=clock)
    with sessions() as s:
        wf.load_procedures(s)
        s.commit()
    add_users(sessions)
    t0 = time.perf_counter()
    seed(wf, sessions, args.open)
    print(f"{name}: {args.open} open instances started in {time.perf_counter() - t0:.1f} s")
    worker = Worker(wf, sessions)
    print(f"  first pass: {worker.run_once()}")
    worker.run_once()
    prof = cProfile.Profile() if args.profile else None
    cpu, wall, _ = passes(worker, clock, sessions, args.passes, 0, prof)
    print(f"  idle:        {statistics.median(cpu) * 1000:7.1f} ms CPU a pass "
          f"(wall {statistics.median(wall) * 1000:.1f} ms; median of {args.passes})")
    cpu, wall, stats = passes(worker, clock, sessions, args.passes, args.due)
    claimed = statistics.median(s.claimed for s in stats)
    print(f"  {args.due} due:  {statistics.median(cpu) * 1000:7.1f} ms CPU a pass "
          f"(wall {statistics.median(wall) * 1000:.1f} ms; {claimed:.0f} claimed a pass)")
    engine.dispose()
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--open", type=int, default=300, help="running instances (default 300)")
    ap.add_argument("--due", type=int, default=20, help="timers made due before each pass (default 20)")
    ap.add_argument("--passes", type=int, default=30)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--pg", default=DEFAULT_PG)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="worker_pass_") as tmp:
            run("SQLite", f"sqlite:///{tmp}/bench.db", args)
    if not args.no_pg:
        url, drop = pg_schema_url(args.pg)
        if url:
            try:
                run("PostgreSQL", url, args)
            finally:
                drop()


if __name__ == "__main__":
    main()
