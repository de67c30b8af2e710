"""The live total of a computed field in real Chromium on a 390 px wide phone screen: the
rater types scores and weights into the table and the weighted score, worked out by the
server (``POST /tasks/{id}/compute``), updates without a submit; the page does not scroll
sideways; the submitted record holds the server's value."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import store
from tests.browser.conftest import ARTIFACTS, login, serving

COMPUTED = Path(__file__).parents[1] / "data" / "computed"
PASSWORD = "s3cret-pw"


@pytest.fixture
def computed_server(tmp_path):
    from web import create_app

    app = create_app({"WF_OVERRIDES": {
        "database.url": f"sqlite:///{tmp_path / 'wf.db'}", "paths.uploads": str(tmp_path / "uploads"),
        "paths.procedures": str(COMPUTED / "procedures"), "paths.forms": str(COMPUTED / "forms"),
        "roles": {"rater": ["raters"], "reviewer": ["reviewers"], "quality_manager": ["qms"]}}})
    with serving(app) as base:
        yield base, app


def test_the_weighted_score_updates_live_at_390_px(computed_server, browser):
    base, app = computed_server
    services, wf = app.extensions["services"], app.extensions["workflow"]
    with services.database.writing() as s:
        store.add_user(s, "rater1", PASSWORD, ["raters"], full_name="评分员一")
    with services.database.writing() as s:
        state = wf.start(s, "scorecard", "rater1", {})
    task_id = f"{state['id']}.t1"

    from playwright.sync_api import expect

    page = login(browser, base, "rater1", PASSWORD, width=390, height=844)
    page.goto(f"{base}/tasks/{task_id}")
    total = page.locator("output#f\\.total")
    assert total.inner_text() == ""
    page.fill("#f\\.supplier", "甲公司")
    page.click("button.add-row")
    page.fill("input[name='f.items.0.name']", "质量")
    page.fill("input[name='f.items.0.score']", "90")
    page.fill("input[name='f.items.0.weight']", "2")
    expect(total).to_have_text("90 分")
    page.click("button.add-row")
    page.fill("input[name='f.items.1.name']", "交付")
    page.fill("input[name='f.items.1.score']", "60")
    page.fill("input[name='f.items.1.weight']", "1")
    expect(total).to_have_text("80 分")
    assert page.locator("output#f\\.average").inner_text() == "75"
    assert page.locator("output#f\\.low").inner_text() == "0"
    page.fill("input[name='f.items.1.score']", "30")                 # the total follows each keystroke
    expect(total).to_have_text("70 分")
    assert page.locator("output#f\\.low").inner_text() == "1"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the task page scrolls sideways at 390 px ({width} px wide)"
    page.screenshot(path=str(ARTIFACTS / "computed-live-total-390.png"), full_page=True)

    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url(base + "/")
    with services.database.reading() as s:
        recorded = wf.instance(s, state["id"])["data"]["rate"]
    assert recorded["total"] == 70 and recorded["low"] == 1
