"""Prepared statements of the hot path on a real database: the same values as through the
ORM (JSON, aware UTC times, enums, booleans), driver errors wrapped as SQLAlchemy's, and
signature passwords checked before the write transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from engine.app.service import VerifiedPassword
from engine.errors import Conflict, NotFound, SignatureInvalid
from engine.store import (
    Instance,
    InstanceStatus,
    Task,
    TaskKind,
    TaskStatus,
    create_instance,
    load_for_step,
    load_instance,
    load_record,
    register_procedure_version,
    save_step,
    task_ref,
    users,
)
from engine.store.prepared import Prepared, batch
from tests.helpers.service import PASSWORD, answer, answers, open_task, play, setup
from tests.helpers.store import FORMS, procedure_text

T0 = datetime(2026, 5, 11, 1, 30, 15, 123456, tzinfo=UTC)


def _state(iid: str, *, tasks: dict | None = None) -> dict:
    return {"format": 1, "id": iid, "procedure": "complaint", "status": "running",
            "outcome": None, "started_at": T0.isoformat(), "started_by": "alice",
            "ended_at": None, "origin": None, "data": {"receive": {"客户": "华东机电", "n": 1.5}},
            "tasks": tasks or {}, "rev": 0}


def _task(tid: str, **kw) -> dict:
    return {"id": tid, "step": "review", "kind": "approval", "role": "inspector",
            "status": "open", "assignee": None, "created_at": T0.isoformat(),
            "due_at": (T0 + timedelta(hours=8)).isoformat(), "completed_at": None,
            "completed_by": None, **kw}


def _event(etype: str, **data) -> dict:
    return {"type": etype, "step": "review", "actor": "alice", "at": T0.isoformat(), "data": data}


@pytest.fixture
def version_id(session) -> int:
    row, _ = register_procedure_version(session, "complaint", procedure_text("complaint"), FORMS, "投诉")
    session.flush()
    return row.id


def test_written_rows_read_back_through_the_orm_unchanged(session, version_id):
    state = _state("I1", tasks={"t1": _task("t1")})
    create_instance(session, state, version_id, [_event("instance:started", 客户="华东机电")],
                    next_timer_at=T0 + timedelta(hours=1))
    session.flush()
    row = load_instance(session, "I1")
    assert row.state == state and row.status is InstanceStatus.RUNNING
    assert row.started_at == T0 and row.next_timer_at == T0 + timedelta(hours=1)
    task = session.get(Task, "I1.t1")
    assert task.kind is TaskKind.APPROVAL and task.status is TaskStatus.OPEN
    assert task.due_at == T0 + timedelta(hours=8) and task.due_at.tzinfo is UTC

    step = load_for_step(session, "I1")
    assert (step.id, step.version_id, step.rev, step.event_seq) == ("I1", version_id, 0, 1)
    assert step.state == state and step.status is InstanceStatus.RUNNING and step.user is None

    done = {**state, "tasks": {"t1": _task("t1", status="done", completed_by="bob",
                                           completed_at=T0.isoformat())}}
    assert save_step(session, step, done, [_event("task:approved", comment="好")]) == 1
    record, events = load_record(session, "I1", events=True)
    assert record.rev == 1 and record.state["tasks"]["t1"]["status"] == "done"
    assert [e.seq for e in events] == [1, 2] and events[1].data == {"comment": "好"}
    assert events[0].at == T0 and events[0].at.tzinfo is UTC
    assert events[1].prev_hash == events[0].hash
    assert task_ref(session, "I1.t1") == ("I1", "review", TaskKind.APPROVAL)
    session.expire_all()
    assert session.get(Task, "I1.t1").completed_by == "bob"


def test_acting_user_comes_with_the_instance(session, version_id):
    users.add_user(session, "bob", "pw", ["qa-inspectors", "admins"], full_name="鲍勃")
    create_instance(session, _state("I1"), version_id, [])
    assert load_for_step(session, "I1", "bob").user == ("鲍勃", True, ["admins", "qa-inspectors"])
    assert load_for_step(session, "I1", "nobody").user is None
    assert users.identity(session, "bob") == ("鲍勃", True, ["admins", "qa-inspectors"])


def test_unknown_rows_and_stale_revs(session, version_id):
    with pytest.raises(NotFound):
        load_for_step(session, "nope")
    with pytest.raises(NotFound):
        load_record(session, "nope")
    with pytest.raises(NotFound):
        task_ref(session, "nope.t1")
    create_instance(session, _state("I1"), version_id, [])
    step = load_for_step(session, "I1")
    save_step(session, step, _state("I1"), [])
    with pytest.raises(Conflict):
        save_step(session, step, _state("I1"), [])  # still at rev 0: someone wrote first


def test_driver_errors_are_wrapped_and_a_duplicate_instance_is_a_conflict(session, version_id):
    create_instance(session, _state("I1"), version_id, [])
    with pytest.raises(Conflict, match="already exists"):
        create_instance(session, _state("I1"), version_id, [])
    session.rollback()
    dup = Prepared(insert(Task.__table__), ["id", "instance_id", "task_id", "procedure_id",
                                            "step", "kind", "status", "created_at"])
    row = {"id": "X.t1", "instance_id": None, "task_id": "t1", "procedure_id": "p",
           "step": "s", "kind": TaskKind.TASK, "status": TaskStatus.OPEN, "created_at": T0}
    with pytest.raises(IntegrityError):
        batch(session, [(dup, [row, row])])


def test_literals_in_a_prepared_statement_and_several_results(session, version_id):
    t = Instance.__table__
    create_instance(session, _state("I1"), version_id, [])
    create_instance(session, _state("I2"), version_id, [])
    running = Prepared(select(t.c.id).where(t.c.status == "running", t.c.id != bindparam("b_not"))
                       .order_by(t.c.id).limit(5))
    count = Prepared(select(t.c.id).where(t.c.procedure_id == "complaint"))
    first, second = batch(session, [(running, [{"b_not": "I2"}]), (count, [{}])])
    assert first == [("I1",)] and sorted(second) == [("I1",), ("I2",)]


# --- signature passwords checked before the transaction -------------------------------------

def test_a_verified_password_signs_without_scrypt_in_the_transaction(sessions, monkeypatch):
    wf = setup(sessions, ["inspector1", "supervisor1"])
    script = answers("after-sales-inspection--pass-repair")
    state = play(wf, sessions, script, upto=3)  # up to the signed report
    entry = script["steps"][3]
    with sessions() as s:
        proof = wf.verify_password(s, "inspector1", PASSWORD)
        wrong = wf.verify_password(s, "inspector1", "not it")
        other = wf.verify_password(s, "supervisor1", PASSWORD)
    assert proof.matches and not wrong.matches and other == VerifiedPassword("supervisor1", True)

    def no_scrypt(*_a, **_k):
        raise AssertionError("the password was hashed inside the write transaction")

    monkeypatch.setattr(users, "check_password", no_scrypt)
    for bad in (wrong, other):  # a wrong password, or another user's proof, signs nothing
        with sessions() as s, pytest.raises(SignatureInvalid):
            answer(wf, s, state, entry, password=bad)
    with sessions() as s:
        state = answer(wf, s, state, entry, password=proof)
        s.commit()
        signed = [e for e in wf.events(s, state["id"]) if e["step"] == "report"
                  and e["type"] == "task:completed"]
    assert signed[-1]["data"]["signature"]["user"] == "inspector1"
    assert open_task(state, "review")


def test_field_index_rows_written_elsewhere_never_block_a_step(session, version_id):
    """Rows the step did not expect (``wf audit reindex``, another process's declarations)
    are overwritten, and a first value is kept."""
    from types import SimpleNamespace

    from engine.store import field_index
    from engine.store.tables import FieldIndex

    proc = SimpleNamespace(id="complaint", records=SimpleNamespace(
        indexed=frozenset({"receive.客户"}), first_keys=frozenset({"receive.客户"})))
    state = _state("I1")
    create_instance(session, state, version_id, [])
    session.add(FieldIndex(instance_id="I1", key="receive.客户", procedure_id="complaint",
                           value="旧值"))
    session.flush()
    events = [_event("instance:started")]
    events[0]["step"] = "receive"
    batch(session, field_index.writes(None, state, events, [proc]))
    changed = {**state, "data": {"receive": {"客户": "新客户"}}}
    batch(session, field_index.writes(state, changed, events, [proc]))
    rows = dict(session.execute(select(FieldIndex.key, FieldIndex.value)
                                .where(FieldIndex.instance_id == "I1")).all())
    assert rows == {"receive.客户": "新客户", "receive.客户@first": "华东机电"}
