"""The one rule of who may act (``engine.runtime.access``), and that the runtime enforces
exactly what it says: a page that asks ``may_act`` offers what the API then accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.errors import CommandRejected, NotPermitted
from engine.language.procedure import load_library
from engine.runtime import access
from engine.runtime.commands import (
    SYSTEM,
    Actor,
    Cancel,
    Claim,
    CompleteTask,
    Correct,
    Reassign,
    Release,
    Start,
    Tick,
)
from engine.runtime.machine import Runtime, open_tasks

DATA = Path(__file__).parents[1] / "data"
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai

CLERK = Actor("clerk1", frozenset({"clerk"}), "专员")
CLERK2 = Actor("clerk2", frozenset({"clerk"}), "专员乙")
CHIEF = Actor("chief1", frozenset({"chief"}), "主任")
BOSS = Actor("boss1", frozenset(), "经理")  # clerk1's manager, holding no role of the procedure
ADMIN = Actor("root", frozenset({"admin"}), "管理员")
INSPECTOR = Actor("ins1", frozenset({"inspector"}), "检验员")
HEAD = Actor("head1", frozenset({"head"}), "部门负责人")


@pytest.fixture(scope="module")
def timed():
    lib = load_library([DATA / "time" / "procedures" / "timed-steps.yaml", DATA / "time" / "forms"])
    return Runtime(lib.procedures["timed-steps"])


@pytest.fixture(scope="module")
def demo():
    lib = load_library([DATA / "lang" / "demo.yaml", DATA / "lang" / "forms"])
    return Runtime(lib.procedures["demo"])


def accepted(rt, state, cmd, now=T0) -> bool:
    try:
        rt.apply(state, cmd, now)
    except NotPermitted:
        return False
    return True


def escalated_to_manager(rt):
    """A clerk's task, released by them and missed: level 1 goes to their manager by name."""
    state, _ = rt.apply(None, Start(CLERK, {"kind": "h"}, instance_id="i1"), T0)
    (task,) = open_tasks(state)
    state, _ = rt.apply(state, Claim(task["id"], CLERK), T0)
    state, _ = rt.apply(state, Release(task["id"], CLERK), T0)
    state, events = rt.apply(state, Tick(managers={"clerk1": "boss1"}), T0 + timedelta(hours=1))
    assert [e["data"].get("user") for e in events if e["type"] == "deadline:escalated"] == ["boss1"]
    return state, state["tasks"][task["id"]]


def test_the_manager_an_escalation_names_may_act_without_a_role(timed):
    state, task = escalated_to_manager(timed)
    assert task["escalated_to"] == ["user:boss1"] and not BOSS.roles
    assert access.may_act(task, BOSS)
    assert not access.may_act(task, Actor("boss2", frozenset(), "别的经理"))
    state, events = timed.apply(state, CompleteTask(task["id"], BOSS, {"result": "已派人"}), T0 + timedelta(hours=2))
    assert events[0]["type"] == "task:completed" and events[0]["actor"] == "boss1"
    assert state["status"] == "completed"


def test_a_claimed_task_is_the_claimants_alone(timed):
    state, _ = timed.apply(None, Start(CLERK, {"kind": "h"}, instance_id="i1"), T0)
    (task,) = open_tasks(state)
    state, _ = timed.apply(state, Claim(task["id"], CLERK), T0)
    task = state["tasks"][task["id"]]
    assert access.may_act(task, CLERK)
    assert not access.may_act(task, CLERK2)
    with pytest.raises(NotPermitted, match="claimed by clerk1"):
        timed.apply(state, CompleteTask(task["id"], CLERK2, {"result": "x"}), T0)
    # Holding the role is not enough to release someone else's claim, but it is to reassign.
    assert not access.may_release(task, CLERK2) and access.may_reassign(task, CLERK2)
    assert not access.may_act(task, SYSTEM)


def test_the_runtime_refuses_exactly_whom_may_act_refuses(timed, demo):
    """For tasks unclaimed, claimed, escalated to roles and to a manager, and every actor,
    ``may_act`` says yes exactly when the runtime lets the actor claim the task (the check
    completing and approving go through), and the same for release and reassign."""
    cases = []
    state, task = escalated_to_manager(timed)
    cases.append((timed, state, task))
    state, _ = demo.apply(None, Start(INSPECTOR, instance_id="d"), T0)
    (task,) = open_tasks(state)
    cases.append((demo, state, task))
    claimed, _ = demo.apply(state, Claim(task["id"], INSPECTOR), T0)
    cases.append((demo, claimed, claimed["tasks"][task["id"]]))
    late, _ = demo.apply(state, Tick(), T0 + timedelta(days=60))  # escalated to head, then gm
    assert late["tasks"][task["id"]]["escalated_to"] == ["head", "gm"]
    cases.append((demo, late, late["tasks"][task["id"]]))
    actors = [CLERK, CLERK2, CHIEF, BOSS, ADMIN, INSPECTOR, HEAD, SYSTEM,
              Actor("ins2", frozenset({"inspector"})), Actor("gm1", frozenset({"gm"}))]
    for rt, state, task in cases:
        for actor in actors:
            where = f"{task['step']} (assignee {task['assignee']}, escalated {task.get('escalated_to')}), {actor.user}"
            assert access.may_act(task, actor) == accepted(rt, state, Claim(task["id"], actor)), where
            assert access.may_release(task, actor) == accepted(rt, state, Release(task["id"], actor)), where
            assert access.may_reassign(task, actor) == accepted(rt, state, Reassign(task["id"], actor, "x")), where


def test_start_cancel_and_correction_rules_are_the_runtimes(demo):
    proc = demo.procedure
    state, _ = demo.apply(None, Start(INSPECTOR, instance_id="d"), T0)
    (task,) = open_tasks(state)
    state, _ = demo.apply(state, CompleteTask(task["id"], INSPECTOR, {"verdict": "合格", "location": "本地"}), T0)
    assert access.correction_roles(proc, "inspect") == {"admin", "inspector"}
    assert access.correction_roles(proc, "start") == {"admin", *proc.start_roles}
    for actor in (INSPECTOR, HEAD, ADMIN, SYSTEM, BOSS):
        assert access.may_start(proc, actor) == accepted(demo, None, Start(actor, instance_id="x")), actor
        assert access.may_cancel(state, proc, actor) == accepted(demo, state, Cancel(actor, "撤回")), actor
        correct = Correct(actor, "inspect", "remark", "更正", "笔误")
        assert access.may_correct(proc, "inspect", actor) == accepted(demo, state, correct), actor
    cancelled, _ = demo.apply(state, Cancel(INSPECTOR, "撤回"), T0)
    assert not access.may_cancel(cancelled, proc, ADMIN)
    with pytest.raises(CommandRejected):
        demo.apply(cancelled, Cancel(ADMIN, "撤回"), T0)



def _demo_with(extra: str) -> Runtime:
    from engine.language.procedure import load_procedure_text

    text = (DATA / "lang" / "demo.yaml").read_text(encoding="utf-8").replace("\nroles:\n", f"\n{extra}roles:\n", 1)
    forms = load_library([DATA / "lang" / "forms"]).forms
    return Runtime(load_procedure_text(text, "demo.yaml", forms))


def _closed(rt: Runtime) -> dict:
    state, _ = rt.apply(None, Start(INSPECTOR, instance_id="d"), T0)
    (task,) = open_tasks(state)
    state, _ = rt.apply(state, CompleteTask(task["id"], INSPECTOR, {"verdict": "合格", "location": "本地"}), T0)
    state, _ = rt.apply(state, Cancel(INSPECTOR, "撤回"), T0)
    assert state["status"] == "cancelled"
    return state


def test_the_procedure_says_who_corrects_a_closed_record():
    """``correct_closed:`` names the roles that correct a completed or cancelled record; the
    step's own role and administrators may not any more. A procedure that names none and
    declares no quality_manager lets nobody, and the refusal says where that is decided."""
    rt = _demo_with("correct_closed: [head]\n")
    state = _closed(rt)
    fixed, _ = rt.apply(state, Correct(HEAD, "inspect", "remark", "更正", "笔误"), T0)
    assert fixed["data"]["inspect"]["remark"] == "更正"
    for actor in (INSPECTOR, ADMIN):
        with pytest.raises(NotPermitted, match="部门负责人"):
            rt.apply(state, Correct(actor, "inspect", "remark", "更正", "笔误"), T0)
    assert access.closed_correction_roles(rt.procedure) == {"head"}
    plain = _demo_with("")
    assert access.closed_correction_roles(plain.procedure) == frozenset()
    with pytest.raises(NotPermitted, match=r"correct_closed:"):
        plain.apply(_closed(plain), Correct(HEAD, "inspect", "remark", "更正", "笔误"), T0)


@pytest.mark.parametrize(("extra", "problem"), [
    ("correct_closed: [haed]\n", "demo.yaml:5:18: unknown role 'haed'; did you mean 'head'?"),
    ("correct_closed: head\n", "demo.yaml:5:17: 'correct_closed' lists the roles that may correct a completed or "
                               "cancelled record, e.g. [quality_manager]; [] for nobody"),
])
def test_a_wrong_correct_closed_is_named_at_its_place(extra, problem):
    from engine.errors import DefinitionInvalid

    with pytest.raises(DefinitionInvalid) as exc:
        _demo_with(extra)
    assert [str(p) for p in exc.value.problems] == [problem]


def test_a_value_recorded_before_the_default_text_bound_does_not_block_correcting_another(demo):
    """A remark of 12,000 characters recorded before texts had a default bound (10,000): a
    correction of the verdict beside it is judged on what it changes; correcting the long
    remark itself to another over-long text is refused at that field."""
    from engine.errors import FormInvalid
    from engine.language.forms.submission import TEXT_MAX

    state, _ = demo.apply(None, Start(INSPECTOR, instance_id="d"), T0)
    (task,) = open_tasks(state)
    state, _ = demo.apply(state, CompleteTask(task["id"], INSPECTOR, {"verdict": "合格", "location": "本地"}), T0)
    state["data"]["inspect"]["remark"] = "长" * (TEXT_MAX + 2000)  # as recorded before the bound
    fixed, _ = demo.apply(state, Correct(INSPECTOR, "inspect", "verdict", "不合格", "笔误"), T0)
    assert fixed["data"]["inspect"]["verdict"] == "不合格"
    with pytest.raises(FormInvalid) as refused:
        demo.apply(state, Correct(INSPECTOR, "inspect", "remark", "短" * (TEXT_MAX + 1), "笔误"), T0)
    assert [e["field"] for e in refused.value.errors] == ["remark"]
