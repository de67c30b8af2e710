"""Multi-party approvals (会签、或签、依次, n-of-m): each mode, each source of approvers,
early completion with its recorded reason, veto and count, if_nobody, skip_repeated, 加签,
and the attacks: someone else deciding a named approver's task, adding a non-candidate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.errors import CommandRejected, NotPermitted, SignatureInvalid
from engine.language.procedure import load_library, load_procedure_text
from engine.runtime.commands import (
    Actor,
    AddApprover,
    Approve,
    CompleteTask,
    Reject,
    Release,
    Signature,
    Start,
)
from engine.runtime.machine import Runtime, open_tasks
from engine.runtime.org import Department, OrgChart
from engine.runtime.replay import Replay

DATA = Path(__file__).parents[1] / "data" / "lang"
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
FORMS = load_library([DATA / "forms"]).forms

STARTER = Actor("clerk1", frozenset({"qa"}), "职员甲")
ORG = OrgChart(
    departments={"hq": Department("hq", "总部", None, "ceo1"),
                 "quality": Department("quality", "品质中心", "hq", "qahead1"),
                 "service": Department("service", "售后部", "hq", None)},
    user_department={"clerk1": "quality", "qahead1": "quality", "tech1": "service"},
    user_manager={"clerk1": "lead1", "lead1": "qahead1"},
)

TEMPLATE = """
id: party
title: 会签测试
roles:
  qa: 品质
  prod: 生产
  rnd: 研发
  boss: 总经理
start: {{roles: [qa], step: prepare, form: pick}}
steps:
  prepare:
    title: 准备
    role: qa
    form: note
    next: sign
  sign:
    type: approval
    title: 会签
{body}
    on_reject: prepare
    next:
      - if: sign.approvals >= 2 and "boss1" in sign.approvers
        goto: noted
      - else: done
  noted: {{type: end, title: 总经理参与, outcome: 总经理参与}}
  done: {{type: end, title: 结束, outcome: 完成}}
"""


def make(body: str) -> Runtime:
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return Runtime(load_procedure_text(TEMPLATE.format(body=indented), "party.yaml", FORMS))


def who(user: str, *roles: str) -> Actor:
    return Actor(user, frozenset(roles), user)


def begin(rt: Runtime, start: dict | None = None, *, org: OrgChart = ORG) -> dict:
    state, _ = rt.apply(None, Start(STARTER, data=start or {}, instance_id="i1"), T0, org=org)
    prep = next(t["id"] for t in open_tasks(state) if t["step"] == "prepare")
    state, _ = rt.apply(state, CompleteTask(prep, STARTER, {"text": "方案"}), T0, org=org)
    return state


def sign_tasks(state: dict) -> list[dict]:
    return [t for t in open_tasks(state) if t["step"] == "sign"]


def task_for(state: dict, *, role: str | None = None, user: str | None = None) -> str:
    for t in sign_tasks(state):
        if (role is None or t["role"] == role) and (user is None or t["assignee"] == user):
            return t["id"]
    raise AssertionError(f"no open sign task for role={role} user={user}: {sign_tasks(state)}")


def act(rt: Runtime, state: dict, cmd, *, org: OrgChart = ORG) -> tuple[dict, list]:
    return rt.apply(state, cmd, T0 + timedelta(hours=1), org=org)


def replay_matches(rt: Runtime, commands: list, start: dict | None = None) -> None:
    """The audit's replay of the events gives the stored record (data, tasks, assignees)."""
    state, events = rt.apply(None, Start(STARTER, data=start or {}, instance_id="i1"), T0, org=ORG)
    every = list(events)
    for make_cmd in commands:
        state, events = rt.apply(state, make_cmd(state), T0, org=ORG)
        every += events
    replay = Replay(rt.procedure)  # the path too
    for e in every:
        replay.apply(e)
    assert replay.differences(state) == []


ROLES3 = """
approvers:
  - role: qa
  - role: prod
  - role: rnd
"""


# -- modes --------------------------------------------------------------------------------


def test_all_waits_for_everyone_then_records_the_outcome():
    rt = make(ROLES3)
    state = begin(rt)
    assert sorted(t["role"] for t in sign_tasks(state)) == ["prod", "qa", "rnd"]
    state, _ = act(rt, state, Approve(task_for(state, role="prod"), who("p1", "prod"), "同意"))
    state, _ = act(rt, state, Approve(task_for(state, role="qa"), who("q1", "qa"), "同意"))
    assert state["status"] == "running" and len(sign_tasks(state)) == 1
    state, events = act(rt, state, Approve(task_for(state, role="rnd"), who("r1", "rnd"), "可以"))
    assert state["status"] == "completed" and state["outcome"] == "完成"
    decided = next(e for e in events if e["type"] == "approval:decided")
    # The approvers in the order they were listed (the order of their tasks).
    assert decided["data"]["data"] == {"decision": "approve", "comment": "可以", "approvals": 3, "rejections": 0,
                                       "approvers": ["q1", "p1", "r1"]}
    assert state["data"]["sign"] == decided["data"]["data"]
    assert "approvals" not in state


def test_all_with_veto_rejects_at_the_first_rejection_and_cancels_the_rest_with_the_reason():
    rt = make(ROLES3)
    state = begin(rt)
    state, _ = act(rt, state, Approve(task_for(state, role="qa"), who("q1", "qa")))
    state, events = act(rt, state, Reject(task_for(state, role="prod"), who("p1", "prod"), "成本太高"))
    cancelled = [e for e in events if e["type"] == "task:cancelled"]
    assert len(cancelled) == 1 and "one rejection rejects" in cancelled[0]["data"]["reason"]
    assert state["tasks"][cancelled[0]["task"]]["status"] == "cancelled"
    assert state["path"][-1] == "prepare" and state["data"]["sign"]["decision"] == "reject"
    assert state["data"]["sign"]["comment"] == "成本太高"


def test_any_completes_on_the_first_approval():
    rt = make(ROLES3 + "mode: any\n")
    state = begin(rt)
    state, events = act(rt, state, Approve(task_for(state, role="rnd"), who("r1", "rnd")))
    assert state["outcome"] == "完成"
    reasons = {e["data"]["reason"] for e in events if e["type"] == "task:cancelled"}
    assert reasons == {"approved: 1 of 1 approvals needed were given"}
    assert sum(e["type"] == "task:cancelled" for e in events) == 2


def test_at_least_with_counted_rejections():
    rt = make(ROLES3 + "mode: {at_least: 2}\nrejection: count\n")
    state = begin(rt)
    state, _ = act(rt, state, Reject(task_for(state, role="qa"), who("q1", "qa"), "不同意"))
    assert state["path"][-1] == "sign" and len(sign_tasks(state)) == 2  # 2 of the 2 left can still approve
    state, _ = act(rt, state, Approve(task_for(state, role="prod"), who("p1", "prod")))
    state, _ = act(rt, state, Approve(task_for(state, role="rnd"), who("r1", "rnd")))
    assert state["outcome"] == "完成" and state["data"]["sign"]["rejections"] == 1


def test_counted_rejections_reject_once_the_threshold_is_out_of_reach():
    rt = make(ROLES3 + "mode: {at_least: 2}\nrejection: count\n")
    state = begin(rt)
    state, _ = act(rt, state, Reject(task_for(state, role="qa"), who("q1", "qa"), "不同意"))
    state, events = act(rt, state, Reject(task_for(state, role="prod"), who("p1", "prod"), "不同意"))
    assert state["path"][-1] == "prepare"
    assert [e["data"]["reason"] for e in events if e["type"] == "task:cancelled"] == [
        "rejected: 2 approvals can no longer be reached"]


def test_share_rounds_up():
    rt = make(ROLES3 + "mode: {share: 0.6}\n")  # 0.6 of 3 = 1.8 -> 2 approvals
    state = begin(rt)
    state, _ = act(rt, state, Approve(task_for(state, role="qa"), who("q1", "qa")))
    assert state["status"] == "running"
    state, _ = act(rt, state, Approve(task_for(state, role="rnd"), who("r1", "rnd")))
    assert state["outcome"] == "完成"


def test_sequence_opens_one_at_a_time_in_order():
    rt = make(ROLES3 + "mode: sequence\n")
    state = begin(rt)
    order = []
    for role in ("qa", "prod", "rnd"):
        assert [t["role"] for t in sign_tasks(state)] == [role]
        order.append(role)
        state, _ = act(rt, state, Approve(task_for(state, role=role), who(f"{role}1", role)))
    assert order == ["qa", "prod", "rnd"] and state["outcome"] == "完成"


def test_a_plain_role_approval_is_unchanged():
    text = TEMPLATE.format(body="    role: prod").replace('sign.approvals >= 2 and "boss1" in sign.approvers',
                                                          'sign.decision == "approve"')
    rt = Runtime(load_procedure_text(text, "party.yaml", FORMS))
    state = begin(rt)
    [task] = sign_tasks(state)
    assert task["role"] == "prod" and task["assignee"] is None and "named" not in task and "approvals" not in state
    state, events = act(rt, state, Approve(task["id"], who("p1", "prod")))
    assert not any(e["type"].startswith("approval:") for e in events)
    assert state["data"]["sign"] == {"decision": "approve", "comment": ""}


# -- sources -------------------------------------------------------------------------------


def test_people_from_user_field_org_chart_and_pick():
    rt = make("""
approvers:
  - user: boss1
  - field: start.approver
  - manager: starter
    levels: 2
  - head_of: start.dept
  - pick: {from: rnd, field: start.approver}
mode: any
""")
    state = begin(rt, {"approver": "eng7", "dept": "品质中心"})
    assignees = sorted(t["assignee"] for t in sign_tasks(state))
    # eng7 comes from the field and the pick: asked once; lead1's manager qahead1 heads 品质中心: once.
    assert assignees == ["boss1", "eng7", "qahead1"]
    assert all(t["named"] for t in sign_tasks(state))


def test_manager_and_head_of_starter():
    rt = make("approvers:\n  - manager: starter\n  - head_of: starter\n    levels: 1\n")
    state = begin(rt)
    assert sorted(t["assignee"] for t in sign_tasks(state)) == ["ceo1", "lead1"]
    state, _ = act(rt, state, Approve(task_for(state, user="ceo1"), who("ceo1")))
    state, _ = act(rt, state, Approve(task_for(state, user="lead1"), who("lead1")))
    assert state["data"]["sign"]["approvers"] == ["lead1", "ceo1"]


def test_a_picked_approver_must_hold_the_candidate_role():
    rt = make("approvers:\n  - pick: {from: rnd, field: start.approver}\n  - role: qa\n")
    state = begin(rt, {"approver": "eng7"})
    picked = task_for(state, user="eng7")
    with pytest.raises(NotPermitted, match="no\\s*longer hold|rnd|研发"):
        act(rt, state, Approve(picked, who("eng7", "qa")))
    state, _ = act(rt, state, Approve(picked, who("eng7", "rnd")))
    assert state["tasks"][picked]["status"] == "done"


def test_expression_reads_the_count_and_the_approvers():
    rt = make("approvers:\n  - user: boss1\n  - role: qa\n")
    state = begin(rt)
    state, _ = act(rt, state, Approve(task_for(state, user="boss1"), who("boss1")))
    state, _ = act(rt, state, Approve(task_for(state, role="qa"), who("q1", "qa")))
    assert state["outcome"] == "总经理参与"


# -- nobody, repeats ------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "to"), [("if_nobody: admins", "admin"), ("if_nobody: {role: boss}", "boss"),
                                            ("role: prod", "prod"), ("", "admin")])
def test_an_approver_found_nobody_goes_where_the_step_says(policy, to):
    rt = make(f"approvers:\n  - head_of: service\n  - role: qa\n{policy}\n")
    state, events = rt.apply(None, Start(STARTER, instance_id="i1"), T0, org=ORG)
    prep = next(t["id"] for t in open_tasks(state) if t["step"] == "prepare")
    state, events = rt.apply(state, CompleteTask(prep, STARTER, {}), T0, org=ORG)
    opened = next(e for e in events if e["type"] == "approval:opened")
    assert opened["data"]["nobody"] == [{
        "source": "head_of: service", "to": to,
        "reason": "department 'service' (0 up) has no head in the org chart",
        "reason_message": {"key": "department '{department}' ({levels} up) has no head in the org chart",
                           "params": {"department": "service", "levels": "0"}}}]
    assert sorted(t["role"] for t in sign_tasks(state)) == sorted([to, "qa"])


def test_if_nobody_approve_counts_as_an_approval_and_is_recorded():
    rt = make("approvers:\n  - manager: start.approver\n  - role: qa\nif_nobody: approve\n")
    state = begin(rt, {"approver": "nomanager"}, org=ORG)
    assert [t["role"] for t in sign_tasks(state)] == ["qa"]
    state, _ = act(rt, state, Approve(task_for(state, role="qa"), who("q1", "qa")))
    assert state["data"]["sign"]["approvals"] == 2 and state["data"]["sign"]["approvers"] == ["q1"]


def test_skip_repeated_skips_who_already_approved_earlier():
    text = TEMPLATE.format(body="\n".join("    " + x for x in [
        "approvers:", "  - user: lead1", "  - user: boss1", "skip_repeated: true"]))
    text = text.replace("""    next: sign
  sign:""", """    next: first
  first:
    type: approval
    title: 初审
    role: qa
    next: sign
  sign:""")
    rt = Runtime(load_procedure_text(text, "party.yaml", FORMS))
    state = begin(rt)
    first = next(t["id"] for t in open_tasks(state) if t["step"] == "first")
    state, events = act(rt, state, Approve(first, who("lead1", "qa")))
    opened = next(e for e in events if e["type"] == "approval:opened")
    assert opened["data"]["skipped"] == [{"source": "user: lead1", "user": "lead1", "reason": "approved 'first' earlier",
                                          "reason_message": {"key": "approved '{step}' earlier",
                                                             "params": {"step": "first"}}}]
    assert [t["assignee"] for t in sign_tasks(state)] == ["boss1"]
    state, _ = act(rt, state, Approve(task_for(state, user="boss1"), who("boss1")))
    assert state["data"]["sign"]["approvals"] == 2 and state["outcome"] == "总经理参与"


# -- 加签 -----------------------------------------------------------------------------------

ADDING = "approvers:\n  - role: qa\n  - role: prod\nadd_approver: {from: boss}\n"


def test_add_before_makes_the_current_approver_wait():
    rt = make(ADDING)
    state = begin(rt)
    mine = task_for(state, role="qa")
    state, events = act(rt, state, AddApprover(mine, who("q1", "qa"), "boss1", frozenset({"boss"}), "before", "金额大"))
    added = next(e for e in events if e["type"] == "approval:added")
    assert added["data"] == {"user": "boss1", "position": "before", "reason": "金额大", "task": added["data"]["task"]}
    assert added["actor"] == "q1" and added["task"] == mine
    with pytest.raises(CommandRejected, match="boss1"):
        act(rt, state, Approve(mine, who("q1", "qa")))
    state, _ = act(rt, state, Approve(task_for(state, user="boss1"), who("boss1", "boss")))
    state, _ = act(rt, state, Approve(mine, who("q1", "qa")))
    state, _ = act(rt, state, Approve(task_for(state, role="prod"), who("p1", "prod")))
    assert state["data"]["sign"]["approvals"] == 3 and state["outcome"] == "总经理参与"


def test_add_after_asks_the_added_approver_once_the_current_one_decided():
    rt = make(ADDING)
    state = begin(rt)
    mine = task_for(state, role="qa")
    state, _ = act(rt, state, AddApprover(mine, who("q1", "qa"), "boss1", frozenset({"boss"}), "after", "请总经理把关"))
    assert not any(t.get("assignee") == "boss1" for t in sign_tasks(state))
    state, _ = act(rt, state, Approve(task_for(state, role="prod"), who("p1", "prod")))
    assert state["status"] == "running"  # all: the added approver counts
    state, _ = act(rt, state, Approve(mine, who("q1", "qa")))
    state, _ = act(rt, state, Approve(task_for(state, user="boss1"), who("boss1", "boss")))
    assert state["data"]["sign"]["approvers"] == ["q1", "p1", "boss1"]


def test_adding_outside_the_candidate_set_or_where_not_declared_is_refused():
    rt = make(ADDING)
    state = begin(rt)
    mine = task_for(state, role="qa")
    with pytest.raises(NotPermitted, match="boss|总经理"):
        act(rt, state, AddApprover(mine, who("q1", "qa"), "p9", frozenset({"prod"}), "after", "帮忙看看"))
    with pytest.raises(NotPermitted):  # only whoever may act on the task adds to it
        act(rt, state, AddApprover(mine, who("p1", "prod"), "boss1", frozenset({"boss"}), "after", "插一脚"))
    with pytest.raises(CommandRejected):
        act(rt, state, AddApprover(mine, who("q1", "qa"), "boss1", frozenset({"boss"}), "after", " "))
    plain = make(ROLES3)
    state = begin(plain)
    with pytest.raises(NotPermitted, match="add_approver"):
        act(plain, state, AddApprover(task_for(state, role="qa"), who("q1", "qa"), "boss1", frozenset({"boss"}),
                                      "after", "金额大"))


# -- attacks: named approvers ---------------------------------------------------------------


def test_a_named_approvers_task_is_refused_to_everyone_else():
    rt = make("approvers:\n  - user: boss1\n  - role: qa\n")
    state = begin(rt)
    named = task_for(state, user="boss1")
    for intruder in (who("q1", "qa"), who("admin1", "admin", "qa", "boss"), who("boss2", "boss")):
        with pytest.raises(NotPermitted, match="boss1"):
            act(rt, state, Approve(named, intruder, "代批"))
    with pytest.raises(NotPermitted, match="released|pool|名"):
        act(rt, state, Release(named, who("boss1")))


def test_separation_of_duties_still_applies_to_each_approver():
    rt = make("approvers:\n  - role: qa\n  - role: prod\nseparate_from: [start]\n")
    state = begin(rt)
    with pytest.raises(NotPermitted, match="separation|职责"):
        act(rt, state, Approve(task_for(state, role="qa"), STARTER))


def test_each_approver_signs_separately():
    rt = make("approvers:\n  - role: qa\n  - role: prod\nsignature: 确认\n")
    state = begin(rt)
    with pytest.raises(SignatureInvalid):
        act(rt, state, Approve(task_for(state, role="qa"), who("q1", "qa")))
    for role, user in (("qa", "q1"), ("prod", "p1")):
        tid = task_for(state, role=role)
        state, _ = act(rt, state, Approve(tid, who(user, role), signature=Signature("确认", user, user)))
        assert state["tasks"][tid]["signature"]["user"] == user
    assert state["outcome"] == "完成"


def test_the_audit_replay_agrees_with_the_state():
    rt = make(ADDING + "signature: 确认\n")

    def first(state):
        return CompleteTask(next(t["id"] for t in open_tasks(state) if t["step"] == "prepare"), STARTER, {})

    def add(state):
        return AddApprover(task_for(state, role="qa"), who("q1", "qa"), "boss1", frozenset({"boss"}), "before", "大额")

    def boss(state):
        return Approve(task_for(state, user="boss1"), who("boss1", "boss"), signature=Signature("确认", "boss1"))

    def qa(state):
        return Approve(task_for(state, role="qa"), who("q1", "qa"), signature=Signature("确认", "q1"))

    def prod(state):
        return Reject(task_for(state, role="prod"), who("p1", "prod"), "不行", signature=Signature("确认", "p1"))

    replay_matches(rt, [first, add, boss, qa, prod])


def test_an_approver_added_after_is_not_asked_when_the_adders_rejection_settles_the_step():
    rt = make(ADDING)
    state = begin(rt)
    mine = task_for(state, role="qa")
    state, _ = act(rt, state, AddApprover(mine, who("q1", "qa"), "boss1", frozenset({"boss"}), "after", "把关"))
    state, events = act(rt, state, Reject(mine, who("q1", "qa"), "不同意"))
    assert not any(e["type"] == "task:created" and e["data"].get("assignee") == "boss1" for e in events)
    assert state["path"][-1] == "prepare" and state["data"]["sign"]["decision"] == "reject"


def test_head_of_a_department_named_in_the_procedure():
    rt = make("approvers:\n  - head_of: 品质中心\n  - head_of: quality\n    levels: 1\n")
    state = begin(rt)
    assert [t["assignee"] for t in sign_tasks(state)] == ["qahead1", "ceo1"]


@pytest.mark.parametrize(("condition", "problem"), [
    ('sign.approvals == "两"', "'sign.approvals' is a number and \"两\" is text: they are never equal"),
    ("sign.approvers > 3", "'sign.approvers' is a list and cannot be ordered with <, >, <= or >="),
    ("sign.rejectons == 1", "unknown field 'sign.rejectons'; did you mean 'sign.rejections'?"),
])
def test_the_validator_knows_the_types_of_the_outcome(condition, problem):
    from engine.language import yaml_source
    from engine.language.procedure import parse_procedure

    text = TEMPLATE.format(body="    approvers:\n      - role: qa\n      - role: prod").replace(
        'sign.approvals >= 2 and "boss1" in sign.approvers', condition)
    _proc, problems = parse_procedure(yaml_source.load(text, "party.yaml"), FORMS)
    assert [p.message for p in problems] == [problem]


def test_a_plain_approval_has_no_counts_to_read():
    from engine.language import yaml_source
    from engine.language.procedure import parse_procedure

    text = TEMPLATE.format(body="    role: qa").replace('"boss1" in sign.approvers', "true")
    _proc, problems = parse_procedure(yaml_source.load(text, "party.yaml"), FORMS)
    assert [p.message for p in problems] == ["unknown field 'sign.approvals'; did you mean 'start.approver'?"]


def test_one_person_holding_two_of_the_roles_decides_once():
    rt = make(ROLES3)
    state = begin(rt)
    both = who("qp1", "qa", "prod")
    state, _ = act(rt, state, Approve(task_for(state, role="qa"), both))
    with pytest.raises(NotPermitted, match="already decided"):
        act(rt, state, Approve(task_for(state, role="prod"), both))
    with pytest.raises(NotPermitted, match="already decided"):  # nor a second vote the other way
        act(rt, state, Reject(task_for(state, role="prod"), both, "再议"))
