"""What the organisation chart costs a step: ``current_org`` with an unchanged chart (the
check made before every apply: one prepared primary-key read of ``org_state``), and a
rebuild after a change, on SQLite and PostgreSQL.

    python bench/org_bench.py [--calls N] [--people N] [--pg URL | --no-pg]

Figures are CPU time of this process and wall time per call (median of 5 rounds), with a
chart of ``--people`` users in 50 departments. Compare with the CPU per service call of
bench/store_bench.py (about 0.9 ms on SQLite): the check should be a few per cent of it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pg_schema import pg_schema_url  # noqa: E402

from engine import store  # noqa: E402
from engine.app import org  # noqa: E402
from engine.app.database import Database  # noqa: E402
from engine.app.service import Workflow  # noqa: E402
from engine.app.services import Services  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.store import users as user_store  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def chart_csv(people: int) -> str:
    lines = ["kind,id,name,parent,head,department,manager"]
    lines += [f"department,d{i},部门{i},{'' if i == 0 else f'd{(i - 1) // 5}'},u{i},," for i in range(50)]
    lines += [f"user,u{i},,,,d{i % 50},{'' if i < 50 else f'u{i % 50}'}" for i in range(people)]
    return "\n".join(lines) + "\n"


def run(url: str, calls: int, people: int) -> None:
    engine = store.make_engine(url)
    store.upgrade(engine)
    cfg = load_config(ROOT / "config.yaml")
    services = Services(cfg, Database(engine), Workflow(cfg))
    user_store.PASSWORD_METHOD = "scrypt:1024:8:1"
    hashed = user_store.hash_password("pw")
    with services.database.writing() as s:
        for i in range(people):
            user_store.add_user(s, f"u{i}", "pw", [], password_hash=hashed)
    org.import_csv(services, "bench", chart_csv(people))
    name = engine.dialect.name
    with services.database.reading() as s:
        org.current_org(s)
        rounds = []
        for _ in range(5):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(calls):
                org.current_org(s)
            rounds.append(((time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls))
    cpu_us, wall_us = (statistics.median(r[i] for r in rounds) * 1e6 for i in (0, 1))
    print(f"  {name:<10} unchanged chart: {cpu_us:6.1f} µs CPU, {wall_us:6.1f} µs wall per check")
    # On the step path the stamp rides in the same round trip as the instance row
    # (``repo.load_for_step``): what is left is the batch's extra statement and a dict look-up.
    from engine.store.org import STAMP_CALL, stamp_of
    from engine.store.prepared import batch

    with services.database.reading() as s:
        rounds = []
        for _ in range(5):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(calls):
                found = stamp_of(batch(s, [STAMP_CALL, STAMP_CALL])[1])
                org.current_org(s, found)
            one = (time.process_time() - cpu, time.perf_counter() - wall)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(calls):
                batch(s, [STAMP_CALL])
            rounds.append(((one[0] - (time.process_time() - cpu)) / calls,
                           (one[1] - (time.perf_counter() - wall)) / calls))
    cpu_us, wall_us = (statistics.median(r[i] for r in rounds) * 1e6 for i in (0, 1))
    print(f"  {name:<10} ... riding in a step's round trip: {cpu_us:6.1f} µs CPU, {wall_us:6.1f} µs wall")
    rebuilds = []
    for i in range(5):
        org.set_person(services, "bench", f"u{people - 1}", manager=f"u{i}")
        with services.database.reading() as s:
            wall = time.perf_counter()
            org.current_org(s)
            rebuilds.append(time.perf_counter() - wall)
    print(f"  {name:<10} after a change ({people} users, 50 departments): rebuilt in "
          f"{statistics.median(rebuilds) * 1e3:.1f} ms (once per change per process)")
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--people", type=int, default=500)
    ap.add_argument("--pg", default=os.environ.get("WF_BENCH_DATABASE_URL",
                                                   os.environ.get("WF_TEST_DATABASE_URL", DEFAULT_PG)))
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/org.db", args.calls, args.people)
    if not args.no_pg:
        url, cleanup = pg_schema_url(args.pg)
        if url is None:
            print("  PostgreSQL unreachable: skipped")
            return
        try:
            run(url, args.calls, args.people)
        finally:
            cleanup()


if __name__ == "__main__":
    main()
