"""Multi-party approvals through the application layer, on SQLite and (``WF_TEST_DATABASE_URL``)
PostgreSQL: two approvers of a 或签 deciding at the same moment give exactly one outcome; a
named approver's task is in their inbox and nobody else's, and refused to others; 加签 is
refused outside its candidate set and recorded with who, when and why; the audit check of
the record passes afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine import store
from engine.app import audit, notifications, tasks
from engine.app.database import Database
from engine.app.services import Services
from engine.errors import CommandRejected, Conflict, InstanceClosed, NotFound, NotPermitted
from engine.store import Event, users
from tests.helpers.race import race
from tests.helpers.service import PASSWORD, check_consistent, config, setup

PROCEDURE = """
id: party-race
title: 或签竞争
roles:
  inspector: 检验员
  qa_supervisor: 质量主管
  repair_lead: 维修负责人
start: {roles: [inspector], step: sign}
steps:
  sign:
    type: approval
    title: 或签
    approvers:
      - role: qa_supervisor
      - role: repair_lead
      - user: acceptor1
    mode: any
    add_approver: {from: qa_supervisor}
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""


@pytest.fixture
def wf(sessions, tmp_path: Path):
    path = tmp_path / "party-race.yaml"
    path.write_text(PROCEDURE, encoding="utf-8")
    wf = setup(sessions, ["inspector1", "supervisor1", "lead1", "acceptor1", "tech1"])
    with sessions() as s:
        wf.load_procedures(s, [path])
        users.add_user(s, "supervisor2", PASSWORD, ["qa-supervisors"], full_name="质量主管二")
        s.commit()
    return wf


def start(wf, sessions) -> dict:
    with sessions() as s:
        state = wf.start(s, "party-race", "inspector1", {})
        s.commit()
    return state


def task_of(state: dict, *, role: str | None = None, user: str | None = None) -> str:
    for t in state["tasks"].values():
        if t["status"] == "open" and (role is None or t["role"] == role) and (user is None or t["assignee"] == user):
            return f"{state['id']}.{t['id']}"
    raise AssertionError(f"no open task role={role} user={user}")


def test_two_approvers_of_an_any_step_deciding_at_once_give_exactly_one_outcome(wf, sessions):
    for _ in range(3):  # the winner varies; the outcome never does
        state = start(wf, sessions)
        contenders = [("supervisor1", task_of(state, role="qa_supervisor")),
                      ("acceptor1", task_of(state, user="acceptor1"))]

        def decide(user: str, task: str):
            with sessions() as s:
                try:
                    out = wf.decide(s, task, user, approve=True, comment=f"{user} 同意")
                    s.commit()
                    return out
                except (Conflict, InstanceClosed) as exc:  # lost the version check, or came after
                    s.rollback()
                    return exc

        outcomes = race(*[lambda u=u, t=t: decide(u, t) for u, t in contenders])
        wins = [o for o in outcomes if isinstance(o, dict)]
        assert len(wins) == 1, outcomes
        assert all(isinstance(o, Conflict | InstanceClosed) for o in outcomes if not isinstance(o, dict)), outcomes
        with sessions() as s:
            types = list(s.scalars(select(Event.type).where(Event.instance_id == state["id"]).order_by(Event.seq)))
            assert types.count("approval:decided") == 1 and types.count("task:approved") == 1
            assert types.count("instance:completed") == 1
            row = store.load_instance(s, state["id"])
            assert row.state["status"] == "completed"
            assert row.state["data"]["sign"]["approvals"] == 1
            assert sorted(t["status"] for t in row.state["tasks"].values()) == ["cancelled", "cancelled", "done"]
            check_consistent(s)
            assert store.verify(s) == []


@pytest.fixture
def services(wf, engine):
    return Services(config(), Database(engine), wf)


def test_a_named_approvers_task_is_in_their_inbox_only_and_refused_to_others(wf, sessions, services):
    state = start(wf, sessions)
    named = task_of(state, user="acceptor1")
    [mine] = [t for t in tasks.inbox(services, "acceptor1") if t.id == named]
    assert mine.named and mine.assignee == "acceptor1" and mine.role is None
    # Told by a notification, as role holders are of theirs; inspector1 (same groups) is not.
    told, _unread = notifications.listing(services, "acceptor1")
    assert [n["task"] for n in told if n["kind"] == "assigned"] == [named]
    assert not [n for n in notifications.listing(services, "inspector1")[0] if n["task"] == named]
    # inspector1 holds the role acceptor1 holds (qa-inspectors) but the task is acceptor1's own.
    for other in ("inspector1", "supervisor1"):
        assert named not in {t.id for t in tasks.inbox(services, other)}
        with sessions() as s, pytest.raises(NotPermitted, match="acceptor1"):
            wf.decide(s, named, other, approve=True)
    with sessions() as s, pytest.raises(NotPermitted):
        wf.release(s, named, "acceptor1")
    page = tasks.task_page(services, audit_reader("acceptor1"), named)
    assert {p["who"] for p in page.party} == {"acceptor1", "质量主管", "维修负责人"}


def audit_reader(user: str):
    from engine.app.access import reader_of

    groups = {"acceptor1": ["qa-inspectors"], "supervisor1": ["qa-supervisors"]}[user]
    return reader_of(config(), user, groups)


def test_add_approver_only_from_the_candidate_set_and_recorded(wf, sessions, services):
    state = start(wf, sessions)
    mine = task_of(state, role="qa_supervisor")
    with pytest.raises(NotPermitted, match="质量主管|qa_supervisor"):  # lead1 does not hold qa_supervisor
        tasks.add_approver(services, "supervisor1", mine, "lead1", "before", "请维修负责人先看")
    with pytest.raises(NotFound):
        tasks.add_approver(services, "supervisor1", mine, "nobody9", "before", "查无此人")
    with pytest.raises(NotPermitted):  # only whoever may act on the task adds to it
        tasks.add_approver(services, "tech1", mine, "supervisor2", "before", "越权加签")
    tasks.add_approver(services, "supervisor1", mine, "supervisor2", "before", "金额较大，请主管二先审")
    with sessions() as s:
        with pytest.raises(CommandRejected, match="supervisor2"):
            wf.decide(s, mine, "supervisor1", approve=True)
        s.rollback()
        added = s.scalars(select(Event).where(Event.instance_id == state["id"], Event.type == "approval:added")).one()
        assert (added.actor, added.data["user"], added.data["position"], added.data["reason"]) == (
            "supervisor1", "supervisor2", "before", "金额较大，请主管二先审")
        row = store.load_instance(s, state["id"])
    assert f"{state['id']}.{added.data['task']}" in {t.id for t in tasks.inbox(services, "supervisor2")}
    with sessions() as s:
        wf.decide(s, f"{state['id']}.{added.data['task']}", "supervisor2", approve=True, comment="同意")
        s.commit()
    with sessions() as s:
        assert store.load_instance(s, state["id"]).state["outcome"] == "完成"
        assert audit.verify_records(wf, s) == []  # the events replayed give the stored record
    assert row.state["tasks"][mine.rpartition(".")[2]]["waiting_on"] == added.data["task"]


CHART_PROCEDURE = """
id: chart-approval
title: 上级审批
roles:
  inspector: 检验员
start: {roles: [inspector], step: sign}
steps:
  sign:
    type: approval
    title: 上级与部门负责人会签
    approvers:
      - manager: starter
      - head_of: starter
        levels: 1
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""
CHART = """kind,id,name,parent,head,department,manager
department,hq,总部,,supervisor1,,
department,lab,实验室,hq,lead1,,
user,inspector1,,,,lab,acceptor1
"""


def test_the_stored_org_chart_names_the_approvers(wf, sessions, services, tmp_path: Path):
    from engine.app import org

    path = tmp_path / "chart-approval.yaml"
    path.write_text(CHART_PROCEDURE, encoding="utf-8")
    with sessions() as s:
        wf.load_procedures(s, [path])
        s.commit()
    org.import_csv(services, "cli:test", CHART, "org.csv")
    with sessions() as s:
        state = wf.start(s, "chart-approval", "inspector1", {})
        s.commit()
    # inspector1's recorded manager; the head of the department above theirs.
    assert sorted(t["assignee"] for t in state["tasks"].values() if t["status"] == "open") == [
        "acceptor1", "supervisor1"]
    for user in ("acceptor1", "supervisor1"):
        with sessions() as s:
            state = wf.decide(s, task_of(state, user=user), user, approve=True)
            s.commit()
    assert state["status"] == "completed" and state["data"]["sign"]["approvers"] == ["acceptor1", "supervisor1"]


STUCK_PROCEDURE = """
id: party-stuck
title: 会签加签
roles:
  inspector: 检验员
  qa_supervisor: 质量主管
start: {roles: [inspector], step: sign}
steps:
  sign:
    type: approval
    title: 会签
    approvers:
      - role: qa_supervisor
      - user: acceptor1
    mode: all
    separate_from: [start]
    add_approver: {from: qa_supervisor}
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""


def test_add_approver_refuses_whom_the_step_could_never_hear_from(wf, sessions, services, tmp_path: Path):
    """加签 of someone who may not decide (already decided in this approval, or the starter a
    separation of duties keeps from it) left a task nobody could close: the step, and the
    adder waiting on it ('before'), stuck for good. Refused at the add, the user named."""
    path = tmp_path / "party-stuck.yaml"
    path.write_text(STUCK_PROCEDURE, encoding="utf-8")
    with sessions() as s:
        wf.load_procedures(s, [path])
        users.add_user(s, "boss1", PASSWORD, ["qa-inspectors", "qa-supervisors"], full_name="兼任主管")
        s.commit()
        state = wf.start(s, "party-stuck", "boss1", {})  # the starter also holds qa_supervisor
        s.commit()
    named = task_of(state, user="acceptor1")
    with pytest.raises(NotPermitted, match="boss1"):
        tasks.add_approver(services, "acceptor1", named, "boss1", "before", "请发起人先审")
    with sessions() as s:
        wf.decide(s, task_of(state, role="qa_supervisor"), "supervisor1", approve=True)
        s.commit()
    for position in ("before", "after"):
        with pytest.raises(CommandRejected, match="supervisor1"):
            tasks.add_approver(services, "acceptor1", named, "supervisor1", position, "再审一次")
    with sessions() as s:
        assert not s.scalars(select(Event).where(Event.instance_id == state["id"],
                                                 Event.type == "approval:added")).all()
        wf.decide(s, named, "acceptor1", approve=True)
        s.commit()
        assert store.load_instance(s, state["id"]).state["outcome"] == "完成"
