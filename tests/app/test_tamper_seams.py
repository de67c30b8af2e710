"""An insider with database access edits what pages read and who may act, outside the hash
chain, where the earlier checks did not look: the instance row's own columns (the ledger's
状态/结果/登记人/结束时间 and the lists read them, not the state), a task row's role or due
time (the inbox reads them), and the parts of the state that decide who may read or act
(a task's role, the roles or managers it was escalated to, 抄送 recipients) or that pages
show as the record (an approval's decision and a co-approver's comment, who marked a
抄送 read). ``wf audit verify`` names each, and the dossier's integrity line says the
record shown differs from its trail. SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from engine.store.tables import Instance, Task
from tests.app.test_tamper_records import (
    dossier_check,
    edit_state,
    finished_app,  # noqa: F401  (the app fixture)
    raw,
    verify,
)

INST, TASK = Instance.__table__, Task.__table__


def _review(state):
    return next(t for t in state["tasks"].values() if t["step"] == "review")


def _forge_decision(state):
    _review(state).update(decision="reject")


def _forge_role(state):
    _review(state)["role"] = "inspector"


def _forge_escalation(state):
    _review(state)["escalated_to"] = ["user:mallory"]


def _forge_cc(state):
    state["cc"] = [{"to": ["user:mallory"], "step": "review", "by": "supervisor1", "at": state["started_at"],
                    "note": ""}]


def _forge_cc_read(state):
    state["cc_read"] = {"mallory": state["started_at"]}


def _forge_ended_at(state):
    state["ended_at"] = "2020-01-01T00:00:00.000000+00:00"


COLUMNS = {  # instance row columns the ledger and the lists show: (values, what verify names, the page)
    "outcome": ({"outcome": "合格"}, "instance column outcome", "「结果」为 '合格'"),
    "status": ({"status": "cancelled"}, "instance column status", "「状态」为 '已取消'，记录为 '已完成'"),
    "started_by": ({"started_by": "supervisor1"}, "instance column started_by", "「发起人」为 '质量主管一'"),
    "ended_at": ({"ended_at": datetime(2020, 1, 1, tzinfo=UTC)}, "instance column ended_at: stored "
                 "'2020-01-01T00:00:00+00:00'", "「结束时间」为 '2020-01-01 08:00 (Asia/Shanghai)'"),
}


@pytest.mark.parametrize("column", sorted(COLUMNS))
def test_an_instance_column_that_pages_show_is_named(app, column):
    iid = app.config["DONE"]
    values, named, said = COLUMNS[column]
    raw(app, update(INST).where(INST.c.id == iid).values(**values))
    code, out = verify()
    assert code == 1 and f"BROKEN: {iid}" in out and named in out, out
    page = dossier_check(app, iid)
    assert "所显示的记录与其审计轨迹不一致：列表与台帐所读的" + said in page, page


@pytest.mark.parametrize("values", [{"role": "quality_manager"}, {"due_at": datetime(2020, 1, 1, tzinfo=UTC)},
                                    {"escalated_to": " user:mallory "}, {"completed_by": "mallory"}])
def test_a_task_row_column_is_named(app, values):
    iid = app.config["DONE"]
    raw(app, update(TASK).where(TASK.c.instance_id == iid, TASK.c.step == "review").values(**values))
    code, out = verify()
    assert code == 1 and f"BROKEN: {iid}" in out and "task row" in out and next(iter(values)) in out, out


STATE = {
    "decision": (_forge_decision, "decision: stored 'reject', replayed 'approve'"),
    "role": (_forge_role, "role: stored 'inspector', replayed 'qa_supervisor'"),
    "escalated_to": (_forge_escalation, "escalated_to: stored ['user:mallory'], replayed []"),
    "cc": (_forge_cc, "cc: stored"),
    "cc_read": (_forge_cc_read, "cc_read: stored"),
    "ended_at": (_forge_ended_at, "ended_at: stored"),
}


@pytest.mark.parametrize("what", sorted(STATE))
def test_a_state_entry_that_decides_who_reads_or_acts_is_named(app, what):
    iid = app.config["DONE"]
    change, named = STATE[what]
    edit_state(app, iid, change)
    code, out = verify()
    assert code == 1 and f"BROKEN: {iid}" in out and named in out, out


FORGED_AT = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("key", ["created_at", "due_at", "completed_at"])
def test_a_task_time_edited_in_the_state_and_its_row_alike_is_named(app, key):
    """An insider who moves a task's time in the state and in its row together (the row
    check compares the two and saw them agree): when it was opened, due or done is what the
    dossier, the overdue marks and the KPIs (on time, lead time) read."""
    iid = app.config["DONE"]
    edit_state(app, iid, lambda state: _review(state).update({key: FORGED_AT.isoformat()}))
    raw(app, update(TASK).where(TASK.c.instance_id == iid, TASK.c.step == "review").values({key: FORGED_AT}))
    code, out = verify()
    assert code == 1 and f"BROKEN: {iid}" in out and f"{key}: stored '2020-01-01T00:00:00+00:00'" in out, out
    assert "所显示的记录与其审计轨迹不一致" in dossier_check(app, iid)


def test_the_start_time_edited_in_the_state_and_its_row_alike_is_named(app):
    iid = app.config["DONE"]
    edit_state(app, iid, lambda state: state.update(started_at=FORGED_AT.isoformat()))
    raw(app, update(INST).where(INST.c.id == iid).values(started_at=FORGED_AT))
    code, out = verify()
    assert code == 1 and "started_at: stored '2020-01-01T00:00:00+00:00'" in out, out
    assert "所显示的记录与其审计轨迹不一致" in dossier_check(app, iid)


def test_the_dossier_names_people_and_roles_in_a_finding_as_the_reader_does(app):
    """A forged escalation or assignee is said with full names and role titles, in the
    reader's language: not ``['user:supervisor1']`` or a user id."""
    iid = app.config["DONE"]
    edit_state(app, iid, lambda state: _review(state).update(escalated_to=["quality_manager", "user:supervisor1"]))
    page = dossier_check(app, iid)
    assert "任务 t5（检验报告审核）的升级记录中为 '质量经理'、'质量主管一'，审计轨迹为 无人" in page, \
        page[page.find("所显示"):][:300]
    edit_state(app, iid, lambda state: _review(state).update(escalated_to=[], assignee="inspector1"))
    page = dossier_check(app, iid)
    assert "记录中为 '检验员一'" in page, page[page.find("所显示"):][:300]
