"""Auditor reads at scale: 1,000,000 instances with their events, tasks and field index rows
on SQLite and PostgreSQL, then the pages an auditor and a manager open.

    python bench/audit_bench.py [--instances N] [--pg URL | --no-pg] [--keep DIR]

Data: instances of the three shipped procedures (60 % after-sales-inspection, 20 % each of
the others) started one every ~63 s over two years (2025-2026); each has a start form
(customer, product, serial number, contact phone), a receipt and an inspection step with
their tasks and a valid hash chain of 5-6 events; 70 % completed, 25 % running, 5 %
cancelled. Rows are generated once per chunk and written to both databases: COPY on
PostgreSQL, executemany in large transactions on SQLite.

Timed (median and p95; through the Flask test client as a signed-in auditor, so template
rendering and access checks are included):

* audit search by serial number (GET /audit?value=SN...)          target  < 100 ms
* dossier of one instance (GET /audit/instances/ID)               target  < 100 ms
* ledger page of 50 rows (GET /ledgers/PROC, newest first)         target  < 200 ms
* KPI dashboard of one procedure over one year (GET /kpi/PROC)     target  < 1 s
  (after counting the daily figures of the loaded history once, which is also timed; and
  again with one day to recount first, as after a step)
* XLSX export of 100,000 ledger rows, in a child process that
  reports its own peak RSS                                         target  < 30 s, < 300 MB
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pg_schema import pg_schema_url  # noqa: E402
from sqlalchemy import text  # noqa: E402

from engine import store  # noqa: E402
from engine.app.service import Workflow  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.store import users as user_store  # noqa: E402
from engine.store.audit import GENESIS, event_hash, normalise  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PROCS = ["after-sales-inspection"] * 3 + ["repair-process-inspection", "product-acceptance-inspection"]
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
CUSTOMERS = ["某市人民医院", "某县中医院", "某大学附属医院", "某区妇幼保健院", "某体检中心"]
PRODUCTS = ["多参数监护仪", "输液泵", "心电图机", "除颤仪", "呼吸机"]
INSTANCE_COLS = ["id", "procedure_id", "version_id", "status", "outcome", "started_at",
                 "started_by", "ended_at", "state", "rev", "next_timer_at", "origin_instance",
                 "origin_step", "updated_at", "event_seq", "event_hash"]
EVENT_COLS = ["instance_id", "seq", "type", "step", "task_id", "actor", "at", "data",
              "prev_hash", "hash"]
TASK_COLS = ["id", "instance_id", "task_id", "procedure_id", "step", "kind", "role", "status",
             "assignee", "created_at", "due_at", "completed_at", "completed_by"]
INDEX_COLS = ["instance_id", "key", "procedure_id", "value"]
TIMES = {"started_at", "ended_at", "next_timer_at", "updated_at", "at", "created_at", "due_at",
         "completed_at"}


def serial(i: int) -> str:
    return f"SN{i:08d}"


def chunk_rows(start: int, count: int, total: int, versions: dict[str, int], rng: random.Random):
    """Rows of instances ``start .. start+count`` for every table (valid hash chains)."""
    step = SPAN / total
    inst, events, tasks, index = [], [], [], []
    for i in range(start, start + count):
        started = T0 + step * i + timedelta(seconds=rng.random())
        iid = store.new_id(started)
        proc = PROCS[i % len(PROCS)]
        roll = rng.random()
        status = "completed" if roll < 0.70 else "running" if roll < 0.95 else "cancelled"
        start_data = {"customer": CUSTOMERS[i % 5], "product_name": PRODUCTS[i % 5],
                      "model": f"M-{i % 97}", "serial_no": serial(i), "quantity": 1,
                      "contact_person": "王工", "contact_phone": f"139{i:08d}"}
        first_step = {"after-sales-inspection": "receive", "repair-process-inspection": "prepare",
                      "product-acceptance-inspection": "application"}[proc]
        t1 = started + timedelta(hours=rng.uniform(0.5, 30))
        due1 = started + timedelta(hours=24)
        verdict = "合格" if rng.random() < 0.8 else "不合格"
        step_data = {"receipt_no": f"RK-{i}", "received_on": t1.date().isoformat(),
                     "condition": "完好", "reported_fault": "无法开机"}
        ev = [("instance:started", None, None, started,
               {"procedure": proc, "version": "bench", "data": start_data, "origin": None}),
              ("task:created", first_step, "t1", started, {"role": "inspector", "due_at": due1.isoformat()}),
              ("task:completed", first_step, "t1", t1, {"data": step_data, "on_time": t1 <= due1}),
              ("task:created", "inspect", "t2", t1, {"role": "inspector", "due_at": None})]
        ended = None
        t2 = t1 + timedelta(hours=rng.uniform(1, 200))
        if status == "completed":
            ev.append(("task:completed", "inspect", "t2", t2, {"data": {"verdict": verdict}}))
            ev.append(("instance:completed", "done", None, t2, {"outcome": "已归档"}))
            ended = t2
        elif status == "cancelled":
            ev.append(("instance:cancelled", None, None, t2, {"reason": "客户撤回"}))
            ended = t2
        prev, seq = GENESIS, 0
        for kind, stp, task, at, data in ev:
            seq += 1
            data = normalise(data)
            h = event_hash(instance_id=iid, seq=seq, type=kind, step=stp, task=task,
                           actor="inspector1", at=at, data=data, prev_hash=prev)
            events.append({"instance_id": iid, "seq": seq, "type": kind, "step": stp,
                           "task_id": task, "actor": "inspector1", "at": at,
                           "data": json.dumps(data, ensure_ascii=False), "prev_hash": prev, "hash": h})
            prev = h
        data = {"start": start_data, first_step: step_data}
        if status == "completed":
            data["inspect"] = {"verdict": verdict}
        t_open = status == "running"
        state = {"format": 1, "id": iid, "procedure": proc, "status": status,
                 "outcome": "已归档" if status == "completed" else None,
                 "started_at": started.isoformat(), "started_by": "inspector1",
                 "ended_at": ended.isoformat() if ended else None, "origin": None, "data": data,
                 "tasks": {}, "joins": {}, "links": [], "path": [first_step, "inspect"], "seq": 2,
                 "rev": seq, "timer_at": None}
        inst.append({"id": iid, "procedure_id": proc, "version_id": versions[proc], "status": status,
                     "outcome": state["outcome"], "started_at": started, "started_by": "inspector1",
                     "ended_at": ended, "state": json.dumps(state, ensure_ascii=False), "rev": seq,
                     "next_timer_at": None, "origin_instance": None, "origin_step": None,
                     "updated_at": ended or t1, "event_seq": seq, "event_hash": prev})
        tasks.append({"id": f"{iid}.t1", "instance_id": iid, "task_id": "t1", "procedure_id": proc,
                      "step": first_step, "kind": "task", "role": "inspector", "status": "done",
                      "assignee": None, "created_at": started, "due_at": due1, "completed_at": t1,
                      "completed_by": "inspector1"})
        tasks.append({"id": f"{iid}.t2", "instance_id": iid, "task_id": "t2", "procedure_id": proc,
                      "step": "inspect", "kind": "task", "role": "inspector",
                      "status": "open" if t_open else "done" if status == "completed" else "cancelled",
                      "assignee": None, "created_at": t1, "due_at": t1 + timedelta(days=3),
                      "completed_at": None if t_open else t2,
                      "completed_by": "inspector1" if status == "completed" else None})
        keys = {f"start.{k}": v for k, v in start_data.items()
                if k in ("customer", "product_name", "serial_no", "contact_phone", "model")}
        if proc == "after-sales-inspection":
            keys["receive.receipt_no"] = step_data["receipt_no"]
            if status == "completed":
                keys["inspect.verdict"] = keys["inspect.verdict@first"] = verdict
        index += [{"instance_id": iid, "key": k, "procedure_id": proc, "value": str(v)}
                  for k, v in keys.items()]
    return {"instances": (INSTANCE_COLS, inst), "events": (EVENT_COLS, events),
            "tasks": (TASK_COLS, tasks), "field_index": (INDEX_COLS, index)}


def _value(v, sqlite: bool):
    if isinstance(v, datetime):
        v = v.astimezone(UTC).replace(tzinfo=None)
        return v.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else v
    if isinstance(v, bool):
        return int(v) if sqlite else v
    return v


def write(engine, tables: dict) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            cur.execute("BEGIN")
        for table, (cols, rows) in tables.items():
            values = [tuple(_value(d[c], sqlite) for c in cols) for d in rows]
            if sqlite:
                cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
            else:
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for v in values:
                        copy.write_row(v)
        if sqlite:
            cur.execute("COMMIT")
        else:
            raw.commit()
    finally:
        raw.close()


def prepare(url: str) -> tuple[object, dict[str, int]]:
    engine = store.make_engine(url)
    store.upgrade(engine)
    with store.session_factory(engine)() as s:
        Workflow(load_config(ROOT / "config.yaml")).load_procedures(s)
        user_store.add_user(s, "auditor", "bench-pw", ["auditors"], full_name="审计员")
        s.commit()
        versions = {p: store.latest_version(s, p).id for p in set(PROCS)}
    return engine, versions


def load(backends: list[tuple[str, str]], total: int, chunk: int = 20_000) -> dict[str, float]:
    engines = {name: prepare(url) for name, url in backends}
    versions = next(iter(engines.values()))[1]
    spent = {name: 0.0 for name in engines} | {"generate": 0.0}
    rng = random.Random(7)
    for start in range(0, total, chunk):
        t0 = time.perf_counter()
        rows = chunk_rows(start, min(chunk, total - start), total, versions, rng)
        spent["generate"] += time.perf_counter() - t0
        for name, (engine, _vers) in engines.items():
            t0 = time.perf_counter()
            write(engine, rows)
            spent[name] += time.perf_counter() - t0
        done = start + chunk
        if done % 100_000 == 0 or done >= total:
            print(f"    loaded {min(done, total):,} instances "
                  + " ".join(f"{k} {v:.0f}s" for k, v in spent.items()), flush=True)
    for name, (engine, _v) in engines.items():
        t0 = time.perf_counter()
        # VACUUM as autovacuum would after a load this size: index-only scans need the
        # visibility map on PostgreSQL.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
        spent[name] += time.perf_counter() - t0
        engine.dispose()
    return spent


def kpi_rollup(url: str) -> float:
    """Count the daily dashboard figures of everything loaded (rows written straight to the
    tables carry no pending days, so every procedure is counted from scratch)."""
    engine = store.make_engine(url)
    wf = Workflow(load_config(ROOT / "config.yaml"))
    with store.session_factory(engine).begin() as s:
        s.execute(text("DELETE FROM kpi_sources"))  # a --reuse run counts from scratch again
        for pid in store.procedure_ids(s):
            wf.kpi_keys(s, pid)  # compiling the procedures is not counting
    t0 = time.perf_counter()
    with store.session_factory(engine).begin() as s:
        wf.refresh_kpis(s)
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed


def timed(fn, runs: int) -> tuple[float, float]:
    samples = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def make_app(url: str):
    from web import create_app

    return create_app({"TESTING": True, "SECRET_KEY": "bench", "WF_OVERRIDES": {"database.url": url}})


def signed_in(app):
    client = app.test_client()
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"username": "auditor", "password": "bench-pw", "csrf_token": token})
    assert r.status_code == 302, r.text
    return client


def pages(url: str, total: int) -> dict[str, tuple[float, float]]:
    app = make_app(url)
    client = signed_in(app)
    rng = random.Random(3)
    picks = [rng.randrange(total) for _ in range(40)]
    with app.extensions["services"].database.engine.connect() as c:
        ids = [r[0] for r in c.execute(text("SELECT instance_id FROM field_index WHERE key = 'start.serial_no' AND value IN ("
                                            + ",".join(f"'{serial(i)}'" for i in picks[:20]) + ")"))]
    out = {}

    def get(path: str, must: str | None = None) -> str:
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
        body = r.text
        if must:
            assert must in body, (path, must)
        return body

    # Not timed: one of each page first, as on a server that has been up for a while (the
    # count of the whole history just before has pushed the indexes out of the cache).
    for path in (f"/audit?value={serial(picks[-1])}", f"/audit/instances/{ids[-1]}",
                 "/ledgers/after-sales-inspection"):
        get(path)
    out["audit search by serial number"] = timed(
        lambda i: get(f"/audit?value={serial(picks[i % 40])}", serial(picks[i % 40])), 40)
    out["dossier of one instance"] = timed(lambda i: get(f"/audit/instances/{ids[i % len(ids)]}", "chain-ok"), 40)
    out["ledger page of 50 rows"] = timed(
        lambda i: get(f"/ledgers/after-sales-inspection?page={1 + i % 5}", "data-instance"), 20)
    out["ledger page, filtered by serial prefix"] = timed(
        lambda i: get(f"/ledgers/after-sales-inspection?f.start.serial_no=SN000{i % 10}", "ledger"), 10)
    out["ledger page, sorted by customer"] = timed(
        lambda i: get("/ledgers/after-sales-inspection?sort=start.customer&dir=asc", "data-instance"), 5)
    dashboard = "/kpi/after-sales-inspection?from=2025-01-01&to=2025-12-31&period="
    out["KPI dashboard, one procedure, one year"] = timed(
        lambda i: get(dashboard + ("month", "week")[i % 2], "kpi-tiles"), 6)

    def changed(i: int) -> str:
        # as after a step on an instance of that day: the page recomputes the day first
        with app.extensions["services"].database.engine.begin() as c:
            c.execute(text("INSERT INTO kpi_pending (procedure_id, day) VALUES ('after-sales-inspection', :d)"),
                      {"d": f"2025-{1 + i % 12:02d}-{10 + i:02d}"})
        return get(dashboard + "month", "kpi-tiles")

    out["KPI dashboard after a change (one day recounted)"] = timed(changed, 6)
    app.extensions["services"].database.engine.dispose()
    return out


def _peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss would include the parent's peak: Linux keeps it
    across the fork and exec that start a spawned child)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _export_child(url: str, query: str, conn) -> None:
    app = make_app(url)
    client = signed_in(app)
    t0 = time.perf_counter()
    r = client.get(f"/ledgers/repair-process-inspection.xlsx?{query}", buffered=False)
    size = 0
    for chunk in r.response:
        size += len(chunk)
    r.close()
    elapsed = time.perf_counter() - t0
    app.extensions["services"].database.engine.dispose()
    conn.send((elapsed, size, _peak_rss_mb()))


def xlsx_export(url: str, total: int) -> tuple[float, int, float, int]:
    """Export ~100,000 ledger rows (a date range of repair-process-inspection)."""
    share = total / len(PROCS)  # instances of that procedure
    days = min(730, max(1, round(730 * 100_000 / share))) if share else 730
    end = (T0 + timedelta(days=days)).date().isoformat()
    query = f"from=2025-01-01&to={end}"
    engine = store.make_engine(url)
    with engine.connect() as c:
        rows = c.execute(text("SELECT count(*) FROM instances WHERE procedure_id = 'repair-process-inspection' "
                              "AND started_at < :end"), {"end": T0.replace(tzinfo=None) + timedelta(days=days + 1)}).scalar()
    engine.dispose()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_export_child, args=(url, query, child))
    proc.start()
    elapsed, size, rss = parent.recv()
    proc.join()
    return elapsed, size, rss, rows



TARGETS = {"audit search by serial number": 100, "dossier of one instance": 100,
           "ledger page of 50 rows": 200, "KPI dashboard, one procedure, one year": 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", type=int, default=1_000_000)
    ap.add_argument("--pg", default=os.environ.get("WF_BENCH_DATABASE_URL",
                                                   os.environ.get("WF_TEST_DATABASE_URL", DEFAULT_PG)))
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--keep", help="keep the SQLite file in this folder (and the PostgreSQL schema)")
    ap.add_argument("--reuse", metavar="DIR", help="time the pages on the data a --keep run left in DIR "
                    "(no loading; --instances must match)")
    args = ap.parse_args()
    if args.reuse:
        folder = Path(args.reuse)
        backends = [("SQLite", f"sqlite:///{folder}/audit-bench.db")]
        if (folder / "pg-url.txt").exists() and not args.no_pg:
            backends.append(("PostgreSQL", (folder / "pg-url.txt").read_text().strip()))
        measure(backends, args.instances)
        return

    tmp = tempfile.TemporaryDirectory(prefix="wf-audit-bench-")
    folder = Path(args.keep) if args.keep else Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    backends = [("SQLite", f"sqlite:///{folder}/audit-bench.db")]
    cleanup = []
    if not args.no_pg:
        url, drop = pg_schema_url(args.pg)
        if url:
            backends.append(("PostgreSQL", url))
            if not args.keep:
                cleanup.append(drop)
            else:
                print(f"PostgreSQL schema kept: {url}")
                (folder / "pg-url.txt").write_text(url)
    try:
        print(f"Loading {args.instances:,} instances (with events, tasks, field index) into "
              f"{', '.join(n for n, _ in backends)}:", flush=True)
        spent = load(backends, args.instances)
        for name, url in backends:
            engine = store.make_engine(url)
            with engine.connect() as c:
                counts = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                          for t in ("instances", "events", "tasks", "field_index")}
            engine.dispose()
            print(f"  {name:<10} loaded in {spent[name]:.0f} s (+{spent['generate']:.0f} s generating, shared): "
                  + ", ".join(f"{v:,} {k}" for k, v in counts.items()), flush=True)
        measure(backends, args.instances)
    finally:
        for fn in cleanup:
            fn()
        tmp.cleanup()


def measure(backends: list[tuple[str, str]], instances: int) -> None:
    for name, url in backends:
        print(f"{name}:", flush=True)
        store.upgrade(url)  # data kept by an older checkout
        print(f"  KPI rollup of the loaded history (once, as after the upgrade): {kpi_rollup(url):.1f} s",
              flush=True)
        for what, (med, p95) in pages(url, instances).items():
            target = TARGETS.get(what)
            verdict = "" if target is None else f"  target < {target} ms: {'ok' if p95 < target else 'MISSED'}"
            print(f"  {what:<42} median {med:8.1f} ms, p95 {p95:8.1f} ms{verdict}", flush=True)
        elapsed, size, rss, rows = xlsx_export(url, instances)
        ok = "ok" if elapsed < 30 and rss < 300 else "MISSED"
        print(f"  XLSX export of {rows:,} ledger rows: {elapsed:.1f} s, {size / 1e6:.1f} MB file, "
              f"peak RSS of the exporting process {rss:.0f} MB  target < 30 s, < 300 MB: {ok}", flush=True)


if __name__ == "__main__":
    main()
