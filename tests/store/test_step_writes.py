"""The cheaper step (issue 20): what a step writes when it sets only the columns that change,
and the session version and a task's route read with prepared statements. On SQLite and
(when configured) PostgreSQL.

Each test checks the database afterwards, not the statements: a column left out of an
UPDATE must still read what the state says.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine.errors import Conflict, NotFound
from engine.store import (
    Instance,
    InstanceStatus,
    add_user,
    create_instance,
    load_for_step,
    load_instance,
    postpone_timers,
    register_procedure_version,
    repo,
    save_step,
    save_steps,
    task_route,
    tasks_of,
)
from engine.store import users as user_store
from tests.helpers.store import FORMS, procedure_text

T0 = datetime(2026, 5, 11, 1, 30, tzinfo=UTC)


def make_state(instance_id: str, **kw) -> dict:
    state = {
        "format": 1, "id": instance_id, "procedure": "complaint", "status": "running",
        "outcome": None, "started_at": T0.isoformat(), "started_by": "alice",
        "ended_at": None, "origin": None, "data": {"receive": {"customer": "华东机电"}},
        "tasks": {"t1": make_task("t1")}, "rev": 0, "serial": f"CP-202605-{instance_id[-1]}",
    }
    state.update(kw)
    return state


def make_task(task_id: str, **kw) -> dict:
    task = {"id": task_id, "step": "review", "kind": "task", "role": "inspector",
            "status": "open", "assignee": None, "created_at": T0.isoformat(),
            "due_at": (T0 + timedelta(hours=8)).isoformat(), "completed_at": None,
            "completed_by": None}
    task.update(kw)
    return task


@pytest.fixture
def version_id(session) -> int:
    row, _ = register_procedure_version(session, "complaint", procedure_text("complaint"), FORMS, "客户投诉处理")
    session.commit()
    return row.id


def columns(session, instance_id: str) -> dict:
    session.expire_all()
    row = load_instance(session, instance_id)
    return {c: getattr(row, c) for c in repo._INDEXED}


def test_columns_left_out_of_a_step_still_read_what_the_state_says(session, version_id):
    state = make_state("I1")
    create_instance(session, state, version_id, [], T0 + timedelta(hours=8))
    session.commit()
    # A step that changes only the data: none of the indexed columns is written...
    state = {**state, "data": {"receive": {"customer": "华南电子"}}, "rev": 1}
    row = load_for_step(session, "I1")
    (stmt, _rows), = repo._step_writes(row, state, [], T0 + timedelta(hours=8), T0)[:1]
    assert stmt is repo._update_instance(())
    save_step(session, row, state, [], T0 + timedelta(hours=8))
    session.commit()
    # ... and the row still holds them, with the new state.
    assert columns(session, "I1") == {
        "next_timer_at": T0 + timedelta(hours=8), "procedure_id": "complaint",
        "status": InstanceStatus.RUNNING, "outcome": None, "started_at": T0, "started_by": "alice",
        "ended_at": None, "origin_instance": None, "origin_step": None, "serial": "CP-202605-1"}
    assert load_instance(session, "I1").state["data"]["receive"]["customer"] == "华南电子"

    # Completing it changes status, outcome, ended_at and the timer: those are written.
    done = {**state, "status": "completed", "outcome": "结案", "ended_at": (T0 + timedelta(hours=1)).isoformat(),
            "rev": 2, "tasks": {"t1": make_task("t1", status="done", completed_by="bob",
                                                completed_at=(T0 + timedelta(hours=1)).isoformat())}}
    save_step(session, load_for_step(session, "I1"), done, [], None)
    session.commit()
    after = columns(session, "I1")
    assert (after["status"], after["outcome"], after["ended_at"], after["next_timer_at"]) == (
        InstanceStatus.COMPLETED, "结案", T0 + timedelta(hours=1), None)
    assert after["serial"] == "CP-202605-1" and after["started_by"] == "alice"


def test_a_postponed_timer_is_set_back_by_the_next_step(session, version_id):
    """The worker moves the timer of an instance whose tick failed without changing its
    state: the next step must compare with the stored timer, not the state's."""
    state = make_state("I2")
    create_instance(session, state, version_id, [], T0 + timedelta(hours=8))
    session.commit()
    postpone_timers(session, ["I2"], T0 + timedelta(days=3))
    session.commit()
    save_step(session, load_for_step(session, "I2"), {**state, "rev": 1}, [], T0 + timedelta(hours=8))
    session.commit()
    assert columns(session, "I2")["next_timer_at"] == T0 + timedelta(hours=8)


def test_task_rows_get_only_their_changed_columns_and_match_the_state(session, version_id):
    state = make_state("I3", tasks={"t1": make_task("t1"), "t2": make_task("t2", assignee="carol")})
    create_instance(session, state, version_id, [])
    session.commit()
    new = {**state, "rev": 1, "tasks": {
        "t1": make_task("t1", status="done", completed_by="bob", completed_at=(T0 + timedelta(hours=1)).isoformat()),
        "t2": make_task("t2", assignee=None),  # released
        "t3": make_task("t3", step="approve", kind="approval", role="qa_supervisor")}}
    row = load_for_step(session, "I3")
    writes = dict(repo._step_writes(row, new, [], None, T0))
    assert writes[repo._update_task(("status", "completed_at", "completed_by"))] == [
        {"b_id": "I3.t1", "status": "done", "completed_at": T0 + timedelta(hours=1), "completed_by": "bob"}]
    assert writes[repo._update_task(("assignee",))] == [{"b_id": "I3.t2", "assignee": None}]
    save_step(session, row, new, [])
    session.commit()
    session.expire_all()
    got = {t.task_id: (str(t.status), t.assignee, t.completed_by, t.completed_at, t.step, t.role)
           for t in tasks_of(session, "I3")}
    assert got == {"t1": ("done", None, "bob", T0 + timedelta(hours=1), "review", "inspector"),
                   "t2": ("open", None, None, None, "review", "inspector"),
                   "t3": ("open", None, None, None, "approve", "qa_supervisor")}


def test_a_worker_batch_with_different_changes_writes_each_and_checks_every_rev(sessions, version_id):
    with sessions() as s:
        for iid in ("I4", "I5"):
            create_instance(s, make_state(iid), version_id, [], T0)
        s.commit()
    with sessions() as s:
        rows = [s.scalars(select(Instance).where(Instance.id == iid)).one() for iid in ("I4", "I5")]
        first = {**rows[0].state, "rev": 1}  # only its timer moves
        second = {**rows[1].state, "rev": 1, "status": "cancelled", "ended_at": T0.isoformat()}
        save_steps(s, [(rows[0], first, [], T0 + timedelta(hours=1)), (rows[1], second, [], None)])
        s.commit()
    with sessions() as s:
        a, b = (s.get(Instance, iid) for iid in ("I4", "I5"))
        assert (a.rev, a.next_timer_at, a.status) == (1, T0 + timedelta(hours=1), InstanceStatus.RUNNING)
        assert (b.rev, b.next_timer_at, b.status, b.ended_at) == (1, None, InstanceStatus.CANCELLED, T0)
    # One row of the batch moved on after the batch read it: the whole batch is refused.
    with sessions() as s:
        rows = [s.scalars(select(Instance).where(Instance.id == iid)).one() for iid in ("I4", "I5")]
        s.expunge_all()
    with sessions() as other:
        save_step(other, load_for_step(other, "I5"), {**rows[1].state, "rev": 2}, [])
        other.commit()
    with sessions() as s:
        with pytest.raises(Conflict):
            save_steps(s, [(rows[0], {**rows[0].state, "rev": 2}, [], T0),
                           (rows[1], {**rows[1].state, "rev": 2, "outcome": "x"}, [], None)])
        s.rollback()
    with sessions() as s:
        assert s.get(Instance, "I4").rev == 1 and s.get(Instance, "I5").outcome is None


def test_session_version_of_active_inactive_and_unknown_users(session):
    add_user(session, "alice", "pw-alice-1", ["qa-inspectors"])
    session.commit()
    before = user_store.session_version(session, "alice")
    assert isinstance(before, int)
    assert user_store.end_sessions(session, "alice") == before + 1
    assert user_store.session_version(session, "alice") == before + 1
    user_store.set_active(session, "alice", False)
    assert user_store.session_version(session, "alice") is None
    assert user_store.session_version(session, "nobody") is None


def test_task_route_gives_the_task_and_its_pinned_version(session, version_id):
    create_instance(session, make_state("I7"), version_id, [])
    session.commit()
    ref, pinned = task_route(session, "I7.t1")
    assert (ref.instance_id, ref.step, str(ref.kind), pinned) == ("I7", "review", "task", version_id)
    with pytest.raises(NotFound):
        task_route(session, "I7.t9")
