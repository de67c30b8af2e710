"""Phone first: the pages an inspector uses, at a phone's 390x844 in real Chromium, must not
scroll sideways, and the primary action of a form must be on screen without scrolling past
every earlier record. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re

import pytest

from engine import store
from tests.browser.conftest import ARTIFACTS, login

PASSWORD = "s3cret-pw"
PHONE = {"width": 390, "height": 844}
WIDE = "document.documentElement.scrollWidth"


def _png() -> bytes:
    """A real 8x8 PNG (the browser must decode it to show a thumbnail)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + b"\x20\x80\xc0" * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _phone(browser, base, user):
    return login(browser, base, user, PASSWORD, width=PHONE["width"], height=PHONE["height"])


def _no_sideways(page, what):
    width = page.evaluate(WIDE)
    assert width <= PHONE["width"], f"{what}: the page is {width} px wide at a 390 px phone"


def _in_view(page, selector, what):
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{what}: {selector} is not shown"
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], \
        f"{what}: {selector} is at y={box['y']:.0f}, outside the 844 px screen"
    assert box["x"] + box["width"] <= PHONE["width"], f"{what}: {selector} sticks out to x={box['x'] + box['width']:.0f}"


@pytest.mark.parametrize("lang", ["zh-CN"])
def test_inspector_on_a_phone(server, browser, lang):
    base, app = server
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "insp-a", PASSWORD, ["qa-inspectors"], full_name="检验员甲")
        store.add_user(s, "sup", PASSWORD, ["qa-supervisors"], full_name="主管丙")

    a = _phone(browser, base, "insp-a")
    _no_sideways(a, "inbox (empty)")
    a.click("a[data-procedure=after-sales-inspection]")
    a.wait_for_selector("form#task-form, form")
    _no_sideways(a, "start form")
    a.fill("#f\\.customer", "某市人民医院")
    a.fill("#f\\.product_name", "多参数监护仪")
    a.fill("#f\\.serial_no", "SN20260001")
    a.fill("#f\\.quantity", "1")
    a.click("#submit")
    a.wait_for_url(re.compile(r"/instances/"))
    _no_sideways(a, "instance page")

    a.goto(base + "/")
    _no_sideways(a, "inbox with a task")
    a.screenshot(path=str(ARTIFACTS / "phone-01-inbox.png"), full_page=True)
    # Every cell of the task's row is readable: no step name broken one character per line.
    step_link = a.get_by_role("link", name="接收产品").first
    box = step_link.bounding_box()
    assert box is not None and box["width"] > 40, f"step name squeezed to {box}"
    step_link.click()
    a.wait_for_selector("form#task-form")
    _no_sideways(a, "task page")
    _in_view(a, "#submit", "task page")
    # Text inputs are wide enough to type in.
    width = a.locator("#f\\.condition").bounding_box()["width"]
    assert width >= 200, f"the text input is {width:.0f} px wide"
    a.screenshot(path=str(ARTIFACTS / "phone-02-task.png"), full_page=True)
    a.fill("#f\\.received_on", "2026-05-11")
    a.fill("#f\\.condition", "包装完好，附件齐全")
    a.fill("#f\\.reported_fault", "开机无显示")
    assert a.get_attribute("input[name='f.photos:upload']", "capture") == "environment"
    a.set_input_files("input[name='f.photos:upload']",
                      files=[{"name": "外观.png", "mimeType": "image/png", "buffer": _png()}])
    a.click("#submit")
    a.wait_for_url(base + "/")
    # The record shows the photo itself, as a thumbnail that fits the phone.
    a.goto(base + "/instances")
    a.locator("#instances a.mono").first.click()
    thumb = a.locator("section.step-data a.thumb img").first
    thumb.wait_for()
    assert a.evaluate("img => img.complete && img.naturalWidth", thumb.element_handle()) == 8
    _no_sideways(a, "instance page with a photo")
    a.goto(base + "/")

    # The inspection: a table form with earlier records above it.
    a.get_by_role("link", name="产品检验").first.click()
    a.wait_for_selector("form#task-form")
    _no_sideways(a, "inspection table")
    _in_view(a, "#submit", "inspection table")
    a.click("button.add-row")
    _no_sideways(a, "inspection table with a row")
    a.screenshot(path=str(ARTIFACTS / "phone-03-inspection.png"), full_page=True)


def test_the_same_journey_on_a_desktop_in_english(server, browser):
    """At 1366x900 in English: no sideways scrolling either, the record number shown, the pages
    in English (the after-sales inspection's titles too: its file gives them in English)."""
    base, app = server
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "insp-a", PASSWORD, ["qa-inspectors"], full_name="检验员甲")
    page = login(browser, base, "insp-a", PASSWORD, width=1366, height=900)
    page.click("#switch-locale")
    page.wait_for_selector("text=My tasks")
    page.click("a[data-procedure=after-sales-inspection]")
    page.fill("#f\\.customer", "某市人民医院")
    page.fill("#f\\.product_name", "多参数监护仪")
    page.fill("#f\\.serial_no", "SN20260002")
    page.fill("#f\\.quantity", "1")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/instances/"))
    number = page.inner_text("#record-no")
    assert re.fullmatch(r"ASI-\d{6}-\d{4}", number), number
    for url in ("/", "/instances", "/search"):
        page.goto(base + url)
        width = page.evaluate(WIDE)
        assert width <= 1366, f"{url} is {width} px wide at 1366 px"
    page.goto(base + "/")
    assert number in page.inner_text("#tasks")
    page.get_by_role("link", name="Receive the product").first.click()
    page.wait_for_selector("form#task-form")
    assert page.evaluate(WIDE) <= 1366
    assert page.inner_text("#submit") == "Submit"
    page.screenshot(path=str(ARTIFACTS / "desktop-en-task.png"), full_page=True)


def test_a_person_is_found_by_name_in_a_large_company_on_a_phone(server, browser):
    """Past 200 users a page carries no one; typing part of a Chinese name on a phone fills
    the field's suggestions from the server (name and department shown, the user name
    stored), and the start goes through with the person picked."""
    from engine.store import org as org_store
    from tests.helpers.store import add_colleagues

    base, app = server
    with app.extensions["services"].database.writing() as s:
        add_colleagues(s, 300, 10)
        store.add_user(s, "desk", PASSWORD, ["service-desk"], full_name="客服戊")
        store.add_user(s, "zhangwei", PASSWORD, ["service-desk"], full_name="张伟")
        org_store.save_department(s, org_store.DepartmentRow("after-sales", "售后服务部", None, None))
        s.flush()
        org_store.set_person(s, "zhangwei", department="after-sales", manager=None)
    page = _phone(browser, base, "desk")
    page.goto(base + "/start/quality-problem-handling")
    assert page.locator("#wf-users option").count() == 0  # 300 names are not sent to a phone
    field = page.locator("#f\\.received_by")
    field.click()
    field.press_sequentially("张", delay=50)
    page.wait_for_selector("#wf-users option[value=zhangwei]", state="attached", timeout=5000)
    offered = page.eval_on_selector_all("#wf-users option", "os => os.map(o => [o.value, o.textContent])")
    assert offered == [["zhangwei", "张伟 · 售后服务部"]]
    _no_sideways(page, "start form with suggestions")
    page.screenshot(path=str(ARTIFACTS / "phone-person-suggestions.png"), full_page=True)
    field.fill("")  # nothing typed: nothing offered (no stale answer for another text)
    page.wait_for_selector("#wf-users option", state="detached", timeout=5000)
    field.fill("zhangwei")
    page.fill("#f\\.customer", "某市人民医院")
    page.fill("#f\\.product_name", "空气压缩机")
    page.fill("#f\\.description", "排气温度偏高")
    page.fill("#f\\.received_on", "2026-12-01")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/instances/"))
    assert "zhangwei" in page.content() or "张伟" in page.content()
