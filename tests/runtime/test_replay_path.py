"""The path replayed from the events equals the path the runtime stored, for every branch
of every shipped procedure (rework loops, parallel splits, waits, spawns, rejections), so
``wf audit verify`` can compare it without false alarms; and a path that disagrees with
its events is named, stored vs replayed."""

from __future__ import annotations

import pytest
import yaml

from engine.runtime.replay import Replay
from engine.runtime.simulation import simulate
from tests.language.test_shipped_procedures import ANSWERS, CALENDARS, LIB


def _replay(proc, events) -> Replay:
    replay = Replay(proc)
    for e in events:
        replay.apply(e)
    return replay


@pytest.mark.parametrize("answers", ANSWERS, ids=[p.stem for p in ANSWERS])
def test_replayed_path_is_the_stored_path(answers):
    script = yaml.safe_load(answers.read_text(encoding="utf-8"))
    proc = LIB.procedures[script["procedure"]]
    sim = simulate(proc, script, calendars=CALENDARS, library=LIB.procedures)
    replay = _replay(proc, sim.events)
    assert replay.path() == sim.path
    assert replay.differences(sim.state) == []


def test_a_path_edited_apart_from_its_events_is_named():
    script = yaml.safe_load(ANSWERS[0].read_text(encoding="utf-8"))
    proc = LIB.procedures[script["procedure"]]
    sim = simulate(proc, script, calendars=CALENDARS, library=LIB.procedures)
    replay = _replay(proc, sim.events)
    forged = {**sim.state, "path": [p for p in sim.path if p != sim.path[1]]}
    n = len(sim.path)
    assert replay.differences(forged) == [
        f"path: stored {n - 1} step(s), replayed {n}; step 2: stored {sim.path[2]!r}, replayed {sim.path[1]!r}"]
    longer = {**sim.state, "path": [*sim.path, "done"]}
    assert replay.differences(longer) == [
        f"path: stored {n + 1} step(s), replayed {n}; step {n + 1}: stored 'done', replayed nothing"]
    # events that name a step the version has not cannot be followed: said so, not guessed
    odd = [*sim.events[:1], {**sim.events[1], "type": "task:created", "step": "nowhere", "task": "t99"},
           {**sim.events[1], "type": "task:completed", "step": "nowhere", "task": "t99"}]
    assert _replay(proc, odd).path() == "event 3 names step 'nowhere', which the procedure has not"
    # without the procedure there is no path to compare (the other checks still run)
    assert Replay().path() == [] and not any(d.startswith("path") for d in Replay().differences(sim.state))


def test_multi_party_approvals_replay_their_path():
    """A multi-party approval moves on at its approval:decided, also when its outcome is
    certain on entering (nobody to ask, approved by if_nobody), and after a rejection."""
    from engine.runtime.commands import Approve, CompleteTask, Reject, Start
    from engine.runtime.machine import open_tasks
    from tests.runtime.test_approvals import ORG, STARTER, T0, make, who

    rt = make("approvers:\n  - manager: start.approver\nif_nobody: approve\n")
    state, events = rt.apply(None, Start(STARTER, data={"approver": "nomanager"}, instance_id="i1"), T0, org=ORG)
    every = list(events)
    prep = next(t["id"] for t in open_tasks(state) if t["step"] == "prepare")
    state, events = rt.apply(state, CompleteTask(prep, STARTER, {"text": "方案"}), T0, org=ORG)
    every += events
    assert state["status"] == "completed" and "sign" in state["path"]  # decided on entering
    assert _replay(rt.procedure, every).differences(state) == []

    rt = make("approvers:\n  - role: qa\n  - role: prod\n")
    state, events = rt.apply(None, Start(STARTER, instance_id="i1"), T0, org=ORG)
    every = list(events)
    for make_cmd in (lambda st: CompleteTask(_open(st, "prepare"), STARTER, {"text": "方案"}),
                     lambda st: Approve(_open(st, "sign", "qa"), who("q1", "qa")),
                     lambda st: Reject(_open(st, "sign", "prod"), who("p1", "prod"), "不行"),
                     lambda st: CompleteTask(_open(st, "prepare"), STARTER, {"text": "方案二"})):
        state, events = rt.apply(state, make_cmd(state), T0, org=ORG)
        every += events
    assert state["path"].count("prepare") == 2
    assert _replay(rt.procedure, every).differences(state) == []


def _open(state, step, role=None):
    from engine.runtime.machine import open_tasks

    return next(t["id"] for t in open_tasks(state) if t["step"] == step and (role is None or t["role"] == role))
