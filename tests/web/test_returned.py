"""A rejected report comes back (issue 18: the reason sat at the bottom of the earlier records
and the notification said only "New task"): the returned task opens with who sent it back,
from which step and why, and the notification says the same."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.store.tables import Notification
from tests.helpers.service import PASSWORD, add_users, answers, play, web_app
from tests.web.test_web_ui import Browser

PID = "after-sales-inspection"
REASON = "报告缺少处理方式和实测值汇总"


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    script = answers(f"{PID}--review-reject")
    upto = next(i for i, s in enumerate(script["steps"]) if s.get("decision") == "reject") + 1
    app.config["STATE"] = play(app.extensions["workflow"], sessions, script, upto=upto)
    yield app
    app.extensions["services"].database.engine.dispose()


def test_the_returned_task_opens_with_why(app):
    state = app.config["STATE"]
    report = next(t for t in state["tasks"].values() if t["step"] == "report" and t["status"] == "open")
    b = Browser(app)
    b.login("inspector1", PASSWORD)
    page = b.get(f"/tasks/{state['id']}.{report['id']}").text
    box = page[page.index('id="returned"'):]
    assert box.index(REASON) < box.index("</div>"), "the reason is in the box at the top"
    assert page.index('id="returned"') < page.index('id="task-form"')
    assert "被“检验报告审核”退回（supervisor1）" in box


def test_a_first_visit_to_a_step_has_no_returned_box(app):
    b = Browser(app)
    b.login("inspector1", PASSWORD)
    sessions = app.extensions["services"].database.sessions
    fresh = play(app.extensions["workflow"], sessions, answers(f"{PID}--review-reject"), upto=0)
    receive = next(t for t in fresh["tasks"].values() if t["status"] == "open")
    assert 'id="returned"' not in b.get(f"/tasks/{fresh['id']}.{receive['id']}").text


def test_the_notification_says_it_was_sent_back_and_why(app):
    from engine.app.notify import text

    sessions = app.extensions["services"].database.sessions
    with sessions() as s:
        rows = s.scalars(select(Notification).where(Notification.instance_id == app.config["STATE"]["id"])
                         .order_by(Notification.id)).all()
    last = [n for n in rows if n.kind == "assigned"][-1]
    assert last.data["reason"] == REASON and last.data["by"] == "supervisor1"
    line = text(last.kind, last.data, "zh")
    assert line.startswith("被退回：") and REASON in line
    assert REASON in text(last.kind, last.data, "en") and text(last.kind, last.data, "en").startswith("Sent back")


def test_a_step_starts_with_what_the_procedure_prefills(app, db_url, tmp_path):
    """Issue 18: 检验人员 starts as the person doing the inspection, and the report's conclusion
    starts as the conclusion already recorded (both may be changed)."""
    sessions = app.extensions["services"].database.sessions
    script = answers(f"{PID}--review-reject")
    fresh = play(app.extensions["workflow"], sessions, script, upto=1)  # received; the inspection is open
    inspect = next(t for t in fresh["tasks"].values() if t["status"] == "open")
    b = Browser(app)
    b.login("inspector1", PASSWORD)
    page = b.get(f"/tasks/{fresh['id']}.{inspect['id']}").text
    assert 'id="f.inspector" name="f.inspector" list="wf-users" value="inspector1"' in page
    done = play(app.extensions["workflow"], sessions, answers(f"{PID}--review-reject"), upto=3)
    report = next(t for t in done["tasks"].values() if t["status"] == "open")
    assert report["step"] == "report" and done["data"]["inspect"]["verdict"] == "合格"
    page = b.get(f"/tasks/{done['id']}.{report['id']}").text
    assert 'name="f.conclusion" value="合格" checked' in page
    assert 'name="f.conclusion" value="不合格" checked' not in page
