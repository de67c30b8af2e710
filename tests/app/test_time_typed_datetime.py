"""A date-time typed in a form (the browser sends local wall time, no offset) and the due
date the editor's picker builds from it: ``datetime(F) + hours(N)``."""

from __future__ import annotations

from datetime import datetime

from engine.app.service import Workflow
from tests.helpers.service import answers, play
from tests.helpers.time import Clock, local
from tests.helpers.time_procedures import setup

PROC = """
id: promised-plus
title: 承诺时间后4小时
roles: {clerk: 服务专员}
start: {roles: [clerk], step: call, form: timing}
steps:
  call:
    title: 回访
    role: clerk
    form: note
    deadline: {due_expr: "datetime(start.promised) + hours(4)"}
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""


def test_datetime_of_a_typed_local_time_plus_hours_is_local(sessions, tmp_path):
    clock = Clock(local("2026-10-09 08:00"))
    wf = setup(sessions, clock, tmp_path, {"promised-plus": PROC})
    with sessions() as s:
        # What the datetime-local input posts: 10:00 on the user's (Shanghai) clock.
        state = wf.start(s, "promised-plus", "clerk1", {"kind": "due", "promised": "2026-10-09T10:00"})
        s.commit()
    [task] = [t for t in state["tasks"].values() if t["status"] == "open"]
    # 10:00 Shanghai + 4 h = 14:00 Shanghai; found: 22:00 Shanghai (the typed time read as UTC).
    assert datetime.fromisoformat(task["due_at"]) == local("2026-10-09 14:00")


def test_shipped_medical_complaint_disposition_due_3_days_after_the_typed_receipt(sessions):
    """medical-device-complaint: ``due_expr: datetime(record.received_at) + days(3)``, with
    received_at as the browser's datetime-local input posts it (no offset)."""
    from engine.store import users
    from tests.helpers.service import PASSWORD, config, open_task

    clock = Clock(local("2026-11-02 09:30"))
    wf = Workflow(config(), clock=clock)
    with sessions() as s:
        wf.load_procedures(s)
        users.add_user(s, "qd1", PASSWORD, ["quality-dept"], full_name="qd1")
        users.add_user(s, "inspector1", PASSWORD, ["qa-inspectors"], full_name="inspector1")
        s.commit()
    script = answers("medical-device-complaint--local-conforming")
    script["steps"][0]["data"]["received_at"] = "2026-11-02T09:00"  # <input type="datetime-local">
    state = play(wf, sessions, script, upto=3)
    task = state["tasks"][open_task(state, "disposition").rpartition(".")[2]]
    # 3 days after 09:00 Shanghai on 2 November is 09:00 Shanghai on 5 November; found: 17:00.
    assert datetime.fromisoformat(task["due_at"]) == local("2026-11-05 09:00")
