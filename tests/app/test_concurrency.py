"""Concurrent operators on a real database (SQLite file and PostgreSQL), with real threads
and processes: one winner per task, typed conflicts, no lost update, intact chains."""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter

import pytest
from sqlalchemy import func, select

from engine import store
from engine.errors import Conflict, TaskClosed
from engine.store import Event, Instance, Task
from tests.helpers.race import race
from tests.helpers.service import (
    answer,
    answers,
    check_consistent,
    open_task,
    play,
    race_in_process,
    setup,
)

SCRIPT = answers("after-sales-inspection--pass-repair")
RECEIVE = SCRIPT["steps"][0]


def _check_single_winner(sessions, instance_id: str, outcomes: list) -> None:
    wins = [o for o in outcomes if isinstance(o, dict)]
    losses = [o for o in outcomes if not isinstance(o, dict)]
    assert len(wins) == 1, outcomes
    assert all(isinstance(o, Conflict) for o in losses), outcomes
    with sessions() as s:
        inspect = s.scalar(select(func.count()).select_from(Task).where(
            Task.instance_id == instance_id, Task.step == "inspect"))
        assert inspect == 1  # exactly one next task
        done = s.scalars(select(Event).where(Event.instance_id == instance_id,
                                             Event.type == "task:completed")).all()
        assert len(done) == 1
        check_consistent(s)
        assert store.verify(s) == []


def test_same_task_submitted_twice_at_once(sessions):
    wf = setup(sessions, ["inspector1", "acceptor1"])
    for _ in range(3):  # a few rounds: the winner varies, the outcome never does
        state = play(wf, sessions, SCRIPT, upto=0)
        task = open_task(state, "receive")

        def submit(user: str, task: str = task):
            with sessions() as s:
                try:
                    out = wf.complete_task(s, task, user, RECEIVE["data"])
                    s.commit()
                    return out
                except Conflict as exc:
                    s.rollback()
                    return exc

        outcomes = race(lambda: submit("inspector1"), lambda: submit("acceptor1"))
        _check_single_winner(sessions, state["id"], outcomes)
        loser = next(o for o in outcomes if not isinstance(o, dict))
        assert isinstance(loser, TaskClosed) and "already done" in loser.message


def test_stale_expected_rev_is_a_conflict(sessions):
    wf = setup(sessions, ["inspector1"])
    state = play(wf, sessions, SCRIPT, upto=0)
    task = open_task(state, "receive")
    with sessions() as s:
        wf.claim(s, task, "inspector1")
        s.commit()
    with sessions() as s:
        with pytest.raises(Conflict, match="changed since you loaded it"):
            wf.complete_task(s, task, "inspector1", RECEIVE["data"], expected_rev=state["rev"])
        s.rollback()
    with sessions() as s:
        rev = s.get(Instance, state["id"]).rev
        assert rev == state["rev"] + 1 and store.get_task(s, task).status.value == "open"
        out = wf.complete_task(s, task, "inspector1", RECEIVE["data"], expected_rev=rev)
        s.commit()
        assert out["rev"] == rev + 1


@pytest.mark.parametrize("threads,instances,corrections", [(4, 3, 5)])
def test_many_threads_many_instances_no_lost_update(sessions, threads, instances, corrections):
    """Every thread walks every instance (racing for each step) and then corrects a field
    ``corrections`` times on each; every write must survive and every chain stay whole."""
    wf = setup(sessions, ["inspector1", "acceptor1"])
    states = [play(wf, sessions, SCRIPT, upto=0) for _ in range(instances)]
    ids = [st["id"] for st in states]
    walk = SCRIPT["steps"][:3]  # receive, inspect, conforming: no signatures
    users = ["inspector1", "acceptor1"]

    def worker(n: int) -> dict:
        rng = random.Random(n)
        won: list[tuple[str, str]] = []
        lost = 0
        for k, entry in enumerate(walk):
            for iid in rng.sample(ids, len(ids)):
                with sessions() as s:
                    current = s.get(Instance, iid).state
                    if not any(t["step"] == entry["step"] and t["status"] == "open"
                               for t in current["tasks"].values()):
                        lost += 1  # someone else already did it
                        continue
                    try:
                        answer(wf, s, current, {**entry, "user": users[n % 2]})
                        s.commit()
                        won.append((iid, entry["step"]))
                    except Conflict:
                        s.rollback()
                        lost += 1
            del k
        made = []
        for i in range(corrections):
            for iid in rng.sample(ids, len(ids)):
                value = f"T{n}-{i}"
                with sessions() as s:
                    wf.correct(s, iid, users[n % 2], "receive", "condition", value, f"更正 {n}/{i}")
                    s.commit()
                made.append((iid, value))
        return {"won": won, "lost": lost, "made": made}

    results = race(*[lambda n=n: worker(n) for n in range(threads)])
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors

    wins = Counter(w for r in results for w in r["won"])
    assert set(wins) == {(iid, e["step"]) for iid in ids for e in walk}
    assert set(wins.values()) == {1}  # each step done exactly once
    made = Counter(m for r in results for m in r["made"])
    with sessions() as s:
        for iid in ids:
            row = s.get(Instance, iid)
            history = row.state["corrections"]
            assert Counter((iid, c["new"]) for c in history) == Counter(
                {m: c for m, c in made.items() if m[0] == iid})
            assert len(history) == threads * corrections
            # each correction saw the value the previous one left: no update was lost
            for before, after in zip(history, history[1:], strict=False):
                assert after["old"] == before["new"]
            assert row.state["data"]["receive"]["condition"] == history[-1]["new"]
            assert row.rev == 1 + len(walk) + threads * corrections
            assert row.state["path"][:4] == ["receive", "inspect", "evaluate", "conforming"]
        check_consistent(s)
        assert store.verify(s) == []


def test_same_task_from_two_processes(sessions, db_url):
    """The same race from two OS processes (spawned, each with its own engine and pool)."""
    wf = setup(sessions, ["inspector1", "acceptor1"])
    state = play(wf, sessions, SCRIPT, upto=0)
    task = open_task(state, "receive")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [ctx.Process(target=race_in_process,
                         args=(db_url, task, user, RECEIVE["data"], barrier, results))
             for user in ("inspector1", "acceptor1")]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    results.close()
    results.join_thread()
    kinds = sorted(o[1] for o in outcomes)
    assert kinds == ["TaskClosed", "won"], outcomes
    with sessions() as s:
        assert s.get(Instance, state["id"]).rev == state["rev"] + 1
        assert store.get_task(s, task).completed_by == next(o[0] for o in outcomes
                                                            if o[1] == "won")
    _check_single_winner(sessions, state["id"], [{}, Conflict("lost")])
