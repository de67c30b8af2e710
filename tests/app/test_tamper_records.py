"""An insider with database access edits what pages read, outside the hash chain (issue 14,
item 2): the conclusion or serial number in ``instances.state``, a field index row, a task
row, or deletes an instance row. ``wf audit verify`` replays each instance's events and names
the instance, the field and the stored vs replayed values; the dossier's integrity line says
the record shown differs from its trail. Raw statements on SQLite and PostgreSQL alike."""

from __future__ import annotations

import html

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from engine.cli import main
from engine.store.tables import FieldIndex, Instance, Task
from tests.helpers.service import add_users, answers, play, web_app
from tests.web.test_web_ui import Browser

PID = "after-sales-inspection"


@pytest.fixture(name="app")
def finished_app(db_url, tmp_path, monkeypatch):
    """The server with one finished after-sales inspection to tamper with (its id ``DONE``,
    its state ``STATE``); the tamper and integrity tests import it."""
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    done = play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"))
    app.config["DONE"] = done["id"]
    app.config["STATE"] = done
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    yield app
    app.extensions["services"].database.engine.dispose()


def verify() -> tuple[int, str]:
    out = CliRunner().invoke(main, ["audit", "verify"])
    return out.exit_code, out.output


def raw(app, *statements) -> None:
    with app.extensions["services"].database.engine.begin() as conn:
        for stmt in statements:
            conn.execute(stmt)


def edit_state(app, iid, change) -> None:
    with app.extensions["services"].database.engine.connect() as conn:
        state = conn.execute(select(Instance.__table__.c.state).where(Instance.__table__.c.id == iid)).scalar_one()
    change(state)
    raw(app, update(Instance.__table__).where(Instance.__table__.c.id == iid).values(state=state))


def dossier_check(app, iid) -> str:
    b = Browser(app)
    b.login("supervisor1", "correct horse 1")
    return html.unescape(b.get(f"/audit/instances/{iid}").text)


def test_an_untouched_record_verifies_and_the_dossier_says_so(app):
    code, out = verify()
    assert code == 0 and out.startswith("OK:"), out
    assert "所显示的记录与其审计轨迹不一致" not in dossier_check(app, app.config["DONE"])


def test_a_forged_conclusion_in_the_state_is_named(app):
    iid = app.config["DONE"]
    edit_state(app, iid, lambda s: s["data"]["report"].update(conclusion="合格"))
    code, out = verify()
    assert code == 1, out
    assert f"BROKEN: {iid}" in out and "record differs from its events" in out
    assert "data report.conclusion: stored '合格', replayed '不合格'" in out
    page = dossier_check(app, iid)
    assert "所显示的记录与其审计轨迹不一致：「检验报告编制」的「结论」记录中为 '合格'，审计轨迹为 '不合格'。" in page


def test_a_forged_serial_number_and_its_index_row_are_named(app):
    iid = app.config["DONE"]
    edit_state(app, iid, lambda s: s["data"]["start"].update(serial_no="SN-FORGED"))
    raw(app, update(FieldIndex.__table__).where(FieldIndex.__table__.c.instance_id == iid,
                                                FieldIndex.__table__.c.key == "start.serial_no")
        .values(value="SN-FORGED"))
    code, out = verify()
    assert code == 1 and "data start.serial_no: stored 'SN-FORGED', replayed 'SN20260101'" in out, out
    assert "and 1 more" in out  # the index row as well


def test_an_index_row_alone_is_named(app):
    iid = app.config["DONE"]
    raw(app, update(FieldIndex.__table__).where(FieldIndex.__table__.c.instance_id == iid,
                                                FieldIndex.__table__.c.key == "inspect.verdict")
        .values(value="合格"))
    code, out = verify()
    assert code == 1 and "field index inspect.verdict: stored '合格', replayed '不合格'" in out, out


def test_a_task_row_and_a_signature_in_the_state_are_named(app):
    iid = app.config["DONE"]
    raw(app, update(Task.__table__).where(Task.__table__.c.instance_id == iid,
                                          Task.__table__.c.step == "review").values(assignee="mallory"))
    code, out = verify()
    assert code == 1 and "task row" in out and "mallory" in out, out
    raw(app, update(Task.__table__).where(Task.__table__.c.instance_id == iid,
                                          Task.__table__.c.step == "review").values(assignee=None))

    def resign(state):
        review = next(t for t in state["tasks"].values() if t["step"] == "review")
        review["signature"]["name"] = "质量经理"
    edit_state(app, iid, resign)
    code, out = verify()
    assert code == 1 and "signature" in out and "质量经理" in out, out


def test_a_forged_path_in_the_state_is_named(app):
    """The steps an instance went through (shown on its page and used by the dossier) are
    compared with the steps its events say it entered."""
    iid = app.config["DONE"]
    with app.extensions["services"].database.engine.connect() as conn:
        path = conn.execute(select(Instance.__table__.c.state).where(Instance.__table__.c.id == iid)).scalar_one()["path"]
    assert "inspect" in path
    edit_state(app, iid, lambda s: s["path"].remove("inspect"))  # as if it was never inspected
    code, out = verify()
    at = path.index("inspect")
    assert code == 1 and f"BROKEN: {iid}" in out, out
    assert (f"path: stored {len(path) - 1} step(s), replayed {len(path)}; step {at + 1}: "
            f"stored {path[at + 1]!r}, replayed 'inspect'") in out, out
    page = dossier_check(app, iid)
    assert f"所显示的记录与其审计轨迹不一致：记录中经过 {len(path) - 1} 个步骤，审计轨迹为 {len(path)} 个；" in page


def test_a_deleted_instance_row_is_named(app):
    iid = app.config["DONE"]
    spawned = select(Instance.__table__.c.id).where(Instance.__table__.c.id != iid)
    with app.extensions["services"].database.engine.connect() as conn:
        others = list(conn.execute(spawned).scalars())
    raw(app, delete(Task.__table__).where(Task.__table__.c.instance_id == iid),
        delete(FieldIndex.__table__).where(FieldIndex.__table__.c.instance_id == iid),
        delete(Instance.__table__).where(Instance.__table__.c.id == iid))
    code, out = verify()
    assert code == 1 and f"{iid}: event seq 0 (id 0): instance row missing" in out, out
    assert all(o not in out for o in others)


def test_every_shipped_answers_file_replays_to_its_stored_record(db_url, sessions, monkeypatch):
    """No false alarm: every branch of every shipped procedure (parallel joins, waits, spawns,
    rejections, corrections-free walks), played through the service, verifies."""
    from tests.helpers.service import ANSWERS, setup

    wf = setup(sessions)
    played = 0
    for path in sorted(ANSWERS.glob("*.yaml")):
        script = answers(path.stem)
        script["steps"] = [s for s in script["steps"] if "step" in s]  # no clock here
        try:
            play(wf, sessions, script)
        except Exception:  # a branch that needs the clock (a wait, a deadline) stops early
            continue
        played += 1
    assert played >= 20
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    code, out = verify()
    assert code == 0 and out.startswith("OK:"), out


def test_a_rewritten_chain_that_changes_signed_data_is_named_by_its_signature(app):
    """The whole attack: the signed report's conclusion changed in its event (every hash after
    it recomputed, so the chain itself is whole), in the state and in the field index. The
    signature's hash of what it signed no longer matches, and verify says so."""
    from engine.store.audit import GENESIS, event_hash
    from engine.store.tables import Event
    from tests.helpers.tamper import insider

    iid, ev, inst = app.config["DONE"], Event.__table__, Instance.__table__
    with insider(app.extensions["services"].database.engine) as conn:
        rows = conn.execute(select(ev).where(ev.c.instance_id == iid).order_by(ev.c.seq)).all()
        prev = GENESIS
        for row in rows:
            data = row.data
            if row.step == "report" and row.type == "task:completed":
                assert data.get("signature"), "the report is signed"
                data = {**data, "data": {**data["data"], "conclusion": "合格"}}
            digest = event_hash(instance_id=iid, seq=row.seq, type=row.type, step=row.step, task=row.task_id,
                                actor=row.actor, at=row.at, data=data, prev_hash=prev)
            conn.execute(update(ev).where(ev.c.id == row.id).values(data=data, prev_hash=prev, hash=digest))
            prev = digest
        state = conn.execute(select(inst.c.state).where(inst.c.id == iid)).scalar_one()
        state["data"]["report"]["conclusion"] = "合格"
        conn.execute(update(inst).where(inst.c.id == iid).values(state=state, event_hash=prev))
        conn.execute(update(FieldIndex.__table__).where(FieldIndex.__table__.c.instance_id == iid,
                                                        FieldIndex.__table__.c.key == "report.conclusion")
                     .values(value="合格"))
    code, out = verify()
    assert code == 1 and f"BROKEN: {iid}" in out, out
    assert "step 'report'" in out and "does not match the data it signed" in out, out


def test_a_finding_keeps_a_masked_value_masked(app):
    """The integrity line names the field whose record differs from its trail: for a reader
    who sees that field masked, it says so without either value (the record's forged one, or
    the trail's true one), on the page and in the PDF alike."""
    iid = app.config["DONE"]
    edit_state(app, iid, lambda s: s["data"]["start"].update(contact_phone="13911112222"))
    page = dossier_check(app, iid)
    assert "所显示的记录与其审计轨迹不一致：「发起表单」的「联系电话」记录中为 ●●●●，审计轨迹为 ●●●●。" in page, \
        page[page.find("所显示"):][:200]
    assert "13911112222" not in page and "13800000000" not in page


def test_the_record_page_says_when_it_shows_what_its_trail_does_not_prove(app):
    """Operators and approvers read the record page, not the dossier: a record edited
    outside its chain says so there too, in the same words, masked values kept masked."""
    iid = app.config["DONE"]
    b = Browser(app)
    b.login("supervisor1", "correct horse 1")
    assert 'id="record-integrity"' not in b.get(f"/instances/{iid}").text
    edit_state(app, iid, lambda s: s["data"]["report"].update(conclusion="合格"))
    page = html.unescape(b.get(f"/instances/{iid}").text)
    assert 'id="record-integrity"' in page
    assert "所显示的记录与其审计轨迹不一致：「检验报告编制」的「结论」记录中为 '合格'，审计轨迹为 '不合格'。" in page
    edit_state(app, iid, lambda s: s["data"]["report"].update(conclusion="不合格"))
    edit_state(app, iid, lambda s: s["data"]["start"].update(contact_phone="13911112222"))
    page = html.unescape(b.get(f"/instances/{iid}").text)
    assert "「联系电话」记录中为 ●●●●，审计轨迹为 ●●●●" in page and "13911112222" not in page
