"""An administrator adds a colleague on a phone (Chromium at 390x844): the user list, the
add form (a refusal beside its field, then the manager picked with the people picker and
groups ticked), the user's page and its actions; no page scrolls sideways, the primary
action stays on screen, and the Chinese pages show no English outside data and codes. The
newcomer then signs in and is sent to change the temporary password."""

from __future__ import annotations

import re

from engine.store import users as user_store
from tests.browser.conftest import ARTIFACTS, login
from tests.browser.test_every_page_on_a_phone import CODE, FORMATS, SHOWN_TEXT, ids
from tests.web.test_one_language import ALWAYS, english_words

W, H = 390, 844
GOOD = "blue kettle on the stove"


def check_page(page, name: str, primary: str | None = None) -> None:
    page.screenshot(path=str(ARTIFACTS / f"user-admin-390-{name}.png"), full_page=True)
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= W, f"{name}: the page is {wide} px wide on a {W} px phone"
    if primary:
        box = page.locator(primary).first.bounding_box()
        assert box is not None, f"{name}: {primary} is not shown"
        assert box["x"] >= 0 and box["x"] + box["width"] <= W, f"{name}: {primary} at x={box['x']}"
        assert box["y"] >= 0 and box["y"] + box["height"] <= H, f"{name}: {primary} is off the screen at y={box['y']}"
    text = re.sub(r"\s+", " ", page.evaluate(SHOWN_TEXT))
    english = english_words(ids().sub(" ", CODE.sub(" ", text))) - ALWAYS - FORMATS
    english -= {"root", "boss", "zhang", "san", "clerk", "example", "com", "zs", "ghost"}  # user data
    assert not english, f"{name}: English on a Chinese page: {sorted(english)}"


def test_an_administrator_adds_a_user_on_a_phone(server, browser):
    base, app = server
    with app.extensions["services"].database.writing() as s:
        user_store.add_user(s, "root", "a long passphrase root", ["admins"], full_name="管理员")
        user_store.add_user(s, "boss", "a long passphrase boss", [], full_name="王经理")
        user_store.add_user(s, "clerk", "a long passphrase clerk", ["qa-inspectors"], full_name="文员")
    page = login(browser, base, "root", "a long passphrase root", width=W, height=H)
    page.click("#nav-users")
    page.wait_for_selector("#users")
    check_page(page, "list", "#add-user")
    page.click("#add-user")
    page.wait_for_selector("#user-form")
    check_page(page, "add", "#save-user")  # sticky: on screen before any scrolling

    # a name taken: the refusal stands beside the field, what was typed stays
    page.fill("#f-username", "clerk")
    page.fill("#f-full_name", "张三")
    page.fill("#f-password", GOOD)
    page.click("#save-user")
    page.wait_for_selector('[data-error-for="username"]')
    assert "已存在" in page.inner_text('[data-error-for="username"]')
    assert page.input_value("#f-full_name") == "张三"
    check_page(page, "add-refused", "#save-user")

    page.fill("#f-username", "zhang.san")
    page.fill("#f-email", "zs@example.com")
    page.fill("#f-password", GOOD)
    page.fill("#f-manager", "王")  # the people picker offers 王经理 (boss)
    assert page.locator('#wf-users option[value="boss"]').count() == 1
    page.fill("#f-manager", "boss")
    page.check('input[name=groups][value="qa-inspectors"]')
    page.locator("#save-user").scroll_into_view_if_needed()
    page.click("#save-user")
    page.wait_for_selector("#temporary-password")
    assert "zhang.san" in page.inner_text("#user-name")
    assert page.is_checked('input[name=groups][value="qa-inspectors"]')
    assert page.input_value("#f-manager") == "boss"
    check_page(page, "user")
    page.eval_on_selector("#deactivate-box", "d => d.open = true")
    page.locator("#deactivate-confirm").scroll_into_view_if_needed()
    check_page(page, "user-deactivate", "#deactivate-confirm")
    page.context.close()

    newcomer = browser.new_context(locale="zh-CN", viewport={"width": W, "height": H}).new_page()
    newcomer.goto(base + "/login")
    newcomer.fill("input[name=username]", "zhang.san")
    newcomer.fill("input[name=password]", GOOD)
    newcomer.click("button[type=submit].primary")
    newcomer.wait_for_url(base + "/password")
    newcomer.context.close()
