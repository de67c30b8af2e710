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
