"""Baseline for issue 20: what a minimal durable SpiffWorkflow server pays per step on SQLite.

    pip install SpiffWorkflow     # 3.x; the project itself does not depend on it
    python bench/spiff_baseline.py [--instances N]

Compare with ``bench/store_bench.py --events 0 --no-pg`` (the project's own step: one service
call per transaction). Here a BPMN process of 9 sequential user tasks, written inline below and
parsed once with SpiffWorkflow's ``BpmnParser``, runs ``--instances`` times (after one warm-up
walk), each service call in one SQLite transaction on a file in WAL mode with the pragmas of
engine/store/db.py (synchronous=NORMAL, ``BEGIN IMMEDIATE``), through plain ``sqlite3``:

* start: create the workflow, run the engine to the first user task, serialize it with
  ``BpmnWorkflowSerializer``, INSERT the row, COMMIT;
* step: BEGIN IMMEDIATE, SELECT the workflow's JSON, deserialize it, complete the one ready user
  task with form data copied from bench/http_bench.py's ``DATA`` (stored under the task's name,
  as the project stores a step's data), ``do_engine_steps``, serialize, UPDATE the row, COMMIT.

No forms are validated, no users, tasks table, events or hash chain are written: this is the
least such a server could honestly do. Printed: completed steps/s, service calls/s including
starts, ms CPU of this process per call (``time.process_time``), where the wall time goes
(SQLite's calls, deserialize, task + engine, serialize) and the size of a finished workflow's JSON.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_bench import DATA  # noqa: E402

# The path of the project's after-sales-inspection walk (review rejects once), then a sign-off:
# 9 user tasks, each (BPMN id, key of DATA).
STEPS = [("receive", "receive"), ("inspect", "inspect"), ("conforming", "conforming"),
         ("report", "report"), ("review", "review"), ("report2", "report"),
         ("review2", "review"), ("feedback", "feedback"), ("archive", "review")]
# The project checks a signature's password and does not keep it; neither is it kept here.
FORMS = {key: {k: v for k, v in d.items() if k != "password"} for key, d in DATA.items()}


def bpmn_xml() -> str:
    ids = ["start"] + [s for s, _ in STEPS] + ["end"]
    nodes = ['<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>']
    nodes += [f'<bpmn:userTask id="{s}" name="{s}"/>' for s, _ in STEPS]
    flows = [f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>'
             for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False))]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'id="defs" targetNamespace="http://bpmn.io/schema/bpmn">'
            '<bpmn:process id="inspection" isExecutable="true">'
            + "".join(nodes + flows) + "</bpmn:process></bpmn:definitions>")


class Clock:
    """Wall seconds per phase of the timed calls."""

    def __init__(self) -> None:
        self.s = {"SQLite's calls": 0.0, "deserialize": 0.0, "task + engine": 0.0,
                  "serialize": 0.0}

    def run(self, phase: str, fn, *args):
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.s[phase] += time.perf_counter() - t0


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)  # we issue BEGIN ourselves, as db.py does
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                   "wal_autocheckpoint=10000", "busy_timeout=5000"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE IF NOT EXISTS workflows (id INTEGER PRIMARY KEY, "
                "completed INTEGER NOT NULL, state TEXT NOT NULL)")
    return db


class Server:
    def __init__(self, db: sqlite3.Connection, spec, clock: Clock) -> None:
        self.db, self.spec, self.clock = db, spec, clock
        self.serializer = BpmnWorkflowSerializer()  # the default registry and converters

    def sql(self, statement: str, *params):
        return self.clock.run("SQLite's calls", self.db.execute, statement, params)

    def start(self) -> int:
        wf = BpmnWorkflow(self.spec)
        self.clock.run("task + engine", wf.do_engine_steps)
        state = self.clock.run("serialize", self.serializer.serialize_json, wf)
        self.sql("BEGIN IMMEDIATE")
        wid = self.sql("INSERT INTO workflows (completed, state) VALUES (0, ?)", state).lastrowid
        self.sql("COMMIT")
        return wid

    def step(self, wid: int, name: str, data: dict) -> bool:
        self.sql("BEGIN IMMEDIATE")
        try:
            (state,) = self.sql("SELECT state FROM workflows WHERE id = ?", wid).fetchone()
            wf = self.clock.run("deserialize", self.serializer.deserialize_json, state)
            self.clock.run("task + engine", self._complete, wf, name, data)
            state = self.clock.run("serialize", self.serializer.serialize_json, wf)
            done = wf.is_completed()
            self.sql("UPDATE workflows SET state = ?, completed = ? WHERE id = ?", state, done, wid)
            self.sql("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return done

    @staticmethod
    def _complete(wf: BpmnWorkflow, name: str, data: dict) -> None:
        (task,) = wf.get_tasks(state=TaskState.READY, manual=True)
        assert task.task_spec.bpmn_id == name, (task.task_spec.bpmn_id, name)
        task.data[name] = data
        task.run()
        wf.do_engine_steps()


def walk(server: Server) -> int:
    wid = server.start()
    for i, (name, key) in enumerate(STEPS):
        done = server.step(wid, name, {**FORMS[key]})
        assert done == (i == len(STEPS) - 1)
    return wid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", type=int, default=300, help="walks (9 steps each)")
    args = ap.parse_args()

    parser = BpmnParser()
    parser.add_bpmn_str(bpmn_xml().encode())
    spec = parser.get_spec("inspection")
    with tempfile.TemporaryDirectory(prefix="wf-spiff-") as tmp:
        db = connect(f"{tmp}/spiff.db")
        server = Server(db, spec, Clock())
        walk(server)  # warm-up: the serializer's registry, the statements' cache
        server.clock = clock = Clock()
        t0, c0 = time.perf_counter(), time.process_time()
        last = 0
        for _ in range(args.instances):
            last = walk(server)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        steps = args.instances * len(STEPS)
        calls = steps + args.instances
        (size,) = db.execute("SELECT length(CAST(state AS BLOB)) FROM workflows WHERE id = ?",
                             (last,)).fetchone()
        (finished,) = db.execute("SELECT count(*) FROM workflows WHERE completed").fetchone()
        assert finished == args.instances + 1
        db.close()

    print(f"SpiffWorkflow {version('SpiffWorkflow')}: {args.instances} x {len(STEPS)} sequential user tasks, one "
          "SQLite transaction per call (read, deserialize, complete, engine, serialize, write).")
    print(f"  SQLite     1 thread  {steps / elapsed:6.0f} completed steps/s ({calls / elapsed:.0f} "
          f"service calls/s incl. starts; {steps} steps; {cpu * 1000 / calls:.2f} ms CPU of this "
          "process per call)")
    print("  wall ms per call: " + ", ".join(f"{k} {v * 1000 / calls:.3f}"
                                              for k, v in clock.s.items()))
    print(f"  finished workflow's serialized JSON: {size:,} bytes")


if __name__ == "__main__":
    main()
