"""The 扫码 widget as the server renders it (tests/browser/test_scan.py reads real codes with it):
a text field with ``x-scan`` gets a button naming its input and the kind of code; other fields,
and a kind the form check would refuse, get none; the header and the search page carry the
button that opens a record, and the viewfinder's texts come in the user's language."""

from __future__ import annotations

import re
from pathlib import Path

import web
from tests.helpers.service import PASSWORD, inspector_app  # noqa: F401  (the app fixture)
from tests.web.test_web_ui import Browser
from web.forms_render import field_tree

SCHEMA = {"type": "object", "properties": {
    "serial_no": {"type": "string", "title": "产品编号", "x-scan": "barcode"},
    "lot": {"type": "string", "title": "批号", "x-scan": "qrcode"},  # refused by wf validate
    "note": {"type": "string", "title": "备注", "x-widget": "textarea", "x-scan": "qr"},
    "plain": {"type": "string", "title": "名称"},
    "rows": {"type": "array", "x-widget": "table", "items": {"type": "object", "properties": {
        "code": {"type": "string", "title": "条码", "x-scan": "any"}}}},
}}


def test_the_node_carries_only_a_known_kind():
    nodes = {n["key"]: n for n in field_tree(SCHEMA, {})}
    assert nodes["serial_no"]["scan"] == "barcode"
    assert nodes["note"]["scan"] == "qr"
    assert nodes["lot"]["scan"] is None and nodes["plain"]["scan"] is None
    assert nodes["rows"]["template"]["cells"][0]["scan"] == "any", "a table column scans into each row"


def test_pages_carry_the_buttons_and_the_viewfinder(app):
    b = Browser(app)
    b.login("inspector1", PASSWORD)
    page = b.get("/start/after-sales-inspection").text
    buttons = re.findall(r'<button type="button" class="scan-btn" data-scan="(\w+)" data-scan-for="([^"]+)"', page)
    assert buttons == [("any", "f.serial_no")], buttons  # the shipped form scans its serial number only
    assert 'id="nav-scan"' in page and 'data-scan-open="/search"' in page
    ui = page[page.index('<template id="wf-scan-ui"'):]
    assert "将摄像头对准条码或二维码" in ui and "无法使用摄像头" in ui and "取消" in ui
    assert 'data-zxing="/static/vendor/zxing-library-0.23.0/zxing.min.js"' in ui
    assert 'id="search-scan"' in b.get("/search").text
    # The camera is allowed to this server's own pages, and to nothing else.
    policy = b.get("/").headers["Permissions-Policy"]
    assert "camera=(self)" in policy and "microphone=()" in policy


def test_the_vendored_reader_is_served_with_its_licence(app):
    c = app.test_client()
    lib = c.get("/static/vendor/zxing-library-0.23.0/zxing.min.js")
    assert lib.status_code == 200 and b"MultiFormatReader" in lib.data
    lib.close()
    licence = Path(web.__file__).parent / "static" / "vendor" / "zxing-library-0.23.0" / "LICENSE"
    assert "Apache License" in licence.read_text(encoding="utf-8")


def test_signed_out_pages_have_no_scan(app):
    page = Browser(app).get("/login").text
    assert "wf-scan-ui" not in page and "nav-scan" not in page
