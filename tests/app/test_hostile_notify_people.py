"""Who hears of a task when the person it names has been deactivated: 催办 and reminders of a
task its holder can no longer reach, and 抄送 to a deactivated account. Real database."""

from __future__ import annotations

import pytest

from engine.app import cc, task_actions, tasks
from engine.app.worker import Worker
from engine.errors import FormInvalid
from engine.store import timekeeping as tk
from engine.store import users
from tests.app.test_task_actions import events_of, notified, services, started  # noqa: F401 - fixture
from tests.helpers.service import open_task
from tests.helpers.time import Clock, local, time_setup


def test_a_cc_to_a_deactivated_account_is_refused_not_lost(services):  # noqa: F811
    """The CC was recorded as sent to a deactivated user, whose notification the database
    then left out (inactive users get none): the sender believed it delivered, nobody saw
    it. Now it is refused, naming the account and what to do, and nothing is recorded."""
    state = started(services)
    task = open_task(state, "inspect")
    with services.database.writing() as s:
        users.set_active(s, "x", False)
    before = len(events_of(services, state["id"], "cc:sent"))
    with pytest.raises(FormInvalid, match="'x' is deactivated") as refused:
        cc.send(services, "ins2", task, ["user:x", "user:watcher"], "请知悉")
    assert refused.value.errors[0]["field"] == "recipients"
    assert len(events_of(services, state["id"], "cc:sent")) == before
    assert "x" not in notified(services, "cc")


def test_urging_a_task_whose_holder_was_deactivated_tells_the_role(services):  # noqa: F811
    """催办 of a task claimed by someone since deactivated went to that account only (which
    gets no notifications): the urger was told it was sent, and nobody heard it. The
    step's role hears it instead, as when nobody holds the task."""
    state = started(services)
    task = open_task(state, "inspect")
    tasks.claim(services, "ins2", task)
    with services.database.writing() as s:
        users.set_active(s, "ins2", False)
    task_actions.urge(services, "ins1", task, "客户在等")
    told = notified(services, "urged")
    assert "ins3" in told and "ins2" not in told and told["ins3"]["note"] == "客户在等"


def test_reminder_and_miss_of_a_task_held_by_a_deactivated_user_reach_the_role(sessions):
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock)
    with sessions() as s:
        state = wf.start(s, "timed-steps", "clerk2", {"kind": "h"})
        wf.claim(s, open_task(state, "hours"), "clerk1")
        users.set_active(s, "clerk1", False)
        s.commit()
    clock.set(local("2026-09-30 17:00"))
    Worker(wf, sessions).run_once()
    with sessions() as s:
        kinds = {n.kind for n in tk.notifications_for(s, "clerk2") if n.instance_id == state["id"]}
        assert {"reminder", "missed"} <= kinds
        assert not [n for n in tk.notifications_for(s, "clerk1") if n.kind in ("reminder", "missed")]
