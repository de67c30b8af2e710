"""English titles of procedures and forms (the optional ``en:`` block) on real pages: an
English page shows them (inbox, start page, task page, instance page, form labels and choice
labels), a Chinese page the Chinese as written, and a choice is stored as its Chinese value
whatever the page's language."""

from __future__ import annotations

import re

from engine import store
from tests.web.test_web_ui import INSPECT, RECEIPT, START, Browser, app, start_instance, task_of  # noqa: F401
from web.forms_render import field_tree


def _english(app):  # noqa: F811
    b = Browser(app)
    b.login("insp")
    b.post("/locale/en", {"next": "/"})
    return b


def _stored(app, iid):  # noqa: F811
    with app.extensions["services"].database.sessions() as s:
        return store.load_instance(s, iid).state


def test_an_english_page_shows_the_english_titles(app):  # noqa: F811
    b = _english(app)
    inbox = b.get("/").text
    assert "Start: After-sales inspection" in inbox and "Start: 售后检验" not in inbox
    start = b.get("/start/after-sales-inspection").text
    assert "<h1>Start: After-sales inspection</h1>" in start
    assert "<h2>Product and customer</h2>" in start and ">Customer / user<" in start
    assert "客户/使用单位" not in start and "产品标识与客户信息" not in start

    iid = start_instance(b)
    inbox = b.get("/").text
    row = re.search(rf'<tr class="[^"]*" data-task="{re.escape(iid)}[^"]*">(.*?)</tr>', inbox, re.S).group(1)
    assert "After-sales inspection" in row and "Receive the product" in row and "After-sales inspector" in row
    tid = task_of(b, iid)
    task = b.get(f"/tasks/{tid}").text
    assert "<h1>Receive the product</h1>" in task and "Check the returned product" in task
    assert "Product receipt (goods-in) record" in task and ">Condition on arrival<" in task
    assert "接收产品" not in task and "到货状态" not in task

    assert b.post(f"/tasks/{tid}", {**RECEIPT, "action": "submit"}).status_code == 302
    tid = task_of(b, iid)
    task = b.get(f"/tasks/{tid}").text
    # a choice: its English label, its stored (Chinese) value
    assert 'value="合格"> Pass</label>' in task and 'value="不合格"> Fail</label>' in task
    assert ">Verdict<" in task
    assert "<h3>Receive the product</h3>" in task and "Condition on arrival" in task  # earlier steps
    assert b.post(f"/tasks/{tid}", {**INSPECT, "action": "submit"}).status_code == 302

    inst = _stored(app, iid)
    assert inst["data"]["inspect"]["verdict"] == "不合格"  # the value, never the label
    assert inst["data"]["inspect"]["items"][0]["item"] == "外观"
    page = b.get(f"/instances/{iid}").text
    assert "After-sales inspection" in page and "Inspect the product" in page
    assert ">Verdict<" in page and "Fail" in page and "Appearance" in page
    dossier = b.get(f"/audit/instances/{iid}").text
    assert "Dossier: After-sales inspection" in dossier and ">Verdict<" in dossier
    listing = b.get("/instances").text
    assert ">After-sales inspection<" in listing and ">售后检验<" not in listing


def test_a_chinese_page_shows_the_chinese_as_written(app):  # noqa: F811
    b = Browser(app)
    b.login("insp")
    iid = start_instance(b)
    tid = task_of(b, iid)
    assert "接收产品" in b.get("/").text
    b.post(f"/tasks/{tid}", {**RECEIPT, "action": "submit"})
    task = b.get(f"/tasks/{task_of(b, iid)}").text
    assert "<h1>产品检验</h1>" in task and 'value="合格"> 合格</label>' in task
    assert "Verdict" not in task and "Inspect the product" not in task
    b.post(f"/tasks/{task_of(b, iid)}", {**INSPECT, "action": "submit"})
    page = b.get(f"/instances/{iid}").text
    assert "检验结论" in page and "Verdict" not in page and "After-sales inspection" not in page
    assert _stored(app, iid)["data"]["inspect"]["verdict"] == "不合格"


def test_an_english_submission_stores_the_chinese_value(app):  # noqa: F811
    """The English page posts the option's value: the same record as from a Chinese page; the
    English label is no value of the form, and is refused."""
    b = _english(app)
    iid = start_instance(b)
    b.post(f"/tasks/{task_of(b, iid)}", {**RECEIPT, "action": "submit"})
    tid = task_of(b, iid)
    r = b.post(f"/tasks/{tid}", {**INSPECT, "f.verdict": "Pass", "f.defect": "", "action": "submit"})
    assert r.status_code in (400, 422) and 'data-error-for="verdict"' in r.text
    assert "inspect" not in _stored(app, iid)["data"]
    r = b.post(f"/tasks/{tid}", {**INSPECT, "f.verdict": "合格", "f.defect": "", "action": "submit"})
    assert r.status_code == 302
    assert _stored(app, iid)["data"]["inspect"]["verdict"] == "合格"


def test_a_form_without_english_stays_chinese_on_an_english_page(app):  # noqa: F811
    wf = app.extensions["workflow"]
    with app.extensions["services"].database.sessions() as s:
        proc, _ = wf.procedure(s, "after-sales-inspection")
    form = proc.forms["quality-feedback"]
    bare = {"type": "object", "properties": {"x": {"type": "string", "title": "甲", "enum": ["一", "二"]}}}
    with app.test_request_context():
        from web import i18n

        i18n.use("en")
        nodes = field_tree(form.shown_schema("en"), {})
        assert [o["label"] for o in nodes[0]["options"]][:2] == ["Quality", "Production"]
        assert [o["value"] for o in nodes[0]["options"]][:2] == ["质量部", "生产部"]
        plain = field_tree(bare, {})
        assert plain[0]["title"] == "甲" and [o["label"] for o in plain[0]["options"]] == ["一", "二"]
    assert form.shown_schema("zh") is form.schema
