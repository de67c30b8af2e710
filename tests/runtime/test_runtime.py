"""The pure runtime on the demo procedure, which uses every construct of the language."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import (
    CommandRejected,
    FormInvalid,
    InstanceClosed,
    NotFound,
    NotPermitted,
    SignatureInvalid,
    TaskClosed,
)
from engine.language.calendar import Calendar
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
from engine.runtime.machine import STATE_FORMAT, Runtime, next_wakeup, open_tasks

DATA = Path(__file__).parents[1] / "data" / "lang"
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai

INSPECTOR = Actor("ins1", frozenset({"inspector"}), "检验员甲")
INSPECTOR2 = Actor("ins2", frozenset({"inspector"}), "检验员乙")
HEAD = Actor("head1", frozenset({"head"}), "部门负责人")
GM = Actor("gm1", frozenset({"gm"}), "总经理")


@pytest.fixture(scope="module")
def proc():
    lib = load_library([DATA / "demo.yaml", DATA / "forms"])
    assert lib.problems == []
    return lib.procedures["demo"]


@pytest.fixture(scope="module")
def rt(proc):
    cfg = load_config(Path(__file__).parents[2] / "config.yaml")
    return Runtime(proc, {"default": Calendar.from_config("default", cfg.calendar("default"))})


def task_of(state, step):
    found = [t for t in open_tasks(state) if t["step"] == step]
    assert len(found) == 1, f"expected one open task for {step}, open: {[t['step'] for t in open_tasks(state)]}"
    return found[0]["id"]


def sig(actor, meaning):
    return Signature(meaning=meaning, user=actor.user, name=actor.name)


def start(rt, **check):
    state, events = rt.apply(None, Start(INSPECTOR, instance_id="i1"), T0)
    assert state["format"] == STATE_FORMAT and state["rev"] == 1
    assert [e["type"] for e in events] == ["instance:started", "task:created"]
    data = {"verdict": "合格", "location": "本地", **check}
    state, _ = rt.apply(state, CompleteTask(task_of(state, "inspect"), INSPECTOR, data), T0 + timedelta(hours=1))
    return state


def finish_parallel_and_wait(rt, state, now):
    state, _ = rt.apply(state, CompleteTask(task_of(state, "note_a"), INSPECTOR, {"text": "a"}), now)
    assert state["path"][-1] == "note_b"
    state, ev = rt.apply(state, CompleteTask(task_of(state, "note_b"), HEAD, {"text": "b"}), now)
    assert "join:completed" in [e["type"] for e in ev]
    assert state["path"][-2:] == ["joined", "wait_visit"]
    wake = now + timedelta(days=5)
    state, ev = rt.apply(state, Tick(), wake - timedelta(minutes=1))
    assert ev == []
    state, ev = rt.apply(state, Tick(), wake)
    assert [e["type"] for e in ev] == ["wait:woken", "task:created"]
    return state, wake


def test_pass_path_runs_parallel_wait_spawn_and_end(rt):
    state = start(rt, remark="无")
    assert state["path"] == ["inspect", "parallel_checks", "note_a", "note_b"]
    state, now = finish_parallel_and_wait(rt, state, T0 + timedelta(hours=2))
    report = task_of(state, "report")
    # within_expr: local -> 8 working hours from Monday 09:00 + 7d... due is in working time
    assert state["tasks"][report]["due_at"] is not None
    with pytest.raises(SignatureInvalid):
        rt.apply(state, CompleteTask(report, INSPECTOR, {"text": "r"}), now)
    state, ev = rt.apply(state, CompleteTask(report, INSPECTOR, {"text": "r"}, signature=sig(INSPECTOR, "确认")), now)
    types = [e["type"] for e in ev]
    assert types == ["task:completed", "spawn:requested", "route:taken", "instance:completed"]
    assert ev[0]["data"]["signature"]["meaning"] == "确认"
    assert ev[1]["data"] == {"procedure": "capa", "data": {"problem": "无"}}
    assert state["status"] == "completed" and state["outcome"] == "合格"
    assert state["links"][0]["procedure"] == "capa"
    assert open_tasks(state) == []
    json.dumps(state)  # plain data, ready to store


def test_fail_routes_to_head_then_gm_on_serious(rt):
    state = start(rt, verdict="不合格", severity="严重")
    head = task_of(state, "head_approval")
    with pytest.raises(NotPermitted):
        rt.apply(state, Approve(head, INSPECTOR, signature=sig(INSPECTOR, "审核")), T0)
    with pytest.raises(SignatureInvalid):
        rt.apply(state, Approve(head, HEAD, signature=Signature(meaning="批准", user="head1")), T0)
    state, ev = rt.apply(state, Approve(head, HEAD, "同意", signature=sig(HEAD, "审核")), T0)
    assert state["data"]["head_approval"] == {"decision": "approve", "comment": "同意"}
    assert state["path"][-1] == "gm_approval"
    state, _ = rt.apply(state, Approve(task_of(state, "gm_approval"), GM, signature=sig(GM, "批准")), T0)
    assert state["path"][-1] == "note_b"


def test_general_severity_skips_gm(rt):
    state = start(rt, verdict="不合格", severity="一般")
    state, _ = rt.apply(state, Approve(task_of(state, "head_approval"), HEAD, signature=sig(HEAD, "审核")), T0)
    assert "gm_approval" not in state["path"]


def test_reject_returns_to_named_step_and_needs_comment(rt):
    state = start(rt, verdict="不合格", severity="一般")
    head = task_of(state, "head_approval")
    with pytest.raises(FormInvalid) as exc:
        rt.apply(state, Reject(head, HEAD, "", signature=sig(HEAD, "审核")), T0)
    assert exc.value.errors[0]["field"] == "comment"
    state, ev = rt.apply(state, Reject(head, HEAD, "复检", signature=sig(HEAD, "审核")), T0)
    assert ev[0]["type"] == "task:rejected" and ev[0]["data"]["data"]["comment"] == "复检"
    again = task_of(state, "inspect")
    assert again != "t1"
    state, _ = rt.apply(state, CompleteTask(again, INSPECTOR, {"verdict": "合格", "location": "外地"}), T0)
    assert state["path"][-2:] == ["note_a", "note_b"]


def test_refused_commands_change_nothing(rt):
    state = start(rt, verdict="不合格", severity="一般")
    before = copy.deepcopy(state)
    head = task_of(state, "head_approval")
    attempts = [
        CompleteTask(head, HEAD, {}),                        # approval is not completed with a form
        Approve("t99", HEAD),                                # no such task
        Approve("t1", HEAD),                                 # already done
        Approve(head, INSPECTOR),                            # wrong role
        Approve(head, HEAD),                                 # signature missing
        Claim(head, INSPECTOR),                              # wrong role
        Cancel(HEAD, "no"),                                  # head may not cancel
        Cancel(INSPECTOR, ""),                               # reason required
        Release(head, HEAD),                                 # not claimed by head
        Start(INSPECTOR),                                    # already started
    ]
    for cmd in attempts:
        with pytest.raises(CommandRejected):
            rt.apply(state, cmd, T0)
        assert state == before


def test_form_errors_list_every_field(rt):
    state, _ = rt.apply(None, Start(INSPECTOR, instance_id="i1"), T0)
    with pytest.raises(FormInvalid) as exc:
        rt.apply(state, CompleteTask(task_of(state, "inspect"), INSPECTOR, {"verdict": "好", "measured": "x"}), T0)
    fields = {e["field"] for e in exc.value.errors}
    assert fields == {"verdict", "measured"}
    with pytest.raises(FormInvalid) as exc:
        rt.apply(state, CompleteTask(task_of(state, "inspect"), INSPECTOR, {}, locale="en"), T0)
    assert exc.value.errors[0]["field"] == "verdict"


def test_claim_release_reassign(rt):
    state, _ = rt.apply(None, Start(INSPECTOR, instance_id="i1"), T0)
    t = task_of(state, "inspect")
    state, ev = rt.apply(state, Claim(t, INSPECTOR), T0)
    assert state["tasks"][t]["assignee"] == "ins1" and ev[0]["type"] == "task:claimed"
    with pytest.raises(NotPermitted):
        rt.apply(state, CompleteTask(t, INSPECTOR2, {"verdict": "合格"}), T0)
    with pytest.raises(NotPermitted):
        rt.apply(state, Claim(t, INSPECTOR2), T0)
    state, _ = rt.apply(state, Release(t, INSPECTOR), T0)
    state, ev = rt.apply(state, Reassign(t, INSPECTOR, "ins2", "休假"), T0)
    assert ev[0]["data"] == {"from": None, "to": "ins2", "reason": "休假"}
    state, _ = rt.apply(state, CompleteTask(t, INSPECTOR2, {"verdict": "合格"}), T0)
    assert state["tasks"][t]["completed_by"] == "ins2"


def test_deadline_reminder_miss_and_escalation_levels(rt):
    state, _ = rt.apply(None, Start(INSPECTOR, instance_id="i1"), T0)
    t = task_of(state, "inspect")
    # No location yet when the task is created, so the else branch: 7 days.
    due = datetime.fromisoformat(state["tasks"][t]["due_at"])
    assert due == T0 + timedelta(days=7)
    assert next_wakeup(state) == due - timedelta(hours=2)
    state, ev = rt.apply(state, Tick(), due - timedelta(hours=3))
    assert ev == []
    state, ev = rt.apply(state, Tick(), due - timedelta(hours=2))
    assert [e["type"] for e in ev] == ["deadline:reminder"]
    state, ev = rt.apply(state, Tick(), due)
    assert [e["type"] for e in ev] == ["deadline:missed", "deadline:escalated"]
    assert ev[1]["data"]["to"] == "head" and ev[1]["data"]["level"] == 1
    # the head may now act on the escalated task
    state, ev = rt.apply(state, Tick(), due + timedelta(hours=23))
    assert ev == []
    state, ev = rt.apply(state, Tick(), due + timedelta(days=1))
    assert [(e["type"], e["data"]["to"]) for e in ev] == [("deadline:escalated", "gm")]
    assert next_wakeup(state) is None
    state, ev = rt.apply(state, Tick(), due + timedelta(days=30))
    assert ev == []  # each level fires once
    state, ev = rt.apply(state, CompleteTask(t, HEAD, {"verdict": "合格"}), due + timedelta(days=30))
    assert ev[0]["data"]["on_time"] is False


def test_catch_up_tick_fires_everything_due(rt):
    state, _ = rt.apply(None, Start(INSPECTOR, instance_id="i1"), T0)
    state, ev = rt.apply(state, Tick(), T0 + timedelta(days=60))
    assert [e["type"] for e in ev] == ["deadline:reminder", "deadline:missed", "deadline:escalated", "deadline:escalated"]


def test_cancel_closes_tasks(rt):
    state = start(rt)
    state, ev = rt.apply(state, Cancel(INSPECTOR, "客户撤回"), T0)
    assert state["status"] == "cancelled"
    assert {e["type"] for e in ev} == {"task:cancelled", "instance:cancelled"}
    with pytest.raises(InstanceClosed):
        rt.apply(state, CompleteTask("t3", INSPECTOR, {"text": "x"}), T0)
    with pytest.raises(InstanceClosed):
        rt.apply(state, Cancel(INSPECTOR, "again"), T0)


def test_start_permission_and_unknown_instance(rt):
    with pytest.raises(NotPermitted):
        rt.apply(None, Start(HEAD), T0)
    with pytest.raises(NotFound):
        rt.apply(None, Tick(), T0)
    with pytest.raises(ValueError):
        rt.apply(None, Start(INSPECTOR), datetime(2026, 1, 1))


def test_done_task_is_closed(rt):
    state = start(rt)
    with pytest.raises(TaskClosed):
        rt.apply(state, CompleteTask("t1", INSPECTOR, {"verdict": "合格"}), T0)
