"""The procedure editor through the Flask test client: who may edit, approve and publish;
live validation at the right line; visual edits; Try it; versions, diff, restore, bundles."""

from __future__ import annotations

import re

import pytest

from engine import store
from tests.helpers.service import ROOT
from tests.web.test_web_ui import Browser
from web import create_app

PID = "after-sales-inspection"
FORM = "after-sales-inspection-result"
PW = {"author": "pw-author", "editor2": "pw-editor2", "approver": "pw-approver", "approver2": "pw-approver2",
      "insp": "pw-insp"}


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "en"}})
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "author", "pw-author", ["editors"], full_name="编写人")
        store.add_user(s, "editor2", "pw-editor2", ["editors"], full_name="编辑乙")
        store.add_user(s, "approver", "pw-approver", ["doc-approvers", "editors"], full_name="批准人")
        store.add_user(s, "approver2", "pw-approver2", ["doc-approvers"], full_name="批准人乙")
        store.add_user(s, "insp", "pw-insp", ["qa-inspectors"], full_name="检验员")
    yield app
    app.extensions["services"].database.engine.dispose()


def login(app, user):
    b = Browser(app)
    b.login(user)
    return b


@pytest.fixture
def zh_app(db_url, tmp_path):
    """A server whose pages are Chinese, with an author reading it so ("author") and one
    who chose English ("author-en")."""
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "zh"}})
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "author", "pw-author", ["editors"], full_name="编写人")
        store.add_user(s, "author-en", "pw-author", ["editors"], full_name="Author", locale="en")
    yield app
    app.extensions["services"].database.engine.dispose()


def task_link(page: str, title: str) -> str:
    m = re.search(r'href="/tasks/([A-Z0-9]+\.t\d+)"[^>]*>\s*' + re.escape(title), page)
    assert m, page
    return m.group(1)


def test_pages_render_for_readers_and_only_editors_see_edit_links(app):
    b = login(app, "insp")
    home = b.get("/")
    assert 'id="nav-editor"' not in home.text
    cat = b.get("/editor")
    assert cat.status_code == 200 and 'data-procedure="after-sales-inspection"' in cat.text
    page = b.get(f"/editor/{PID}")
    assert page.status_code == 200
    assert "<svg" in page.text and 'data-step="inspect"' in page.text
    assert "环境温度" in page.text  # the form as the operator sees it
    assert "3wd" in page.text and "qa-supervisors" in page.text  # deadline, role groups
    assert "form-builder" not in page.text and f"/editor/{PID}/forms/" not in page.text
    for url in (f"/editor/{PID}/text", f"/editor/{PID}/steps", f"/editor/{PID}/forms/{FORM}"):
        assert b.get(url).status_code == 403
    r = b.post(f"/editor/{PID}/forms/{FORM}/fields", {"name": "x", "type": "string", "title": "x"})
    assert r.status_code == 403
    r = b.c.post(f"/editor/{PID}/validate", json={"text": "x"}, headers={"X-CSRF-Token": b.token})
    assert r.status_code == 403
    a = login(app, "author")
    assert 'id="nav-editor"' in a.get("/").text


def test_validate_reports_problems_at_their_lines(app):
    b = login(app, "author")
    page = b.get(f"/editor/{PID}/text")
    assert page.status_code == 200 and "售后检验" in page.text
    text = page.text.split('id="yaml"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    import html
    text = html.unescape(text)
    broken = text.replace("    role: inspector\n    form: product-receipt", "    role: inspectr\n    form: product-receipt")
    line = broken.splitlines().index("    role: inspectr") + 1
    r = b.c.post(f"/editor/{PID}/validate", json={"file": "procedure", "text": broken},
                 headers={"X-CSRF-Token": b.token, "Accept": "application/json"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["ok"] is False
    assert body["problems"] == [{"file": f"procedures/{PID}.yaml", "line": line, "col": 11,
                                 "message": "unknown role 'inspectr'; did you mean 'inspector'?"}]
    r = b.c.post(f"/editor/{PID}/validate", json={"file": "procedure", "text": text},
                 headers={"X-CSRF-Token": b.token})
    assert r.get_json() == {"problems": [], "other": [], "ok": True}
    # saving a broken text is refused with the problem at its line; nothing is saved
    r = b.post(f"/editor/{PID}/text", {"file": "procedure", "text": broken})
    assert r.status_code == 422 and f'data-line="{line}"' in r.text
    r = b.post(f"/editor/{PID}/text", {"file": "procedure", "text": text + "# 备注\n", "note": "n"})
    assert r.status_code == 302
    assert "v1.1" in b.get(f"/editor/{PID}/versions").text


def test_live_validation_checks_against_config_as_wf_validate_does(app):
    """A role no group holds and a calendar config.yaml lacks are reported while typing, at
    their lines, with the same messages as ``wf validate``; saving is refused."""
    import html

    b = login(app, "author")
    page = b.get(f"/editor/{PID}/text")
    text = html.unescape(page.text.split('id="yaml"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0])
    broken = text.replace("  quality_manager: 质量经理\n", "  quality_manager: 质量经理\n  night_guard: 夜班值守\n", 1)
    broken = broken.replace("calendar: default\n", "calendar: shenzhen\n", 1)
    role_line = broken.splitlines().index("  night_guard: 夜班值守") + 1
    cal_line = broken.splitlines().index("calendar: shenzhen") + 1
    r = b.c.post(f"/editor/{PID}/validate", json={"file": "procedure", "text": broken},
                 headers={"X-CSRF-Token": b.token, "Accept": "application/json"})
    body = r.get_json()
    assert body["ok"] is False
    found = {(p["line"], p["message"].split(":")[0].split(" has ")[0]) for p in body["problems"]}
    assert found == {(role_line, "role 'night_guard'"), (cal_line, "unknown calendar 'shenzhen'")}, body
    assert "config.yaml" in body["problems"][0]["message"]
    r = b.post(f"/editor/{PID}/text", {"file": "procedure", "text": broken})
    assert r.status_code == 422 and f'data-line="{role_line}"' in r.text


def test_visual_edits_try_versions_and_change_control(app):
    a = login(app, "author")
    a.get(f"/editor/{PID}/forms/{FORM}")
    r = a.post(f"/editor/{PID}/forms/{FORM}/fields", {
        "name": "voltage", "title": "电源电压", "type": "number", "unit": "V", "min": "210", "max": "230",
        "required": "1", "after": "ambient_humidity"})
    assert r.status_code == 302
    page = a.get(f"/editor/{PID}/forms/{FORM}")
    assert 'data-field="voltage"' in page.text and "x-limits: {min: 210, max: 230}" in page.text
    r = a.post(f"/editor/{PID}/forms/{FORM}/fields", {"name": "bad", "type": "string", "title": "x", "min": "1"})
    assert r.status_code == 422 and "limits apply to number fields only" in r.text  # with the form as typed
    a.get(f"/editor/{PID}/steps")
    r = a.post(f"/editor/{PID}/steps", {"id": "double_check", "title": "复核", "type": "approval",
                                        "role": "qa_supervisor", "signature": "复核", "within": "1wd",
                                        "after": "report"})
    assert r.status_code == 302
    steps = a.get(f"/editor/{PID}/steps").text
    assert 'data-step="double_check"' in steps
    versions = a.get(f"/editor/{PID}/versions").text
    assert "v1.2" in versions and "v1.1" in versions and 'data-status="draft"' in versions
    ids = re.findall(r'name="b" value="(\d+)"', versions)
    diff = a.get(f"/editor/{PID}/diff?a={ids[-1]}&b={ids[0]}").text
    assert "  double_check:" in diff and "x-unit: V" in diff
    # above the text difference, the change in words (issue 19)
    summary = diff.split('id="change-summary"', 1)[1].split("</section>", 1)[0]
    assert "step 复核 added" in summary and "field 电源电压 added" in summary, summary
    tried = a.get(f"/editor/{PID}/try")
    assert tried.status_code == 200
    answers = re.search(r'<textarea name="answers"[^>]*>(.*?)</textarea>', tried.text, re.S).group(1)
    import html
    run = a.post(f"/editor/{PID}/try", {"answers": html.unescape(answers)})
    assert run.status_code == 200, run.text
    assert "复核" in run.text.split('id="try-path"', 1)[1].split("</p>", 1)[0]
    bad = a.post(f"/editor/{PID}/try", {"answers": "steps:\n- step: nope\n"})
    assert bad.status_code == 422 and "start: " in bad.text and "customer: " in bad.text

    a.get(f"/editor/{PID}/versions")
    assert "reason" in a.get(a.post(f"/editor/{PID}/submit", {"reason": ""}).headers["Location"]).text.lower()
    r = a.post(f"/editor/{PID}/submit", {"reason": "增加复核步骤和电压测量"})
    assert r.status_code == 302 and "/instances/" in r.headers["Location"]
    cc = r.headers["Location"].rsplit("/", 1)[1]

    ap = login(app, "approver")
    inbox = ap.get("/").text
    review = task_link(inbox, "Review the change")
    page = ap.get(f"/tasks/{review}").text
    # the reviewer reads the change in words in the task itself
    words = page.split('id="change-summary"', 1)[1].split("</section>", 1)[0]
    assert "step 复核 added" in words and "field 电源电压 added" in words, words
    assert page.index('id="change-summary"') < page.index('id="task-form"')
    link = re.search(r'id="change-diff" href="([^"]+)"', page).group(1)
    diff = ap.get(link.replace("&amp;", "&")).text
    assert "  double_check:" in diff and "x-unit: V" in diff
    r = ap.post(f"/tasks/{review}", {"action": "approve", "comment": "已核对", "password": "pw-approver"})
    assert r.status_code in (302, 303), r.text
    # the author may not approve their own change, even holding the task's role
    a.get("/")
    approve = task_link(login(app, "approver2").get("/").text, "Approve the change")
    r = a.post(f"/tasks/{approve}", {"action": "approve", "comment": "", "password": "pw-author"})
    assert r.status_code == 403
    # an editor outside the approver group may not approve
    e2 = login(app, "editor2")
    r = e2.post(f"/tasks/{approve}", {"action": "approve", "comment": "", "password": "pw-editor2"})
    assert r.status_code == 403
    # the reviewer may not approve what they reviewed (four eyes), and is not offered it
    assert "更改批准" not in ap.get("/").text
    r = ap.post(f"/tasks/{approve}", {"action": "approve", "comment": "同意", "password": "pw-approver"})
    assert r.status_code == 403
    ap2 = login(app, "approver2")
    ap2.get(f"/tasks/{approve}")
    r = ap2.post(f"/tasks/{approve}", {"action": "approve", "comment": "同意", "password": "pw-approver2"})
    assert r.status_code in (302, 303), r.text
    assert "已发布" in ap.get(f"/instances/{cc}").text
    cat = ap.get("/editor").text
    row = cat.split('data-procedure="after-sales-inspection"', 1)[1].split("</tr>", 1)[0]
    assert "v2.0" in row and "published" in row
    bundle = ap.get(f"/editor/{PID}/versions/{ids[0]}/bundle.yaml")
    assert bundle.status_code == 200 and "voltage:" in bundle.text and bundle.text.count("\n---\n") >= 5



def test_import_a_new_procedure_as_draft_keeps_the_inbox_working(app):
    a = login(app, "author")
    text = a.get(f"/editor/{PID}/versions/1/bundle.yaml").text
    renamed = text.replace(f"id: {PID}\n", "id: after-sales-inspection-b\n", 1)
    a.get("/editor")
    r = a.post("/editor/import", {"text": renamed})
    assert r.status_code == 302 and r.headers["Location"].endswith("/editor/after-sales-inspection-b")
    page = a.get("/editor/after-sales-inspection-b")
    assert page.status_code == 200 and "v0.1" in page.text
    cat = a.get("/editor").text
    assert 'data-procedure="after-sales-inspection-b"' in cat
    assert a.get("/").status_code == 200  # drafts never reach the inbox's start list
    b = login(app, "insp")
    assert "after-sales-inspection-b" not in b.get("/").text
    r = a.post("/editor/import", {"text": "id: x\n"})
    assert r.status_code == 302
    assert "procedures/x.yaml" in a.get("/editor").text  # the problems, with file and line


def test_author_holding_the_approver_role_cannot_review_or_approve_own_change(app):
    ap = login(app, "approver")  # in editors and doc-approvers
    page = ap.get(f"/editor/{PID}/text")
    import html
    text = html.unescape(page.text.split('id="yaml"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0])
    assert ap.post(f"/editor/{PID}/text", {"file": "procedure", "text": text + "# 修订\n"}).status_code == 302
    ap.get(f"/editor/{PID}/versions")
    r = ap.post(f"/editor/{PID}/submit", {"reason": "补充说明"})
    assert r.status_code == 302
    assert "更改审核" not in ap.get("/").text  # not offered to the author who sent it
    review = task_link(login(app, "editor2").get("/").text, "Review the change")
    ap.get(f"/tasks/{review}")
    r = ap.post(f"/tasks/{review}", {"action": "approve", "comment": "", "password": "pw-approver"})
    assert r.status_code == 403 and "separation of duties" in r.text  # the sender (the procedure's rule)
    e2 = login(app, "editor2")
    e2.get(f"/tasks/{review}")
    r = e2.post(f"/tasks/{review}", {"action": "approve", "comment": "ok", "password": "pw-editor2"})
    assert r.status_code in (302, 303)
    assert "更改批准" not in ap.get("/").text
    approve = task_link(login(app, "approver2").get("/").text, "Approve the change")
    ap.get(f"/tasks/{approve}")
    r = ap.post(f"/tasks/{approve}", {"action": "approve", "comment": "", "password": "pw-approver"})
    # the author, kept from it by the step's separate_from: [start] before change control's own rule
    assert r.status_code == 403 and "separation of duties" in r.text
    assert 'data-status="in_review"' in ap.get(f"/editor/{PID}/versions").text


def test_step_editor_adds_a_countersign_with_its_mode(app):
    """Issue 17: the step form offers several approvers and how their decisions combine."""
    a = login(app, "author")
    a.get(f"/editor/{PID}/steps")
    r = a.post(f"/editor/{PID}/steps", {"id": "joint_review", "title": "联合审核", "type": "approval",
                                        "role": "qa_supervisor", "approvers": ["qa_supervisor", "quality_manager"],
                                        "mode": "any", "after": "report"})
    assert r.status_code == 302
    assert "Step joint_review added" in a.get(r.headers["Location"]).text
    text = a.get(f"/editor/{PID}/text").text
    assert "approvers: [{role: qa_supervisor}, {role: quality_manager}]" in text.replace("\n      - ", "") or \
        ("- {role: qa_supervisor}" in text and "- {role: quality_manager}" in text), text
    assert "mode: any" in text
    page = a.get(f"/editor/{PID}/steps").text
    assert 'data-step="joint_review"' in page
    bad = a.post(f"/editor/{PID}/steps", {"id": "too_many", "title": "x", "type": "approval", "role": "qa_supervisor",
                                          "approvers": ["qa_supervisor"], "mode": "at_least", "at_least": "3",
                                          "after": "report"})
    assert bad.status_code == 422  # the form comes back as typed, with why
    assert "&#39;at least&#39; needs a number from 1 to 1" in bad.text and 'value="too_many"' in bad.text


def test_new_procedure_from_a_blank_page_or_a_copy(app):
    """Issue 19: a 新建流程 button, blank or from any installed procedure as a template."""
    a = login(app, "author")
    assert 'id="new-procedure-form"' in a.get("/editor").text
    r = a.post("/editor/new", {"id": "incoming-inspection", "title": "来料检验", "template": ""})
    assert r.status_code == 302 and r.headers["Location"].endswith("/editor/incoming-inspection")
    page = a.get(r.headers["Location"]).text
    assert "来料检验" in page and "v0.1" in page
    text = a.get("/editor/incoming-inspection/text").text
    assert "form: incoming-inspection-record" in text and "id: incoming-inspection" in text
    assert "incoming-inspection-record" in a.get("/editor/incoming-inspection/forms/incoming-inspection-record").text
    # a copy keeps the template's steps and comments under the new id and title
    r = a.post("/editor/new", {"id": "site-inspection", "title": "现场检验", "template": "after-sales-inspection"})
    assert r.status_code == 302
    text = a.get("/editor/site-inspection/text").text
    assert "id: site-inspection" in text and "title: 现场检验" in text and "form: inspection-report" in text
    assert "# " in text  # the template's comments came along
    # refusals name the field and the fix; nothing is saved
    again = a.post("/editor/new", {"id": "incoming-inspection", "title": "x"})
    assert "exists already" in a.get(again.headers["Location"]).text
    bad = a.post("/editor/new", {"id": "Incoming Inspection", "title": "来料检验"})
    assert "lower-case words joined by" in a.get(bad.headers["Location"]).text
    untitled = a.post("/editor/new", {"id": "untitled-one", "title": " "})
    assert "give the procedure a title" in a.get(untitled.headers["Location"]).text
    assert a.get("/editor/untitled-one").status_code == 404
    # only editors create procedures
    insp = login(app, "insp")
    assert insp.post("/editor/new", {"id": "mine", "title": "我的"}).status_code == 403


def test_steps_are_renamed_and_deleted_in_the_step_editor(app):
    """Issue 19: rename (references follow) and delete (refused while named) without YAML."""
    a = login(app, "author")
    page = a.get(f"/editor/{PID}/steps").text
    assert "<title>Steps: " in page and 'id="rename-step"' in page and "<h2>" not in page.split("</title>")[0]
    r = a.post(f"/editor/{PID}/steps/rename", {"step": "inspect", "new_id": "product_check", "action": "rename"})
    assert "Step inspect is now product_check" in a.get(r.headers["Location"]).text
    text = a.get(f"/editor/{PID}/text").text
    assert "product_check.verdict ==" in text.replace("&#34;", '"') and "  inspect:" not in text
    r = a.post(f"/editor/{PID}/steps/rename", {"step": "product_check", "action": "delete"})
    assert "still named by" in a.get(r.headers["Location"]).text
    r = a.post(f"/editor/{PID}/steps/rename", {"step": "feedback", "action": "delete"})
    assert "Step feedback deleted" in a.get(r.headers["Location"]).text
    assert 'data-step="feedback"' not in a.get(f"/editor/{PID}/steps").text
    insp = login(app, "insp")
    assert insp.post(f"/editor/{PID}/steps/rename", {"step": "report", "new_id": "x", "action": "rename"}).status_code == 403


def test_an_existing_steps_properties_change_in_the_step_editor(app):
    """Issue 19: deadline, reminder, escalation, role, form and signature of an existing step
    change without YAML; escalation levels the form cannot show are kept."""
    a = login(app, "author")
    page = a.get(f"/editor/{PID}/steps", query_string={"edit": "report"}).text
    assert 'id="update-step"' in page and 'name="step" value="report"' in page
    r = a.post(f"/editor/{PID}/steps/update", {"step": "report", "title": "检验报告编制", "role": "inspector",
                                               "form": "inspection-report", "signature": "批准",
                                               "deadline_editable": "1", "within": "1wd", "remind_before": "2wh",
                                               "escalate": "qa_supervisor"})
    assert "Step report changed" in a.get(r.headers["Location"]).text
    text = a.get(f"/editor/{PID}/text").text
    block = text.split("  report:", 1)[1].split("\n  review:", 1)[0]
    assert "signature: 批准" in block and "within: 1wd" in block and "remind_before: 2wh" in block
    assert "escalate: qa_supervisor" in block
    # inspect escalates in two levels: the form shows both (and a blank one to add), and a
    # post that keeps them keeps them
    page = a.get(f"/editor/{PID}/steps", query_string={"edit": "inspect"}).text
    assert page.count('name="lvl_after"') == 3 and 'name="lvl_after" size="5" value="2wd"' in page
    a.post(f"/editor/{PID}/steps/update", {"step": "inspect", "title": "产品检验", "role": "inspector",
                                           "form": "after-sales-inspection-result", "signature": "",
                                           "deadline_editable": "1", "within": "2wd", "remind_before": "4wh",
                                           "escalate": "__keep__"})
    block = a.get(f"/editor/{PID}/text").text.split("  inspect:", 1)[1].split("\n  evaluate:", 1)[0]
    assert "within: 2wd" in block and "to: quality_manager" in block and "to: qa_supervisor" in block
    # a role that does not exist is refused by the checker; nothing is saved
    r = a.post(f"/editor/{PID}/steps/update", {"step": "report", "title": "x", "role": "nobody", "form": "",
                                               "escalate": "__keep__"})
    assert "nobody" in a.get(r.headers["Location"]).text


def test_zip_round_trip_and_changing_where_a_step_goes(app):
    import io
    import zipfile

    a = login(app, "author")
    z = a.c.get(f"/editor/{PID}/versions/1/bundle.zip")
    assert z.status_code == 200 and z.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(z.data)).namelist()
    assert f"procedures/{PID}.yaml" in names and "forms/product-receipt.yaml" in names
    a.get("/editor")
    r = a.post("/editor/import", {"bundle": (io.BytesIO(z.data), "p.zip")}, content_type="multipart/form-data")
    assert r.status_code == 302
    assert 'data-version="1.1"' in a.get(f"/editor/{PID}/versions").text  # imported as a draft
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("forms/a.yaml", "id: a\n")
    r = a.post("/editor/import", {"bundle": (io.BytesIO(bad.getvalue()), "p.zip")}, content_type="multipart/form-data")
    assert "exactly one procedures/ID.yaml" in a.get("/editor").text

    a.get(f"/editor/{PID}/steps")
    # a change that cuts steps off is refused with the validator's message; nothing is saved
    r = a.post(f"/editor/{PID}/steps/next", {"step": "receive", "next": "report"})
    assert r.status_code == 422  # the form comes back as chosen, with why
    page = r.text
    line = (ROOT / "procedures" / f"{PID}.yaml").read_text(encoding="utf-8").splitlines().index("  inspect:") + 1
    assert f"after-sales-inspection.yaml:{line}:3: step &#39;inspect&#39; cannot be reached" in page
    assert "Working copy v1.1" in page
    r = a.post(f"/editor/{PID}/steps/next", {"step": "receive", "next": "inspect",
                                              "condition": "start.quantity > 1", "else": "inspect"})
    page = a.get(f"/editor/{PID}/steps").text
    assert "Working copy v1.2" in page, page
    row = page.split('<tr data-step="receive"', 1)[1].split("</tr>", 1)[0]
    assert "数量 &gt; 1" in row  # the condition in words: the field's title, not its code (issue 19)


def test_form_builder_edits_an_existing_field(app):
    a = login(app, "author")
    page = a.get(f"/editor/{PID}/forms/{FORM}").text
    assert 'data-edit="ambient_temperature"' in page
    r = a.post(f"/editor/{PID}/forms/{FORM}/fields/ambient_temperature/update",
               {"title": "环境温度", "unit": "℃", "min": "15", "max": "30", "visible_if": ""})
    assert r.status_code == 302
    page = a.get(f"/editor/{PID}/forms/{FORM}").text
    assert "x-limits: {min: 15, max: 30}" in page and "Working copy v1.1" in page
    r = a.post(f"/editor/{PID}/forms/{FORM}/fields/ambient_temperature/update",
               {"title": "环境温度", "min": "40", "max": "30"})
    assert "above the upper limit" in a.get(f"/editor/{PID}/forms/{FORM}").text


def test_a_control_character_pasted_into_the_editor_is_reported_at_its_line(app):
    b = login(app, "author")
    text = f"id: {PID}\ntitle: 售后\x07检验\n"
    r = b.c.post(f"/editor/{PID}/validate", json={"file": "procedure", "text": text},
                 headers={"X-CSRF-Token": b.token, "Accept": "application/json"})
    assert r.status_code == 200
    [problem] = r.get_json()["problems"]
    assert (problem["line"], problem["col"]) == (2, 10) and "U+0007" in problem["message"]


def test_the_chinese_editor_checks_in_chinese_and_wf_validate_in_english(zh_app):
    """The live check of a quality engineer whose pages are Chinese names the problem in
    Chinese, at the same line and column, with the same proposal; the same server's next
    English reader (and ``wf validate``) gets the English, not a cached Chinese."""
    import html

    zh = zh_app
    answers = {}
    for user in ("author", "author-en"):
        b = Browser(zh)
        b.login(user, "pw-author")
        page = b.get(f"/editor/{PID}/text")
        text = html.unescape(page.text.split('id="yaml"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0])
        broken = text.replace("    role: inspector\n    form: product-receipt", "    role: inspectr\n    form: product-receipt")
        r = b.c.post(f"/editor/{PID}/validate", json={"file": "procedure", "text": broken},
                     headers={"X-CSRF-Token": b.token, "Accept": "application/json"})
        [answers[user]] = r.get_json()["problems"]
    assert answers["author"]["message"] == "没有角色“inspectr”；是不是要写“inspector”？", answers
    assert answers["author-en"]["message"] == "unknown role 'inspectr'; did you mean 'inspector'?"
    assert {k: v for k, v in answers["author"].items() if k != "message"} == \
        {k: v for k, v in answers["author-en"].items() if k != "message"}


def test_a_form_the_working_copy_lacks_is_named_in_each_readers_language(zh_app):
    """A stale link to the form builder (the form was renamed in the text editor) names the
    procedure and the form, and where to pick one, in the reader's language."""
    import html

    zh = Browser(zh_app)
    zh.login("author", "pw-author")
    r = zh.get(f"/editor/{PID}/forms/inspection-sheet")
    assert r.status_code == 404
    assert f"流程“{PID}”的工作版本中没有表单“inspection-sheet”；请在编辑器中选择它已有的表单" in r.text, r.text
    assert "working copy" not in r.text
    en = Browser(zh_app)
    en.login("author-en", "pw-author")
    r = en.get(f"/editor/{PID}/forms/inspection-sheet")
    assert r.status_code == 404
    assert (f"the working copy of '{PID}' has no form 'inspection-sheet'; pick one of its forms in the editor"
            in html.unescape(r.text)), r.text


def test_an_imported_zip_without_its_procedure_is_refused_in_each_readers_language(zh_app):
    """A zip of forms only: the catalogue says what the zip must hold, in Chinese for the
    Chinese author and in English for the English one; nothing is imported."""
    import html
    import io
    import zipfile

    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("forms/a.yaml", "id: a\n")
    pages = {}
    for user in ("author", "author-en"):
        b = Browser(zh_app)
        b.login(user, "pw-author")
        b.get("/editor")
        r = b.post("/editor/import", {"bundle": (io.BytesIO(bad.getvalue()), "p.zip")},
                   content_type="multipart/form-data")
        assert r.status_code == 302
        pages[user] = html.unescape(b.get("/editor").text)
    assert "bundle.zip:1:1" in pages["author"]
    assert "zip 包中必须恰好有一个 procedures/ID.yaml，实际找到 0 个；表单请放在 forms/ 下" in pages["author"]
    assert "must hold exactly one" not in pages["author"]
    assert "the zip must hold exactly one procedures/ID.yaml, found 0; put its forms under forms/" in pages["author-en"]


def test_try_it_says_why_the_answers_do_not_play_in_the_authors_language(zh_app):
    """Try it with answers that cannot be played: a start form given a field it lacks, and an
    answer for a step that is not open. A Chinese author reads the refusal and the field's
    message in Chinese, at the entry of the answers; an English author of the same server the
    same in English."""
    import html

    zh = zh_app
    pages = {}
    for user in ("author", "author-en"):
        b = Browser(zh)
        b.login(user, "pw-author")
        tried = b.get(f"/editor/{PID}/try")
        sample = html.unescape(re.search(r'<textarea name="answers"[^>]*>(.*?)</textarea>', tried.text, re.S).group(1))
        assert "- step: receive\n" in sample
        wrong_field = b.post(f"/editor/{PID}/try", {"answers": "start:\n  data: {colour: 红}\n"})
        wrong_step = b.post(f"/editor/{PID}/try", {"answers": sample.replace("- step: receive\n", "- step: review\n", 1)})
        assert wrong_field.status_code == wrong_step.status_code == 422
        pages[user] = html.unescape(wrong_field.text), html.unescape(wrong_step.text)
    field, step = pages["author"]
    assert "start: 表单有" in field and "colour: 未知字段" in field and "customer: 必填项" in field
    assert "steps[0]: 步骤“review”没有待办任务；当前待办的步骤：receive" in step
    field, step = pages["author-en"]
    assert "start: the form has" in field and "colour: This is an unknown field" in field
    assert "steps[0]: no open task for step 'review'; open tasks: receive" in step


def test_the_procedure_page_says_who_corrects_a_closed_record(zh_app):
    """A quality engineer reading a procedure sees who may correct its records once closed
    (``correct_closed:``, by default the quality manager role) or that nobody may."""
    b = login(zh_app, "author")
    page = b.get(f"/editor/{PID}").text
    assert re.search(r'id="correct-closed">已关闭的记录由以下角色更正：质量经理', page), \
        re.findall(r'id="correct-closed">.{0,80}', page)
    page = b.get("/editor/customer-complaint").text  # declares no quality_manager
    assert re.search(r'id="correct-closed">本流程已关闭的记录任何人都不能更正', page)
    b = Browser(zh_app)
    b.login("author-en", "pw-author")
    page = b.get(f"/editor/{PID}").text
    assert re.search(r'id="correct-closed">Closed records are corrected by: Quality manager', page), \
        re.findall(r'id="correct-closed">.{0,80}', page)


def _notes(page: str) -> list[str]:
    """The note cell of each row of the versions page, newest first, as read (tags dropped)."""
    import html

    cells = re.findall(r'<td class="small version-note">(.*?)</td>', page, re.S)
    return [html.unescape(re.sub(r"<[^>]+>|\s+", " ", c.split("<br>", 1)[0])).strip() for c in cells]


def test_version_notes_read_in_each_readers_language_and_stay_what_machines_read(zh_app):
    """The notes the editor writes on a draft (a step added, renamed, deleted; a field added
    in the form builder; a version restored) are stored as they always were (``step +
    double_check``) and read in each reader's language with the step's title; a row saved
    before the message was kept still reads its stored note."""
    a = login(zh_app, "author")
    a.get(f"/editor/{PID}/steps")
    assert a.post(f"/editor/{PID}/steps", {"id": "double_check", "title": "复核", "type": "approval",
                                           "role": "qa_supervisor", "signature": "复核", "within": "1wd",
                                           "after": "report"}).status_code == 302
    a.post(f"/editor/{PID}/steps/rename", {"step": "double_check", "new_id": "second_check", "action": "rename"})
    a.post(f"/editor/{PID}/steps/rename", {"step": "second_check", "action": "delete"})
    a.post(f"/editor/{PID}/forms/{FORM}/fields", {"name": "voltage", "title": "电源电压", "type": "number"})
    versions = a.get(f"/editor/{PID}/versions").text
    first = re.findall(r'name="b" value="(\d+)"', versions)[-1]
    a.post(f"/editor/{PID}/versions/{first}/restore", {})
    zh = _notes(a.get(f"/editor/{PID}/versions").text)
    assert zh[:5] == ["从 v1.0 恢复", "表单 售后产品检验记录 增加字段 电源电压 (voltage)", "删除步骤 复核 (second_check)",
                      "步骤 复核 (double_check) 改名为 second_check", "增加步骤 复核 (double_check)"], zh
    procedure = a.get(f"/editor/{PID}").text
    assert 'id="version-note">从 v1.0 恢复<' in procedure, re.findall(r'class="small muted">.{0,120}', procedure)
    en = Browser(zh_app)
    en.login("author-en", "pw-author")
    assert _notes(en.get(f"/editor/{PID}/versions").text)[:5] == [
        "restored from v1.0", "field 电源电压 (voltage) added to form 售后产品检验记录", "step 复核 (second_check) removed",
        "step 复核 (double_check) renamed to second_check", "step 复核 (double_check) added"]
    # What is stored for machines (logs, the API, older readers) is as it was.
    with zh_app.extensions["services"].database.writing() as s:
        rows = store.versions_of(s, PID)[::-1]
        assert [r.note for r in rows[:5]] == ["restored from 1.0", f"form {FORM}: + voltage", "step - second_check",
                                               "step double_check → second_check", "step + double_check"]
        rows[4].note_message = None  # as a row saved before the message was kept
    assert _notes(a.get(f"/editor/{PID}/versions").text)[4] == "step + double_check"


def test_who_saved_a_version_reads_by_full_name(zh_app):
    """The versions and procedure pages name who saved a version by full name, the user name
    as its tooltip; versions loaded from files still read 文件."""
    a = login(zh_app, "author")
    a.get(f"/editor/{PID}/steps")
    a.post(f"/editor/{PID}/steps", {"id": "double_check", "title": "复核", "type": "approval",
                                    "role": "qa_supervisor", "after": "report"})
    rows = re.findall(r'<tr data-version="[^"]+"[^>]*>(.*?)</tr>', a.get(f"/editor/{PID}/versions").text, re.S)
    assert '<span class="person" title="author">编写人</span>' in rows[0], rows[0]
    assert ">author<" not in rows[0] and "文件" in rows[-1]
    page = a.get(f"/editor/{PID}").text
    assert re.search(r'id="saved-by"><span class="person" title="author">编写人 保存于', page), \
        re.findall(r".{60}保存于", page)
