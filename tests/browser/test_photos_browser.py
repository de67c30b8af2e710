"""On a phone (390 px, real Chromium): a photo over its limit, or photos more than one
submission may carry, are named as they are chosen or sent; nothing typed is lost and nothing
is sent that the server would refuse whole (413)."""

from __future__ import annotations

import pytest

from engine import store
from tests.browser.conftest import login, serving

PER_FILE = 100 * 1024
JPEG = b"\xff\xd8\xff\xe0"


@pytest.fixture
def small_limits(tmp_path):
    from web import create_app

    app = create_app({"WF_OVERRIDES": {"database.url": f"sqlite:///{tmp_path / 'wf.db'}",
                                       "paths.uploads": str(tmp_path / "uploads"),
                                       "uploads.max_bytes": PER_FILE}})
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "insp", "pw-insp-2026", ["qa-inspectors"], full_name="检验员甲")
    with serving(app) as base:
        yield base, app


def photo(name: str, size: int) -> dict:
    return {"name": name, "mimeType": "image/jpeg", "buffer": JPEG + b"\0" * (size - len(JPEG))}


def test_photos_over_the_limits_are_named_before_anything_is_sent(browser, small_limits):
    base, _app = small_limits
    page = login(browser, base, "insp", "pw-insp-2026", width=390, height=844, is_mobile=True, has_touch=True)
    page.goto(base + "/start/after-sales-inspection")
    page.fill('[name="f.customer"]', "某市人民医院")
    page.fill('[name="f.product_name"]', "监护仪")
    page.fill('[name="f.model"]', "PM-9000")
    page.fill('[name="f.serial_no"]', "SN-PHOTO-1")
    page.click("#submit")
    page.wait_for_url(lambda url: "/instances/" in url)
    page.goto(base + "/")
    page.click("a[href^='/tasks/']")
    page.fill('[name="f.received_on"]', "2026-11-02")
    page.fill('[name="f.condition"]', "包装完好")
    page.fill('[name="f.reported_fault"]', "开机黑屏")
    picker = page.locator('input[type=file][name="f.photos:upload"]')
    # one photo over the limit among two: named at the field, the other one kept
    picker.set_input_files([photo("IMG_big.jpg", PER_FILE + 1), photo("IMG_ok.jpg", 1024)])
    note = page.locator("[data-file-error]")
    assert "IMG_big.jpg" in note.inner_text() and "100 KB" in note.inner_text()
    assert page.evaluate("document.querySelector('input[name=\"f.photos:upload\"]').files.length") == 1
    # six photos, each under the limit, more than one submission carries: not sent
    picker.set_input_files([photo(f"IMG_{n}.jpg", PER_FILE - 1024) for n in range(6)])
    url = page.url
    page.click("#submit")
    total = page.locator("#task-form-files-total")
    total.wait_for()
    assert "500 KB" in total.inner_text() and page.url == url
    assert page.input_value('[name="f.reported_fault"]') == "开机黑屏"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert total.is_visible()
    # fewer photos: sent and recorded
    picker.set_input_files([photo(f"IMG_{n}.jpg", PER_FILE - 1024) for n in range(3)])
    page.click("#submit")
    page.wait_for_url(lambda u: u != url)
    assert "413" not in page.title()
