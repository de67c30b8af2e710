"""A tampered record's dossier on a phone (390 px), in real Chromium: the integrity line
says in Chinese what was changed and what to do, and the page does not scroll sideways."""

from __future__ import annotations

from sqlalchemy import update

from engine.store.tables import Event
from tests.browser.conftest import ARTIFACTS
from tests.helpers.service import PASSWORD, add_users, answers, play
from tests.helpers.tamper import insider


def test_a_tampered_dossier_reads_on_a_phone(server, browser):
    base, app = server
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    done = play(app.extensions["workflow"], sessions, answers("after-sales-inspection--fail"))
    with insider(app.extensions["services"].database.engine) as conn:
        conn.execute(update(Event.__table__).where(Event.__table__.c.instance_id == done["id"],
                                                   Event.__table__.c.seq == 3).values(actor="mallory"))
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", "supervisor1")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(base + "/")
    page.goto(f"{base}/audit/instances/{done['id']}")
    line = page.inner_text("#chain-check")
    assert line == "✘ 已被破坏：事件 3 的内容被改动（哈希不符）；此记录不可信，请联系管理员并从备份核对。", line
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "integrity-phone.png"), full_page=True)
    ctx.close()
