"""Hostile pass on the schedules (automatic starts): a schedule edited on the day it is due,
a worker down for days, working-day schedules around holidays and make-up Saturdays."""

from __future__ import annotations

from engine.app.worker import Worker
from tests.app.test_timekeeping import _contract, _started
from tests.helpers.time import Clock, local, time_setup


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
