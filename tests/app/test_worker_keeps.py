"""What a worker keeps between passes (``scheduler.Starts``) never keeps it from firing: a new
version of a procedure, a watched record that changes, another worker's firing and a restart
are all seen at the next pass."""

from __future__ import annotations

from sqlalchemy import select

from engine.app.worker import Worker
from engine.store import Instance
from tests.app.test_hostile_schedules import _daily, _republish, _starts
from tests.app.test_timekeeping import _started
from tests.helpers.service import open_task
from tests.helpers.time import Clock, local, time_setup
from tests.helpers.time_procedures import setup


def test_a_schedule_moved_earlier_fires_at_its_new_time(sessions, tmp_path):
    clock = Clock(local("2026-03-02 07:00"))
    wf = setup(sessions, clock, tmp_path, {"daily-note": _daily("10:00")})
    worker = Worker(wf, sessions)
    worker.run_once()  # it keeps: nothing to do for daily-note before 10:00
    clock.set(local("2026-03-02 07:30"))
    _republish(wf, sessions, tmp_path, _daily("08:00"))
    worker.run_once()
    clock.set(local("2026-03-02 08:01"))
    worker.run_once()
    assert _starts(sessions) == ["2026-03-02T00:00:00+00:00"]  # 08:00, not 10:00


def test_two_workers_each_keeping_their_own_fire_each_occurrence_once(sessions, tmp_path):
    clock = Clock(local("2026-03-02 07:00"))
    wf = setup(sessions, clock, tmp_path, {"daily-note": _daily("08:30")})
    one, two = Worker(wf, sessions), Worker(wf, sessions)
    one.run_once()
    two.run_once()
    for t in ("2026-03-02 08:31", "2026-03-02 08:32", "2026-03-03 08:31", "2026-03-03 08:32"):
        clock.set(local(t))
        (one if t.endswith("31") else two).run_once()
        (two if t.endswith("31") else one).run_once()
    assert _starts(sessions) == ["2026-03-02T00:30:00+00:00", "2026-03-03T00:30:00+00:00"]
    clock.set(local("2026-03-05 09:00"))  # a worker restarted after two days catches up
    Worker(wf, sessions).run_once()
    assert len(_starts(sessions)) == 4


def test_a_watched_record_not_due_is_read_again_when_it_changes(sessions):
    clock = Clock(local("2026-01-05 09:00"))
    wf = time_setup(sessions, clock)
    worker = Worker(wf, sessions)
    worker.run_once()  # the triggers are installed now
    clock.advance(hours=1)
    with sessions() as s:  # a contract whose delivery date is not recorded yet
        state = wf.start(s, "contract", "clerk1", {})
        s.commit()
    worker.run_once()  # kept as waiting for a date
    clock.advance(hours=1)
    with sessions() as s:  # recorded: delivered a week ago, so the call is owed at once
        wf.complete_task(s, open_task(state, "contract"), "clerk1", {
            "customer": "甲医院", "expires_on": "2026-12-31", "delivered_on": "2025-12-29",
            "auto_remind": False})
        s.commit()
    worker.run_once()
    assert [c.origin_instance for c in _started(sessions, "follow-up-call")] == [state["id"]]


def test_a_watched_record_kept_as_not_due_fires_when_its_time_comes(sessions):
    clock = Clock(local("2026-01-05 09:00"))
    wf = time_setup(sessions, clock)
    worker = Worker(wf, sessions)
    worker.run_once()
    with sessions() as s:
        state = wf.start(s, "contract", "clerk1", {})
        wf.complete_task(s, open_task(state, "contract"), "clerk1", {
            "customer": "甲医院", "expires_on": "2026-12-31", "delivered_on": "2026-01-06",
            "auto_remind": False})
        s.commit()
    for t in ("2026-01-05 10:00", "2026-01-10 23:59"):
        clock.set(local(t))
        worker.run_once()
    assert _started(sessions, "follow-up-call") == []
    clock.set(local("2026-01-11 00:00"))  # 6 January + 5 days
    worker.run_once()
    with sessions() as s:
        origins = list(s.scalars(select(Instance.origin_instance).where(Instance.procedure_id == "follow-up-call")))
    assert origins == [state["id"]]
