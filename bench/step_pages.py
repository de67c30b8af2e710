"""What a durable step writes on SQLite, b-tree by b-tree, and what the secondary indexes cost.

    python bench/step_pages.py [--instances N] [--repeat N]

Runs the walks of ``store_bench.py`` (after-sales inspection, a start and 8 steps, one
transaction per service call) on a SQLite file whose WAL is never checkpointed, then reads
the WAL: every frame is one page a commit wrote, and ``dbstat`` says which table or index
owns that page. It prints the pages written per service call by b-tree, and the CPU per
call of the same walks with and without the secondary indexes the step path writes (those
of events, tasks, the field index, notifications and the instances' timer), alternating the
two ``--repeat`` times on this machine and keeping each one's lowest figure.

The question it answers (issue 20, item 4): would an index budget per step make a step
much cheaper? Pages are what a COMMIT costs; the CPU figure says what they cost in all.
"""

from __future__ import annotations

import argparse
import collections
import sqlite3
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import store_bench  # noqa: E402
from sqlalchemy import event  # noqa: E402

from engine import store  # noqa: E402

# Secondary indexes written by an ordinary step (the unique constraints stay: the chain's
# (instance, seq) and a task's (instance, task id) are rules, not look-ups).
STEP_INDEXES = (
    "ix_events_at", "ix_events_actor_at", "ix_events_type_at",
    "ix_tasks_status_role", "ix_tasks_assignee_status", "ix_tasks_procedure_created",
    "ix_tasks_procedure_status_due",
    "ix_field_index_procedure_key_value", "ix_field_index_value",
    "ix_notifications_username_read_at", "ix_instances_next_timer_at",
)
WAL_HEADER, FRAME_HEADER = 32, 24


def walk(instances: int, drop: tuple[str, ...]) -> dict[str, Any]:
    """The walks on a fresh file; CPU per call, SQLite's share, and the WAL's frames by owner."""
    folder = tempfile.mkdtemp(prefix="wf-pages-")
    path = f"{folder}/walks.db"
    keep: dict[str, sqlite3.Connection] = {}
    make, upgrade = store.make_engine, store.upgrade

    def make_engine(url: str, **kw: Any) -> Any:
        engine = make(url, **kw)

        @event.listens_for(engine, "connect")
        def _no_checkpoint(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
        return engine

    def upgrade_then_drop(engine: Any) -> None:
        upgrade(engine)
        with engine.begin() as connection:
            for name in drop:
                connection.exec_driver_sql(f"DROP INDEX {name}")
        # An open connection keeps the WAL when the bench's engine is disposed; truncated
        # here, it then holds the walks' commits only (and the set-up of users and procedures).
        keep["c"] = sqlite3.connect(path)
        keep["c"].execute("PRAGMA wal_autocheckpoint=0")
        keep["c"].execute("PRAGMA wal_checkpoint(TRUNCATE)")

    store.make_engine, store.upgrade = make_engine, upgrade_then_drop  # type: ignore[assignment]
    try:
        _rate, _calls_rate, steps, cpu, native = store_bench.throughput(f"sqlite:///{path}", instances)
    finally:
        store.make_engine, store.upgrade = make, upgrade  # type: ignore[assignment]
    calls = steps + instances
    connection = keep["c"]
    wal = Path(path + "-wal").read_bytes()
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    frames: collections.Counter[int] = collections.Counter()
    for offset in range(WAL_HEADER, len(wal) - FRAME_HEADER + 1, FRAME_HEADER + page_size):
        frames[struct.unpack(">I", wal[offset:offset + 4])[0]] += 1
    try:
        owner = dict(connection.execute("SELECT pageno, name FROM dbstat"))
    except sqlite3.OperationalError:  # SQLite built without the dbstat table
        owner = {}
    by_owner: collections.Counter[str] = collections.Counter()
    for page, count in frames.items():
        by_owner[owner.get(page, "(not known)")] += count
    connection.close()
    return {"cpu": cpu, "native": native, "calls": calls, "pages": by_owner}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {"all indexes": [], "no secondary step indexes": []}
    for _ in range(args.repeat):
        runs["all indexes"].append(walk(args.instances, ()))
        runs["no secondary step indexes"].append(walk(args.instances, STEP_INDEXES))
    print(f"{args.instances} x after-sales-inspection (a start and 8 steps), one transaction per "
          f"service call, SQLite WAL; lowest of {args.repeat} alternating runs:")
    for name, results in runs.items():
        best = min(results, key=lambda r: r["cpu"])
        pages = sum(best["pages"].values()) / best["calls"]
        print(f"  {name:27} {best['cpu']:.3f} ms CPU per call, of which SQLite's calls "
              f"{best['native']:.3f} ms; {pages:.1f} pages written per call")
    first = runs["all indexes"][0]
    print("\nPages written per service call, by b-tree (all indexes):")
    for name, count in first["pages"].most_common(24):
        mark = "  (secondary, step path)" if name in STEP_INDEXES else ""
        print(f"  {count / first['calls']:5.2f}  {name}{mark}")


if __name__ == "__main__":
    main()
