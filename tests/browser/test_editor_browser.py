"""Quality staff change a procedure in real Chromium: a field with limits through the form
builder, a step through the step editor, a hand-made YAML error shown at its line and fixed,
a Try-it run, submission for approval; a second user reviews and approves with signatures.
A new instance then runs on v2.0 while one started before stays on v1.0.
Screenshots go to tests/artifacts/editor-*.png."""

from __future__ import annotations

import re

from engine import store
from tests.browser.conftest import ARTIFACTS, login

PID = "after-sales-inspection"
FORM = "after-sales-inspection-result"
PASSWORD = "s3cret-pw"
USERS = {"qe": (["editors"], "质量工程师甲"), "mgr": (["doc-approvers"], "体系经理乙"),
         "mgr2": (["doc-approvers"], "体系经理丙"),
         "insp": (["qa-inspectors"], "检验员丙")}
START = {"customer": "某市人民医院", "product_name": "监护仪", "serial_no": "SN1", "quantity": 1}


def _shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"editor-{name}.png"), full_page=True)


def _login(browser, base, user):
    return login(browser, base, user, PASSWORD, width=1400, height=950)


def _select_word(page, word: str, occurrence_of: str) -> int:
    """Select ``word`` inside the first line containing ``occurrence_of``; its line number."""
    return page.evaluate("""([word, marker]) => {
        const ta = document.getElementById('yaml');
        const at = ta.value.indexOf(marker) + marker.indexOf(word);
        ta.focus(); ta.setSelectionRange(at, at + word.length);
        return ta.value.slice(0, at).split('\\n').length;
    }""", [word, occurrence_of])


def test_editor_walk(server, browser):
    base, app = server
    wf = app.extensions["workflow"]
    with app.extensions["services"].database.writing() as s:
        for name, (groups, full) in USERS.items():
            store.add_user(s, name, PASSWORD, groups, full_name=full)
        before = wf.start(s, PID, "insp", START)["id"]

    qe = _login(browser, base, "qe")
    qe.click("#nav-editor")
    qe.wait_for_selector("#catalogue")
    _shot(qe, "01-catalogue")
    qe.click(f"tr[data-procedure={PID}] a")
    qe.wait_for_selector("#graph svg")
    assert qe.locator("#graph g.step[data-step=inspect]").count() == 1
    _shot(qe, "02-procedure-graph")

    # form builder: a number field with unit and limits
    qe.click(f"#edit-form-{FORM}")
    qe.fill("#fb-name", "supply_voltage")
    qe.fill("#fb-title", "电源电压")
    qe.select_option("#fb-type", "number")
    qe.check("#fb-required")
    qe.fill("#fb-unit", "V")
    qe.fill("#fb-min", "210")
    qe.fill("#fb-max", "230")
    qe.select_option("#fb-after", "ambient_humidity")
    qe.click("#fb-add")
    qe.wait_for_selector("tr[data-field=supply_voltage]")
    assert "x-limits: {min: 210, max: 230}" in qe.inner_text("#form-yaml")
    assert qe.locator("#form-preview [name='f.supply_voltage']").count() == 1
    _shot(qe, "03-form-builder")

    # step editor: an approval step after the report
    qe.click("#tab-steps")
    qe.fill("#st-id", "double_check")
    qe.fill("#st-title", "报告复核")
    qe.select_option("#st-type", "approval")
    qe.select_option("#st-role", "qa_supervisor")
    qe.fill("#st-signature", "复核")
    qe.fill("#st-within", "1wd")
    qe.select_option("#st-escalate", "quality_manager")
    qe.select_option("#st-after", "report")
    qe.click("#st-add")
    qe.wait_for_selector("#steps-table tr[data-step=double_check]")
    assert qe.locator("svg g.step[data-step=double_check]").count() == 1
    _shot(qe, "04-step-editor")

    # text editor: break a role by hand, see the error at its line, fix it
    qe.click("#tab-text")
    qe.wait_for_selector("#validity.ok")
    line = _select_word(qe, "qa_supervisor", "role: qa_supervisor\n    signature: 复核")
    qe.keyboard.type("qa_supervisr")
    qe.wait_for_selector(f"#gutter .bad[data-line='{line}']")
    msg = qe.inner_text(f".line-msg[data-line='{line}']")
    # The page is Chinese, so is the validator (wf validate says it in English).
    assert msg.endswith("没有角色“qa_supervisr”；是不是要写“qa_supervisor”？"), msg
    assert f"{line}:11" in qe.inner_text("#problems")
    _shot(qe, "05-yaml-error-at-line")
    _select_word(qe, "qa_supervisr", "role: qa_supervisr")
    qe.keyboard.type("qa_supervisor")
    qe.wait_for_selector("#validity.ok")
    assert qe.locator("#gutter .bad").count() == 0
    qe.fill("#note", "检查无误")
    qe.click("#save")
    qe.wait_for_load_state()

    # try the draft
    qe.click("#tab-try")
    qe.click("#script-mode > summary")  # the answer script, under the click-through
    qe.click("#run")
    qe.wait_for_selector("#try-result")
    assert "报告复核" in qe.inner_text("#try-path")
    assert qe.inner_text("#try-outcome") == "已归档"
    _shot(qe, "06-try-it")

    # send for approval
    qe.click("#tab-versions")
    assert qe.locator("#versions tr[data-status=draft]").count() >= 2
    qe.fill("#reason", "增加电源电压测量和报告复核步骤")
    qe.click("#send-for-approval")
    qe.wait_for_url(re.compile(r"/instances/"))
    _shot(qe, "07-sent-for-approval")

    # Four eyes (issue 14): the reviewer and the approver are two different people.
    for who, title, meaning in (("mgr", "更改审核", "审核"), ("mgr2", "更改批准", "批准")):
        mgr = _login(browser, base, who)
        mgr.goto(base + "/")
        mgr.get_by_role("link", name=title).first.click()
        mgr.wait_for_selector("form#task-form")
        assert f"签名含义：{meaning}" in mgr.inner_text("#signature-meaning")
        if meaning == "审核":  # the reviewer reads the change side by side first
            mgr.click("#change-diff")
            mgr.wait_for_selector("table.diff")
            assert "supply_voltage" in mgr.inner_text("body")
            _shot(mgr, "08a-review-diff")
            mgr.go_back()
            mgr.wait_for_selector("form#task-form")
        mgr.fill("#comment", "同意")
        mgr.fill("#password", PASSWORD)
        if meaning == "批准":
            _shot(mgr, "08b-approve-with-signature")
        mgr.click("#approve")
        mgr.wait_for_url(base + "/")

    mgr.goto(base + "/editor")
    row = mgr.locator(f"tr[data-procedure={PID}]")
    assert "v2.0" in row.inner_text()
    _shot(mgr, "09-published")

    with app.extensions["services"].database.writing() as s:
        after = wf.start(s, PID, "insp", START)["id"]
    insp = _login(browser, base, "insp")
    insp.goto(f"{base}/instances/{before}")
    assert insp.inner_text("#version-label") == "v1.0"
    insp.goto(f"{base}/instances/{after}")
    assert insp.inner_text("#version-label") == "v2.0"
    _shot(insp, "10-new-instance-on-v2")
    for page in (qe, mgr, insp):
        page.context.close()
