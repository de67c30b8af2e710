"""Who did a step is named as they were named when they did it, everywhere a record shows
actors: the record page's timeline and header, the dossier (page and PDF) and a 会签's
approvers on the task page. A later rename in the org chart (``user_edited``) does not
rewrite who did what; a step done after the rename carries the new name. Correctors have
been named so since ``people.correctors_named``; the rest showed today's name."""

from __future__ import annotations

import html
import re

import pytest

from engine.app import user_admin
from engine.store import users as user_store
from tests.helpers.pdf import pdf_text
from tests.helpers.service import PASSWORD, add_users, answer, answers, play, web_app
from tests.web.test_signatures_corrections import PID, browser


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    yield app
    app.extensions["services"].database.engine.dispose()


def _before_then_after(names: list[str]) -> bool:
    """The steps before the rename under the old name, the feedback's events under the new."""
    n = names.count("检验员一")
    return 0 < n < len(names) and names == ["检验员一"] * n + ["王五"] * (len(names) - n)


def _rename(app, user: str, name: str) -> None:
    user_admin.edit(app.extensions["services"], "cli:test", user, full_name=name)


def test_a_renamed_actor_reads_as_named_then_on_the_record_page_and_dossier(app):
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    script = answers(f"{PID}--fail")
    wf = app.extensions["workflow"]
    state = play(wf, sessions, script, upto=5)  # everything but the feedback
    _rename(app, "inspector1", "王五")
    with sessions() as s:
        answer(wf, s, state, script["steps"][5])  # feedback, by inspector1 now named 王五
        s.commit()
    iid = state["id"]

    page = browser(app, "supervisor1").get(f"/instances/{iid}").text
    started = page.split(">发起时间</dt>", 1)[1].split("</dd>", 1)[0]
    assert "检验员一" in _text(started) and "王五" not in started, started
    timeline = page.split('id="timeline"', 1)[1].split("</ol>", 1)[0]
    actors = [_text(a) for a in re.findall(r'<span class="ev-actor" title="inspector1">(.*?)</span>', timeline, re.S)]
    assert _before_then_after(actors), actors

    dossier = browser(app, "supervisor1").get(f"/audit/instances/{iid}").text
    started = dossier.split(">发起时间</dt>", 1)[1].split("</dd>", 1)[0]
    assert "检验员一" in _text(started) and "王五" not in started, started
    rows = re.findall(r'<td title="inspector1">(.*?)</td>', dossier.split('id="dossier-timeline"', 1)[1])
    assert _before_then_after(rows), rows

    pdf = browser(app, "supervisor1").c.get(f"/audit/instances/{iid}.pdf")
    assert pdf.status_code == 200
    text = pdf_text(pdf.data)
    assert "检验员一" in text and "王五" in text, text


def test_a_renamed_co_signer_reads_as_named_then_on_the_task_page(app):
    """A 会签 shows who has decided so far: a quality representative renamed after they
    approved reads under the name they signed with."""
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["supervisor1"])
    with sessions.begin() as s:
        user_store.add_user(s, "sales1", PASSWORD, ["sales"], full_name="业务员一")
        user_store.add_user(s, "repair1", PASSWORD, ["repair-technicians"], full_name="维修员一")
        user_store.add_user(s, "rnd1", PASSWORD, ["rnd"], full_name="研发一")
    state = play(app.extensions["workflow"], sessions, answers("repair-mode-decision--domestic-trip"), upto=3)
    _rename(app, "supervisor1", "赵六")
    b = browser(app, "repair1")
    (task,) = [t for t in state["tasks"].values()
               if t["status"] == "open" and t["step"] == "sign_off" and t.get("role") == "production_rep"]
    page = b.get(f"/tasks/{state['id']}.{task['id']}").text
    assert "质量主管一" in page and "赵六" not in page, _text(page)
