"""Scanning codes with the camera (issue 18) in real Chromium, whose fake camera plays a video
file that the test makes: a QR code drawn with segno (or an EAN-13 barcode) into a y4m frame. Headless Chromium on
Linux has no BarcodeDetector, so these runs read the codes with the vendored ZXing.

A scanned code fills an ``x-scan`` field; a scanned 流水号 or a record's own QR code (its
address) opens that record from the header; a refused camera says so in the user's language
and the typed fallback still fills the field."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine import store
from engine.store import Instance
from tests.browser.conftest import ARGS, ARTIFACTS, CHROMIUM, serving
from tests.web.test_one_language import english_words

PASSWORD = "s3cret-pw"
PHONE = {"width": 390, "height": 844}


def qr_video(text: str, path: Path) -> Path:
    """A camera video of the QR code of ``text`` (segno; never a Micro QR)."""
    import segno

    return video([list(r) for r in segno.make_qr(text, error="m").matrix_iter(scale=1, border=4)], path)


# EAN-13: the left half's digits in code set L or G (chosen by the first digit), the right's in R.
_L = ["0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011", "0110111", "0001011"]
_R = ["".join("1" if b == "0" else "0" for b in code) for code in _L]
_G = [code[::-1] for code in _R]
_PARITY = ["LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL"]


def ean13(twelve: str) -> str:
    """The 13 digits of an EAN-13 code: ``twelve`` and its check digit."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(twelve))
    return twelve + str((10 - total % 10) % 10)


def ean13_video(digits: str, path: Path) -> Path:
    """A camera video of the EAN-13 barcode of ``digits`` (13 of them, check digit included)."""
    first, left, right = int(digits[0]), digits[1:7], digits[7:]
    bars = "101" + "".join((_L if p == "L" else _G)[int(d)] for p, d in zip(_PARITY[first], left, strict=True))
    bars += "01010" + "".join(_R[int(d)] for d in right) + "101"
    row = [False] * 11 + [b == "1" for b in bars] + [False] * 11  # quiet zones
    return video([row] * 30, path)


def image_video(png: bytes, path: Path, *, width: int = 640, height: int = 480) -> Path:
    """A camera video of a picture (a screenshot of a page's QR code), scaled up and centred."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("L")
    scale = min(width * 3 // 4 // img.width, height * 3 // 4 // img.height) or 1
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    canvas = Image.new("L", (width, height), 255)
    canvas.paste(img, ((width - img.width) // 2, (height - img.height) // 2))
    pixels = canvas.tobytes()
    dark = [[v < 128 for v in pixels[y * width:(y + 1) * width]] for y in range(height)]
    return video(dark, path, module=1)


def video(rows: list[list[bool]], path: Path, *, width: int = 640, height: int = 480, frames: int = 2,
          module: int | None = None) -> Path:
    """A y4m video (4:2:0, grey) of ``rows`` of dark/light modules, centred on white: what
    Chromium's ``--use-file-for-fake-video-capture`` plays in a loop as the camera."""
    module = module or min(width * 3 // 4 // len(rows[0]), height * 3 // 4 // len(rows))
    wide, tall = module * len(rows[0]), module * len(rows)
    left, top = (width - wide) // 2, (height - tall) // 2
    luma = bytearray(b"\xeb" * (width * height))  # 235: white in video range
    for y, row in enumerate(rows):
        line = b"".join((b"\x10" if dark else b"\xeb") * module for dark in row)
        for dy in range(module):
            start = (top + y * module + dy) * width + left
            luma[start:start + wide] = line
    chroma = b"\x80" * ((width // 2) * (height // 2))
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * frames)
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One server for the module: (base URL, app, scratch folder)."""
    from web import create_app

    tmp = tmp_path_factory.mktemp("scan")
    app = create_app({"WF_OVERRIDES": {"database.url": f"sqlite:///{tmp / 'wf.db'}",
                                       "paths.uploads": str(tmp / "uploads")}})
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "insp-a", PASSWORD, ["qa-inspectors"], full_name="检验员甲")
    with serving(app) as base:
        yield base, app, tmp


@contextmanager
def camera(playwright, video: Path | None):
    """Chromium whose camera shows ``video`` and is allowed without asking; with None, a
    camera that is there but refused (no fake consent, no permission granted). Launched by
    the process's Playwright (tests/browser/conftest.py): the camera is a launch option."""
    args = [*ARGS, "--use-fake-device-for-media-stream"]
    if video is not None:
        args += ["--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={video}"]
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
    try:
        yield browser
    finally:
        browser.close()

def _expect():
    return pytest.importorskip("playwright.sync_api")


def _signed_in(browser, base, *, init_script: str | None = None):
    ctx = browser.new_context(locale="zh-CN", viewport=PHONE)
    if init_script:
        ctx.add_init_script(init_script)
    page = ctx.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", "insp-a")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(base + "/")
    return page


def _start(page) -> None:
    """The start form of an after-sales inspection, filled but for its serial number (a
    field with ``x-scan: any``)."""
    page.click("a[data-procedure=after-sales-inspection]")
    page.wait_for_selector("form#start-form")
    page.fill("#f\\.customer", "某市人民医院")
    page.fill("#f\\.product_name", "多参数监护仪")
    page.fill("#f\\.quantity", "1")


def test_a_scanned_code_fills_the_field(playwright, site):
    base, _app, tmp = site
    code = "SN-QR-20261206-7"
    with camera(playwright, qr_video(code, tmp / "serial.y4m")) as browser:
        page = _signed_in(browser, base)
        _start(page)
        field = page.locator("#f\\.serial_no")
        assert field.input_value() == ""
        button = page.locator("[data-scan-for='f.serial_no']")
        assert button.inner_text() == "扫码"
        box = button.bounding_box()
        assert box and box["x"] + box["width"] <= PHONE["width"], f"the scan button sticks out: {box}"
        button.click()
        page.wait_for_selector(".scan-overlay .scan-frame")
        page.screenshot(path=str(ARTIFACTS / "scan-01-viewfinder.png"))
        _expect().expect(field).to_have_value(code, timeout=30000)
        assert page.locator(".scan-overlay").count() == 0, "the viewfinder closes after a read"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(ARTIFACTS / "scan-02-filled.png"))
        page.click("#submit")
        page.wait_for_url(re.compile(r"/instances/"))
        assert code in page.inner_text("main"), "the scanned code is what the record keeps"


def test_a_scanned_barcode_fills_the_field(playwright, site):
    """A 1D barcode (EAN-13, as on a product's label) through the same button."""
    base, _app, tmp = site
    code = ean13("690123456789")
    assert code == "6901234567892"
    with camera(playwright, ean13_video(code, tmp / "ean13.y4m")) as browser:
        page = _signed_in(browser, base)
        _start(page)
        page.click("[data-scan-for='f.serial_no']")
        _expect().expect(page.locator("#f\\.serial_no")).to_have_value(code, timeout=30000)


def test_a_code_zxing_misses_at_full_size_is_read_at_another(playwright, site):
    """ZXing misses about one QR code in twenty that fills much of a still frame (this one, at
    the fake camera's 640x480) yet reads it at half size; a steady hand repeats that frame, so
    the reader tries successive frames at other sizes (CI once waited 30 s on such a code)."""
    base, _app, tmp = site
    code = "http://127.0.0.1:59375/instances/01M92NTQSC0J4DZCKCEXEGJ6ZB"
    with camera(playwright, qr_video(code, tmp / "close.y4m")) as browser:
        page = _signed_in(browser, base)
        _start(page)
        page.click("[data-scan-for='f.serial_no']")
        _expect().expect(page.locator("#f\\.serial_no")).to_have_value(code, timeout=15000)


# Headless Chromium on Linux has no BarcodeDetector (phones' Chrome has one): a stand-in with
# the platform API's shape, reading what the camera shows as one fixed code, checks that the
# page prefers the platform's reader when it reads the wanted formats, and falls back to ZXing
# when it does not.
PLATFORM_DETECTOR = """
window.__detected = 0;
window.BarcodeDetector = class {
  constructor(options) { this.formats = options.formats; }
  static getSupportedFormats() { return Promise.resolve(%s); }
  detect(video) {
    window.__detected += 1;
    return Promise.resolve(video.videoWidth ? [{ rawValue: "SN-PLATFORM-1", format: this.formats[0] }] : []);
  }
};
"""


@pytest.mark.parametrize(("formats", "reader"), [
    ('["qr_code", "ean_13", "code_128"]', "platform"), ('["aztec"]', "zxing")])
def test_the_platforms_barcode_detector_is_used_when_it_reads_the_codes(playwright, site, formats, reader):
    base, _app, tmp = site
    code = "SN-QR-ZXING-2"
    with camera(playwright, qr_video(code, tmp / "platform.y4m")) as browser:
        page = _signed_in(browser, base, init_script=PLATFORM_DETECTOR % formats)
        loaded = []
        page.on("request", lambda r: loaded.append(r.url) if "zxing" in r.url else None)
        _start(page)
        page.click("[data-scan-for='f.serial_no']")
        expected = "SN-PLATFORM-1" if reader == "platform" else code
        _expect().expect(page.locator("#f\\.serial_no")).to_have_value(expected, timeout=15000)
        if reader == "platform":
            assert page.evaluate("window.__detected") >= 1 and not loaded, loaded
        else:  # the platform reads none of the wanted formats: never asked, ZXing reads instead
            assert page.evaluate("window.__detected") == 0 and loaded


def test_scanned_record_number_and_record_qr_open_the_record(playwright, site):
    base, app, tmp = site
    wf, sessions = app.extensions["workflow"], app.extensions["services"].database.sessions
    with sessions() as s:
        state = wf.start(s, "after-sales-inspection", "insp-a", {
            "customer": "某县医院", "product_name": "输液泵", "serial_no": "SN-OPEN-1", "quantity": 1})
        s.commit()
    with sessions() as s:
        serial = s.get(Instance, state["id"]).serial
    assert serial and re.fullmatch(r"ASI-\d{6}-\d{4}", serial), serial

    address = f"{base}/instances/{state['id']}"
    with camera(playwright, qr_video(serial, tmp / "record-no.y4m")) as browser:
        page = _signed_in(browser, base)
        page.click("#nav-scan")
        page.wait_for_url(address, timeout=30000)
        assert page.inner_text("#record-no") == serial
        # The record's page shows its own QR code: what a printout carries (drawn larger here,
        # as a printer's resolution would, for the 640x480 fake camera).
        qr = page.locator("#record-qr svg")
        qr.evaluate("svg => { svg.style.width = svg.style.height = '300px'; }")
        printed = qr.screenshot()

    # That very picture, in front of the camera, opens the record again (from the search page).
    with camera(playwright, image_video(printed, tmp / "record-qr.y4m")) as browser:
        page = _signed_in(browser, base)
        page.goto(base + "/search")
        page.click("#search-scan")
        page.wait_for_url(address, timeout=30000)
        page.screenshot(path=str(ARTIFACTS / "scan-03-opened-by-qr.png"))


def test_any_other_scanned_text_is_searched(playwright, site):
    base, _app, tmp = site
    with camera(playwright, qr_video("某市人民医院", tmp / "text.y4m")) as browser:
        page = _signed_in(browser, base)
        page.click("#nav-scan")
        page.wait_for_url(re.compile(r"/search\?q="), timeout=30000)
        assert page.input_value("#search-q") == "某市人民医院"


def test_a_refused_camera_says_so_and_the_code_can_be_typed(playwright, site):
    base, _app, _tmp = site
    with camera(playwright, None) as browser:
        page = _signed_in(browser, base)
        _start(page)
        page.click("[data-scan-for='f.serial_no']")
        problem = page.locator(".scan-overlay .scan-problem")
        problem.wait_for(state="visible", timeout=10000)
        assert "无法使用摄像头" in problem.inner_text()
        assert not english_words(page.locator(".scan-overlay").inner_text()), "the viewfinder speaks Chinese"
        assert page.locator(".scan-overlay video").is_hidden(), "no empty viewfinder under the message"
        page.screenshot(path=str(ARTIFACTS / "scan-04-refused-zh.png"))
        page.fill(".scan-typed input", "SN-TYPED-1")
        page.click(".scan-typed button[type=submit]")
        assert page.input_value("#f\\.serial_no") == "SN-TYPED-1"
        # Cancel leaves the field as it was.
        page.click("[data-scan-for='f.serial_no']")
        page.locator(".scan-overlay .scan-problem").wait_for(state="visible")
        page.click(".scan-cancel")
        assert page.locator(".scan-overlay").count() == 0
        assert page.input_value("#f\\.serial_no") == "SN-TYPED-1"

        # Opening a record by a typed code works without the camera too: other text is searched.
        page.click("#nav-scan")
        page.locator(".scan-overlay .scan-problem").wait_for(state="visible")
        page.fill(".scan-typed input", "某市人民医院")
        page.click(".scan-typed button[type=submit]")
        page.wait_for_url(re.compile(r"/search\?q="))
        assert page.input_value("#search-q") == "某市人民医院"
        page.go_back()
        page.wait_for_selector("[data-scan-for='f.serial_no']")

        page.click("#switch-locale")  # back on the same start form, in English
        page.wait_for_selector("text=Inbox")
        page.click("[data-scan-for='f.serial_no']")
        problem = page.locator(".scan-overlay .scan-problem")
        problem.wait_for(state="visible", timeout=10000)
        assert "The camera may not be used" in problem.inner_text()
        assert page.locator(".scan-typed button[type=submit]").inner_text() == "Use"
        page.screenshot(path=str(ARTIFACTS / "scan-05-refused-en.png"))
