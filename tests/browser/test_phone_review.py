"""Found in a phone review: real Chromium at 390x844 with a phone's user agent and touch.
Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re

import pytest

from engine import store
from tests.browser.conftest import ARTIFACTS, login, serving

W, H = 390, 844
PASSWORD = "s3cret-pw-review"
UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")


@pytest.fixture
def small_uploads(tmp_path):
    """The app with a 64 KB upload limit (the request limit is that plus 64 KB), so a photo
    of 200 KB stands for a phone's 12 MB photo against the shipped 10 MB."""
    from web import create_app

    app = create_app({"WF_OVERRIDES": {"database.url": f"sqlite:///{tmp_path / 'wf.db'}",
                                       "paths.uploads": str(tmp_path / "uploads"),
                                       "uploads.max_bytes": 64 * 1024}})
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "insp", PASSWORD, ["qa-inspectors"], full_name="检验员甲")
    with serving(app) as base:
        yield base, app


def _phone(browser, base: str, user: str, **context):
    return login(browser, base, user, PASSWORD, width=W, height=H, user_agent=UA, is_mobile=True,
                 has_touch=True, device_scale_factor=3, timezone_id="Asia/Shanghai", **context)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"review-{name}.png"), full_page=True)


def _receipt_task(page, base: str) -> None:
    page.click("a[data-procedure=after-sales-inspection]")
    page.fill("#f\\.customer", "某市人民医院")
    page.fill("#f\\.product_name", "多参数监护仪")
    page.fill("#f\\.serial_no", "SN-BIG-1")
    page.fill("#f\\.quantity", "1")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/instances/"))
    page.goto(base + "/")
    page.locator("#tasks a[href^='/tasks/']").first.click()
    page.wait_for_selector("form#task-form")


def test_a_too_large_photo_is_named_at_its_field_before_anything_is_sent(small_uploads, browser, tmp_path):
    """The form checks a photo against its limit as it is chosen (web/static/forms.js): named at
    the field in Chinese, left out, what was typed kept; nothing goes to the server to be refused."""
    base, _app = small_uploads
    page = _phone(browser, base, "insp")
    _receipt_task(page, base)
    page.fill("#f\\.condition", "包装完好")
    photo = tmp_path / "IMG_0001.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (200 * 1024))
    page.set_input_files("input[type=file]", str(photo))
    note = page.locator("[data-file-error]")
    assert "IMG_0001.png" in note.inner_text() and "64 KB" in note.inner_text(), note.inner_text()
    assert page.evaluate("document.querySelector('input[type=file]').files.length") == 0
    assert page.input_value("#f\\.condition") == "包装完好"
    assert page.evaluate("document.documentElement.scrollWidth") <= W


def test_a_too_large_request_gets_a_chinese_phone_page_not_werkzeugs(small_uploads, browser, tmp_path):
    """Task page, inspector, a browser that runs no script (so the form's own check does not):
    more than a submission may carry answered Werkzeug's bare English '413 Request Entity Too
    Large' (no viewport: 980 px wide), the typed form lost. Now a styled page in Chinese."""
    base, _app = small_uploads
    page = _phone(browser, base, "insp", java_script_enabled=False)
    _receipt_task(page, base)
    photo = tmp_path / "IMG_0001.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (500 * 1024))  # over 5 x 64 KB + 64 KB
    page.set_input_files("input[type=file]", str(photo))
    page.fill("#f\\.condition", "包装完好")
    with page.expect_navigation() as went:
        page.click("#submit")
    _shot(page, "413-upload")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert went.value.status == 413
    assert page.get_attribute("html", "lang") == "zh-CN", page.content()[:200]
    assert wide <= W, f"the 413 page is {wide} px wide"
    assert "文件太大" in page.inner_text("h1") and "没有保存" in page.inner_text(".error .message")
    assert "每个文件不超过 64 KB" in page.inner_text(".error .message")
    assert page.locator("#error-back").is_visible(), "a way back to the form, in view"
    page.click("#error-back")
    page.wait_for_selector("form#task-form")


def test_a_get_of_a_post_only_address_gets_a_chinese_phone_page(small_uploads, browser):
    """Any user: /logout (or a task's /claim) opened by address or reloaded answers Werkzeug's
    bare English '405 Method Not Allowed', 980 px wide on a phone."""
    base, _app = small_uploads
    page = _phone(browser, base, "insp")
    response = page.goto(base + "/logout")
    _shot(page, "405-logout")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert response.status == 405
    assert "Method Not Allowed" not in page.inner_text("body")
    assert wide <= W, f"the 405 page is {wide} px wide"


def test_header_account_controls_are_big_enough_to_tap(small_uploads, browser):
    """Every page, every user: the language switch, 修改密码 and 退出 in the header are 20 px tall
    (退出 27x20), next to each other; a thumb hits the wrong one."""
    base, _app = small_uploads
    page = _phone(browser, base, "insp")
    _shot(page, "header-taps")
    small = {}
    for sel in ("#switch-locale", "#nav-password", "#logout"):
        box = page.locator(sel).bounding_box()
        if box["height"] < 32 or box["width"] < 32:
            small[sel] = f"{box['width']:.0f}x{box['height']:.0f}"
    assert not small, f"tap targets under 32 px: {small}"


def test_a_long_signed_in_name_wraps_and_record_links_take_a_thumb(small_uploads, browser):
    """The signed-in name was cut at 9rem with an ellipsis; the record numbers that open a
    record from /instances, /search and /audit were a line of text (about 20 px tall)."""
    base, app = small_uploads
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "longname", PASSWORD, ["auditors"],
                       full_name="欧阳检验员甲乙丙丁戊己庚辛壬癸（售后服务部质量组）")
    wf, sessions = app.extensions["workflow"], app.extensions["services"].database.sessions
    with sessions() as s:
        wf.start(s, "after-sales-inspection", "insp",
                 {"customer": "某市人民医院", "product_name": "监护仪", "serial_no": "SN-TAP-1", "quantity": 1})
        s.commit()
    page = _phone(browser, base, "longname")
    for url, link in (("/instances", "table.list td > a.mono"), ("/search?q=SN-TAP", "table.list td > a.mono"),
                      ("/audit", "#audit-results td > a.mono")):
        page.goto(base + url)
        _shot(page, "taps" + url.replace("/", "-").split("?")[0])
        assert page.evaluate("document.documentElement.scrollWidth") <= W, url
        box = page.locator(link).first.bounding_box()
        assert box["height"] >= 32, f"{url}: the record link is {box['height']:.0f} px tall"
        user = page.locator("header.top .who .user")
        assert user.evaluate("e => e.scrollWidth <= e.clientWidth"), "the name is cut"
        assert "（售后服务部质量组）" in user.inner_text()
        for sel in ("#switch-locale", "#nav-password", "#logout"):
            b = page.locator(sel).bounding_box()
            assert b["height"] >= 32 and b["width"] >= 32, (url, sel, b)
