"""Task actions through the application layer on a real database (SQLite, and PostgreSQL
when configured): 转交, 退回, 撤回, 收回, 催办, 抄送 and 已阅, with their notifications, their
audit events (who, when, why) and the records still matching their events; the races
(a transfer against a completion, a withdrawal against the first step done) and the
attacks (acting without holding the task, withdrawing someone else's instance, urging twice
in the hour, a CC'd reader acting or reading further)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from engine import store
from engine.app import cc, instances, task_actions, tasks
from engine.app.access import reader_of
from engine.app.audit import verify_records
from engine.app.database import Database
from engine.app.service import Workflow
from engine.app.services import Services
from engine.config import load_config
from engine.errors import (
    CommandRejected,
    FormInvalid,
    InstanceClosed,
    NotFound,
    NotPermitted,
    TaskClosed,
    TooSoon,
)
from engine.runtime.access import WITHDRAWN
from engine.store import timekeeping as tk
from engine.store import users
from tests.helpers.race import race
from tests.helpers.service import PASSWORD, ROOT, check_consistent, open_task
from tests.helpers.time import Clock

LANG = ROOT / "tests" / "data" / "lang"
PEOPLE = {"ins1": ["qa-inspectors"], "ins2": ["qa-inspectors"], "ins3": ["qa-inspectors"],
          "head1": ["department-heads"], "sales1": ["sales-gm"], "watcher": [], "x": []}


# A request approved first thing: the starter may withdraw it until the approver decides.
APPROVAL_FIRST = """\
id: actions-approval
title: 申请审批
roles: {inspector: 检验员, dept_head: 部门负责人}
start: {roles: [inspector], step: approve}
steps:
  approve: {type: approval, title: 审批, role: dept_head, next: done}
  done: {type: end, title: 结束, outcome: 批准}
"""


@pytest.fixture
def services(engine, sessions, tmp_path: Path) -> Services:
    procs = tmp_path / "procedures"
    procs.mkdir()
    shutil.copy(LANG / "actions.yaml", procs / "actions.yaml")
    (procs / "actions-approval.yaml").write_text(APPROVAL_FIRST, encoding="utf-8")
    cfg = load_config(ROOT / "config.yaml", overrides={"paths.procedures": str(procs), "paths.forms": str(LANG / "forms")})
    clock = Clock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
    wf = Workflow(cfg, clock=clock)
    with sessions() as s:
        wf.load_procedures(s)
        for name, groups in PEOPLE.items():
            users.add_user(s, name, PASSWORD, groups, full_name=name)
        s.commit()
    out = Services(cfg, Database(engine), wf)
    out.clock = clock  # type: ignore[attr-defined]
    return out


def reader(name: str):
    return reader_of(load_config(ROOT / "config.yaml"), name, PEOPLE[name])


def started(services: Services, *, registered: bool = True) -> dict:
    """An instance of ``actions`` started by ins1, its registration done (inspect open)."""
    with services.database.writing() as s:
        state = services.workflow.start(s, "actions", "ins1", {})
    if registered:
        tasks.submit(services, "ins1", open_task(state, "register"), {"text": "登记"})
    return state_of(services, state["id"])


def state_of(services: Services, instance_id: str) -> dict:
    with services.database.reading() as s:
        return store.load_instance(s, instance_id).state


def notified(services: Services, kind: str) -> dict[str, dict]:
    with services.database.reading() as s:
        return {n.username: n.data for n in s.scalars(
            tk.select(tk.Notification).where(tk.Notification.kind == kind))}


def intact(services: Services) -> None:
    with services.database.reading() as s:
        check_consistent(s)
        assert store.verify(s) == []
        assert verify_records(services.workflow, s) == []


def events_of(services: Services, instance_id: str, kind: str) -> list[dict]:
    return [e for e in instances.events(services, reader("ins1"), instance_id) if e["type"] == kind]


# --------------------------------------------------------------------------- 转交


def test_transfer_records_why_and_tells_the_new_holder(services):
    state = started(services)
    task = open_task(state, "inspect")
    answer = task_actions.transfer(services, "ins2", task, "ins3", "出差，请丙检验", answer_for=reader("ins2"))
    assert answer is not None
    [e] = events_of(services, state["id"], "task:transferred")
    assert (e["actor"], e["data"]) == ("ins2", {"from": None, "to": "ins3", "reason": "出差，请丙检验"})
    assert set(notified(services, "transferred")) == {"ins3"}
    assert notified(services, "transferred")["ins3"]["reason"] == "出差，请丙检验"
    # offers on the task page: only people who may hold it, not the starter (separation)
    offers = task_actions.task_offers(services, "ins3", task)
    assert [u for u, _ in offers.transfer_to] == ["ins2"]
    with pytest.raises(NotPermitted, match="claimed by ins3"):
        tasks.submit(services, "ins2", task, {"verdict": "合格"})
    tasks.submit(services, "ins3", task, {"verdict": "合格"})
    intact(services)


def test_transfer_is_refused_to_non_holders_and_by_those_who_do_not_hold_the_task(services):
    state = started(services)
    task = open_task(state, "inspect")
    with pytest.raises(NotPermitted, match="does not hold role"):
        task_actions.transfer(services, "ins2", task, "head1", "请领导检验")
    with pytest.raises(NotPermitted, match="only the person holding"):
        task_actions.transfer(services, "head1", task, "ins3", "越权转交")
    with pytest.raises(NotPermitted, match="only the person holding"):
        task_actions.transfer(services, "watcher", task, "ins3", "越权转交")
    with pytest.raises(NotPermitted, match="unknown or inactive user"):
        task_actions.transfer(services, "ins2", task, "nobody", "x")
    assert events_of(services, state["id"], "task:transferred") == []


def test_a_transfer_racing_a_completion_has_one_winner(services):
    for _ in range(3):
        state = started(services)
        task = open_task(state, "inspect")
        results = race(partial(task_actions.transfer, services, "ins2", task, "ins3", "转交"),
                       partial(tasks.submit, services, "ins2", task, {"verdict": "合格"}))
        losers = [r for r in results if isinstance(r, Exception)]
        assert len(losers) == 1, results
        final = state_of(services, state["id"])
        local = task.rpartition(".")[2]
        if results[0] is None:  # the transfer won: ins2 may no longer complete it
            assert isinstance(losers[0], NotPermitted) and "claimed by ins3" in losers[0].message
            assert final["tasks"][local]["status"] == "open"
        else:  # the completion won: the task is done, nothing is transferred
            assert isinstance(losers[0], TaskClosed) and "already done" in losers[0].message
            assert final["tasks"][local]["assignee"] is None
    intact(services)


# --------------------------------------------------------------------------- 退回


def test_return_reopens_the_earlier_step_tells_its_holders_why_and_comes_back(services):
    state = started(services)
    tasks.submit(services, "ins2", open_task(state, "inspect"), {"verdict": "合格"})
    state = state_of(services, state["id"])
    approve = open_task(state, "approve")
    offers = task_actions.task_offers(services, "head1", approve)
    assert offers.return_to == [("register", "登记"), ("inspect", "检验")] and not offers.resume_choice
    with pytest.raises(NotPermitted, match="dept_head"):
        task_actions.return_task(services, "ins2", approve, "register", "不归我管")
    with pytest.raises(NotPermitted, match="may be returned only to"):
        task_actions.return_task(services, "head1", approve, "done", "x")
    with pytest.raises(CommandRejected, match="why"):
        task_actions.return_task(services, "head1", approve, "register", " ")
    task_actions.return_task(services, "head1", approve, "inspect", "实测值未填")
    [e] = events_of(services, state["id"], "task:returned")
    assert (e["actor"], e["data"]) == ("head1", {"to": "inspect", "reason": "实测值未填", "resume": "here"})
    told = notified(services, "returned")
    assert set(told) == {"ins1", "ins2", "ins3"} and told["ins2"]["reason"] == "实测值未填"
    state = state_of(services, state["id"])
    tasks.submit(services, "ins2", open_task(state, "inspect"), {"verdict": "合格", "measured": 10.0})
    state = state_of(services, state["id"])
    assert [t["step"] for t in state["tasks"].values() if t["status"] == "open"] == ["approve"]
    intact(services)


# --------------------------------------------------------------------------- 撤回


def test_the_starter_withdraws_and_nobody_else_may(services):
    state = started(services)
    with pytest.raises(NotPermitted, match="only ins1"):
        task_actions.withdraw(services, "ins2", state["id"], "我想撤")
    with pytest.raises(NotPermitted, match="only ins1"):
        task_actions.withdraw(services, "head1", state["id"], "我想撤")
    assert task_actions.instance_offers(services, "ins1", state["id"]).may_withdraw
    assert not task_actions.instance_offers(services, "ins2", state["id"]).may_withdraw
    task_actions.withdraw(services, "ins1", state["id"], "重复登记")
    with services.database.reading() as s:
        row = store.load_instance(s, state["id"])
        assert (row.status.value, row.outcome) == ("cancelled", WITHDRAWN)
    with pytest.raises(InstanceClosed):
        task_actions.withdraw(services, "ins1", state["id"], "再撤")
    intact(services)


def test_a_withdrawal_racing_the_first_step_done_by_another_has_one_winner(services):
    for _ in range(3):
        state = started(services)
        task = open_task(state, "inspect")
        results = race(partial(task_actions.withdraw, services, "ins1", state["id"], "撤回"),
                       partial(tasks.submit, services, "ins2", task, {"verdict": "合格"}))
        losers = [r for r in results if isinstance(r, Exception)]
        assert len(losers) == 1, results
        final = state_of(services, state["id"])
        if results[0] is None:  # withdrawn first: the completion finds the instance closed
            assert isinstance(losers[0], InstanceClosed | TaskClosed), losers[0]
            assert final["outcome"] == WITHDRAWN
        else:  # done first: no withdrawal any more
            assert isinstance(losers[0], NotPermitted) and "already done" in losers[0].message
            assert final["status"] == "running"
    intact(services)


def test_a_withdrawal_racing_the_first_approval_has_one_winner(services):
    for _ in range(3):
        with services.database.writing() as s:
            state = services.workflow.start(s, "actions-approval", "ins1", {})
        approve = open_task(state, "approve")
        results = race(partial(task_actions.withdraw, services, "ins1", state["id"], "不需要了"),
                       partial(tasks.submit, services, "head1", approve, {}, decision="approve", comment="同意"))
        losers = [r for r in results if isinstance(r, Exception)]
        assert len(losers) == 1, results
        final = state_of(services, state["id"])
        if results[0] is None:  # withdrawn first: nothing is left to approve
            assert isinstance(losers[0], InstanceClosed | TaskClosed), losers[0]
            assert (final["status"], final["outcome"]) == ("cancelled", WITHDRAWN)
        else:  # approved first: the instance is over, there is nothing to withdraw
            assert isinstance(losers[0], InstanceClosed) and "already completed" in losers[0].message
            assert (final["status"], final["outcome"]) == ("completed", "批准")
    intact(services)


# --------------------------------------------------------------------------- 收回


def test_recall_while_untouched_and_never_over_a_draft(services):
    state = started(services)
    register = next(f"{state['id']}.{t['id']}" for t in state["tasks"].values() if t["step"] == "register")
    inspect = open_task(state, "inspect")
    assert task_actions.instance_offers(services, "ins1", state["id"]).recall == [register.rpartition(".")[2]]
    with pytest.raises(NotPermitted, match="only the person who completed"):
        task_actions.recall(services, "ins2", register)
    tasks.save_draft(services, reader("ins2"), inspect, {"verdict": "合格"})
    with pytest.raises(NotPermitted, match="draft"):
        task_actions.recall(services, "ins1", register)
    with services.database.writing() as s:
        store.drafts.discard(s, "ins2", inspect)
    task_actions.recall(services, "ins1", register)
    state = state_of(services, state["id"])
    local = register.rpartition(".")[2]
    assert state["tasks"][local]["status"] == "open" and state["tasks"][local]["assignee"] == "ins1"
    assert state["tasks"][inspect.rpartition(".")[2]]["status"] == "cancelled"
    tasks.submit(services, "ins1", register, {"text": "登记（改）"})
    intact(services)


# --------------------------------------------------------------------------- 催办


def test_urge_tells_the_holders_and_a_second_within_the_hour_is_refused(services):
    state = started(services)
    task = open_task(state, "inspect")
    with pytest.raises(NotPermitted, match="only the starter"):
        task_actions.urge(services, "head1", task, "快点")
    with pytest.raises(NotPermitted, match="you hold this task yourself"):
        task_actions.urge(services, "ins2", task)
    task_actions.urge(services, "ins1", task, "客户在等")
    told = notified(services, "urged")
    assert set(told) >= {"ins2", "ins3"} and told["ins2"]["note"] == "客户在等" and told["ins2"]["by"] == "ins1"
    services.clock.advance(minutes=59)  # type: ignore[attr-defined]
    with pytest.raises(TooSoon, match="after 10:00") as refused:
        task_actions.urge(services, "ins1", task, "再催")
    assert refused.value.retry_after == 61
    assert task_actions.instance_offers(services, "ins1", state["id"]).urge[task.rpartition(".")[2]] is not None
    services.clock.advance(minutes=2)  # type: ignore[attr-defined]
    task_actions.urge(services, "ins1", task, "再催")
    assert len(events_of(services, state["id"], "task:urged")) == 2
    intact(services)


# --------------------------------------------------------------------------- 抄送 and 已阅


def test_a_cc_reaches_its_recipients_who_read_that_instance_only_and_act_on_nothing(services):
    other = started(services)
    state = started(services)
    items, unread = cc.listing(services, "watcher")
    assert unread == 2 and {c.instance for c in items} == {state["id"], other["id"]}
    assert all(c.unread and c.procedure == "任务操作" for c in items)
    # read by name: this instance, its events and attachments' reading rule; nothing more
    assert instances.read(services, reader("watcher"), state["id"]).inst["id"] == state["id"]
    assert instances.list_instances(services, reader("watcher"))[1] == 0
    task = open_task(state, "inspect")
    with pytest.raises(NotPermitted):
        tasks.submit(services, "watcher", task, {"verdict": "合格"})
    with pytest.raises(NotPermitted):
        tasks.claim(services, "watcher", task)
    with pytest.raises(NotPermitted):
        tasks.task_page(services, reader("watcher"), task)
    with pytest.raises(NotPermitted):
        task_actions.transfer(services, "watcher", task, "ins3", "x")
    with pytest.raises(NotPermitted):
        task_actions.withdraw(services, "watcher", state["id"], "x")
    # someone it was not sent to reads nothing and marks nothing
    with pytest.raises(NotPermitted):
        instances.read(services, reader("x"), state["id"])
    with pytest.raises(NotPermitted, match="not sent to you"):
        cc.mark_read(services, "x", state["id"])
    assert task_actions.instance_offers(services, "watcher", state["id"]).cc_unread
    cc.mark_read(services, "watcher", state["id"])
    cc.mark_read(services, "watcher", state["id"])  # once is once
    assert [e["actor"] for e in events_of(services, state["id"], "cc:read")] == ["watcher"]
    items, unread = cc.listing(services, "watcher")
    assert unread == 1 and [c.instance for c in items if c.unread] == [other["id"]]
    assert not task_actions.instance_offers(services, "watcher", state["id"]).cc_unread
    # the role's holders were told too
    assert set(notified(services, "cc")) == {"watcher", "sales1"}
    intact(services)


def test_the_holder_adds_cc_recipients_where_the_step_allows_it(services):
    state = started(services)
    task = open_task(state, "inspect")
    assert task_actions.task_offers(services, "ins2", task).cc_add
    with pytest.raises(NotFound, match="no user 'ghost'"):
        cc.send(services, "ins2", task, ["user:ghost"])
    with pytest.raises(NotPermitted, match="only the person holding"):
        cc.send(services, "head1", task, ["user:x"])
    cc.send(services, "ins2", task, ["user:x"], "请知悉")
    assert instances.read(services, reader("x"), state["id"]).inst["id"] == state["id"]
    [item], unread = cc.listing(services, "x")
    assert unread == 1 and item.note == "请知悉" and item.by == "ins2"
    intact(services)


def test_a_note_is_kept_whole_or_refused_never_cut(services):
    """催办 and 抄送 carry a note of at most 500 characters: one more is refused with the field
    named and nothing recorded (the pages once cut it silently, the API refused it)."""
    state = started(services)
    task = open_task(state, "inspect")
    before = len(events_of(services, state["id"], "cc:sent"))
    with pytest.raises(FormInvalid, match="501") as refused:
        cc.send(services, "ins2", task, ["user:x"], "注" * 501)
    assert refused.value.errors == [{"field": "note", "message": "at most 500 characters"}]
    assert len(events_of(services, state["id"], "cc:sent")) == before
    cc.send(services, "ins2", task, ["user:x"], "注" * 500)
    assert events_of(services, state["id"], "cc:sent")[-1]["data"]["note"] == "注" * 500
    with pytest.raises(FormInvalid):
        task_actions.urge(services, "ins1", task, "催" * 501)
    assert events_of(services, state["id"], "task:urged") == []
    task_actions.urge(services, "ins1", task, "  " + "催" * 500 + "  ")  # spaces around do not count
    assert events_of(services, state["id"], "task:urged")[-1]["data"]["note"] == "催" * 500
    intact(services)
