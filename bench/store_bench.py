"""Steps/s through the service on a real database, and read latency with many events.

    python bench/store_bench.py [--instances N] [--events N] [--pg URL | --no-pg]

1. Throughput: creates users, loads the shipped procedures and runs ``--instances``
   after-sales-inspection instances to the end (branch review-reject: a start and 8 steps, 4 of them
   signed), each service call in its own transaction (session + commit), on SQLite (a file
   in a temporary directory, WAL) and on PostgreSQL (a fresh schema, dropped afterwards).
   Signatures: the server checks a signature password with scrypt (deliberately slow,
   about 0.1 s) BEFORE the step's transaction (``Workflow.verify_password``) and hands the
   service the verified proof; here each user's password is verified once up front and the
   proof passed on every signed step, so the figure measures the store, not the hash.
   Everything else (form validation, the optimistic write, task rows, the hash-chained
   events) runs as in production.
1b. A 5-approver 会签 (issue 17): the cost of one approver's decision and of a whole
   instance (start and five decisions), beside the ordinary step of 1.
2. Reads at scale (skipped with ``--events 0``): bulk-inserts synthetic instances with valid event hash chains up to
   ``--events`` events in total (executemany on SQLite, COPY on PostgreSQL), then times
   ``store.events_of`` (one instance's full audit trail) and ``store.list_instances``
   (50 instances filtered by procedure and status), median and p95 over many calls.

Targets: 1,000 steps/s on SQLite, 500 on PostgreSQL; under 20 ms and 50 ms for the reads.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pg_schema import pg_schema_url  # noqa: E402
from sqlalchemy import text  # noqa: E402

from engine import store  # noqa: E402
from engine.app.service import Workflow  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.runtime.machine import open_tasks  # noqa: E402
from engine.store import users as user_store  # noqa: E402
from engine.store.audit import GENESIS, event_hash, normalise  # noqa: E402

ANSWERS = ROOT / "tests/data/answers/after-sales-inspection--review-reject.yaml"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "bench password"
EVENTS_PER_INSTANCE = 20


# --- 1. throughput ----------------------------------------------------------------------------

class _SQLiteClock:
    """Seconds spent inside SQLite's own calls (statements, BEGIN, COMMIT) of the connections
    made with ``factory``: the part of a step no Python above the driver can make cheaper."""

    seconds = 0.0
    calls = 0

    @classmethod
    def factory(cls) -> type:
        import sqlite3

        clock = cls

        def timed(method):
            def call(self, *args):
                t0 = time.perf_counter()
                try:
                    return method(self, *args)
                finally:
                    clock.seconds += time.perf_counter() - t0
                    clock.calls += 1
            return call

        class Cursor(sqlite3.Cursor):
            execute = timed(sqlite3.Cursor.execute)
            executemany = timed(sqlite3.Cursor.executemany)

        class Connection(sqlite3.Connection):
            execute = timed(sqlite3.Connection.execute)
            commit = timed(sqlite3.Connection.commit)
            rollback = timed(sqlite3.Connection.rollback)

            def cursor(self, factory=Cursor):
                return super().cursor(factory)

        return Connection


def add_colleagues(session, count: int) -> None:
    """``count`` more active users, ten to a group, six of them also in the walks' groups (a
    company's user table: each step finds who to notify among them). Written in bulk, with a
    placeholder password hash: scrypt for each would take minutes and nobody signs in."""
    if count <= 0:
        return
    from tests.helpers.store import add_colleagues as bulk

    bulk(session, count, max(1, count // 10), also_in=["qa-inspectors", "qa-supervisors"] * 3)
    if session.get_bind().dialect.name == "postgresql":
        # What autovacuum does within a minute of such an insert; the walks would otherwise
        # be planned on the statistics of an empty table.
        session.commit()
        session.execute(text("ANALYZE"))


def throughput(url: str, instances: int, threads: int = 1, users: int = 0) -> tuple[float, float, int, float, float | None]:
    """Run ``instances`` walks, spread over ``threads`` threads of this one process (as a
    server's request threads would); return (steps/s, calls/s incl. starts, steps, CPU ms
    of this process per call: on a shared machine the wall-clock rate understates what it
    can do, ms per call inside SQLite's own calls or None)."""
    sqlite = url.startswith("sqlite")
    engine = store.make_engine(url, **({"connect_args": {"factory": _SQLiteClock.factory()}} if sqlite else {}))
    store.upgrade(engine)
    sessions = store.session_factory(engine)
    wf = Workflow(load_config(ROOT / "config.yaml"))
    script = yaml.safe_load(ANSWERS.read_text(encoding="utf-8"))
    with sessions() as s:
        wf.load_procedures(s)
        user_store.add_user(s, "inspector1", PASSWORD, ["qa-inspectors"], full_name="检验员一")
        user_store.add_user(s, "supervisor1", PASSWORD, ["qa-supervisors"], full_name="主管一")
        add_colleagues(s, users)
        s.commit()
        proc = wf.procedure(s, script["procedure"])[0]
        # The server checks a signature password before the step's transaction, once per
        # request; here once per user (see the module docstring).
        signed = {u: wf.verify_password(s, u, PASSWORD) for u in ("inspector1", "supervisor1")}
        assert all(v.matches for v in signed.values())
        s.rollback()

    def walk() -> int:
        with sessions() as s:
            state = wf.start(s, script["procedure"], script["start"]["user"],
                             script["start"]["data"])
            s.commit()
        for entry in script["steps"]:
            step = proc.steps[entry["step"]]
            local = next(t["id"] for t in open_tasks(state) if t["step"] == step.id)
            task_id = f"{state['id']}.{local}"
            pw = signed[entry["user"]] if step.signature else None
            with sessions() as s:
                if step.type == "approval":
                    state = wf.decide(s, task_id, entry["user"],
                                      approve=entry.get("decision") == "approve",
                                      comment=entry.get("comment", ""), password=pw)
                else:
                    state = wf.complete_task(s, task_id, entry["user"], entry["data"], password=pw)
                s.commit()
        assert state["status"] == "completed"
        return len(script["steps"])

    walk()  # warm-up: compiled validators, prepared statements, connection pool
    profiler = None
    if os.environ.get("WF_BENCH_PROFILE") and threads == 1:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    t0, c0 = time.perf_counter(), time.process_time()
    _SQLiteClock.seconds, _SQLiteClock.calls = 0.0, 0
    if threads == 1:
        steps = sum(walk() for _ in range(instances))
    else:
        with ThreadPoolExecutor(threads) as pool:
            steps = sum(pool.map(lambda _: walk(), range(instances)))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    native = _SQLiteClock.seconds * 1000 / (steps + instances) if sqlite else None
    if profiler is not None:
        # WF_BENCH_PROFILE=FILE: cProfile of the timed walks only (not the set-up), for
        # `python -m pstats FILE`; the CPU figure then includes the profiler's overhead.
        profiler.disable()
        profiler.dump_stats(os.environ["WF_BENCH_PROFILE"] + "." + url.split(":")[0].split("+")[0])
    with sessions() as s:
        assert store.verify(s) == []
    engine.dispose()
    return steps / elapsed, (steps + instances) / elapsed, steps, cpu * 1000 / (steps + instances), native


# --- 1b. a 5-approver countersign step (issue 17) -------------------------------------------------

COUNTERSIGN = """
id: bench-countersign
title: 五人会签
roles:
  inspector: 检验员
start: {roles: [inspector], step: cosign}
steps:
  cosign:
    type: approval
    title: 五人会签
    approvers: [{user: cs1}, {user: cs2}, {user: cs3}, {user: cs4}, {user: cs5}]
    mode: all
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""


def countersign(url: str, instances: int) -> tuple[float, float]:
    """Start ``instances`` instances of a 5-approver 会签 and let each approver decide, one
    transaction per call; return (ms per decision, ms per instance: start + 5 decisions)."""
    engine = store.make_engine(url)
    store.upgrade(engine)
    sessions = store.session_factory(engine)
    wf = Workflow(load_config(ROOT / "config.yaml"))
    with tempfile.TemporaryDirectory(prefix="wf-bench-cs-") as folder:
        path = Path(folder) / "bench-countersign.yaml"
        path.write_text(COUNTERSIGN, encoding="utf-8")
        with sessions() as s:
            wf.load_procedures(s, [path])
            for user in ("inspector1", "cs1", "cs2", "cs3", "cs4", "cs5"):
                user_store.add_user(s, user, PASSWORD, ["qa-inspectors"], full_name=user)
            s.commit()

    def one() -> None:
        with sessions() as s:
            state = wf.start(s, "bench-countersign", "inspector1", {})
            s.commit()
        for user in ("cs3", "cs1", "cs5", "cs2", "cs4"):
            local = next(t["id"] for t in open_tasks(state) if t.get("assignee") == user)
            with sessions() as s:
                state = wf.decide(s, f"{state['id']}.{local}", user, approve=True)
                s.commit()
        assert state["status"] == "completed" and state["data"]["cosign"]["approvals"] == 5

    one()  # warm-up
    t0 = time.perf_counter()
    for _ in range(instances):
        one()
    elapsed = time.perf_counter() - t0
    with sessions() as s:
        assert store.verify(s) == []
    engine.dispose()
    return elapsed * 1000 / (instances * 5), elapsed * 1000 / instances


# --- 2. reads with many events --------------------------------------------------------------------

def synthetic(total_events: int, version_ids: dict[str, int]):
    """Instance rows and event rows (valid chains) adding up to ``total_events`` events."""
    n = max(1, total_events // EVENTS_PER_INSTANCE)
    procs = list(version_ids)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    rng = random.Random(7)
    instances, events = [], []
    for i in range(n):
        started = t0 + timedelta(minutes=i)
        iid = store.new_id(started)
        proc = procs[i % len(procs)]
        status = rng.choice(["running", "running", "completed", "cancelled"])
        state = {"format": 1, "id": iid, "procedure": proc, "status": status, "outcome": None,
                 "started_at": started.isoformat(), "started_by": "inspector1",
                 "ended_at": None, "origin": None, "data": {"start": {"serial_no": f"SN{i}"}},
                 "tasks": {}, "joins": {}, "links": [], "path": ["receive"], "seq": 0,
                 "rev": EVENTS_PER_INSTANCE, "timer_at": None}
        instances.append({"id": iid, "procedure_id": proc, "version_id": version_ids[proc],
                          "status": status, "outcome": None, "started_at": started,
                          "started_by": "inspector1", "ended_at": None,
                          "state": json.dumps(state, ensure_ascii=False),
                          "rev": EVENTS_PER_INSTANCE, "next_timer_at": None,
                          "origin_instance": None, "origin_step": None, "updated_at": started})
        prev = GENESIS
        for seq in range(1, EVENTS_PER_INSTANCE + 1):
            at = started + timedelta(seconds=seq)
            kind = "instance:started" if seq == 1 else "task:completed"
            data = normalise({"data": {"note": f"第 {seq} 步记录", "value": seq * 1.5}})
            h = event_hash(instance_id=iid, seq=seq, type=kind, step="receive", task=f"t{seq}",
                           actor="inspector1", at=at, data=data, prev_hash=prev)
            events.append({"instance_id": iid, "seq": seq, "type": kind, "step": "receive",
                           "task_id": f"t{seq}", "actor": "inspector1", "at": at,
                           "data": json.dumps(data, ensure_ascii=False), "prev_hash": prev,
                           "hash": h})
            prev = h
    return instances, events


INSTANCE_COLS = ["id", "procedure_id", "version_id", "status", "outcome", "started_at",
                 "started_by", "ended_at", "state", "rev", "next_timer_at", "origin_instance",
                 "origin_step", "updated_at"]
EVENT_COLS = ["instance_id", "seq", "type", "step", "task_id", "actor", "at", "data",
              "prev_hash", "hash"]


def bulk_insert(engine, instances: list[dict], events: list[dict]) -> None:
    naive = {"started_at", "ended_at", "next_timer_at", "updated_at", "at"}

    def row(d: dict, cols: list[str]) -> tuple:
        return tuple(d[c].replace(tzinfo=None) if c in naive and d[c] is not None else d[c]
                     for c in cols)

    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            for table, cols, rows in (("instances", INSTANCE_COLS, instances),
                                      ("events", EVENT_COLS, events)):
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for d in rows:
                        copy.write_row(row(d, cols))
            cur.execute("ANALYZE instances")
            cur.execute("ANALYZE events")
        else:
            cur.execute("BEGIN")
            for table, cols, rows in (("instances", INSTANCE_COLS, instances),
                                      ("events", EVENT_COLS, events)):
                marks = ", ".join("?" for _ in cols)
                cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                                [tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v
                                       for v in row(d, cols)) for d in rows])
            cur.execute("COMMIT")
            cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def timed(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def reads(url: str, total_events: int) -> dict:
    engine = store.make_engine(url)
    store.upgrade(engine)
    sessions = store.session_factory(engine)
    with sessions() as s:
        Workflow(load_config(ROOT / "config.yaml")).load_procedures(s)
        s.commit()
        version_ids = {p: store.latest_version(s, p).id for p in
                       ("after-sales-inspection", "repair-process-inspection",
                        "product-acceptance-inspection")}
    t0 = time.perf_counter()
    instances, events = synthetic(total_events, version_ids)
    made = time.perf_counter() - t0
    t0 = time.perf_counter()
    bulk_insert(engine, instances, events)
    loaded = time.perf_counter() - t0
    reader = engine.execution_options(sqlite_begin="DEFERRED")
    picks = random.Random(1).sample([i["id"] for i in instances], min(200, len(instances)))
    out = {"instances": len(instances), "events": len(events), "generate_s": made,
           "insert_s": loaded}
    with store.session_factory(reader)() as s:
        count = s.scalar(text("SELECT count(*) FROM events"))
        out["events_in_db"] = count
        it = iter(picks * 2)

        def trail() -> None:
            rows = store.events_of(s, next(it))
            assert len(rows) == EVENTS_PER_INSTANCE
            s.expunge_all()

        out["events_of"] = timed(trail, len(picks))
        statuses = ["running", "completed", "cancelled"]
        k = iter(range(10_000))

        def listing() -> None:
            i = next(k)
            rows = store.list_instances(s, "after-sales-inspection", statuses[i % 3], limit=50)
            assert len(rows) == 50, "too few instances per procedure and status: use --events 20000 or more"
            s.expunge_all()

        out["list_instances"] = timed(listing, 60)
        # the chains of the fetched instances are valid
        for iid in picks[:20]:
            prev = GENESIS
            for e in store.events_of(s, iid):
                assert e.prev_hash == prev and store.audit.hash_of(e) == e.hash
                prev = e.hash
        s.rollback()
    engine.dispose()
    return out


# --- main ------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", type=int, default=300, help="walks per backend (a start and 8 steps each)")
    ap.add_argument("--events", type=int, default=1_000_000, help="events for the read timings")
    ap.add_argument("--pg", default=os.environ.get("WF_BENCH_DATABASE_URL",
                                                   os.environ.get("WF_TEST_DATABASE_URL",
                                                                  DEFAULT_PG)))
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--users", type=int, default=0,
                    help="other active users in the database (ten to a group), as in a company")
    ap.add_argument("--threads", type=int, default=4,
                    help="PostgreSQL is also measured with this many threads in this process")
    args = ap.parse_args()

    print("Signatures: each user's password verified once before the walks, the proof passed on "
          "every signed step (the server's scrypt check runs before the transaction; see the "
          "module docstring).")
    print(f"Throughput: {args.instances} x after-sales-inspection (review-reject, a start and "
          "8 steps, 4 signed), one transaction per service call"
          + (f", {args.users:,} other users in {max(1, args.users // 10):,} groups." if args.users else "."))
    backends = []
    tmp = tempfile.TemporaryDirectory(prefix="wf-bench-")
    backends.append(("SQLite", f"sqlite:///{tmp.name}/throughput.db",
                     f"sqlite:///{tmp.name}/reads.db", 1000, lambda: None))
    if not args.no_pg:
        u1, drop1 = pg_schema_url(args.pg)
        u2, drop2 = pg_schema_url(args.pg) if u1 else (None, lambda: None)
        u3, drop3 = pg_schema_url(args.pg) if u2 else (None, lambda: None)
        if u1 and u2 and u3:
            backends.append(("PostgreSQL", (u1, u3), u2, 500,
                             lambda: (drop1(), drop2(), drop3())))
    try:
        for name, urls, _read_url, target, _ in backends:
            # SQLite has one writer: threads would only queue (the web layer's WriteQueue).
            runs = [(urls, 1)] if name == "SQLite" else [(urls[0], 1), (urls[1], args.threads)]
            for url, threads in runs:
                rate, calls, steps, cpu_ms, native = throughput(url, args.instances, threads, args.users)
                ok = "ok" if rate >= target else "MISSED"
                print(f"  {name:<10} {threads} thread{'s' if threads > 1 else ' '} {rate:6.0f} "
                      f"completed steps/s ({calls:.0f} service calls/s incl. starts; {steps} "
                      f"steps; {cpu_ms:.2f} ms CPU of this process per call)  target {target}: {ok}")
                if native is not None:
                    # What SQLite itself spends (its statements, BEGIN and COMMIT: B-tree pages
                    # and the WAL's writes): the floor under any Python above the driver.
                    print(f"  {'':<10} of which inside SQLite's calls: {native:.2f} ms per call "
                          f"({_SQLiteClock.calls / (steps + args.instances):.1f} calls)")
        print(f"Countersign: {max(args.instances // 5, 10)} x a 5-approver 会签 (all), each approver "
              "deciding in their own transaction; compare with the ordinary step above.")
        for name, *_ in backends:
            if name == "SQLite":
                url, drop = f"sqlite:///{tmp.name}/countersign.db", (lambda: None)
            else:
                url, drop = pg_schema_url(args.pg)
                if not url:
                    continue
            try:
                per_decision, per_instance = countersign(url, max(args.instances // 5, 10))
            finally:
                drop()
            print(f"  {name:<10} {per_decision:6.2f} ms per approver's decision, {per_instance:7.2f} ms per "
                  "instance (start + 5 decisions)")
        if args.events <= 0:
            return
        print(f"Reads with {args.events:,} events ({EVENTS_PER_INSTANCE} per instance, "
              "chains valid):")
        for name, _, read_url, _, _ in backends:
            r = reads(read_url, args.events)
            eo, li = r["events_of"], r["list_instances"]
            print(f"  {name:<10} {r['events_in_db']:,} events / {r['instances']:,} instances "
                  f"(generated in {r['generate_s']:.1f} s, inserted in {r['insert_s']:.1f} s)")
            print(f"  {name:<10} events_of (one full trail):   median {eo[0]:6.2f} ms, "
                  f"p95 {eo[1]:6.2f} ms  target < 20 ms: {'ok' if eo[1] < 20 else 'MISSED'}")
            print(f"  {name:<10} list_instances (50, by procedure+status): median {li[0]:6.2f} "
                  f"ms, p95 {li[1]:6.2f} ms  target < 50 ms: {'ok' if li[1] < 50 else 'MISSED'}")
    finally:
        for *_, cleanup in backends:
            cleanup()
        tmp.cleanup()


if __name__ == "__main__":
    main()
