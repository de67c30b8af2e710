"""A task whose deadline could not be computed (an optional date left empty) says so on the
instance page, where admins and the people involved look, instead of refusing the submission
before it."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select, update

from engine import i18n, store
from tests.web.test_web_ui import Browser
from web import create_app

LANG_FORMS = Path(__file__).parents[1] / "data" / "lang" / "forms"
PROCEDURE = """id: empty-date
title: 日期为空
roles: {inspector: 检验员}
start: {roles: [inspector], step: inspect}
steps:
  inspect: {title: 检验, role: inspector, form: check, next: deliver}
  deliver:
    title: 交付
    role: inspector
    form: note
    deadline: {due_expr: inspect.delivered_on}
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""


def test_instance_page_shows_why_a_task_has_no_due_time(db_url, tmp_path):
    (tmp_path / "procedures").mkdir()
    (tmp_path / "procedures" / "empty-date.yaml").write_text(PROCEDURE, encoding="utf-8")
    shutil.copytree(LANG_FORMS, tmp_path / "forms")
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "locale": "zh", "paths.uploads": str(tmp_path / "uploads"),
        "paths.procedures": str(tmp_path / "procedures"), "paths.forms": str(tmp_path / "forms"),
        "roles": {"inspector": ["inspectors"], "admin": ["admins"]}}})
    try:
        services, wf = app.extensions["services"], app.extensions["workflow"]
        with services.database.sessions.begin() as s:
            store.add_user(s, "ins1", "pw-ins1", ["inspectors"])
        with services.database.sessions.begin() as s:
            state = wf.start(s, "empty-date", "ins1", {})
            [task] = [t for t in state["tasks"].values() if t["status"] == "open"]
            wf.complete_task(s, f"{state['id']}.{task['id']}", "ins1", {"verdict": "合格"})
        b = Browser(app)
        b.login("ins1")
        page = b.get(f"/instances/{state['id']}").text
        # stored with its key: shown in the reader's language (zh here) ...
        assert "需要处理：没有截止时间：“due_expr: inspect.delivered_on”得到 None，不是日期" in page, page
        with services.database.reading() as s:
            stored = wf.instance(s, state["id"])
        [deliver] = [t for t in stored["tasks"] if t["status"] == "open"]
        # ... and in English for an English reader; the English text stays for the API
        assert deliver["problem"] == i18n.shown(deliver["problem"], deliver["problem_message"], "en") == (
            "no due time: 'due_expr: inspect.delivered_on' gave None, not a date; correct that field to set one")
        # A record written before keys were kept shows its English text as stored.
        table = store.tables.Instance.__table__
        with services.database.engine.begin() as conn:
            raw = conn.execute(select(table.c.state).where(table.c.id == state["id"])).scalar_one()
            for t in raw["tasks"].values():
                t.pop("problem_message", None)
            conn.execute(update(table).where(table.c.id == state["id"]).values(state=raw))
        page = b.get(f"/instances/{state['id']}").text
        assert "需要处理：no due time: &#39;due_expr: inspect.delivered_on&#39; gave None" in page
    finally:
        app.extensions["services"].database.engine.dispose()


def test_instance_page_shows_a_spawn_that_could_not_open(db_url, tmp_path):
    from tests.app.test_spawn_failures import _write

    _write(tmp_path, "^[A-Z]+$")
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "locale": "zh", "paths.uploads": str(tmp_path / "uploads"),
        "paths.procedures": str(tmp_path / "procedures"), "paths.forms": str(tmp_path / "forms"),
        "roles": {"clerk": ["clerks"], "admin": ["admins"]}}})
    try:
        services, wf = app.extensions["services"], app.extensions["workflow"]
        with services.database.sessions.begin() as s:
            store.add_user(s, "clerk1", "pw-clerk1", ["clerks"])
        with services.database.sessions.begin() as s:
            state = wf.start(s, "parent", "clerk1", {})
            [task] = [t for t in state["tasks"].values() if t["status"] == "open"]
            wf.complete_task(s, f"{state['id']}.{task['id']}", "clerk1", {"code": "abc"})
        b = Browser(app)
        b.login("clerk1")
        page = b.get(f"/instances/{state['id']}").text
        assert "child 未能发起，系统将自动重试" in page
    finally:
        app.extensions["services"].database.engine.dispose()


def test_instance_page_says_why_its_timer_is_stalled(db_url, tmp_path):
    """What the worker records when a timer cannot fire (tests/app/test_timekeeping.py) is on
    the record's page, in the reader's language, with what to do."""
    from engine.store import timekeeping as tk

    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "locale": "zh", "paths.uploads": str(tmp_path / "uploads")}})
    try:
        services, wf = app.extensions["services"], app.extensions["workflow"]
        with services.database.sessions.begin() as s:
            store.add_user(s, "insp1", "pw-insp1", ["qa-inspectors"])
        with services.database.sessions.begin() as s:
            state = wf.start(s, "after-sales-inspection", "insp1", {
                "customer": "某医院", "product_name": "泵", "serial_no": "SN-9", "quantity": 1})
        b = Browser(app)
        b.login("insp1", "pw-insp1")
        assert 'id="stalled"' not in b.get(f"/instances/{state['id']}").text
        with services.database.sessions.begin() as s:
            tk.mark_stalled(s, [(state["id"], "after-sales-inspection", "cannot evaluate 'x > 3'")], services.now())
        page = b.get(f"/instances/{state['id']}").text
        assert 'id="stalled"' in page and "定时处理无法继续" in page and "cannot evaluate &#39;x &gt; 3&#39;" in page
    finally:
        app.extensions["services"].database.engine.dispose()
