"""The step editor opened at one step (``?edit=STEP``, with or without the ``#edit-step``
anchor) on a phone (390x844, real Chromium, Chinese and English): the form comes first and its
Save button is on the first screen, and stays in reach while the form scrolls.
Screenshots: tests/artifacts/reach-step-edit-*.png."""

from __future__ import annotations

import pytest

from engine import store
from tests.browser.test_phone_nav import (
    ASI,
    LANGS,
    PASSWORD,
    _no_sideways,
    _phone,
    _shot,
    _tappable,
)


def _in_view(page, selector: str, what: str) -> None:
    _tappable(page, page.locator(selector), what)


@pytest.mark.parametrize("lang", LANGS)
def test_the_step_editor_opens_with_save_on_the_first_screen(server, browser, lang):
    base, app = server
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "qe", PASSWORD, ["editors"], full_name="质量工程师甲")
    page = _phone(browser, base, "qe", lang)
    for step in ("review", "report", "inspect"):
        for anchor in ("", "#edit-step"):
            page.goto(f"{base}/editor/{ASI}/steps?edit={step}{anchor}")
            page.wait_for_selector(f"#update-step input[name=step][value={step}]", state="attached")
            _no_sideways(page, f"edit {step}{anchor}")
            _in_view(page, "#edit-step", f"edit {step}{anchor}: the form's heading")
            _in_view(page, "#us-save", f"edit {step}{anchor}: Save")
    _shot(page, f"step-edit-{lang}", full_page=False)  # the first screen
    # while the form scrolls Save stays in reach, and it saves
    page.locator("#sec-next").scroll_into_view_if_needed()
    page.mouse.wheel(0, 300)
    page.wait_for_timeout(100)
    _in_view(page, "#us-save", "edit inspect, scrolled: Save")
    page.fill("#us-title", "检验产品（复检）" if lang == "zh" else "Inspect the product again")
    page.click("#us-save")
    page.wait_for_selector("p.flash.ok")
    # saved: the same step opens again (…?edit=inspect#edit-step) with the message and Save in sight
    assert page.locator("#update-step input[name=step][value=inspect]").count() == 1
    _in_view(page, "p.flash.ok", "after saving: the message")
    _in_view(page, "#us-save", "after saving: Save")
    _shot(page, f"step-saved-{lang}", full_page=False)
