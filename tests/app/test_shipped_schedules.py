"""The shipped library keeps its own time: a quarter of procedure time through the worker
starts the monthly callbacks (due before the 10th), the quarterly visit plan, the monthly
inspections and the daily reports (on working days only), each occurrence once."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select

from engine.app.service import Workflow
from engine.app.worker import Worker
from engine.store import Instance
from tests.helpers.service import config
from tests.helpers.time import SHANGHAI, Clock, local


def test_a_quarter_of_the_shipped_schedules(sessions):
    clock = Clock(local("2026-01-01 00:00"))
    wf = Workflow(config(), clock=clock)
    with sessions() as s:
        wf.load_procedures(s)
        s.commit()
    worker = Worker(wf, sessions)
    worker.run_once()  # the schedules are seen from now on; nothing earlier is replayed
    while clock.now < local("2026-04-01 00:00"):
        clock.advance(hours=6)
        worker.run_once()

    with sessions() as s:
        rows = list(s.scalars(select(Instance).where(Instance.started_by == "system")))
    started = Counter(r.procedure_id for r in rows)
    calendar = wf.calendars["default"]
    # The daily reports run on working days only: 1-2 January and the Spring Festival are
    # off, Sunday 4 January and Saturdays 14 and 28 February are make-up working days.
    workdays = sum(calendar.is_working_day((local("2026-01-01") + timedelta(days=n)).date())
                   for n in range((local("2026-04-01") - local("2026-01-01")).days))
    assert workdays == 59
    assert started["monthly-callback"] == 3
    assert started["monthly-system-inspection"] == 3
    assert started["data-backup-check"] == 3
    assert started["after-sales-quality-review"] == 3 + 1  # monthly, plus the quarterly summary
    assert started["periodic-customer-visit"] == 1
    assert started["technician-daily-report"] == workdays
    assert started["same-day-issue-report"] == workdays
    assert started["annual-service-plan"] == started["supplier-evaluation"] == 1  # Jan 1, Jan 15

    for r in (r for r in rows if r.procedure_id == "monthly-callback"):
        first = datetime.fromisoformat(r.state["origin"]["occurrence"]).astimezone(SHANGHAI)
        assert (first.day, first.hour) == (1, 9)
        callbacks = next(t for t in r.state["tasks"].values() if t["step"] == "callbacks")
        due = datetime.fromisoformat(callbacks["due_at"]).astimezone(SHANGHAI)
        assert (due.year, due.month, due.day) == (first.year, first.month, 10)  # before the 10th
    # A second pass at the same moment starts nothing again.
    assert worker.run_once().started == 0
