"""One record in real Chromium at a phone's 390 px, in English and in Chinese: the English
page shows the after-sales inspection's English titles and choice labels and stores the
Chinese value; the Chinese page shows no English word outside what people typed."""

from __future__ import annotations

import re

from engine import store
from tests.browser.conftest import ARTIFACTS, login

PASSWORD = "s3cret-pw"
WIDE = "document.documentElement.scrollWidth"
# What people typed (user names, record data), and words a Chinese page keeps as they are:
# the record number's prefix, and the language switch, which names English in English.
TYPED = {"insp", "ASI", "English"}


def _english_words(text):
    """Words of three letters or more; ids, hashes and serial numbers (with digits) are data."""
    tokens = re.findall(r"[A-Za-z0-9][A-Za-z0-9'_.-]*", text)
    return {part for token in tokens if not re.search(r"\d", token)
            for part in re.split(r"[-_.]", token) if len(part) >= 3}


def _fits(page, what):
    width = page.evaluate(WIDE)
    assert width <= 390, f"{what}: the page is {width} px wide at a 390 px phone"


def _start_and_receive(page, base):
    page.click("a[data-procedure=after-sales-inspection]")
    page.fill("#f\\.customer", "某市人民医院")
    page.fill("#f\\.product_name", "多参数监护仪")
    page.fill("#f\\.serial_no", "SN20260003")
    page.fill("#f\\.quantity", "1")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/instances/"))
    iid = page.url.rsplit("/", 1)[1]
    page.goto(base + "/")
    return iid


def test_english_titles_on_a_phone(server, browser):
    base, app = server
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "insp-en", PASSWORD, ["qa-inspectors"], full_name="Inspector A", locale="en")
    page = login(browser, base, "insp-en", PASSWORD, width=390, height=844)
    assert "Start: After-sales inspection" in page.inner_text("ul.start-list")
    assert {"Inbox", "After", "inspection"} <= _english_words(page.inner_text("body"))  # the check sees them
    _fits(page, "inbox")
    iid = _start_and_receive(page, base)
    page.get_by_role("link", name="Receive the product").first.click()
    page.wait_for_selector("form#task-form")
    assert page.inner_text("h1") == "Receive the product"
    assert "Role: After-sales inspector" in page.inner_text("main")
    assert "Condition on arrival" in page.inner_text("form#task-form")
    _fits(page, "task page")
    page.fill("#f\\.received_on", "2026-05-11")
    page.fill("#f\\.condition", "包装完好")
    page.fill("#f\\.reported_fault", "开机无显示")
    page.click("#submit")
    page.wait_for_url(base + "/")
    page.get_by_role("link", name="Inspect the product").first.click()
    page.wait_for_selector("form#task-form")
    _fits(page, "inspection form")
    page.click("button.add-row")
    row = page.locator("table.grid tbody tr.row").first
    row.get_by_label("Appearance").check()
    page.fill("[name='f.items.0.method']", "Visual")
    page.fill("[name='f.items.0.requirement']", "No damage")
    row.get_by_label("Pass").check()
    page.fill("#f\\.instrument", "E-01")
    page.fill("#f\\.inspector", "insp-en")
    page.fill("#f\\.inspected_at", "2026-05-11T10:00")
    page.locator("#f\\.verdict").get_by_label("Pass").check()
    page.screenshot(path=str(ARTIFACTS / "phone-en-inspection.png"), full_page=True)
    page.click("#submit")
    page.wait_for_url(base + "/")
    with app.extensions["services"].database.sessions() as s:
        data = store.load_instance(s, iid).state["data"]["inspect"]
    assert data["verdict"] == "合格" and data["items"][0]["item"] == "外观" and data["items"][0]["result"] == "合格"
    page.goto(f"{base}/instances/{iid}")
    text = page.inner_text("main")
    assert "After-sales inspection" in text and "Verdict" in text and "Pass" in text
    _fits(page, "instance page")


def test_a_chinese_page_has_no_english_word_outside_user_data(server, browser):
    base, app = server
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "insp-zh", PASSWORD, ["qa-inspectors"], full_name="检验员乙")
    page = login(browser, base, "insp-zh", PASSWORD, width=390, height=844)
    iid = _start_and_receive(page, base)
    page.get_by_role("link", name="接收产品").first.click()
    page.wait_for_selector("form#task-form")
    assert page.inner_text("h1") == "接收产品"
    task = page.url
    found = {}
    for url in (task, base + "/", base + "/start/after-sales-inspection", f"{base}/instances/{iid}",
                base + "/instances", base + "/search", base + "/notifications"):
        page.goto(url)
        _fits(page, url)
        words = _english_words(page.inner_text("body")) - TYPED
        if words:
            found[url.removeprefix(base)] = sorted(words)
    assert not found, f"English words on Chinese pages: {found}"
