"""Task actions in the pure runtime: 转交, 退回, 撤回, 收回, 催办, 抄送 and 已阅.

Each action is tried the way it is meant and the ways it must be refused (by someone who
does not hold the task, on a step that does not declare it, too soon); and every state it
leaves is the one its events replay to (what ``wf audit verify`` compares)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.errors import CommandRejected, InstanceClosed, NotPermitted, TaskClosed, TooSoon
from engine.language.procedure import load_library, load_procedure_text
from engine.runtime import access
from engine.runtime.commands import (
    Actor,
    Approve,
    Cc,
    CcRead,
    Claim,
    CompleteTask,
    Recall,
    Return,
    Start,
    Transfer,
    Urge,
    Withdraw,
)
from engine.runtime.machine import Runtime, open_tasks
from engine.runtime.replay import Replay

DATA = Path(__file__).parents[1] / "data" / "lang"
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
INS1 = Actor("ins1", frozenset({"inspector"}), "检验员甲")
INS2 = Actor("ins2", frozenset({"inspector"}), "检验员乙")
INS3 = Actor("ins3", frozenset({"inspector"}), "检验员丙")
HEAD = Actor("head1", frozenset({"dept_head"}), "部门负责人")
SALES = Actor("sales1", frozenset({"sales_gm"}), "销售总")
WATCHER = Actor("watcher", frozenset(), "旁观者")
STRANGER = Actor("x", frozenset(), "路人")


@pytest.fixture(scope="module")
def lib():
    found = load_library([DATA / "actions.yaml", DATA / "forms"])
    assert found.problems == []
    return found


@pytest.fixture(scope="module")
def rt(lib):
    return Runtime(lib.procedures["actions"])


class Run:
    """One instance driven command by command; every step's state is checked against the
    replay of all events so far."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.now = T0
        self.events: list[dict] = []
        self.state, events = rt.apply(None, Start(INS1, instance_id="i1"), self.now)
        self.events += events

    def __call__(self, cmd, minutes: int = 10):
        self.now += timedelta(minutes=minutes)
        self.state, events = self.rt.apply(self.state, cmd, self.now)
        self.events += events
        replay = Replay()
        for e in self.events:
            replay.apply(e)
        assert replay.differences(self.state) == []
        return events

    def task(self, step: str) -> str:
        found = [t["id"] for t in open_tasks(self.state) if t["step"] == step]
        assert len(found) == 1, (step, [t["step"] for t in open_tasks(self.state)])
        return found[0]

    def open_steps(self) -> list[str]:
        return sorted(t["step"] for t in open_tasks(self.state))


def types(events):
    return [e["type"] for e in events]


def at_approval(rt) -> Run:
    run = Run(rt)
    run(CompleteTask(run.task("register"), INS1, {"text": "登记"}))
    run(CompleteTask(run.task("inspect"), INS2, {"verdict": "合格"}))
    return run


# --------------------------------------------------------------------------- 转交


def test_transfer_gives_the_task_to_another_holder_with_the_reason(rt):
    run = Run(rt)
    run(CompleteTask(run.task("register"), INS1, {"text": "登记"}))
    tid = run.task("inspect")
    events = run(Transfer(tid, INS2, "ins3", frozenset({"inspector"}), "出差，转交丙"))
    assert types(events) == ["task:transferred"]
    assert events[0]["data"] == {"from": None, "to": "ins3", "reason": "出差，转交丙"}
    assert events[0]["actor"] == "ins2"
    assert run.state["tasks"][tid]["assignee"] == "ins3"
    with pytest.raises(NotPermitted, match="claimed by ins3"):
        run(CompleteTask(tid, INS2, {"verdict": "合格"}))
    run(CompleteTask(tid, INS3, {"verdict": "合格"}))


def test_transfer_is_refused_to_those_who_may_not_hold_it_and_by_those_who_do_not(rt):
    run = Run(rt)
    run(CompleteTask(run.task("register"), INS1, {"text": "登记"}))
    tid = run.task("inspect")
    before = run.state
    with pytest.raises(NotPermitted, match="does not hold role"):
        run(Transfer(tid, INS2, "head1", frozenset({"dept_head"}), "给领导"))
    with pytest.raises(NotPermitted, match="only the person holding"):
        run(Transfer(tid, HEAD, "ins3", frozenset({"inspector"}), "越权"))
    # inspect is kept from whoever started the instance (separate_from: [start])
    with pytest.raises(NotPermitted, match="separation of duties"):
        run(Transfer(tid, INS2, "ins1", frozenset({"inspector"}), "还给发起人"))
    with pytest.raises(CommandRejected, match="why"):
        run(Transfer(tid, INS2, "ins3", frozenset({"inspector"}), "  "))
    run(Claim(tid, INS2))
    with pytest.raises(NotPermitted, match="only the person holding"):
        run(Transfer(tid, INS3, "ins3", frozenset({"inspector"}), "抢过来"))
    assert run.state["tasks"][tid]["assignee"] == "ins2" and before["tasks"][tid]["assignee"] is None


def test_transfer_false_is_refused(lib):
    text = (DATA / "actions.yaml").read_text(encoding="utf-8").replace(
        "    separate_from: [start]\n", "    separate_from: [start]\n    transfer: false\n")
    rt = Runtime(load_procedure_text(text, "actions.yaml", lib.forms))
    run = Run(rt)
    run(CompleteTask(run.task("register"), INS1, {"text": "登记"}))
    with pytest.raises(NotPermitted, match="does not allow transfer"):
        run(Transfer(run.task("inspect"), INS2, "ins3", frozenset({"inspector"}), "x"))


def test_transfer_of_a_closed_task_is_refused(rt):
    run = at_approval(rt)
    done = next(t["id"] for t in run.state["tasks"].values() if t["step"] == "inspect")
    with pytest.raises(TaskClosed):
        run(Transfer(done, INS2, "ins3", frozenset({"inspector"}), "晚了"))


# --------------------------------------------------------------------------- 退回


def test_return_with_resume_here_comes_straight_back(rt):
    run = at_approval(rt)
    tid = run.task("approve")
    events = run(Return(tid, HEAD, "register", "登记内容不全"))
    assert types(events)[:2] == ["task:returned", "task:created"]
    assert events[0]["data"] == {"to": "register", "reason": "登记内容不全", "resume": "here"}
    assert run.state["tasks"][tid]["status"] == "cancelled"
    assert run.state["tasks"][tid]["returned"] == "登记内容不全"
    assert run.open_steps() == ["register"]
    # the earlier record is shown again to whoever redoes it
    assert run.state["data"]["register"] == {"text": "登记"}
    run(CompleteTask(run.task("register"), INS1, {"text": "登记（补全）"}))
    assert run.open_steps() == ["approve"]  # inspect is not walked again
    run(Approve(run.task("approve"), HEAD))
    assert run.state["outcome"] == "完成"
    assert run.state["path"] == ["register", "inspect", "approve", "register", "approve", "done"]


def test_return_with_a_choice_walks_the_path_again_when_asked(rt):
    run = Run(rt)
    run(CompleteTask(run.task("register"), INS1, {"text": "登记"}))
    tid = run.task("inspect")
    with pytest.raises(CommandRejected, match="'here'"):
        run(Return(tid, INS2, "register", "缺序列号"))
    run(Return(tid, INS2, "register", "缺序列号", resume="again"))
    run(CompleteTask(run.task("register"), INS1, {"text": "补序列号"}))
    assert run.open_steps() == ["inspect"]


def test_return_is_refused_to_undeclared_steps_and_to_those_who_do_not_hold_the_task(rt):
    run = at_approval(rt)
    tid = run.task("approve")
    with pytest.raises(NotPermitted, match="may be returned only to"):
        run(Return(tid, HEAD, "done", "x"))
    with pytest.raises(NotPermitted, match="dept_head"):
        run(Return(tid, INS2, "register", "不归我管"))
    with pytest.raises(CommandRejected, match="why"):
        run(Return(tid, HEAD, "register", ""))
    with pytest.raises(CommandRejected, match="always comes back 'here'"):
        run(Return(tid, HEAD, "register", "x", resume="again"))
    # register declares no return_to
    run2 = Run(rt)
    with pytest.raises(NotPermitted, match="return_to"):
        run2(Return(run2.task("register"), INS1, "register", "x"))


# --------------------------------------------------------------------------- 撤回


def test_the_starter_withdraws_until_someone_else_has_done_a_step(rt):
    run = Run(rt)
    run(CompleteTask(run.task("register"), INS1, {"text": "登记"}))  # the starter's own step
    with pytest.raises(NotPermitted, match="only ins1"):
        run(Withdraw(INS2, "不是我发起的"))
    with pytest.raises(CommandRejected, match="why"):
        run(Withdraw(INS1, " "))
    events = run(Withdraw(INS1, "重复登记"))
    assert types(events) == ["task:cancelled", "instance:withdrawn"]
    assert (run.state["status"], run.state["outcome"]) == ("cancelled", access.WITHDRAWN)
    with pytest.raises(InstanceClosed):
        run(Withdraw(INS1, "再撤一次"))

    late = at_approval(rt)
    with pytest.raises(NotPermitted, match="ins2 has already done"):
        late(Withdraw(INS1, "太晚了"))


def test_withdraw_false_is_refused(lib):
    text = (DATA / "actions.yaml").read_text(encoding="utf-8").replace("title: 任务操作\n", "title: 任务操作\nwithdraw: false\n")
    run = Run(Runtime(load_procedure_text(text, "actions.yaml", lib.forms)))
    with pytest.raises(NotPermitted, match="withdraw: false"):
        run(Withdraw(INS1, "x"))


# --------------------------------------------------------------------------- 收回


def test_recall_reopens_the_task_for_its_doer_and_cancels_the_next_ones(rt):
    run = Run(rt)
    reg = run.task("register")
    run(CompleteTask(reg, INS1, {"text": "登记"}))
    nxt = run.task("inspect")
    with pytest.raises(NotPermitted, match="only the person who completed"):
        run(Recall(reg, INS2))
    with pytest.raises(NotPermitted, match="draft"):
        run(Recall(reg, INS1, drafts=True))
    events = run(Recall(reg, INS1))
    assert types(events) == ["task:recalled", "task:cancelled"]
    assert events[0]["data"] == {"cancelled": [nxt]}
    t = run.state["tasks"][reg]
    assert (t["status"], t["assignee"], t["completed_by"]) == ("open", "ins1", None)
    assert run.state["tasks"][nxt]["status"] == "cancelled"
    assert run.state["path"] == ["register"]
    run(CompleteTask(reg, INS1, {"text": "登记（改）"}))
    assert run.open_steps() == ["inspect"]


def test_recall_is_refused_once_the_next_step_is_touched(rt):
    run = Run(rt)
    reg = run.task("register")
    run(CompleteTask(reg, INS1, {"text": "登记"}))
    run(Claim(run.task("inspect"), INS2))
    with pytest.raises(NotPermitted, match="taken up already"):
        run(Recall(reg, INS1))
    run2 = at_approval(rt)
    reg2 = next(t["id"] for t in run2.state["tasks"].values() if t["step"] == "register")
    with pytest.raises(NotPermitted, match="later step has been done"):
        run2(Recall(reg2, INS1))
    done = run2.task("approve")
    run2(Approve(done, HEAD))
    with pytest.raises(InstanceClosed):
        run2(Recall(done, HEAD))


def test_recall_is_refused_where_the_step_does_not_declare_it(lib):
    text = (DATA / "actions.yaml").read_text(encoding="utf-8").replace(
        "    recall: true\n    cc: [sales_gm", "    cc: [sales_gm")
    run = Run(Runtime(load_procedure_text(text, "actions.yaml", lib.forms)))
    reg = run.task("register")
    run(CompleteTask(reg, INS1, {"text": "登记"}))
    with pytest.raises(NotPermitted, match="recall: true"):
        run(Recall(reg, INS1))


# --------------------------------------------------------------------------- 催办


def test_urge_once_an_hour_by_those_waiting(rt):
    run = Run(rt)
    run(CompleteTask(run.task("register"), INS1, {"text": "登记"}))
    tid = run.task("inspect")
    with pytest.raises(NotPermitted, match="you hold this task yourself"):
        run(Urge(tid, INS2))
    with pytest.raises(NotPermitted, match="only the starter"):
        run(Urge(tid, HEAD))
    events = run(Urge(tid, INS1, "客户在等"))
    assert types(events) == ["task:urged"]
    assert events[0]["data"] == {"note": "客户在等", "holders": ["role:inspector"]}
    with pytest.raises(TooSoon, match="after 10:40") as refused:
        run(Urge(tid, INS1, "再催"), minutes=50)
    assert refused.value.retry_after == 601
    events = run(Urge(tid, INS1, "再催"), minutes=11)
    assert types(events) == ["task:urged"]


# --------------------------------------------------------------------------- 抄送 and 已阅


def test_declared_cc_is_sent_when_the_step_is_completed_and_read_once(rt):
    run = Run(rt)
    events = run(CompleteTask(run.task("register"), INS1, {"text": "登记"}))
    cc = [e for e in events if e["type"] == "cc:sent"]
    assert [e["data"] for e in cc] == [{"to": ["sales_gm", "user:watcher"], "note": "", "auto": True}]
    assert access.cc_named(run.state, "watcher") and not access.cc_named(run.state, "x")
    with pytest.raises(NotPermitted, match="not sent to you"):
        run(CcRead(STRANGER))
    assert types(run(CcRead(WATCHER))) == ["cc:read"]
    assert run(CcRead(WATCHER)) == []  # read once is read
    assert types(run(CcRead(SALES))) == ["cc:read"]
    assert set(run.state["cc_read"]) == {"watcher", "sales1"}


def test_cc_added_by_the_holder_where_the_step_allows_it(rt):
    run = Run(rt)
    run(CompleteTask(run.task("register"), INS1, {"text": "登记"}))
    tid = run.task("inspect")
    with pytest.raises(NotPermitted, match="only the person holding"):
        run(Cc(tid, HEAD, ("user:boss",)))
    with pytest.raises(CommandRejected, match="unknown recipient"):
        run(Cc(tid, INS2, ("sales",)))
    events = run(Cc(tid, INS2, ("user:boss", "dept_head"), "请知悉"))
    assert events[0]["data"] == {"to": ["user:boss", "dept_head"], "note": "请知悉", "auto": False}
    run(CompleteTask(tid, INS2, {"verdict": "合格"}))
    with pytest.raises(NotPermitted, match="cc_add"):
        run(Cc(run.task("approve"), HEAD, ("user:boss",)))


def test_a_cc_recipient_cannot_act_on_the_task(rt):
    run = Run(rt)
    run(CompleteTask(run.task("register"), INS1, {"text": "登记"}))
    tid = run.task("inspect")
    for cmd in (CompleteTask(tid, WATCHER, {"verdict": "合格"}), Claim(tid, WATCHER),
                Transfer(tid, WATCHER, "ins3", frozenset({"inspector"}), "x"),
                Return(tid, WATCHER, "register", "x", resume="again")):
        with pytest.raises(NotPermitted):
            run(cmd)
