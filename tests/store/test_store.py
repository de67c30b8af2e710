"""The store on a real database: migrations, versions, instances, tasks, optimistic writes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, select, text

from engine.cli import main
from engine.errors import Conflict, DefinitionInvalid, NotFound
from engine.language.procedure import compile_stored
from engine.store import (
    Base,
    Instance,
    StepRow,
    Task,
    TaskStatus,
    content_hash,
    count_instances,
    create_instance,
    current_revision,
    due_instances,
    events_of,
    get_task,
    head_revision,
    latest_version,
    list_instances,
    load_for_step,
    load_instance,
    make_engine,
    new_id,
    open_tasks_for,
    register_procedure_version,
    repo,
    save_step,
    tasks_of,
    upgrade,
    version_by_hash,
    versions_of,
)
from tests.helpers.store import FORMS, NOTE_FORM, procedure_text

T0 = datetime(2026, 5, 11, 1, 30, tzinfo=UTC)
PROC = procedure_text("complaint")


def make_state(instance_id: str, *, tasks: dict | None = None, status: str = "running",
               procedure: str = "complaint") -> dict:
    return {
        "format": 1, "id": instance_id, "procedure": procedure, "status": status,
        "outcome": None, "started_at": T0.isoformat(), "started_by": "alice",
        "ended_at": None, "origin": None, "data": {"receive": {"customer": "华东机电"}},
        "tasks": tasks or {}, "rev": 0,
    }


def make_task(task_id: str, **kw) -> dict:
    task = {"id": task_id, "step": "review", "kind": "task", "role": "inspector",
            "status": "open", "assignee": None, "created_at": T0.isoformat(),
            "due_at": (T0 + timedelta(hours=8)).isoformat(), "completed_at": None,
            "completed_by": None, "title": "复核"}
    task.update(kw)
    return task


@pytest.fixture
def version_id(session) -> int:
    row, _ = register_procedure_version(session, "complaint", PROC, FORMS, "客户投诉处理")
    session.commit()
    return row.id


# --- schema ---------------------------------------------------------------------------------

def test_migrations_match_models(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []


def test_upgrade_is_idempotent_and_at_head(engine):
    assert current_revision(engine) == head_revision() is not None
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= {
        "procedure_versions", "instances", "tasks", "events", "users", "groups", "user_groups",
        "attachments", "alembic_version"}


def test_sqlite_pragmas_and_immediate_transactions(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path}/deep/er/x.db")  # parent dirs are created
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10000
        upgrade(eng)
        # A transaction holds the write lock from its start: a second writer waits, then
        # succeeds, instead of failing half-way.
        done = []

        def second_writer():
            with eng.begin() as conn:
                conn.execute(text("INSERT INTO groups (name) VALUES ('b')"))
            done.append(True)

        with eng.begin() as conn:
            conn.execute(text("SELECT 1"))
            worker = threading.Thread(target=second_writer)
            worker.start()
            worker.join(0.3)
            assert not done  # blocked behind our BEGIN IMMEDIATE
            conn.execute(text("INSERT INTO groups (name) VALUES ('a')"))
        worker.join(10)
        assert done
        # A read-only session may opt out, and then does not hold up writers.
        with eng.execution_options(sqlite_begin="DEFERRED").connect() as reader:
            assert reader.execute(text("SELECT count(*) FROM groups")).scalar() == 2
            with eng.begin() as conn:
                conn.execute(text("INSERT INTO groups (name) VALUES ('c')"))
    finally:
        eng.dispose()


def test_new_ids_sort_by_time():
    a, b = new_id(T0), new_id(T0 + timedelta(milliseconds=1))
    assert len(a) == 26 and a < b and new_id(T0) != a


# --- procedure versions ---------------------------------------------------------------------

def test_register_version_is_idempotent_by_content(session):
    v1, created = register_procedure_version(session, "complaint", PROC, FORMS, "投诉")
    assert created and v1.status == "published"
    again, created = register_procedure_version(session, "complaint", PROC, dict(FORMS), "投诉")
    assert not created and again.id == v1.id
    both = {"extra": NOTE_FORM.replace("id: note", "id: extra"), **FORMS}  # extra: not used
    v3, created = register_procedure_version(session, "complaint", PROC, both, "投诉")
    assert created and v3.content_hash == v1.content_hash  # a form it does not use
    again, created = register_procedure_version(session, "complaint", PROC, dict(reversed(both.items())), "投诉")
    assert not created and again.id == v3.id
    session.rollback()
    v1, _ = register_procedure_version(session, "complaint", PROC, FORMS, "投诉")
    # The one version hash: what the compiled procedure (and so every instance) records.
    assert v1.content_hash == compile_stored(PROC, "complaint.yaml", FORMS).content_hash
    assert v1.content_hash == content_hash(PROC, FORMS, "complaint") == content_hash(PROC, FORMS)
    changed = {"note": NOTE_FORM.replace("结果", "结论")}
    v2, created = register_procedure_version(session, "complaint", PROC, changed, "投诉")
    assert created and v2.id != v1.id and v2.content_hash != v1.content_hash
    session.commit()
    assert latest_version(session, "complaint").id == v2.id
    assert latest_version(session, "other") is None
    assert [v.id for v in versions_of(session, "complaint")] == [v1.id, v2.id]
    assert v1.forms == FORMS
    assert version_by_hash(session, "complaint", v1.content_hash).id == v1.id


def test_a_new_text_with_the_same_definition_is_a_new_version_with_the_same_hash(session):
    """A comment in a form changes no definition, but the text people wrote is kept."""
    v1, _ = register_procedure_version(session, "complaint", PROC, FORMS, "投诉")
    commented = {"note": "# 备注\n" + NOTE_FORM}
    v2, created = register_procedure_version(session, "complaint", PROC, commented, "投诉")
    assert created and v2.id != v1.id and v2.content_hash == v1.content_hash
    again, created = register_procedure_version(session, "complaint", PROC, commented, "投诉")
    assert not created and again.id == v2.id
    assert version_by_hash(session, "complaint", v1.content_hash).id == v1.id  # the oldest


def test_a_caller_that_compiled_the_procedure_passes_its_hash(session):
    digest = compile_stored(PROC, "complaint.yaml", FORMS).content_hash
    row, _ = register_procedure_version(session, "complaint", PROC, FORMS, "投诉", definition_hash=digest)
    assert row.content_hash == digest


def test_an_invalid_procedure_has_no_version_hash(session):
    with pytest.raises(DefinitionInvalid):
        register_procedure_version(session, "complaint", "id: complaint\nsteps: []\n", {}, "投诉")


def test_register_version_race_returns_existing(sessions):
    with sessions() as a, sessions() as b:
        row_a, created_a = register_procedure_version(a, "p", procedure_text("p"), FORMS, "t")
        a.commit()
        # b had not seen it when it started: the unique constraint settles it.
        row_b, created_b = register_procedure_version(b, "p", procedure_text("p"), FORMS, "t")
        assert created_a and not created_b and row_a.id == row_b.id


# --- instances (through the step path the server uses: create_instance, save_step) ----------

def insert(session, state: dict, version_id: int, next_timer_at: datetime | None = None,
           events: list | None = None) -> None:
    create_instance(session, state, version_id, events or [], next_timer_at)


def step(session, state: dict, events: list | None = None, row: StepRow | None = None) -> int:
    """Write ``state`` as the next step of its instance (loaded now unless ``row`` is given)."""
    return save_step(session, row or load_for_step(session, state["id"]), state, events or [])


def test_insert_and_load_instance(session, version_id):
    state = make_state("I1", tasks={"t1": make_task("t1")})
    insert(session, state, version_id, next_timer_at=T0 + timedelta(hours=8))
    session.commit()
    loaded = load_instance(session, "I1")
    assert loaded.rev == 0
    assert loaded.state == state
    assert loaded.status == "running" and loaded.started_at == T0
    assert loaded.next_timer_at == T0 + timedelta(hours=8)
    with pytest.raises(NotFound):
        load_instance(session, "nope")
    with pytest.raises(Conflict):
        insert(session, make_state("I1"), version_id)


def test_update_is_optimistic(sessions, version_id):
    with sessions() as s:
        insert(s, make_state("I1"), version_id)
        s.commit()
    # Two users load the same revision ...
    with sessions() as a:
        row_a = load_for_step(a, "I1")
    with sessions() as b:
        row_b = load_for_step(b, "I1")
    # ... A writes first, B's write with the stale revision is refused.
    with sessions() as a:
        state = make_state("I1")
        state["data"]["review"] = {"by": "A"}
        assert step(a, state, row=row_a) == 1
        a.commit()
    with sessions() as b:
        state = make_state("I1")
        state["data"]["review"] = {"by": "B"}
        with pytest.raises(Conflict, match="changed by someone else"):
            step(b, state, row=row_b)
        b.rollback()
    with sessions() as s:
        row = load_instance(s, "I1")
        assert row.rev == 1 and row.state["rev"] == 1
        assert row.state["data"]["review"] == {"by": "A"}
        with pytest.raises(NotFound):
            step(s, make_state("I2"))


def test_concurrent_updates_on_postgresql(backend, sessions, version_id):
    """Both transactions open at once: the second blocks on the row, then sees the conflict."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises whole transactions (see the pragma test)")
    with sessions() as s:
        insert(s, make_state("I1"), version_id)
        s.commit()
    with sessions() as s:
        row = load_for_step(s, "I1")
    errors: list[Exception] = []
    with sessions() as a:
        step(a, make_state("I1", status="completed"), row=row)

        def second():
            with sessions() as b:
                try:
                    step(b, make_state("I1"), row=row)
                    b.commit()
                except Conflict as exc:
                    errors.append(exc)

        worker = threading.Thread(target=second)
        worker.start()
        worker.join(0.3)
        assert worker.is_alive()  # waiting for a's row lock
        a.commit()
        worker.join(10)
    assert len(errors) == 1
    with sessions() as s:
        assert load_instance(s, "I1").status == "completed"


def test_a_row_loaded_before_a_step_reads_the_step_when_loaded_again(session, version_id):
    insert(session, make_state("I1"), version_id)
    row = load_instance(session, "I1")
    step(session, make_state("I1", status="completed") | {"outcome": "closed",
         "ended_at": (T0 + timedelta(days=1)).isoformat()})
    assert load_instance(session, "I1") is row  # the session's object, refreshed
    assert row.status == "completed" and row.outcome == "closed" and row.rev == 1
    assert row.ended_at == T0 + timedelta(days=1)


def test_list_and_count_instances(session, version_id):
    for i in range(5):
        state = make_state(f"I{i}", status="completed" if i % 2 else "running")
        state["started_at"] = (T0 + timedelta(minutes=i)).isoformat()
        insert(session, state, version_id)
    insert(session, make_state("X", procedure="other"), version_id)
    assert [r.id for r in list_instances(session, "complaint")] == ["I4", "I3", "I2", "I1", "I0"]
    assert [r.id for r in list_instances(session, status="completed")] == ["I3", "I1"]
    assert [r.id for r in list_instances(session, "complaint", limit=2, offset=1)] == ["I3", "I2"]
    assert count_instances(session) == 6
    assert count_instances(session, "complaint", "running") == 3


def test_due_instances(session, version_id):
    insert(session, make_state("late"), version_id, T0 - timedelta(minutes=1))
    insert(session, make_state("later"), version_id, T0 + timedelta(hours=1))
    insert(session, make_state("none"), version_id, None)
    insert(session, make_state("ended", status="completed"), version_id, T0 - timedelta(hours=1))
    insert(session, make_state("now"), version_id, T0)
    assert [r.id for r in due_instances(session, T0, 10)] == ["late", "now"]
    assert [r.id for r in due_instances(session, T0, 1)] == ["late"]


def test_due_instances_skip_locked_on_postgresql(backend, sessions, version_id):
    if backend != "postgresql":
        pytest.skip("row claims need PostgreSQL")
    with sessions() as s:
        for i in range(4):
            insert(s, make_state(f"I{i}"), version_id, T0 - timedelta(minutes=10 - i))
        s.commit()
    with sessions() as a, sessions() as b:
        first = [r.id for r in due_instances(a, T0, 2)]
        second = [r.id for r in due_instances(b, T0, 10)]
        assert first == ["I0", "I1"] and second == ["I2", "I3"]


# --- tasks ----------------------------------------------------------------------------------

def test_tasks_are_mirrored(session, version_id):
    state = make_state("I1", tasks={"t1": make_task("t1")})
    insert(session, state, version_id)
    session.commit()
    task = get_task(session, "I1.t1")
    assert (task.instance_id, task.task_id, task.step, task.kind, task.status) == (
        "I1", "t1", "review", "task", "open")
    assert task.due_at == T0 + timedelta(hours=8) and task.procedure_id == "complaint"

    state["tasks"]["t1"].update(status="done", completed_by="bob",
                                completed_at=(T0 + timedelta(hours=1)).isoformat())
    state["tasks"]["t2"] = make_task("t2", step="approve", kind="approval", role="qa_supervisor")
    step(session, state)
    session.commit()
    session.expire_all()  # the step wrote past the session's objects
    rows = {t.task_id: t for t in tasks_of(session, "I1")}
    assert set(rows) == {"t1", "t2"}
    assert rows["t1"].status == "done" and rows["t1"].completed_by == "bob"
    assert rows["t1"].completed_at == T0 + timedelta(hours=1)
    assert rows["t2"].kind == "approval" and rows["t2"].id == "I1.t2"

    # The runtime never removes a task: a task missing from a state keeps its row.
    del state["tasks"]["t1"]
    step(session, state)
    assert [t.task_id for t in tasks_of(session, "I1")] == ["t1", "t2"]
    with pytest.raises(NotFound):
        get_task(session, "I1.t9")


def test_unchanged_tasks_are_not_rewritten(session, version_id):
    state = make_state("I1", tasks={"t1": make_task("t1"), "t2": make_task("t2")})
    insert(session, state, version_id)
    row = load_for_step(session, "I1")
    writes = [stmt for stmt, _ in repo._step_writes(row, state, [], None, T0)]
    # no task row, no event, no KPI day; of the instance only what every write changes
    assert writes == [repo._update_instance(())]
    state["tasks"]["t2"] = make_task("t2", status="done")
    writes = {stmt: rows for stmt, rows in repo._step_writes(row, state, [], None, T0)}
    assert writes[repo._update_task(("status",))] == [{"b_id": "I1.t2", "status": TaskStatus.DONE}]
    assert repo._INSERT_TASKS not in writes


def test_inbox(session, version_id):
    tasks = {
        "t1": make_task("t1", role="inspector", due_at=(T0 + timedelta(hours=2)).isoformat()),
        "t2": make_task("t2", role="inspector", assignee="carol"),
        "t3": make_task("t3", role="qa_supervisor", assignee="bob", due_at=None),
        "t4": make_task("t4", role="inspector", status="done"),
        "t5": make_task("t5", role="inspector", assignee="bob"),
    }
    insert(session, make_state("I1", tasks=tasks), version_id)
    insert(session, make_state("I2", procedure="acceptance",
                               tasks={"t1": make_task("t1", role="inspector")}), version_id)
    got = open_tasks_for(session, {"inspector"}, "bob")
    assert [t.id for t in got] == ["I1.t1", "I1.t5", "I2.t1", "I1.t3"]
    got = open_tasks_for(session, {"complaint.inspector"}, "dave")
    assert [t.id for t in got] == ["I1.t1"]
    got = open_tasks_for(session, {"inspector"}, "dave", exclude={"acceptance.inspector"})
    assert [t.id for t in got] == ["I1.t1"]
    assert open_tasks_for(session, set(), "nobody") == []
    assert [t.id for t in open_tasks_for(session, set(), "carol")] == ["I1.t2"]


# --- events through the repository ----------------------------------------------------------

def test_events_chain_per_instance(session, version_id):
    ev = {"type": "instance:started", "at": T0.isoformat(), "actor": "alice", "step": None,
          "task": None, "data": {}}
    insert(session, make_state("I1"), version_id,
           events=[ev, {**ev, "type": "task:created", "task": "t1"}])
    insert(session, make_state("I2"), version_id, events=[ev])
    step(session, make_state("I1"), [{**ev, "type": "task:completed"}])
    step(session, make_state("I1"), [])  # nothing recorded: the chain stays where it was
    session.commit()
    first, other = events_of(session, "I1"), events_of(session, "I2")
    assert [e.seq for e in first] == [1, 2, 3] and [e.seq for e in other] == [1]
    assert first[0].prev_hash == "0" * 64 and first[1].prev_hash == first[0].hash
    assert first[2].prev_hash == first[1].hash
    assert [e.type for e in first] == ["instance:started", "task:created", "task:completed"]
    assert first[1].to_dict()["task"] == "t1"
    head = load_for_step(session, "I1")
    assert (head.event_seq, head.event_hash) == (3, first[2].hash)


# --- CLI ------------------------------------------------------------------------------------

def test_cli_db_upgrade(unmigrated_db_url, tmp_path, monkeypatch):
    db_url = unmigrated_db_url
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setenv("WF_CONFIG", str(tmp_path / "missing.yaml"))
    runner = CliRunner()
    result = runner.invoke(main, ["db", "current"])
    assert "revision none" in result.output
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"schema revision {head_revision()}" in result.output
    result = runner.invoke(main, ["db", "upgrade"])  # again: nothing to do, still fine
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["db", "current"])
    assert "up to date" in result.output
    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            assert conn.execute(select(Instance.id)).all() == []
            assert conn.execute(select(Task.id)).all() == []
    finally:
        eng.dispose()


def test_drafts_and_their_publication_carry_the_one_version_hash(session):
    from engine.store import versions

    v1, _ = register_procedure_version(session, "complaint", PROC, FORMS, "投诉")
    changed = procedure_text("complaint", title="客户投诉")
    d1, created = versions.save_draft(session, "complaint", changed, FORMS, "客户投诉", user="ed")
    assert created and d1.content_hash == content_hash(changed, FORMS, "complaint") != v1.content_hash
    assert versions.save_draft(session, "complaint", changed, FORMS, "客户投诉", user="ed") == (d1, False)
    # A draft restoring the published text shares its hash (no salted third hash).
    d2, created = versions.save_draft(session, "complaint", PROC, FORMS, "投诉", user="ed")
    assert created and (d2.major, d2.minor) == (1, 2) and d2.content_hash == v1.content_hash
    versions.mark_in_review(session, d2.id, reason="恢复", change_instance="C1")
    published = versions.publish(session, d2.id)
    assert (published.major, published.content_hash) == (2, v1.content_hash)
    # Registering that text again finds the oldest published version with it.
    assert register_procedure_version(session, "complaint", PROC, FORMS, "投诉") == (v1, False)


def test_an_approved_change_becomes_current_after_a_file_version_came_in_meanwhile(session):
    """Publishing numbers the approved draft above every published version, and the current
    version is the one with the highest number, not the newest row: a file registered while
    the change was in review (a restart with a changed procedures/ file) does not hide it."""
    from engine.store import versions

    v1, _ = register_procedure_version(session, "complaint", PROC, FORMS, "投诉")
    draft, _ = versions.save_draft(session, "complaint", PROC + "# 草稿修改\n", FORMS, "投诉", user="author")
    versions.mark_in_review(session, draft.id, reason="补充", change_instance="X")
    from_file, created = register_procedure_version(session, "complaint", PROC + "# 文件修改\n", FORMS, "投诉")
    assert created and versions.label(from_file) == "2.0"
    assert repo.latest_version_id(session, "complaint") == from_file.id
    assert versions.working_copy(session, "complaint").id == from_file.id  # newest, and current
    published = versions.publish(session, draft.id)
    session.commit()
    assert versions.label(published) == "3.0" and published.id < from_file.id
    assert repo.latest_version_id(session, "complaint") == published.id
    assert latest_version(session, "complaint").id == published.id
    assert repo.latest_version_ids(session)["complaint"] == published.id
    assert versions.working_copy(session, "complaint").id == published.id  # not the retired 2.0
    assert versions.display_status(from_file, published.id) == "retired"
    # Loading the same file again registers nothing; the next changed file is 4.0 and current.
    again, created = register_procedure_version(session, "complaint", PROC + "# 文件修改\n", FORMS, "投诉")
    assert not created and repo.latest_version_id(session, "complaint") == published.id
    newer, _ = register_procedure_version(session, "complaint", PROC + "# 又一次\n", FORMS, "投诉")
    assert versions.label(newer) == "4.0" and repo.latest_version_id(session, "complaint") == newer.id
    assert versions.display_status(v1, newer.id) == versions.display_status(published, newer.id) == "retired"
