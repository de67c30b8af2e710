"""The types of ``state.py`` and ``events.py`` name what the runtime writes: every shipped
procedure, driven by all its answer files, produces states and events whose keys are those
the types declare (required ones present, none undeclared), so the types can be trusted by
the code that reads stored instances and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.config import load_config
from engine.language.calendar import Calendar
from engine.language.procedure import load_library
from engine.runtime.commands import (
    Actor,
    AddApprover,
    Approve,
    Cancel,
    Claim,
    CompleteTask,
    Correct,
    Reassign,
    Release,
    Start,
)
from engine.runtime.events import EVENT_DATA, Event
from engine.runtime.machine import Runtime
from engine.runtime.simulation import simulate
from engine.runtime.state import InstanceState, Join, Link, Task

ROOT = Path(__file__).parents[2]
ANSWERS = sorted((ROOT / "tests" / "data" / "answers").glob("*.yaml"))


def keys_fit(value: dict[str, Any], typed: Any, where: str) -> None:
    required, optional = typed.__required_keys__, typed.__optional_keys__
    assert required <= set(value), f"{where}: missing {sorted(required - set(value))}"
    assert set(value) <= required | optional, f"{where}: undeclared {sorted(set(value) - required - optional)}"


@pytest.fixture(scope="module")
def runs():
    lib = load_library([ROOT / "procedures", ROOT / "forms"])
    cfg = load_config(ROOT / "config.yaml")
    calendars = {n: Calendar.from_config(n, c) for n, c in cfg.get("calendars").items()}
    out = []
    for path in ANSWERS:
        script = yaml.safe_load(path.read_text(encoding="utf-8"))
        out.append((path.stem, simulate(lib.procedures[script["procedure"]], script, calendars=calendars)))
    return out


@pytest.fixture(scope="module")
def by_hand():
    """The commands no answer file gives: claim, release, reassign, correct, cancel, a join, 加签."""
    lib = load_library([ROOT / "tests" / "data" / "lang" / "demo.yaml", ROOT / "tests" / "data" / "lang" / "forms"])
    rt, now, ins = Runtime(lib.procedures["demo"]), datetime(2026, 11, 2, 1, 0, tzinfo=UTC), Actor("ins1", frozenset({"inspector"}))
    events: list[Event] = []
    state, ev = rt.apply(None, Start(ins, instance_id="i1"), now)
    events += ev
    for cmd in (Claim("t1", ins), Release("t1", ins), Reassign("t1", ins, "ins2", "休假"),
                CompleteTask("t1", Actor("ins2", frozenset({"inspector"})), {"verdict": "合格", "location": "本地"}),
                # The parallel branches and their join (no shipped procedure has one any more).
                CompleteTask("t2", ins, {}), CompleteTask("t3", Actor("head1", frozenset({"head"})), {}),
                Correct(ins, "inspect", "remark", "补记", "漏填"), Cancel(ins, "客户撤回")):
        state, ev = rt.apply(state, cmd, now)
        events += ev
    # A multi-party approval with 加签 (the manager resolves to nobody: approved, recorded).
    lib = load_library([ROOT / "tests" / "data" / "lang" / "countersign.yaml", ROOT / "tests" / "data" / "lang" / "forms"])
    rt = Runtime(lib.procedures["countersign"])
    party, ev = rt.apply(None, Start(ins, {"approver": "eng1"}, instance_id="i2"), now)
    events += ev
    head = next(t["id"] for t in party["tasks"].values() if t["role"] == "head")
    for cmd in (AddApprover(head, Actor("head1", frozenset({"head"})), "gm1", frozenset({"gm"}), "after", "金额大"),
                Approve(head, Actor("head1", frozenset({"head"})))):
        party, ev = rt.apply(party, cmd, now)
        events += ev
        keys_fit(party, InstanceState, "party")
        for task in party["tasks"].values():
            keys_fit(task, Task, f"party task {task['id']}")
    return state, events


def test_states_have_the_keys_of_their_types(runs):
    assert len(runs) == len(ANSWERS) > 100
    for name, sim in runs:
        state = sim.state
        keys_fit(state, InstanceState, name)
        for task in state["tasks"].values():
            keys_fit(task, Task, f"{name} task {task['id']}")
        for join in state["joins"].values():
            keys_fit(join, Join, f"{name} join")
        for link in state["links"]:
            keys_fit(link, Link, f"{name} link")


def test_events_have_the_keys_of_their_types(runs, by_hand):
    seen = set()
    keys_fit(by_hand[0], InstanceState, "by hand")
    for name, events in [*((name, sim.events) for name, sim in runs), ("by hand", by_hand[1])]:
        for e in events:
            keys_fit(e, Event, name)
            assert e["type"] in EVENT_DATA, f"{name}: event type {e['type']} is not in EVENT_DATA"
            keys_fit(e["data"], EVENT_DATA[e["type"]], f"{name} {e['type']}")
            seen.add(e["type"])
    assert seen == set(EVENT_DATA), f"never produced: {sorted(set(EVENT_DATA) - seen)}"
