"""Try it as a click-through, through Flask's test client: start with the start form, fill
each task's generated form as its role, a photo taken in memory, a refusal for the wrong role
and for a missing required field, the clock letting a deadline pass (overdue, escalated), undo
and the path on the diagram; and nothing at all written to the database."""

from __future__ import annotations

import html
import io
import json
import re

import pytest
from sqlalchemy import func, select

from engine import store
from engine.store.tables import Base
from tests.web.test_web_ui import Browser
from web import create_app

PID = "after-sales-inspection"
URL = f"/editor/{PID}/try"
START = {"f.customer": "某市人民医院", "f.product_name": "监护仪", "f.serial_no": "SN-1", "f.quantity": "1"}


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "zh"}})
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "author", "pw-author", ["editors"], full_name="编写人")
        store.add_user(s, "insp", "pw-insp", ["qa-inspectors"], full_name="检验员")
        store.add_user(s, "sup", "pw-sup", ["qa-supervisors"], full_name="主管")
    yield app
    app.extensions["services"].database.engine.dispose()


def rows(app) -> dict[str, int]:
    """Rows of every table: what a run in memory must leave as it was."""
    with app.extensions["services"].database.reading() as s:
        return {t.name: s.execute(select(func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables}


def script_of(page: str) -> str:
    return html.unescape(re.search(r'name="script" value="([^"]*)"', page).group(1))


def click(b, page: str, data: dict, files=None):
    body = {"v": re.search(r'name="v" value="(\d+)"', page).group(1), "script": script_of(page), **data}
    if files:
        body.update(files)
    return b.c.post(f"{URL}/click", data={"csrf_token": b.token, **body},
                    content_type="multipart/form-data" if files else None)


def task_id(page: str, step: str) -> str:
    block = page.split(f'id="try-task-{step}"', 1)[1]
    return re.search(r'name="task" value="([^"]+)"', block).group(1)


def test_click_through_past_a_deadline_writes_nothing(app):
    b = Browser(app)
    b.login("author")
    before = rows(app)
    page = b.get(URL).text
    assert 'id="try-start"' in page and 'name="f.customer"' in page
    assert 'id="answers"' in page  # the expert's answer script stays on the page

    # a start without the required fields: refused at the fields, nothing started
    r = click(b, page, {"do": "start", "user": "insp", "f.customer": "某医院"})
    assert r.status_code == 422 and 'id="try-start"' in r.text
    assert "某医院" in r.text  # what was typed comes back
    r = click(b, page, {"do": "start", "user": "insp", **START})
    assert r.status_code == 200, r.text
    page = r.text
    assert 'id="try-task-receive"' in page and "接收产品" in page
    assert "2026-11-03 09:00" in page.split('id="try-task-receive"', 1)[1].split("</article>", 1)[0]  # due in 1wd

    # the clock: a working day later the receipt is overdue and escalated to the supervisor
    r = click(b, page, {"do": "clock", "by": "1wd"})
    page = r.text
    assert r.status_code == 200 and "2026-11-03 09:00" in page.split('id="try-now">', 1)[1][:40]
    card = page.split('id="try-task-receive"', 1)[1].split("</article>", 1)[0]
    assert "overdue" in card and "质量主管" in card
    events = page.split('id="click-events"', 1)[1].split("</details>", 1)[0]
    assert "逾期升级" in events and "逾期" in events

    # acting in a role the task is not for (nor escalated to) is refused with the runtime's
    # reason; nothing changes
    t = task_id(page, "receive")
    fill = {"do": "task", "task": t, "step": "receive", "user": "gm", "act_as": "quality_manager",
            f"f_{t}.received_on": "2026-11-03", f"f_{t}.condition": "完好", f"f_{t}.reported_fault": "不开机"}
    r = click(b, page, fill)
    assert r.status_code == 422 and "售后检验人员" in r.text.split('id="click-error"', 1)[1][:300]
    assert script_of(r.text) == script_of(page)

    # as the inspector, with a photo (kept in memory by its name only)
    fill.update(user="insp", act_as="inspector")
    r = click(b, page, fill, files={f"f_{t}.photos:upload": (io.BytesIO(b"\x89PNG fake"), "到货.png")})
    assert r.status_code == 200, r.text
    page = r.text
    assert 'id="try-task-inspect"' in page and "到货.png" in script_of(page)
    path = page.split('id="click-path">', 1)[1].split("</p>", 1)[0]
    assert "接收产品 → 产品检验" in path
    assert re.search(r'<g class="step task taken"[^>]*data-step="receive"', page)
    assert not re.search(r'<g class="step task taken"[^>]*data-step="report"', page)

    # undo takes the last step back
    r = click(b, page, {"do": "undo"})
    assert 'id="try-task-receive"' in r.text and "到货.png" not in script_of(r.text)
    # to a date: time passes up to it
    r = click(b, r.text, {"do": "clock", "to": "2026-11-10T09:00"})
    assert "2026-11-10 09:00" in r.text.split('id="try-now">', 1)[1][:40]
    # the expert's box carries the click-through's script to go on from there
    answers = html.unescape(r.text.split('id="answers"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0])
    assert "advance_to:" in answers and "advance: 1wd" in answers

    assert rows(app) == before


def test_an_approval_is_approved_or_rejected_in_the_click_through(app):
    b = Browser(app)
    b.login("author")
    script = {"procedure": PID, "start": {"user": "insp", "data": {
        "customer": "某医院", "product_name": "监护仪", "serial_no": "SN-2", "quantity": 1}}}
    from engine.app.editor import sample_answers
    with app.extensions["services"].database.reading() as s:
        wf = app.extensions["workflow"]
        row = store.versions.working_copy(s, PID)
        proc = wf.runtime(s, row.id).procedure
    sample = sample_answers(proc, wf.calendars)
    steps = []
    for entry in sample["steps"]:
        if entry.get("step") == "review":
            break
        steps.append(entry)
    script["steps"] = steps
    page = b.get(URL).text
    body = {"csrf_token": b.token, "v": re.search(r'name="v" value="(\d+)"', page).group(1),
            "script": json.dumps(script, ensure_ascii=False), "do": "clock", "by": "1h"}
    r = b.c.post(f"{URL}/click", data=body)
    assert r.status_code == 200, r.text
    page = r.text
    assert 'id="try-task-review"' in page
    card = page.split('id="try-task-review"', 1)[1].split("</article>", 1)[0]
    assert 'data-decision="approve"' in card and 'data-decision="reject"' in card
    t = task_id(page, "review")
    r = click(b, page, {"do": "task", "task": t, "step": "review", "user": "sup", "act_as": "qa_supervisor",
                        "decision": "reject", "comment": "缺少实测值"})
    assert r.status_code == 200, r.text
    assert "review" in script_of(r.text) and "reject" in script_of(r.text)
    assert 'id="try-task-review"' not in r.text


def test_readers_may_try_but_a_broken_script_is_said_plainly(app):
    b = Browser(app)
    b.login("insp")
    page = b.get(URL)
    assert page.status_code == 200 and 'id="try-start"' in page.text
    r = b.c.post(f"{URL}/click", data={"csrf_token": b.token, "script": "[1, 2", "do": "clock", "by": "1h"})
    assert r.status_code == 422 and 'id="click-error"' in r.text
    r = b.c.post(f"{URL}/click", data={"csrf_token": b.token, "script": "", "do": "clock", "by": "1h"})
    assert r.status_code == 422 and "请先发起流程" in r.text


def _english(page: str) -> set[str]:
    """English words a Chinese page shows, outside what users wrote: the YAML and the answer
    script, field ids and expressions (set in monospace) and the procedure's own texts."""
    body = page.split("<body>", 1)[-1]
    body = re.sub(r"<script.*?</script>|<style.*?</style>|<svg.*?</svg>|<pre.*?</pre>|<textarea.*?</textarea>"
                  r"|<span class=\"mono[^\"]*\">.*?</span>", " ", body, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", body))
    # the language switch, the zone's name, and file types written as the system knows them
    return set(re.findall(r"[A-Za-z]{3,}", text)) - {"English", "Asia", "Shanghai", "YAML", "pdf", "image", "png"}


def test_the_builder_and_try_it_speak_chinese(app):
    b = Browser(app)
    b.login("author")
    builder = b.get(f"/editor/{PID}/forms/after-sales-inspection-result").text
    # the form's own ids, expressions and file types are the user's words
    written = set(re.findall(r"[A-Za-z]{3,}", html.unescape(builder.split('id="form-yaml">', 1)[1].split("</pre>")[0])))
    assert not _english(builder) - written, _english(builder) - written
    page = b.get(URL).text
    r = click(b, page, {"do": "start", "user": "insp", **START})
    r = click(b, r.text, {"do": "clock", "by": "1wd"})
    # the expert's answer script is written in the script's own words (advance: 2wd)
    clicked = r.text.split('<details id="script-mode"', 1)[0] + "</body>"
    assert _english(clicked) <= {"insp", "system"}, _english(clicked)


def test_a_spawn_step_says_which_procedure_it_would_start(app):
    b = Browser(app)
    b.login("author")
    with app.extensions["services"].database.reading() as s:
        wf = app.extensions["workflow"]
        proc = wf.runtime(s, store.versions.working_copy(s, PID).id).procedure
    from engine.app.editor import sample_answers
    sample = sample_answers(proc, wf.calendars)
    steps = []
    for entry in sample["steps"]:  # to the conforming disposition, choosing repair (维修)
        if entry["step"] == "conforming":
            entry = {**entry, "data": {**entry.get("data", {}), "disposition": "维修"}}
            steps.append(entry)
            break
        steps.append(entry)
    b.get(URL)
    script = {"procedure": PID, "start": sample["start"], "steps": steps[:-1]}
    last = steps[-1]
    r = b.c.post(f"{URL}/click", data={"csrf_token": b.token, "script": json.dumps(script, ensure_ascii=False),
                                       "do": "clock", "by": "1h"})
    t = task_id(r.text, "conforming")
    body = {"do": "task", "task": t, "step": "conforming", "user": "insp", "act_as": "inspector",
            **{f"f_{t}.{k}": v for k, v in last["data"].items()}}
    r = click(b, r.text, body)
    assert r.status_code == 200, r.text
    assert "将发起关联流程 repair-process-inspection" in r.text.split('id="click-spawned"', 1)[1][:200]


def test_a_script_sent_back_is_bounded_and_needs_the_csrf_token(app):
    b = Browser(app)
    b.login("author")
    b.get(URL)
    long = {"procedure": PID, "start": {"user": "insp", "data": {}}, "steps": [{"advance": "1h"}] * 401}
    r = b.c.post(f"{URL}/click", data={"csrf_token": b.token, "script": json.dumps(long), "do": "clock", "by": "1h"})
    assert r.status_code == 422 and "已超过 400 步" in r.text
    r = b.c.post(f"{URL}/click", data={"script": "", "do": "restart"})
    assert r.status_code in (400, 403)


def test_each_approver_of_a_countersign_decides_their_own_task(app):
    b = Browser(app)
    b.login("author")
    pid = "annual-maintenance-contract"
    with app.extensions["services"].database.reading() as s:
        wf = app.extensions["workflow"]
        proc = wf.runtime(s, store.versions.working_copy(s, pid).id).procedure
    from engine.app.editor import sample_answers
    sample = sample_answers(proc, wf.calendars)
    upto = next(i for i, e in enumerate(sample["steps"]) if e["step"] == "cosign")
    script = {"procedure": pid, "start": sample["start"], "steps": sample["steps"][:upto]}
    b.get(f"/editor/{pid}/try")
    r = b.c.post(f"/editor/{pid}/try/click", data={"csrf_token": b.token, "do": "clock", "by": "1h",
                                                   "script": json.dumps(script, ensure_ascii=False)})
    page = r.text
    cards = re.findall(r'<article class="try-task[^"]*" data-step="cosign" data-task-role="(\w+)" id="([\w-]+)"', page)
    assert sorted(role for role, _ in cards) == ["finance", "president_office"], cards
    finance = next(card for role, card in cards if role == "finance")
    t = re.search(r'name="task" value="([^"]+)"', page.split(f'id="{finance}"', 1)[1]).group(1)
    r = b.c.post(f"/editor/{pid}/try/click", data={
        "csrf_token": b.token, "script": script_of(page), "do": "task", "task": t, "step": "cosign",
        "user": "cfo", "act_as": "finance", "decision": "approve"})
    assert r.status_code == 200, r.text.split('id="click-error"', 1)[-1][:300]
    left = re.findall(r'data-step="cosign" data-task-role="(\w+)"', r.text)
    assert left == ["president_office"]
    assert '"role": "finance"' in script_of(r.text)
