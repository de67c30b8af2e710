"""Due dates of the shipped procedures that count from the start day are local (Beijing) days.

They used to slice ``instance.started_at[:10]``, the UTC date: a monthly callback started at
07:30 on 1 December in Beijing (23:30 on 30 November in UTC) was due on 10 November and
escalated at once. Clocks are fixed at 00:30, 07:30 and 23:30 Beijing time around month ends.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.config import load_config
from engine.language.calendar import Calendar
from engine.language.procedure import load_library
from engine.runtime.commands import Actor, Start
from engine.runtime.machine import Runtime, open_tasks

ROOT = Path(__file__).parents[2]
SH = ZoneInfo("Asia/Shanghai")
CAL = Calendar.from_config("default", load_config(ROOT / "config.yaml").calendar("default"))


@pytest.fixture(scope="module")
def library():
    lib = load_library([ROOT / "procedures" / f"{p}.yaml" for p in
                        ("monthly-callback", "same-day-issue-report", "customer-initial-visit")]
                       + [ROOT / "forms"])
    assert lib.problems == []
    return lib.procedures


def first_due(procedures, pid: str, started: datetime, data: dict) -> datetime:
    proc = procedures[pid]
    actor = Actor("u1", frozenset(proc.start_roles), "甲")
    state, _ = Runtime(proc, {"default": CAL}).apply(None, Start(actor, data, instance_id="i1"), started)
    [task] = open_tasks(state)
    return datetime.fromisoformat(task["due_at"]).astimezone(SH)


START = {"customer": "某医院", "source_ref": "上月反馈记录"}


@pytest.mark.parametrize("started", ["2026-12-01 00:30", "2026-12-01 07:30", "2026-12-01 23:30"])
def test_monthly_callback_is_due_before_the_tenth_of_its_own_month(library, started):
    due = first_due(library, "monthly-callback", datetime.fromisoformat(started).replace(tzinfo=SH), START)
    assert due == datetime(2026, 12, 10, tzinfo=SH)


@pytest.mark.parametrize("started", ["2026-11-30 00:30", "2026-11-30 07:30"])
def test_same_day_report_is_due_at_half_past_five_that_local_day(library, started):
    due = first_due(library, "same-day-issue-report", datetime.fromisoformat(started).replace(tzinfo=SH), START)
    assert due == datetime(2026, 11, 30, 17, 30, tzinfo=SH)


@pytest.mark.parametrize(("started", "due"), [
    ("2026-11-30 07:00", datetime(2026, 12, 1, 9, 0, tzinfo=SH)),   # not the same morning
    ("2026-11-30 23:30", datetime(2026, 12, 1, 9, 0, tzinfo=SH)),
    ("2026-12-01 00:30", datetime(2026, 12, 2, 9, 0, tzinfo=SH)),
])
def test_customer_file_is_due_the_next_morning(library, started, due):
    proc = library["customer-initial-visit"]
    form = proc.forms[proc.start_form]
    data = {f: "x" for f, info in form.fields.items() if info.required and info.type == "string"}
    assert first_due(library, "customer-initial-visit", datetime.fromisoformat(started).replace(tzinfo=SH), data) == due


EMPTY_DATE = """id: empty-date
title: 日期为空
roles: {inspector: 检验员}
start: {roles: [inspector], step: inspect}
steps:
  inspect: {title: 检验, role: inspector, form: check, next: deliver}
  deliver:
    title: 交付
    role: inspector
    form: note
    deadline: {due_expr: inspect.delivered_on, escalate: inspector}
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""


def test_an_empty_date_field_opens_the_task_without_a_deadline_and_says_why():
    lang = load_library([ROOT / "tests" / "data" / "lang" / "forms"])
    from engine.language.procedure import load_procedure_text
    from engine.runtime.commands import CompleteTask

    proc = load_procedure_text(EMPTY_DATE, "empty-date.yaml", lang.forms)
    rt = Runtime(proc, {"default": CAL})
    me = Actor("u1", frozenset({"inspector"}), "甲")
    now = datetime(2026, 11, 30, 23, 30, tzinfo=SH)
    state, _ = rt.apply(None, Start(me, instance_id="i1"), now)
    [task] = open_tasks(state)
    # delivered_on is optional and left empty: the inspector's submission is not refused.
    state, events = rt.apply(state, CompleteTask(task["id"], me, {"verdict": "合格"}), now)
    [deliver] = open_tasks(state)
    assert deliver["step"] == "deliver" and deliver["due_at"] is None
    assert "gave None, not a date; correct that field" in deliver["problem"]
    assert [e["data"].get("problem") for e in events if e["type"] == "task:created"] == [deliver["problem"]]
    # With the date given, the deadline is midnight at the start of that Beijing day.
    state, _ = rt.apply(None, Start(me, instance_id="i2"), now)
    [task] = open_tasks(state)
    state, _ = rt.apply(state, CompleteTask(task["id"], me, {"verdict": "合格", "delivered_on": "2026-12-03"}), now)
    [deliver] = open_tasks(state)
    assert datetime.fromisoformat(deliver["due_at"]) == datetime(2026, 12, 3, tzinfo=SH)


EMPTY_WAIT = """id: empty-wait
title: 等待日期为空
roles: {inspector: 检验员}
start: {roles: [inspector], step: inspect}
steps:
  inspect: {title: 检验, role: inspector, form: check, next: hold}
  hold: {type: wait, title: 等到交付日, until: inspect.delivered_on, next: visit}
  visit: {title: 回访, role: inspector, form: note, next: done}
  done: {type: end, title: 结束, outcome: 完成}
"""


def test_a_wait_for_an_empty_date_goes_on_and_says_why_instead_of_stalling():
    from engine.language.procedure import load_procedure_text
    from engine.runtime.commands import CompleteTask, Tick

    lang = load_library([ROOT / "tests" / "data" / "lang" / "forms"])
    proc = load_procedure_text(EMPTY_WAIT, "empty-wait.yaml", lang.forms)
    rt = Runtime(proc, {"default": CAL})
    me = Actor("u1", frozenset({"inspector"}), "甲")
    now = datetime(2026, 12, 1, 0, 30, tzinfo=SH)
    state, _ = rt.apply(None, Start(me, instance_id="i1"), now)
    [task] = open_tasks(state)
    state, events = rt.apply(state, CompleteTask(task["id"], me, {"verdict": "合格"}), now)
    [hold] = open_tasks(state)
    assert hold["kind"] == "wait" and "gave None, not a date" in hold["problem"]
    # kept with its key: each reader sees it in their language; the event keeps it too
    from engine.i18n import shown

    assert shown(hold["problem"], hold["problem_message"], "zh") == "未等待：“until: inspect.delivered_on”得到 None，不是日期"
    assert shown(hold["problem"], hold["problem_message"], "en") == hold["problem"]
    [created] = [e for e in events if e["type"] == "task:created" and e["task"] == hold["id"]]
    assert created["data"]["problem_message"] == hold["problem_message"]
    state, _ = rt.apply(state, Tick(), now)
    assert [t["step"] for t in open_tasks(state)] == ["visit"]
