"""A calendar a running procedure version names but the configuration no longer has (renamed
or removed in config.yaml after the version was installed): deadlines count with the configured
``default`` calendar and its public holidays. They fell back to the built-in calendar, which
knows none: 3wd from 30 September 16:00 ended on Monday 5 October, in the middle of the
National Day holidays."""

from __future__ import annotations

from datetime import datetime

from engine.app.service import Workflow
from engine.config import load_config
from tests.helpers.service import ROOT
from tests.helpers.time import Clock, local
from tests.helpers.time_procedures import setup, time_dir

PROC = """
id: factory-check
title: 车间核实
calendar: factory
roles: {clerk: 服务专员}
start: {roles: [clerk], step: check, form: timing}
steps:
  check:
    title: 3个工作日内核实
    role: clerk
    form: note
    deadline: {within: 3wd}
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""

FACTORY = {"timezone": "Asia/Shanghai", "working_hours": ["08:30-12:00", "13:00-17:30"],
           "rest_days": ["sat", "sun"], "public_holidays": "china"}


def test_a_calendar_gone_from_the_config_does_not_silently_drop_the_holidays(sessions, tmp_path):
    clock = Clock(local("2026-09-30 16:00"))
    setup(sessions, clock, tmp_path, {"factory-check": PROC}, **{"calendars.factory": FACTORY})
    # config.yaml edited afterwards: calendar 'factory' renamed; the server restarts.
    root = time_dir(tmp_path / "again", {})
    cfg = load_config(ROOT / "config.yaml", overrides={
        "paths.procedures": str(root / "procedures"), "paths.forms": str(root / "forms"),
        "roles": {"clerk": ["clerks"], "chief": ["chiefs"], "director": ["directors"]}})
    wf = Workflow(cfg, clock=clock)
    with sessions() as s:
        state = wf.start(s, "factory-check", "clerk1", {"kind": "wd"})
        s.commit()
    [task] = [t for t in state["tasks"].values() if t["status"] == "open"]
    # Thu 8, Fri 9 and the make-up Saturday 10 October (调休) with any calendar that has the
    # official days; found: 2026-10-05 16:00, a National Day holiday.
    assert datetime.fromisoformat(task["due_at"]) == local("2026-10-10 16:00")
