"""Hostile pass on the schedules (automatic starts): a schedule edited on the day it is due,
a worker down for days, working-day schedules around holidays and make-up Saturdays."""

from __future__ import annotations

from sqlalchemy import select

from engine.app.worker import Worker
from engine.store import Instance
from tests.app.test_timekeeping import _contract, _started
from tests.helpers.time import Clock, local, time_setup
from tests.helpers.time_procedures import setup

DAILY = """\
id: daily-note
title: 每日记录
roles:
  clerk: 服务专员
start: {{roles: [clerk], step: report, form: customer}}
starts:
  - {{schedule: {every}, {day}at: "{at}", data: {{period_note: 日志}}}}
steps:
  report: {{title: 编写报告, role: clerk, form: note, next: done}}
  done: {{type: end, title: 结束, outcome: 完成}}
"""


def _daily(at: str, every: str = "daily", day: str = "") -> str:
    return DAILY.format(at=at, every=every, day=day)


def _starts(sessions, pid: str = "daily-note") -> list[str]:
    """The local start times of the automatic instances of ``pid``."""
    with sessions() as s:
        rows = s.scalars(select(Instance).where(Instance.procedure_id == pid).order_by(Instance.started_at))
        return [r.state["origin"]["occurrence"] for r in rows]


def _republish(wf, sessions, tmp_path, text: str, pid: str = "daily-note") -> None:
    (tmp_path / "timedata" / "procedures" / f"{pid}.yaml").write_text(text, encoding="utf-8")
    with sessions() as s:
        wf.load_procedures(s)
        s.commit()


def test_a_daily_schedule_moved_later_on_the_day_it_fired_does_not_fire_again(sessions, tmp_path):
    clock = Clock(local("2026-03-02 07:00"))
    wf = setup(sessions, clock, tmp_path, {"daily-note": _daily("08:30")})
    worker = Worker(wf, sessions)
    worker.run_once()
    clock.set(local("2026-03-02 08:31"))
    worker.run_once()
    assert len(_starts(sessions)) == 1  # today's, at 08:30
    clock.set(local("2026-03-02 08:45"))
    _republish(wf, sessions, tmp_path, _daily("09:00"))  # the quality manager moves it to 09:00
    worker.run_once()  # a worker running every few seconds sees the new rule at once
    for t in ("2026-03-02 09:01", "2026-03-02 12:00", "2026-03-03 09:01"):
        clock.set(local(t))
        worker.run_once()
    # One record a day: today's was already started at 08:30, tomorrow's at 09:00.
    assert len(_starts(sessions)) == 2, _starts(sessions)


def test_a_monthly_schedule_moved_to_a_later_day_fires_once_that_month(sessions, tmp_path):
    clock = Clock(local("2026-03-01 07:00"))
    wf = setup(sessions, clock, tmp_path, {"daily-note": _daily("08:30", "monthly", "day: 1, ")})
    worker = Worker(wf, sessions)
    worker.run_once()
    clock.set(local("2026-03-01 09:00"))
    worker.run_once()
    clock.set(local("2026-03-05 10:00"))
    _republish(wf, sessions, tmp_path, _daily("08:30", "monthly", "day: 15, "))  # callbacks on the 15th now
    worker.run_once()
    for day in range(6, 32):
        clock.set(local(f"2026-03-{day:02d} 10:00"))
        worker.run_once()
    assert _starts(sessions) == ["2026-03-01T00:30:00+00:00"]  # March had its callbacks
    clock.set(local("2026-04-15 10:00"))
    worker.run_once()
    assert _starts(sessions)[1:] == ["2026-04-15T00:30:00+00:00"]


def test_a_schedule_removed_and_declared_again_does_not_replay_its_absence(sessions, tmp_path):
    clock = Clock(local("2026-03-02 07:00"))
    wf = setup(sessions, clock, tmp_path, {"daily-note": _daily("08:30")})
    worker = Worker(wf, sessions)
    worker.run_once()
    clock.set(local("2026-03-02 09:00"))
    worker.run_once()
    assert len(_starts(sessions)) == 1
    # A plant shutdown: the daily record is paused by removing the schedule for ten days...
    paused = _daily("08:30").replace('  - {schedule: daily, at: "08:30", data: {period_note: 日志}}\n', "")
    assert "schedule" not in paused
    clock.set(local("2026-03-02 10:00"))
    _republish(wf, sessions, tmp_path, paused.replace("starts:\n", ""))
    for day in range(3, 12):
        clock.set(local(f"2026-03-{day:02d} 09:00"))
        worker.run_once()
    # ...and declared again as it was on the 12th at 10:00 (the file as before but for a
    # comment: a file put back word for word is not registered again, see the report).
    clock.set(local("2026-03-12 10:00"))
    _republish(wf, sessions, tmp_path, "# resumed after the shutdown\n" + _daily("08:30"))
    worker.run_once()
    assert len(_starts(sessions)) == 1  # not one record per day of the pause
    clock.set(local("2026-03-13 09:00"))
    worker.run_once()
    assert _starts(sessions)[1:] == ["2026-03-13T00:30:00+00:00"]


def test_a_date_at_the_end_of_time_in_a_watched_record_does_not_stop_the_worker(sessions):
    clock = Clock(local("2026-01-05 09:00"))
    wf = time_setup(sessions, clock)
    worker = Worker(wf, sessions)
    worker.run_once()
    # An ordinary clerk types the far ends of the date picker: + 5 days and - 1 month of them
    # are no dates at all. Every pass of the worker failed on them, for every procedure.
    _contract(wf, sessions, "甲医院", "0001-01-01", "9999-12-31", True)
    good = _contract(wf, sessions, "乙医院", "2026-05-15", "2026-01-06", True)
    clock.set(local("2026-01-12 09:00"))
    stats = worker.run_once()
    assert [r.origin_instance for r in _started(sessions, "follow-up-call")] == [good]
    assert stats.started >= 1 + 7  # the call, and the periodic reports' days went on too


def test_a_schedule_edited_twice_on_one_day_still_fires_once_that_day(sessions, tmp_path):
    clock = Clock(local("2026-03-02 07:00"))
    wf = setup(sessions, clock, tmp_path, {"daily-note": _daily("08:30")})
    worker = Worker(wf, sessions)
    worker.run_once()
    clock.set(local("2026-03-02 08:31"))
    worker.run_once()
    for at, edited in (("09:00", "2026-03-02 08:45"), ("09:30", "2026-03-02 08:50")):
        clock.set(local(edited))
        _republish(wf, sessions, tmp_path, _daily(at))
        worker.run_once()
    for t in ("2026-03-02 09:31", "2026-03-03 09:31"):
        clock.set(local(t))
        worker.run_once()
    assert _starts(sessions) == ["2026-03-02T00:30:00+00:00", "2026-03-03T01:30:00+00:00"]


def test_a_trigger_may_not_copy_a_sensitive_field_into_a_field_shown_in_clear(tmp_path):
    import shutil

    from engine.language.procedure import load_library
    from tests.helpers.time import TIME

    root = tmp_path / "lib"
    shutil.copytree(TIME, root)
    # The contract's customer is personal data: masked on the contract's pages...
    form = root / "forms" / "contract.yaml"
    text = form.read_text(encoding="utf-8")
    assert "customer: {type: string" in text
    form.write_text(text.replace("customer: {type: string", "customer: {x-sensitive: true, type: string"),
                    encoding="utf-8")
    # ...and the follow-up call copies it into its start form, which showed it to every reader.
    problems = [f"{p.file.rsplit('/', 1)[-1]}:{p.line}:{p.col}: {p.message}"
                for p in load_library([root / "procedures", root / "forms"]).problems]
    assert any(p.startswith("follow-up-call.yaml:8:12: 'customer' copies the sensitive field "
                            "'contract.customer' of 'contract'") and "x-sensitive: true in form 'customer'" in p
               for p in problems), problems
    # Marked sensitive where it lands, the copy is masked there too: no problem.
    start = root / "forms" / "customer.yaml"
    start.write_text(start.read_text(encoding="utf-8").replace(
        "customer: {type: string", "customer: {x-sensitive: true, type: string"), encoding="utf-8")
    assert not [p for p in load_library([root / "procedures", root / "forms"]).problems if "sensitive" in p.message]


def test_a_trigger_edited_does_not_start_again_for_records_it_already_started(sessions, tmp_path):
    clock = Clock(local("2026-01-05 09:00"))
    wf = setup(sessions, clock, tmp_path, {})
    worker = Worker(wf, sessions)
    worker.run_once()
    a = _contract(wf, sessions, "甲医院", "2026-12-31", "2026-01-06", False)
    b = _contract(wf, sessions, "乙医院", "2026-12-31", "2026-01-10", False)
    clock.set(local("2026-01-12 09:00"))
    worker.run_once()
    assert [r.origin_instance for r in _started(sessions, "follow-up-call")] == [a]  # 6 January + 5 days
    # The quality manager moves the call to 7 days after delivery, on 12 January.
    path = tmp_path / "timedata" / "procedures" / "follow-up-call.yaml"
    _republish(wf, sessions, tmp_path, path.read_text(encoding="utf-8").replace("offset: 5d", "offset: 7d"),
               "follow-up-call")
    worker.run_once()
    for day in range(13, 20):
        clock.set(local(f"2026-01-{day} 09:00"))
        worker.run_once()
    # One call per delivery: a was called already (its 7 days fall on the 13th, after the
    # edit), b is called on its new day, the 17th.
    calls = _started(sessions, "follow-up-call")
    assert [r.origin_instance for r in calls] == [a, b]
    assert calls[1].state["origin"]["occurrence"] == "2026-01-16T16:00:00+00:00"
