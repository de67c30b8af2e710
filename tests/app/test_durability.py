"""Durability: SIGKILL a process in the middle of a stream of submissions; every acknowledged
submission must be in the database, no step half-written, and every chain must verify."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner
from sqlalchemy import select

from engine import store
from engine.cli import main
from engine.runtime.machine import open_tasks
from engine.store import Event, Instance, Task
from tests.helpers.service import ROOT, answer, answers, check_consistent, open_task, setup

ACKS_BEFORE_KILL = 60

# The child: start instances and complete their tasks, one committed use case at a time,
# printing "ACK ..." only after the commit returned. It never stops by itself.
CHILD = r"""
import sys
sys.path.insert(0, sys.argv[2])
from tests.helpers.service import answer, answers, config, open_task
from engine.app.service import Workflow
from engine.store import make_engine, session_factory

engine = make_engine(sys.argv[1])
sessions = session_factory(engine)
wf = Workflow(config())
script = answers("after-sales-inspection--pass-repair")
walk = script["steps"][:3]  # receive, inspect, conforming
running = []
n = 0
while True:
    n += 1
    if len(running) < 3:
        with sessions() as s:
            state = wf.start(s, script["procedure"], "inspector1", script["start"]["data"])
            s.commit()
        print("START", state["id"], flush=True)
        running.append([state, 0])
    item = running[n % len(running)]
    state, k = item
    entry = walk[k]
    task = open_task(state, entry["step"])
    with sessions() as s:
        state = answer(wf, s, state, entry)
        s.commit()
    print("ACK", task, flush=True)
    item[0], item[1] = state, k + 1
    if item[1] == len(walk):
        running.remove(item)
"""


def _run_and_kill(db_url: str, acks: int, pause: float) -> tuple[list[str], list[str]]:
    """Run the child until ``acks`` acknowledgements, wait ``pause`` s, SIGKILL it."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url, str(ROOT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    acked: list[str] = []
    started: list[str] = []

    def take(line: str) -> None:
        if line.count(" ") == 1:  # a line cut by the kill is not an acknowledgement
            kind, ident = line.split()
            (acked if kind == "ACK" else started).append(ident)

    deadline = time.monotonic() + 60
    try:
        assert child.stdout is not None
        while len(acked) < acks and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            take(line.rstrip("\n"))
        assert len(acked) >= acks, child.stderr.read() if child.stderr else ""
        time.sleep(pause)
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: the child is busy writing
        child.wait(timeout=30)
        for line in child.stdout.read().splitlines():  # flushed before the kill: acknowledged
            take(line)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert child.returncode == -signal.SIGKILL
    return started, acked


def test_sigkill_mid_stream_loses_nothing_acknowledged(sessions, db_url, monkeypatch):
    wf = setup(sessions, ["inspector1"])
    started: list[str] = []
    acked: list[str] = []
    for pause in (0.0, 0.013):  # killed twice, the second child on the first one's leftovers
        s_, a_ = _run_and_kill(db_url, ACKS_BEFORE_KILL, pause)
        started += s_
        acked += a_
    assert len(set(acked)) == len(acked)

    # "Restart": a fresh engine and service over the same database.
    with sessions() as s:
        for iid in started:
            assert s.get(Instance, iid) is not None, iid
        for task_id in acked:
            row = s.get(Task, task_id)
            assert row is not None and row.status.value == "done", task_id
            iid, _, local = task_id.rpartition(".")
            done = s.scalars(select(Event).where(Event.instance_id == iid,
                                                 Event.task_id == local,
                                                 Event.type == "task:completed")).all()
            assert len(done) == 1, task_id
        check_consistent(s)
        assert store.verify(s) == []

    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    result = CliRunner().invoke(main, ["--config", str(ROOT / "config.yaml"), "audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: ")

    # The restarted service carries on with every instance the child left half-way.
    walk = {e["step"]: e for e in answers("after-sales-inspection--pass-repair")["steps"][:3]}
    with sessions() as s:
        states = [r.state for r in s.scalars(select(Instance).where(
            Instance.procedure_id == "after-sales-inspection"))]
    for state in states:
        pending = [t["step"] for t in open_tasks(state) if t["step"] in walk]
        if pending:
            with sessions() as s:
                open_task(state, pending[0])
                answer(wf, s, state, walk[pending[0]])
                s.commit()
    with sessions() as s:
        check_consistent(s)
        assert store.verify(s) == []
