"""Property tests: random command sequences never lose or duplicate a task, never strand an
instance, and refused commands change nothing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import CommandRejected
from engine.language.procedure import load_library
from engine.runtime.commands import (
    Actor,
    Approve,
    Cancel,
    Claim,
    CompleteTask,
    Reassign,
    Reject,
    Release,
    Signature,
    Start,
    Tick,
)
from engine.runtime.machine import Runtime, open_tasks

DATA = Path(__file__).parents[1] / "data" / "lang"
LIB = load_library([DATA / "demo.yaml", DATA / "forms"])
RT = Runtime(LIB.procedures["demo"])
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
USERS = {
    "ins1": Actor("ins1", frozenset({"inspector"}), "甲"),
    "ins2": Actor("ins2", frozenset({"inspector"}), "乙"),
    "head1": Actor("head1", frozenset({"head"}), "丙"),
    "gm1": Actor("gm1", frozenset({"gm"}), "丁"),
    "nobody": Actor("nobody", frozenset(), "戊"),
}

check_data = st.fixed_dictionaries(
    {"verdict": st.sampled_from(["合格", "不合格"])},
    optional={
        "severity": st.sampled_from(["一般", "严重"]),
        "location": st.sampled_from(["本地", "外地"]),
        "measured": st.floats(9, 11, allow_nan=False),
        "remark": st.text(max_size=5),
    },
)
bad_data = st.sampled_from([{}, {"verdict": "好"}, {"verdict": "合格", "measured": "x"}, {"zzz": 1}])
note_data = st.fixed_dictionaries({}, optional={"text": st.text(max_size=5)})

# One abstract move; the interpreter below turns it into a command on the current state.
move = st.tuples(
    st.sampled_from(["complete", "complete_bad", "approve", "reject", "claim", "release",
                     "reassign", "tick", "cancel", "stale"]),
    st.sampled_from(sorted(USERS)),
    st.integers(0, 5),          # which open task
    st.integers(0, 200),        # hours to advance
    check_data, bad_data, note_data,
    st.booleans(),              # sign correctly?
)


def command_for(state, m):
    kind, user, idx, hours, check, bad, note, sign_ok = m
    actor = USERS[user]
    tasks = sorted(open_tasks(state), key=lambda t: t["id"])
    if kind == "tick":
        return Tick(), hours
    if kind == "cancel":
        return Cancel(actor, "测试取消"), 0
    if kind == "stale":
        done = [t for t in state["tasks"].values() if t["status"] != "open"]
        tid = done[idx % len(done)]["id"] if done else "t999"
        return CompleteTask(tid, actor, {"verdict": "合格"}), 0
    if not tasks:
        return Tick(), hours
    t = tasks[idx % len(tasks)]
    step = RT.procedure.steps[t["step"]]
    meaning = step.signature if sign_ok else "乱签"
    sig = Signature(meaning=meaning, user=user) if step.signature else None
    if kind in ("complete", "complete_bad"):
        data = bad if kind == "complete_bad" else (check if step.form == "check" else note)
        return CompleteTask(t["id"], actor, data, signature=sig), 0
    if kind == "approve":
        return Approve(t["id"], actor, "同意", signature=sig), 0
    if kind == "reject":
        return Reject(t["id"], actor, "退回" if sign_ok else "", signature=sig), 0
    if kind == "claim":
        return Claim(t["id"], actor), 0
    if kind == "release":
        return Release(t["id"], actor), 0
    return Reassign(t["id"], actor, "ins2", "调整"), 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(move, min_size=1, max_size=40))
def test_random_command_sequences_keep_invariants(moves):
    now = T0
    state, events = RT.apply(None, Start(USERS["ins1"], instance_id="p"), now)
    created = [e["task"] for e in events if e["type"] == "task:created"]
    for m in moves:
        cmd, hours = command_for(state, m)
        now += timedelta(hours=hours, minutes=1)
        before = copy.deepcopy(state)
        try:
            new, events = RT.apply(state, cmd, now)
        except CommandRejected:
            assert state == before, "a refused command changed the state"
            continue
        assert state == before, "apply modified its input"
        created += [e["task"] for e in events if e["type"] == "task:created"]
        if events:
            assert new["rev"] == state["rev"] + 1
        state = new
        # no task lost or duplicated: every created task is in the state exactly once
        assert len(created) == len(set(created))
        assert set(created) == set(state["tasks"])
        open_ = open_tasks(state)
        if state["status"] == "running":
            # every running instance waits on someone or on the clock
            assert open_, f"running instance with no open task; path {state['path']}"
            steps = [t["step"] for t in open_]
            assert len(steps) == len(set(steps)), f"duplicate open task for a step: {steps}"
        else:
            assert not open_
            assert state["ended_at"] is not None


@settings(max_examples=100, deadline=None)
@given(st.lists(check_data, min_size=1, max_size=6))
def test_valid_answers_always_reach_an_end(checks):
    """Driving every task with valid data and approvals always ends the instance."""
    now = T0
    state, _ = RT.apply(None, Start(USERS["ins1"], instance_id="p"), now)
    answers = iter(checks * 20)
    for _ in range(60):
        if state["status"] != "running":
            break
        now += timedelta(hours=1)
        tasks = open_tasks(state)
        t = tasks[0]
        step = RT.procedure.steps[t["step"]]
        actor = next(a for a in USERS.values() if step.role in a.roles) if step.role else None
        sig = Signature(meaning=step.signature, user=actor.user) if actor and step.signature else None
        if t["kind"] == "wait":
            state, _ = RT.apply(state, Tick(), datetime.fromisoformat(t["wake_at"]))
        elif t["kind"] == "approval":
            state, _ = RT.apply(state, Approve(t["id"], actor, signature=sig), now)
        else:
            data = next(answers) if step.form == "check" else {"text": "x"}
            state, _ = RT.apply(state, CompleteTask(t["id"], actor, data, signature=sig), now)
    assert state["status"] == "completed"
    assert state["outcome"] in ("合格", "不合格")
