"""The human web UI through the Flask test client: sign-in, CSRF, lock-out, roles, inbox,
generated forms, drafts, approvals with signatures, the instance page, attachments, language."""

from __future__ import annotations

import re

import pytest

from engine import store
from engine.app.service import SYSTEM
from web import create_app

START = {"f.customer": "某市人民医院", "f.product_name": "监护仪", "f.serial_no": "SN20260001",
         "f.quantity": "1"}
RECEIPT = {"f.received_on": "2026-05-11", "f.condition": "包装完好", "f.reported_fault": "无法开机"}
INSPECT = {"f.items.0.item": "外观", "f.items.0.method": "目视", "f.items.0.requirement": "无破损",
           "f.items.0.result": "合格", "f.instrument": "万用表 E-01", "f.inspector": "insp",
           "f.inspected_at": "2026-05-11T10:00", "f.verdict": "不合格",
           "f.defect": "电源板烧毁", "f.ambient_temperature": "40"}
NONCONF = {"f.category": "功能不合格", "f.disposition": "修复", "f.description": "更换电源板"}
REPORT = {"f.report_no": "JY-2026-0001", "f.process_summary": "外观合格，功能不合格",
          "f.conclusion": "不合格"}


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"),
        "uploads.max_bytes": 2048, "locale": "zh"}})
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "insp", "pw-insp", ["qa-inspectors"], full_name="检验员甲")
        store.add_user(s, "insp2", "pw-insp2", ["qa-inspectors"], full_name="检验员丙")
        store.add_user(s, "sup", "pw-sup", ["qa-supervisors"], full_name="主管乙")
        store.add_user(s, "prod", "pw-prod", ["production"], full_name="生产丁")
    yield app
    app.extensions["services"].database.engine.dispose()


class Browser:
    """A test client that keeps the CSRF token of the last page it saw."""

    def __init__(self, app):
        self.c = app.test_client()
        self.token = ""

    def get(self, url, **kw):
        r = self.c.get(url, **kw)
        m = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
        if m:
            self.token = m.group(1)
        return r

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        return self.c.post(url, data=data, **kw)

    def login(self, user, password=None):
        self.get("/login")
        r = self.post("/login", {"username": user, "password": password or f"pw-{user}"})
        assert r.status_code == 302, r.text
        self.get("/")
        return r


def login(app, user):
    b = Browser(app)
    b.login(user)
    return b


def tasks_in(page: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r'href="/tasks/([A-Z0-9]+\.t\d+)"', page)))


def errors_in(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-error-for="([^"]+)">([^<]+)<', page))


def start_instance(b: Browser) -> str:
    r = b.post("/start/after-sales-inspection", START)
    assert r.status_code == 302, r.text
    return r.location.rsplit("/", 1)[1]


def task_of(b: Browser, instance_id: str) -> str:
    found = [t for t in tasks_in(b.get("/").text) if t.startswith(instance_id)]
    assert found, "no task of the instance in the inbox"
    return found[0]


def walk_to_report(b: Browser) -> tuple[str, str]:
    iid = start_instance(b)
    for data in (RECEIPT, INSPECT, NONCONF):
        r = b.post(f"/tasks/{task_of(b, iid)}", {**data, "action": "submit"})
        assert r.status_code == 302, errors_in(r.text) or r.text
    return iid, task_of(b, iid)


# --------------------------------------------------------------------------- sign-in


def test_login_logout_and_pages_need_a_session(app):
    b = Browser(app)
    r = b.get("/")
    assert r.status_code == 302 and "/login" in r.location
    b.get("/login")
    r = b.post("/login", {"username": "insp", "password": "wrong"})
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    b.login("insp")
    page = b.get("/").text
    assert "检验员甲" in page and "售后检验" in page
    cookie = b.c.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"
    assert b.post("/logout").status_code == 302
    assert b.get("/").status_code == 302


def test_csrf_token_required_on_every_form_post(app):
    b = login(app, "insp")
    r = b.c.post("/start/after-sales-inspection", data=START)
    assert r.status_code == 400 and "CSRF" in r.text
    r = b.c.post("/start/after-sales-inspection", data={**START, "csrf_token": "forged"})
    assert r.status_code == 400
    with app.extensions["services"].database.sessions() as s:
        assert store.count_instances(s) == 0
    anon = Browser(app)
    assert anon.c.post("/login", data={"username": "insp", "password": "pw-insp"}).status_code == 400


def test_lock_out_after_five_failures(app):
    b = Browser(app)
    b.get("/login")
    for _ in range(4):
        assert b.post("/login", {"username": "insp", "password": "bad"}).status_code == 401
    r = b.post("/login", {"username": "insp", "password": "bad"})
    assert r.status_code == 429 and "分钟" in r.text
    r = b.post("/login", {"username": "insp", "password": "pw-insp"})
    assert r.status_code == 429, "the right password is refused while locked"
    other = Browser(app)
    other.login("sup")  # other accounts are not affected


def test_role_refusal_is_403(app):
    sup = login(app, "sup")
    assert sup.get("/start/after-sales-inspection").status_code == 403
    assert sup.post("/start/after-sales-inspection", START).status_code == 403
    insp = login(app, "insp")
    iid = start_instance(insp)
    tid = task_of(insp, iid)
    assert sup.get(f"/tasks/{tid}").status_code == 403
    prod = login(app, "prod")
    assert prod.get(f"/instances/{iid}").status_code == 403
    assert prod.post(f"/tasks/{tid}", {**RECEIPT, "action": "submit"}).status_code == 403


# --------------------------------------------------------------------------- inbox


def test_inbox_shows_my_tasks_claims_and_start_links(app):
    insp = login(app, "insp")
    page = insp.get("/").text
    assert "/start/after-sales-inspection" in page
    iid = start_instance(insp)
    tid = task_of(insp, iid)
    page = insp.get("/").text
    assert "接收产品" in page and "售后检验" in page
    assert insp.post(f"/tasks/{tid}/claim").status_code == 302
    assert "已由我领取" in insp.get("/").text
    other = login(app, "insp2")
    assert tid not in tasks_in(other.get("/").text), "a claimed task leaves the others' inboxes"
    insp.post(f"/tasks/{tid}/release")
    assert tid in tasks_in(other.get("/").text)
    sup = login(app, "sup")
    assert tasks_in(sup.get("/").text) == []
    assert "/start/after-sales-inspection" not in sup.get("/").text


# --------------------------------------------------------------------------- forms


def test_every_widget_renders(app):
    insp = login(app, "insp")
    iid = start_instance(insp)
    r = insp.post(f"/tasks/{task_of(insp, iid)}", {**RECEIPT, "action": "submit"})
    page = insp.get(f"/tasks/{task_of(insp, iid)}").text
    assert 'data-table="f.items"' in page and "<template>" in page  # table with add/remove
    assert 'type="radio" name="f.verdict" value="不合格"' in page  # radio
    assert 'data-limit-min="15"' in page and "℃" in page  # number, unit, limits
    assert 'type="datetime-local"' in page  # datetime
    assert 'list="wf-users"' in page  # user picker
    assert 'data-visible-if="verdict == &#34;不合格&#34;"' in page  # conditional
    assert "<textarea" in page
    assert "包装完好" in page, "earlier steps' data is shown read-only"
    # the start form: integer with unit, placeholder
    page = insp.get("/start/after-sales-inspection").text
    assert 'placeholder="SN20260001"' in page and "台/件" in page
    assert r.status_code == 302


def test_other_widgets_render(app):
    """Date, file, select, checkbox list and boolean, from the shipped forms."""
    from web.forms_render import field_tree

    wf = app.extensions["workflow"]
    with app.extensions["services"].database.sessions() as s:
        proc, _ = wf.procedure(s, "after-sales-inspection")
    with app.test_request_context():
        from flask import render_template_string
        forms = proc.forms
        html = ""
        for fid in ("product-receipt", "quality-feedback", "disposition-nonconforming"):
            nodes = field_tree(forms[fid].schema, {})
            html += render_template_string('{% from "_fields.html" import fields %}{{ fields(n) }}', n=nodes)
        sel = {"type": "object", "properties": {
            "category": {"type": "string", "enum": list("abcdef")},
            "g": {"type": "object", "title": "组", "properties": {"t": {"type": "string", "format": "time"}}},
            "sig": {"type": "string", "x-widget": "signature", "x-meaning": "验收"}}}
        html += render_template_string('{% from "_fields.html" import fields %}{{ fields(n) }}',
                                       n=field_tree(sel, {"category": "c"}))
    assert 'type="date"' in html
    # a photo field opens the phone's camera (it may still pick a file)
    assert 'type="file" name="f.photos:upload" data-max-bytes="2048" multiple accept="image/png,image/jpeg" capture="environment"' in html
    assert 'type="checkbox" name="f.departments" value="质量部"' in html
    # a yes/no question: two choices, its declared default (false) chosen, no hidden "false"
    assert 'type="radio" name="f.needs_capa" value="true">' in html
    assert 'type="radio" name="f.needs_capa" value="false">' in html
    assert 'type="hidden" name="f.needs_capa"' not in html
    assert '<select id="f.category" name="f.category">' in html and '"c" selected' in html
    assert "<legend>组</legend>" in html and 'type="time" value=""' in html.replace('name="f.g.t" ', "")
    assert "签名含义：验收" in html


def test_validation_errors_next_to_fields_and_values_kept(app):
    insp = login(app, "insp")
    iid = start_instance(insp)
    insp.post(f"/tasks/{task_of(insp, iid)}", {**RECEIPT, "action": "submit"})
    tid = task_of(insp, iid)
    bad = {**INSPECT, "action": "submit"}
    del bad["f.defect"]
    bad["f.instrument"] = ""
    r = insp.post(f"/tasks/{tid}", bad)
    assert r.status_code == 422
    errs = errors_in(r.text)
    assert errs.get("instrument") == "必填项" and errs.get("defect") == "必填项"
    assert 'value="万用表' not in r.text
    assert 'value="目视"' in r.text and 'value="不合格" checked' in r.text, "typed values are kept"
    assert "高于规格上限 35" in r.text, "the out-of-limit temperature is flagged"
    r = insp.post(f"/tasks/{tid}", {**INSPECT, "action": "submit"})
    assert r.status_code == 302


def test_table_rows_parse_to_typed_json():
    from werkzeug.datastructures import MultiDict

    from web.forms_render import parse_submission

    schema = {"type": "object", "properties": {
        "rows": {"type": "array", "x-widget": "table", "items": {"type": "object", "properties": {
            "n": {"type": "number"}, "ok": {"type": "boolean"}, "k": {"type": "integer"}}}},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
        "empty": {"type": "string"}, "g": {"type": "object", "properties": {"x": {"type": "string"}}}}}
    form = MultiDict([("f.rows.0.n", "1.5"), ("f.rows.0.ok", "false"), ("f.rows.0.ok", "true"),
                      ("f.rows.3.n", "abc"), ("f.rows.3.k", "2"), ("f.rows.5.n", ""),
                      ("f.tags", "a"), ("f.tags", "b"), ("f.empty", ""), ("f.g.x", "y")])
    assert parse_submission(schema, form) == {
        "rows": [{"n": 1.5, "ok": True}, {"n": "abc", "k": 2}], "tags": ["a", "b"], "g": {"x": "y"}}


def test_draft_saved_and_resumed(app):
    insp = login(app, "insp")
    iid = start_instance(insp)
    tid = task_of(insp, iid)
    r = insp.post(f"/tasks/{tid}", {"f.condition": "外包装有破损", "action": "draft"})
    assert r.status_code == 200 and "草稿已于" in r.text
    page = insp.get(f"/tasks/{tid}").text
    assert "外包装有破损" in page and "已恢复您于" in page
    other = login(app, "insp2")
    assert "外包装有破损" not in other.get(f"/tasks/{tid}").text, "drafts are per user"
    insp.post(f"/tasks/{tid}", {**RECEIPT, "action": "submit"})
    with app.extensions["services"].database.sessions() as s:
        from engine.store.tables import Draft
        assert s.get(Draft, ("insp", tid)) is None, "the draft goes once the task is done"


# --------------------------------------------------------------------------- approvals


def test_signed_report_and_review_with_rejection(app):
    insp = login(app, "insp")
    iid, tid = walk_to_report(insp)
    page = insp.get(f"/tasks/{tid}").text
    assert "签名含义：确认" in page
    r = insp.post(f"/tasks/{tid}", {**REPORT, "action": "submit", "password": "wrong"})
    assert r.status_code == 422 and errors_in(r.text).get("password")
    # The engine's message reaches the Chinese page in Chinese (one catalogue, engine.i18n).
    assert "密码不正确，签名未记录" in r.text and "does not match" not in r.text
    assert 'value="JY-2026-0001"' in r.text
    with app.extensions["services"].database.sessions() as s:
        assert [e.type for e in store.events_of(s, iid)].count("task:completed") == 3
    r = insp.post(f"/tasks/{tid}", {**REPORT, "action": "submit", "password": "pw-insp"})
    assert r.status_code == 302

    sup = login(app, "sup")
    review = task_of(sup, iid)
    page = sup.get(f"/tasks/{review}").text
    assert "签名含义：审核" in page and "JY-2026-0001" in page
    r = sup.post(f"/tasks/{review}", {"action": "reject", "comment": "", "password": "pw-sup"})
    assert r.status_code == 422 and errors_in(r.text).get("comment")
    r = sup.post(f"/tasks/{review}", {"action": "reject", "comment": "结论不完整", "password": "pw-sup"})
    assert r.status_code == 302
    tid = task_of(insp, iid)
    insp.post(f"/tasks/{tid}", {**REPORT, "f.opinion": "补充", "action": "submit", "password": "pw-insp"})
    review = task_of(sup, iid)
    r = sup.post(f"/tasks/{review}", {"action": "approve", "comment": "同意", "password": "wrong"})
    assert r.status_code == 422
    r = sup.post(f"/tasks/{review}", {"action": "approve", "comment": "同意", "password": "pw-sup"})
    assert r.status_code == 302

    page = sup.get(f"/instances/{iid}").text
    assert "主管乙 于" in page and "签名（审核）" in page
    assert "检验员甲 于" in page and "签名（确认）" in page
    assert "驳回" in page and "结论不完整" in page


# --------------------------------------------------------------------------- instance page


def test_instance_page_timeline_version_corrections_and_cancel(app):
    insp = login(app, "insp")
    iid = start_instance(insp)
    insp.post(f"/tasks/{task_of(insp, iid)}", {**RECEIPT, "action": "submit"})
    page = insp.get(f"/instances/{iid}").text
    wf = app.extensions["workflow"]
    with app.extensions["services"].database.sessions() as s:
        inst = wf.instance(s, iid)
    assert inst["version"]["hash"][:16] in page and f"#{inst['version']['id']}" in page
    assert "发起流程" in page and "完成步骤" in page and "检验员甲" in page
    assert "接收日期" in page and "2026-05-11" in page, "data under form labels"
    assert "按期完成" in page
    r = insp.post(f"/instances/{iid}/correct", {"target": "receive:condition", "value": "外箱压痕",
                                                "reason": ""})
    assert r.status_code == 422 and errors_in(r.text).get("reason")
    r = insp.post(f"/instances/{iid}/correct", {"target": "receive:condition", "value": "外箱压痕",
                                                "reason": "笔误"})
    assert r.status_code == 302
    page = insp.get(f"/instances/{iid}").text
    assert "包装完好 → 外箱压痕" in page and "笔误" in page
    r = insp.post(f"/instances/{iid}/cancel", {"reason": "客户撤回"})
    assert r.status_code == 302
    page = insp.get(f"/instances/{iid}").text
    assert "已取消" in page and "客户撤回" in page
    lst = insp.get("/instances?status=cancelled").text
    assert iid in lst
    assert iid not in insp.get("/instances?status=running").text


def test_instance_page_links_the_instances_it_opened(app):
    insp = login(app, "insp")
    iid = start_instance(insp)
    wf = app.extensions["workflow"]
    with app.extensions["services"].database.writing() as s:  # as the spawn step does
        data = {"customer": "某医院", "product_name": "监护仪", "model": "", "serial_no": "SN1",
                "quantity": 1, "source_ref": "售后检验 SN1"}
        child = wf.start_automatic(s, "repair-process-inspection", SYSTEM, data,
                                   origin={"procedure": "after-sales-inspection", "instance": iid,
                                           "step": "open_repair_inspection"})
    page = insp.get(f"/instances/{iid}")
    assert page.status_code == 200
    assert f'href="/instances/{child["id"]}"' in page.text
    # each linked record named by its procedure's title, not its id
    assert "(维修过程检验, " in page.text and "(repair-process-inspection" not in page.text
    back = insp.get(f"/instances/{child['id']}").text
    assert f'>{iid}</a> (售后检验)' in back
    # Started by the engine itself: 系统 on the page, the dossier and its PDF alike
    from tests.helpers.pdf import pdf_text
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "aud", "pw-aud", ["auditors"], full_name="审计员")
    aud = login(app, "aud")
    assert "· 系统" in back and "· 系统" in aud.get(f"/audit/instances/{child['id']}").text
    printed = pdf_text(aud.c.get(f"/audit/instances/{child['id']}.pdf").data)
    assert "系统" in printed and "system" not in printed


# --------------------------------------------------------------------------- attachments


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


def test_attachments_limits_and_download_permission(app):
    import io

    insp = login(app, "insp")
    iid = start_instance(insp)
    tid = task_of(insp, iid)
    big = {**RECEIPT, "action": "submit", "f.photos:upload": (io.BytesIO(PNG + b"\0" * 4096), "a.png")}
    r = insp.post(f"/tasks/{tid}", big, content_type="multipart/form-data")
    assert r.status_code == 413 and errors_in(r.text).get("photos")
    bad = {**RECEIPT, "action": "submit", "f.photos:upload": (io.BytesIO(b"%PDF-1.4"), "a.pdf")}
    r = insp.post(f"/tasks/{tid}", bad, content_type="multipart/form-data")
    assert r.status_code == 422 and "application/pdf" in errors_in(r.text).get("photos", "")
    fake = {**RECEIPT, "action": "submit", "f.photos:upload": (io.BytesIO(b"<html>"), "x.png")}
    assert insp.post(f"/tasks/{tid}", fake, content_type="multipart/form-data").status_code == 422
    ok = {**RECEIPT, "action": "submit", "f.photos:upload": (io.BytesIO(PNG), "photo.png")}
    r = insp.post(f"/tasks/{tid}", ok, content_type="multipart/form-data")
    assert r.status_code == 302
    with app.extensions["services"].database.sessions() as s:
        att_id = s.scalars(__import__("sqlalchemy").select(store.Attachment.id)
                           .where(store.Attachment.instance_id == iid)).one()
        row = store.get_attachment(s, att_id)
        assert row.size == len(PNG) and len(row.sha256) == 64 and row.filename == "photo.png"
        data = app.extensions["workflow"].instance(s, iid)["data"]["receive"]
        assert data["photos"] == [att_id]
    # The record shows the photo as a thumbnail (full size on tap), not as an id.
    page = insp.get(f"/instances/{iid}").text
    assert f'class="thumb" target="_blank" rel="noopener"><img src="/attachments/{att_id}" alt="photo.png"' in page
    r = insp.c.get(f"/attachments/{att_id}")
    assert r.status_code == 200 and r.data == PNG
    assert "attachment" in r.headers["Content-Disposition"]
    r.close()
    sup = login(app, "sup")
    r = sup.c.get(f"/attachments/{att_id}")
    assert r.status_code == 200
    r.close()
    prod = login(app, "prod")
    assert prod.c.get(f"/attachments/{att_id}").status_code == 403
    # A page shows the files whose ids a form was posted with: an id taken from a record the
    # reader may not read tells nothing of the file (name, size) nor of its neighbours.
    from engine.app import access, uploads
    services = app.extensions["services"]
    with services.database.reading() as s:
        readers = {u: access.reader_named(services.config, s, u) for u in ("insp", "sup", "prod")}
    assert uploads.attachment_infos_beside(services, readers["prod"], att_id) == {att_id: None}
    assert uploads.attachment_infos_beside(services, readers["sup"], att_id)[att_id]["filename"] == "photo.png"
    assert uploads.attachment_infos_beside(services, readers["insp"], att_id)[att_id]["size"] == len(PNG)


# --------------------------------------------------------------------------- language


def test_language_switch_is_stored_on_the_user(app):
    b = login(app, "insp")
    assert "我的待办" in b.get("/").text
    assert b.post("/locale/en", {"next": "/"}).status_code == 302
    page = b.get("/").text
    assert "My tasks" in page and "Start a new instance" in page
    with app.extensions["services"].database.sessions() as s:
        assert store.get_user(s, "insp").locale == "en"
    again = login(app, "insp")
    assert "My tasks" in again.get("/").text
    iid = start_instance(again)
    r = again.post(f"/tasks/{task_of(again, iid)}", {"action": "submit"})
    assert "This field is required" in r.text


YESNO = {"type": "object", "required": ["valid"], "properties": {
    "valid": {"type": "boolean", "title": "投诉属实"},
    "read": {"type": "boolean", "title": "已阅读作业指导书", "const": True},
    "photo_ok": {"type": "boolean", "title": "照片清晰", "default": True}}}


def test_yes_no_question_left_unanswered_is_refused_not_recorded_as_no(app):
    """A required yes/no left unanswered must not close a complaint as 不属实: it is refused,
    and a box that must be ticked says so in words, not 应为 true."""
    import json

    from engine.language import yaml_source
    from engine.language.forms import parse_form
    from web.forms_render import field_tree, parse_submission

    form, problems = parse_form(yaml_source.load(json.dumps({"id": "t", "title": "t", "schema": YESNO})))
    assert form is not None and not problems
    assert form.fields["valid"].widget == "yesno" and form.fields["read"].widget == "checkbox"
    # what the browser posts when nothing was chosen: the radios send nothing, the box its hidden "false"
    from werkzeug.datastructures import MultiDict
    posted = parse_submission(YESNO, MultiDict([("f.read", "false")]))
    assert "valid" not in posted or posted["valid"] is None
    errors = {e["field"]: e["message"] for e in form.validate(posted, "zh")}
    assert errors["valid"] == "必填项"
    assert errors["read"] == "请勾选此项以确认"
    assert {e["field"]: e["message"] for e in form.validate(posted, "en")}["read"] == "Tick this box to confirm"
    # a declared default is what a new form shows, and it is chosen on the page
    assert form.initial() == {"photo_ok": True}
    with app.test_request_context():
        from flask import render_template_string
        html = render_template_string('{% from "_fields.html" import fields %}{{ fields(n) }}',
                                      n=field_tree(YESNO, form.initial()))
    assert 'name="f.photo_ok" value="true" checked' in html
    assert 'name="f.valid" value="true" checked' not in html and 'name="f.valid" value="false" checked' not in html


def test_a_page_with_several_photos_reads_their_details_once(app):
    """Each photo on a record needs its name and type for the thumbnail; they are read in one
    query for the whole instance, not one query per photo."""
    import io

    from sqlalchemy import event

    insp = login(app, "insp")
    iid = start_instance(insp)
    tid = task_of(insp, iid)
    photos = [(io.BytesIO(PNG), f"p{i}.png") for i in range(4)]
    r = insp.post(f"/tasks/{tid}", {**RECEIPT, "action": "submit", "f.photos:upload": photos},
                  content_type="multipart/form-data")
    assert r.status_code == 302, errors_in(r.text)
    engine = app.extensions["services"].database.engine
    reads: list[str] = []

    def note(conn, cursor, statement, *args):  # noqa: ANN001 - SQLAlchemy's listener signature
        if "attachments" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        page = insp.get(f"/instances/{iid}").text
    finally:
        event.remove(engine, "before_cursor_execute", note)
    shown = re.findall(r'class="thumb"[^>]*><img [^>]*alt="(p\d\.png)"', page)
    assert list(dict.fromkeys(shown)) == [f"p{i}.png" for i in range(4)]
    assert len(reads) <= 2, reads  # the first photo, then all of its instance's files


def test_a_person_field_suggests_active_users_and_other_forms_carry_no_list(app):
    """A form's page lists the people to pick only where the form has a person field, and
    then only active users: every form's page carried every user before (5,000 names in a
    company that size, on a phone), and deactivated ones among them."""
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "gone", "pw-gone", ["qa-inspectors"], full_name="离职员工")
        s.flush()
        from engine.store import users as user_store

        user_store.set_active(s, "gone", False)
    b = login(app, "insp")
    iid = start_instance(b)
    receipt = b.get(f"/tasks/{task_of(b, iid)}").text  # product-receipt: no person field
    assert 'id="wf-users"' not in receipt, re.findall(r'<datalist id="wf-users">.{0,200}', receipt)
    r = b.post(f"/tasks/{task_of(b, iid)}", {**RECEIPT, "action": "submit"})
    assert r.status_code == 302, errors_in(r.text) or r.text
    inspect = b.get(f"/tasks/{task_of(b, iid)}").text  # the result names its inspector
    listed = re.search(r'<datalist id="wf-users" data-complete>(.*?)</datalist>', inspect, re.S)
    assert listed, "the inspector field suggests no one"
    names = re.findall(r'<option value="([^"]+)">', listed.group(1))
    assert {"insp", "insp2", "sup", "prod"} <= set(names) and "gone" not in names
    assert names == sorted(names)


def _a_large_company(app, count=250):
    """``count`` colleagues besides the fixture's users, more than a page carries, two of them
    known by Chinese names in a department, and one who left."""
    from engine.store import org as org_store
    from engine.store import users as user_store
    from tests.helpers.store import add_colleagues

    with app.extensions["services"].database.writing() as s:
        add_colleagues(s, count, 10)
        org_store.save_department(s, org_store.DepartmentRow("after-sales", "售后服务部", None, None))
        store.add_user(s, "zhangwei", "pw-zhangwei", ["qa-inspectors"], full_name="张伟")
        store.add_user(s, "zhangli", "pw-zhangli", ["production"], full_name="张丽")
        store.add_user(s, "zhanggone", "pw-zhanggone", ["production"], full_name="张已离职")
        # names that contain the text without starting with it, and sort before those that do
        store.add_user(s, "lizhang", "pw-lizhang", ["production"], full_name="李张")
        store.add_user(s, "a.insp", "pw-a.insp", ["production"], full_name="检验助理")
        s.flush()
        org_store.set_person(s, "zhangwei", department="after-sales", manager=None)
        user_store.set_active(s, "zhanggone", False)


def test_a_small_company_gets_everyone_with_their_names_on_the_page(app):
    """Up to 200 active users come with the page (no round trip, works without JavaScript),
    each shown by full name; the start form of a procedure with a person field has the list
    too (it had none)."""
    b = login(app, "insp")
    iid = start_instance(b)
    b.post(f"/tasks/{task_of(b, iid)}", {**RECEIPT, "action": "submit"})
    page = b.get(f"/tasks/{task_of(b, iid)}").text
    listed = re.search(r'<datalist id="wf-users" data-complete>(.*?)</datalist>', page, re.S)
    assert listed, re.findall(r"<datalist.{0,120}", page)
    assert '<option value="sup">主管乙</option>' in listed.group(1)
    assert 'data-people="/people/suggest"' in page
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "desk", "pw-desk", ["service-desk"], full_name="客服戊")
    start = login(app, "desk").get("/start/quality-problem-handling").text  # 接收人 is a person
    assert 'list="wf-users"' in start and '<datalist id="wf-users" data-complete>' in start
    assert '<option value="desk">客服戊</option>' in start


def test_a_large_company_is_asked_as_the_name_is_typed(app):
    """Past 200 users the page carries nobody (5,000 names were 150 KB on a phone); the field
    asks /people/suggest, which finds people by user name or Chinese name, best matches
    first, never one who left, at most 20, and reads % and _ as themselves."""
    _a_large_company(app)
    b = login(app, "insp")
    iid = start_instance(b)
    b.post(f"/tasks/{task_of(b, iid)}", {**RECEIPT, "action": "submit"})
    page = b.get(f"/tasks/{task_of(b, iid)}").text
    assert re.search(r'<datalist id="wf-users"></datalist>', page), re.findall(r"<datalist.{0,120}", page)
    assert "colleague00001" not in page

    def ask(text):
        r = b.get("/people/suggest", query_string={"q": text})
        assert r.status_code == 200 and r.is_json, r.text[:200]
        return r.get_json()

    found = ask("张")
    assert [p["user"] for p in found] == ["zhangli", "zhangwei", "lizhang"]  # starts-with first
    assert found[1] == {"user": "zhangwei", "name": "张伟", "department": "售后服务部"}
    assert [p["user"] for p in ask("ZHANGW")] == ["zhangwei"]
    assert [p["user"] for p in ask("伟")] == ["zhangwei"]
    assert len(ask("colleague")) == 20
    assert ask("%") == [] and ask("_") == [] and ask("张已") == []
    assert ask("张" * 5000) == []  # a hostile length is answered (cut to 100 characters), not a 500
    assert [p["user"] for p in ask("sup")] == ["sup"]
    # the starts-with match comes before one that only contains the text
    assert [p["user"] for p in ask("insp")] == ["insp", "insp2", "a.insp"]


def test_people_are_suggested_only_to_someone_signed_in(app):
    r = app.test_client().get("/people/suggest?q=zh")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
