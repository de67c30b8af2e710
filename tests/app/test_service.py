"""The use cases on a real database: versions, a full walk with signatures, corrections,
claims, deadlines, spawns and the audit chain; and ``wf procedures``."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from engine import store
from engine.app.service import Workflow
from engine.cli import main
from engine.errors import CommandRejected, DefinitionInvalid, NotPermitted, SignatureInvalid
from engine.store import Event, Instance
from tests.helpers.service import (
    ROOT,
    add_users,
    answer,
    answers,
    check_consistent,
    config,
    open_task,
    play,
    setup,
)
from tests.helpers.tamper import insider

PROCS = {"after-sales-inspection", "product-acceptance-inspection", "repair-process-inspection",
         "procedure-change-control"}


def _event_count(s, instance_id: str) -> int:
    return s.scalar(select(func.count()).select_from(Event).where(Event.instance_id == instance_id))


# --- procedure versions ---------------------------------------------------------------------

def test_load_procedures_registers_once(session):
    wf = Workflow(config())
    first = wf.load_procedures(session)
    session.commit()
    assert {r.procedure_id for r in first} >= PROCS  # and the rest of the shipped library
    assert all(r.created for r in first)
    again = wf.load_procedures(session)
    session.commit()
    assert not any(r.created for r in again)
    assert [r.version_id for r in again] == [r.version_id for r in first]
    for proc in PROCS:
        assert len(store.versions_of(session, proc)) == 1


def test_edited_procedure_is_a_new_version_and_running_instances_stay_pinned(sessions, tmp_path):
    wf = setup(sessions, ["inspector1"])
    script = answers("after-sales-inspection--pass-repair")
    old = play(wf, sessions, script, upto=0)
    with sessions() as s:
        old_version = s.get(Instance, old["id"]).version_id

    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "procedures", lib / "procedures")
    shutil.copytree(ROOT / "forms", lib / "forms")
    path = lib / "procedures" / "after-sales-inspection.yaml"
    source = path.read_text(encoding="utf-8")
    assert "\ntitle: 售后检验\n" in source
    path.write_text(source.replace("\ntitle: 售后检验\n", "\ntitle: 售后检验（第二版）\n"),
                    encoding="utf-8")

    with sessions() as s:
        loaded = {r.procedure_id: r for r in wf.load_procedures(s, paths=[lib / "procedures",
                                                                          lib / "forms"])}
        s.commit()
    assert loaded["after-sales-inspection"].created
    assert not loaded["repair-process-inspection"].created
    new_version = loaded["after-sales-inspection"].version_id
    assert new_version != old_version

    with sessions() as s:
        assert [v.id for v in store.versions_of(s, "after-sales-inspection")] == [old_version,
                                                                                 new_version]
        # The old instance keeps its version (row and state) and can go on under it.
        view = wf.instance(s, old["id"])
        assert view["version"]["id"] == old_version and view["title"] == "售后检验"
        state = answer(wf, s, old, script["steps"][0])
        s.commit()
        assert s.get(Instance, old["id"]).version_id == old_version
        assert state["path"] == ["receive", "inspect"]
        new = wf.start(s, "after-sales-inspection", "inspector1", script["start"]["data"])
        s.commit()
        assert s.get(Instance, new["id"]).version_id == new_version
        assert wf.instance(s, new["id"])["title"] == "售后检验（第二版）"
        started = s.scalars(select(Event).where(Event.instance_id == new["id"],
                                                Event.seq == 1)).one()
        hashes = [wf.runtime(s, v).procedure.content_hash for v in (old_version, new_version)]
        assert started.data["version"] == hashes[1] != hashes[0]


def test_a_procedure_file_put_back_to_its_earlier_text_takes_effect(sessions, tmp_path):
    """v1 from the file, the file changed (v2), then put back: v1's text is current again, as
    a new version (the instance started under v1 stays on v1's row); a restart with the same
    files then leaves a version published in the editor current."""
    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "procedures", lib / "procedures")
    shutil.copytree(ROOT / "forms", lib / "forms")
    paths = [lib / "procedures", lib / "forms"]
    path = lib / "procedures" / "after-sales-inspection.yaml"
    first = path.read_text(encoding="utf-8")
    wf = Workflow(config())

    def load(workflow: Workflow) -> int:
        with sessions() as s:
            loaded = {r.procedure_id: r for r in workflow.load_procedures(s, paths=paths)}
            s.commit()
        return loaded["after-sales-inspection"].version_id

    def current() -> tuple[int, str]:
        with sessions() as s:
            proc, version_id = wf.procedure(s, "after-sales-inspection")
            return version_id, proc.title

    v1 = load(wf)
    add_users(sessions, ["inspector1"])
    script = answers("after-sales-inspection--pass-repair")
    old = play(wf, sessions, script, upto=0)
    path.write_text(first.replace("\ntitle: 售后检验\n", "\ntitle: 售后检验（第二版）\n"), encoding="utf-8")
    v2 = load(wf)
    assert current() == (v2, "售后检验（第二版）")
    path.write_text(first, encoding="utf-8")
    v3 = load(wf)
    assert v3 not in (v1, v2) and current() == (v3, "售后检验")
    with sessions() as s:
        assert s.get(Instance, old["id"]).version_id == v1
        assert store.get_version(s, v3).content_hash == store.get_version(s, v1).content_hash
        new = wf.start(s, "after-sales-inspection", "inspector1", script["start"]["data"])
        s.commit()
        assert s.get(Instance, new["id"]).version_id == v3

    from engine.store import versions

    with sessions() as s:  # what the editor's change control does once approved
        draft, _ = versions.save_draft(s, "after-sales-inspection", first.replace("\ntitle: 售后检验\n",
                                       "\ntitle: 售后检验（编辑器）\n"), store.get_version(s, v1).forms,
                                       "售后检验（编辑器）", user="author")
        versions.mark_in_review(s, draft.id, reason="改标题", change_instance="C1")
        published = versions.publish(s, draft.id).id
        s.commit()
    assert load(Workflow(config())) == v3  # a restart: the files are as they were
    assert current() == (published, "售后检验（编辑器）")


# --- a full walk, signatures, spawn and the audit chain --------------------------------------

def test_full_walk_with_signatures_spawn_and_audit(sessions, db_url, monkeypatch):
    wf = setup(sessions, ["inspector1", "supervisor1"])
    script = answers("after-sales-inspection--pass-repair")
    steps = script["steps"]
    assert [e["step"] for e in steps][3] == "report"
    state = play(wf, sessions, script, upto=3)  # up to the signed report

    # A wrong password: SignatureInvalid, and nothing at all is recorded.
    with sessions() as s:
        before_rev, before_events = s.get(Instance, state["id"]).rev, _event_count(s, state["id"])
        with pytest.raises(SignatureInvalid):
            answer(wf, s, state, steps[3], password="wrong password")
        s.rollback()
    with sessions() as s:
        assert s.get(Instance, state["id"]).rev == before_rev
        assert _event_count(s, state["id"]) == before_events
        # No password at all on a signature step is refused by the runtime.
        with pytest.raises(SignatureInvalid):
            answer(wf, s, state, steps[3], password=None)
        s.rollback()

    for entry in steps[3:]:
        with sessions() as s:
            state = answer(wf, s, state, entry)
            s.commit()

    with sessions() as s:
        view = wf.instance(s, state["id"])
        assert view["status"] == "completed" and view["outcome"] == script["expect"]["outcome"]
        assert view["path"] == script["expect"]["path"]
        assert all(t["status"] != "open" for t in view["tasks"])
        events = wf.events(s, state["id"])
        signed = {e["step"]: e["data"]["signature"] for e in events if "signature" in e["data"]}
        assert signed["report"]["meaning"] == "确认" and signed["report"]["user"] == "inspector1"
        assert signed["review"] == {"user": "supervisor1", "name": "质量主管一", "meaning": "审核",
                                    "at": signed["review"]["at"], "data_hash": signed["review"]["data_hash"]}
        # Each signature is bound to the record as it was signed (the review saw the report).
        assert len({signed["report"]["data_hash"], signed["review"]["data_hash"]}) == 2

        # The spawned repair-process inspection points back at its origin.
        spawned = store.list_instances(s, "repair-process-inspection")
        assert len(spawned) == 1
        child = store.load_instance(s, spawned[0].id)
        assert child.state["origin"] == {"procedure": "after-sales-inspection",
                                         "instance": state["id"], "step": "open_repair_inspection"}
        assert child.origin_instance == state["id"] and child.status.value == "running"
        assert child.state["data"]["start"]["serial_no"] == "SN20260101"
        assert [e.type for e in store.events_of(s, child.id)][0] == "instance:started"
        link = wf.instance(s, state["id"])["links"][0]
        assert (link["procedure"], link["step"], link["instance"], link["status"]) == (
            "repair-process-inspection", "open_repair_inspection", child.id, "running")

        check_consistent(s)
        assert store.verify(s) == []

        # Tamper with one recorded value through raw SQL: verify names the first broken link.
        target = s.scalars(select(Event).where(Event.instance_id == state["id"],
                                               Event.type == "task:completed")
                           .order_by(Event.seq)).first()
        forged = {**target.data, "data": {**target.data["data"], "receipt_no": "RK-FORGED"}}
        s.commit()
        with insider(s.get_bind()) as conn:
            conn.execute(text("UPDATE events SET data = :d WHERE id = :id"),
                         {"d": json.dumps(forged, ensure_ascii=False), "id": target.id})
    with sessions() as s:
        breaks = store.verify(s)
    assert [(b.instance_id, b.seq, b.problem) for b in breaks] == [
        (state["id"], target.seq, "hash mismatch")]

    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    result = CliRunner().invoke(main, ["--config", str(ROOT / "config.yaml"), "audit", "verify"])
    assert result.exit_code == 1, result.output
    assert f"BROKEN: {state['id']}: event seq {target.seq}" in result.output
    assert "hash mismatch" in result.output


# --- corrections ------------------------------------------------------------------------------

def test_corrections_keep_history_and_need_a_reason(sessions):
    wf = setup(sessions, ["inspector1"])
    script = answers("after-sales-inspection--pass-repair")
    state = play(wf, sessions, script, upto=1)
    original = script["steps"][0]["data"]["condition"]

    with sessions() as s:
        rev = s.get(Instance, state["id"]).rev
        with pytest.raises(CommandRejected, match="reason"):
            wf.correct(s, state["id"], "inspector1", "receive", "condition", "外壳破损", "  ")
        s.rollback()
        assert s.get(Instance, state["id"]).rev == rev

    with sessions() as s:
        wf.correct(s, state["id"], "inspector1", "receive", "condition", "外壳破损", "笔误")
        s.commit()
    with sessions() as s:
        wf.correct(s, state["id"], "inspector1", "receive", "condition", "外壳轻微破损", "复核后更正")
        s.commit()

    with sessions() as s:
        view = wf.instance(s, state["id"])
        assert view["data"]["receive"]["condition"] == "外壳轻微破损"
        history = view["corrections"]["receive.condition"]
        assert [(c["old"], c["new"], c["by"], c["reason"]) for c in history] == [
            (original, "外壳破损", "inspector1", "笔误"),
            ("外壳破损", "外壳轻微破损", "inspector1", "复核后更正")]
        assert all(datetime.fromisoformat(c["at"]).tzinfo is not None for c in history)
        corrected = [e for e in wf.events(s, state["id"]) if e["type"] == "data:corrected"]
        assert [(e["actor"], e["data"]["old"], e["data"]["new"], e["data"]["reason"])
                for e in corrected] == [("inspector1", original, "外壳破损", "笔误"),
                                        ("inspector1", "外壳破损", "外壳轻微破损", "复核后更正")]
        # The original submission stays in the audit trail untouched.
        submitted = next(e for e in wf.events(s, state["id"]) if e["type"] == "task:completed")
        assert submitted["data"]["data"]["condition"] == original
        assert store.verify(s) == []


# --- claim and reassign ----------------------------------------------------------------------

def test_claim_and_reassign(sessions):
    wf = setup(sessions, ["inspector1", "acceptor1", "tech1"])
    script = answers("after-sales-inspection--pass-repair")
    state = play(wf, sessions, script, upto=0)
    task = open_task(state, "receive")

    with sessions() as s:
        state = wf.claim(s, task, "inspector1")
        s.commit()
    assert state["tasks"][task.rpartition(".")[2]]["assignee"] == "inspector1"
    with sessions() as s:
        # acceptor1 is an inspector too, but the task is claimed.
        with pytest.raises(NotPermitted, match="claimed by inspector1"):
            wf.complete_task(s, task, "acceptor1", script["steps"][0]["data"])
        s.rollback()
        # tech1 does not hold the inspector role.
        with pytest.raises(NotPermitted, match="tech1"):
            wf.reassign(s, task, "inspector1", "tech1", "休假")
        s.rollback()
        assert store.get_task(s, task).assignee == "inspector1"
    with sessions() as s:
        wf.reassign(s, task, "inspector1", "acceptor1", "休假")
        s.commit()
    with sessions() as s:
        assert store.get_task(s, task).assignee == "acceptor1"
        state = wf.complete_task(s, task, "acceptor1", script["steps"][0]["data"])
        s.commit()
        types = [e["type"] for e in wf.events(s, state["id"])]
        assert "task:claimed" in types and "task:reassigned" in types
        reassigned = next(e for e in wf.events(s, state["id"]) if e["type"] == "task:reassigned")
        assert reassigned["data"] == {"from": "inspector1", "to": "acceptor1", "reason": "休假"}
        assert store.get_task(s, task).completed_by == "acceptor1"
        check_consistent(s)


# --- deadlines --------------------------------------------------------------------------------

def test_tick_fires_reminders_misses_and_escalations(sessions):
    now = [datetime(2026, 11, 2, 1, 0, tzinfo=UTC)]  # Monday 09:00 in Shanghai
    wf = setup(sessions, ["inspector1", "supervisor1"], clock=lambda: now[0])
    script = answers("after-sales-inspection--pass-repair")
    state = play(wf, sessions, script, upto=0)
    task = open_task(state, "receive")

    with sessions() as s:
        row = s.get(Instance, state["id"])
        due = store.get_task(s, task).due_at
        assert row.next_timer_at is not None and row.next_timer_at < due
        assert store.due_instances(s, now[0]) == []
        assert wf.tick(s) == 0
        s.commit()

    now[0] = due - timedelta(minutes=30)  # after the reminder time, before the deadline
    with sessions() as s:
        assert [r.id for r in store.due_instances(s, now[0])] == [state["id"]]
        s.rollback()
    with sessions() as s:
        assert wf.tick(s) == 1
        s.commit()
        assert [e["type"] for e in wf.events(s, state["id"])][-1] == "deadline:reminder"
        assert wf.tick(s) == 0  # fired once only
        s.commit()

    now[0] = due + timedelta(hours=1)
    with sessions() as s:
        assert wf.tick(s) == 1
        s.commit()
        fired = [e for e in wf.events(s, state["id"]) if e["type"].startswith("deadline:")]
        assert [e["type"] for e in fired] == ["deadline:reminder", "deadline:missed",
                                              "deadline:escalated"]
        assert fired[-1]["data"]["to"] == "qa_supervisor" and fired[-1]["actor"] == "system"
        assert s.get(Instance, state["id"]).next_timer_at is None
        assert store.due_instances(s, now[0] + timedelta(days=30)) == []
        s.rollback()
    # The escalation lets the supervisor act on the task.
    with sessions() as s:
        wf.claim(s, task, "supervisor1")
        s.commit()
        check_consistent(s)
        assert store.verify(s) == []


# --- wf procedures ----------------------------------------------------------------------------

@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0

    def run(*args: str):
        return runner.invoke(main, ["--config", str(ROOT / "config.yaml"), *args])

    return run


def test_cli_procedures_load_and_list(cli, tmp_path, sessions):
    first = cli("procedures", "load")
    assert first.exit_code == 0, first.output
    for proc in PROCS:
        assert f"{proc}: new version 1.0 " in first.output
    again = cli("procedures", "load")
    assert again.exit_code == 0
    assert again.output.count("unchanged, version 1.0") == len(list((ROOT / "procedures").glob("*.yaml")))

    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "procedures", lib)
    path = lib / "after-sales-inspection.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("title: 接收产品", "title: 接收退回产品"),
                    encoding="utf-8")
    edited = cli("procedures", "load", str(path))  # forms come from the configured folder
    assert edited.exit_code == 0, edited.output
    assert "after-sales-inspection: new version 2.0 " in edited.output

    listed = cli("procedures", "list")
    assert listed.exit_code == 0
    lines = {line.split("\t")[0]: line.split("\t") for line in listed.output.splitlines()}
    assert set(lines) >= PROCS
    assert lines["after-sales-inspection"][1] == "v2.0"
    assert lines["repair-process-inspection"][1] == "v1.0"
    everything = cli("procedures", "list", "--all")
    assert everything.output.count("after-sales-inspection\t") == 2


def test_cli_procedures_load_refuses_invalid_files(cli, tmp_path, sessions):
    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "procedures", lib)
    path = lib / "after-sales-inspection.yaml"
    text_ = path.read_text(encoding="utf-8")
    broken = text_.replace("next: inspect\n", "next: inspekt\n", 1).replace(
        "form: product-receipt", "form: no-such-form", 1)
    assert broken != text_
    path.write_text(broken, encoding="utf-8")
    result = cli("procedures", "load", str(lib))
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if line.startswith(str(path))]
    assert len(problems) >= 2, result.output
    for line in problems:
        file_, line_no, col, _ = line.split(":", 3)
        assert int(line_no) > 0 and int(col) > 0
    assert "inspekt" in result.output and "no-such-form" in result.output
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(store.ProcedureVersion)) == 0


def test_load_procedures_registers_nothing_when_one_file_is_invalid(sessions, tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "procedures", lib)
    (lib / "broken.yaml").write_text("id: broken\ntitle: x\nsteps: {a: {type: nope}}\n",
                                     encoding="utf-8")
    wf = Workflow(config())
    with sessions() as s:
        with pytest.raises(DefinitionInvalid, match="broken.yaml"):
            wf.load_procedures(s, paths=[lib])
        s.rollback()
        assert s.scalar(select(func.count()).select_from(store.ProcedureVersion)) == 0

