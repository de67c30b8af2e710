"""Task actions on a phone (390 px, headless Chromium): the task page's 更多操作 opens and
transfers without sideways scrolling, the instance page offers 催办 and 撤回 in view, the
inbox shows 抄送我的."""

from __future__ import annotations

from engine import store
from tests.browser.conftest import login
from tests.helpers.service import answers

PW = "s3cret-pw-1"
SCRIPT = answers("customer-complaint--general")
PHONE = 390


def _no_sideways_scroll(page) -> None:
    wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)
        .slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE, wide


def test_task_actions_on_a_phone(server, browser):
    base, app = server
    services = app.extensions["services"]
    with services.database.writing() as s:
        for name, groups in {"clerk1": ["service-desk"], "chief1": ["service-managers"],
                             "chief2": ["service-managers"]}.items():
            store.add_user(s, name, PW, groups, full_name=name)
    wf = services.workflow
    with services.database.writing() as s:
        state = wf.start(s, "customer-complaint", "clerk1", SCRIPT["start"]["data"])
    for entry in SCRIPT["steps"][:2]:  # register, acknowledge
        with services.database.writing() as s:
            task = next(t["id"] for t in state["tasks"].values() if t["step"] == entry["step"] and t["status"] == "open")
            state = wf.complete_task(s, f"{state['id']}.{task}", entry["user"], entry["data"])
    verify = next(t["id"] for t in state["tasks"].values() if t["step"] == "verify")

    chief = login(browser, base, "chief1", PW, width=PHONE, height=800)
    chief.goto(f"{base}/tasks/{state['id']}.{verify}")
    chief.click("#more-actions summary")
    assert chief.is_visible("#transfer-form") and chief.is_visible("#return-form")
    _no_sideways_scroll(chief)
    chief.select_option("#to-user", "chief2")
    chief.fill("#transfer-reason", "出差")
    chief.click("#transfer")
    chief.wait_for_url(base + "/")
    assert "任务已转交给 chief2" in chief.content()

    clerk = login(browser, base, "clerk1", PW, width=PHONE, height=800)
    clerk.goto(f"{base}/instances/{state['id']}")
    _no_sideways_scroll(clerk)
    urge = clerk.locator("button.urge")
    assert urge.is_visible()
    urge.click()
    assert "已催办" in clerk.content() and "之后可再次催办" in clerk.content()
    clerk.click("#withdraw-box summary")
    clerk.fill("#withdraw-reason", "重复登记")
    clerk.click("#withdraw")
    assert "流程已撤回" in clerk.content()
    _no_sideways_scroll(clerk)
    clerk.goto(base + "/")
    assert "抄送我的" in clerk.content()
    _no_sideways_scroll(clerk)
