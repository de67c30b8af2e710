"""Issue 19's whole acceptance journey in real Chromium, by an editor who never opens the text
editor: create a procedure from a template; add a photo field and a measurement with limits in
the form builder; change a deadline and an escalation, add a conditional route with pickers,
rename and delete a step in the step editor; try it by clicking through; send it through change
control, where a reviewer reads the change in words and approves it, and a second person
publishes it. Screenshots go to tests/artifacts/journey-*.png."""

from __future__ import annotations

import re

from engine import store
from engine.app import editor as editing
from engine.language.yaml_edit import step_model
from tests.browser.conftest import ARTIFACTS, login

TEMPLATE = "after-sales-inspection"
PID = "site-inspection"
FORM = "after-sales-inspection-result"
PASSWORD = "s3cret-pw-journey"
USERS = {"qe": (["editors"], "质量工程师甲"), "mgr": (["doc-approvers"], "体系经理乙"),
         "mgr2": (["doc-approvers"], "体系经理丙")}
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")


def _shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"journey-{name}.png"), full_page=True)


def _draft(app):
    return editing.draft_file(app.extensions["services"], "qe", PID)


def test_an_editor_changes_a_procedure_without_the_text_editor(server, browser, tmp_path):
    base, app = server
    with app.extensions["services"].database.writing() as s:
        for name, (groups, full) in USERS.items():
            store.add_user(s, name, PASSWORD, groups, full_name=full)

    qe = login(browser, base, "qe", PASSWORD, width=1366, height=900)
    seen: list[str] = []
    qe.on("request", lambda r: seen.append(r.url))

    # 1. a new procedure, a copy of the after-sales inspection
    qe.click("#nav-editor")
    qe.fill("#np-title", "现场检验")
    qe.fill("#np-id", PID)
    qe.select_option("#np-template", TEMPLATE)
    qe.click("#np-create")
    qe.wait_for_url(f"{base}/editor/{PID}")
    assert "现场检验" in qe.inner_text("h1") and "v0.1" in qe.inner_text("h1")
    _shot(qe, "01-created-from-template")
    _send(qe, "新建现场检验，先按售后检验规程发布")
    _review_and_publish(browser, base, ["新流程 现场检验"], "v1.0", shots=False)
    qe.goto(f"{base}/editor/{PID}")

    # 2. the form builder: a measurement with limits, and a photo
    qe.click(f"#edit-form-{FORM}")
    qe.select_option("#fb-type", "number")
    qe.fill("#fb-title", "输出电压")
    qe.fill("#fb-name", "output_voltage")
    qe.fill("#fb-unit", "V")
    qe.fill("#fb-min", "210")
    qe.fill("#fb-max", "230")
    qe.click("#fb-add")
    qe.wait_for_selector("tr[data-field=output_voltage]")
    qe.select_option("#fb-type", "photo")
    qe.fill("#fb-title", "现场照片")
    qe.fill("#fb-name", "site_photo")
    qe.click("#fb-add")
    qe.wait_for_selector("tr[data-field=site_photo]")
    form_text = _draft(app).version.forms[FORM]
    assert "x-limits: {min: 210, max: 230}" in form_text and "site_photo:" in form_text
    _shot(qe, "02-form-builder")

    # 3. the step editor: a deadline and an escalation level of the inspection
    qe.click("#tab-steps")
    qe.click("#steps-table tr[data-step=inspect] a.edit-step")
    qe.wait_for_selector("#update-step")
    qe.fill("#us-within", "2wd")
    levels = qe.locator("#level-rows .level-row")
    levels.nth(1).locator("input[name=lvl_after]").fill("1wd")  # 2wd → 1wd: quality manager sooner
    qe.click("#us-save")
    qe.wait_for_selector("p.flash.ok")
    dl = step_model(_draft(app).text, "inspect")["deadline"]
    assert dl["within"] == "2wd" and dl["escalate"][1] == {"after": "1wd", "to": "quality_manager"}

    # a voltage review after the report, reached by a route built with pickers
    qe.fill("#st-id", "voltage_check")
    qe.fill("#st-title", "电压复核")
    qe.select_option("#st-type", "approval")
    qe.select_option("#st-role", "qa_supervisor")
    qe.select_option("#st-after", "report")
    qe.click("#st-add")
    qe.wait_for_selector("#steps-table tr[data-step=voltage_check]")
    qe.goto(f"{base}/editor/{PID}/steps?edit=report#edit-step")
    qe.check("#nk-routes")
    route = qe.locator(".route[data-route='0']")
    route.locator("select[name=route0_f0]").select_option("inspect.output_voltage")
    route.locator("select[name=route0_o0]").select_option("gt")
    route.locator("input[name=route0_v0]").fill("230")
    route.locator("select[name=route0_goto]").select_option("voltage_check")
    qe.select_option("#us-next-else", "review")
    qe.click("#us-check")
    qe.wait_for_selector("#step-check-ok")
    _shot(qe, "03-route-with-pickers")
    qe.click("#us-save")
    qe.wait_for_selector("p.flash.ok")
    assert "输出电压 > 230" in qe.inner_text("#steps-table tr[data-step=report]")

    # rename the review step, then delete the feedback step (review then leads to where it led)
    qe.select_option("#rs-step", "voltage_check")
    qe.fill("#rs-new", "voltage_review")
    qe.click("#rs-rename")
    qe.wait_for_selector("#steps-table tr[data-step=voltage_review]")
    qe.select_option("#rs-step", "feedback")
    qe.click("#rs-delete")
    qe.wait_for_selector("p.flash.ok")
    text = _draft(app).text
    assert step_model(text, "report")["next"][0] == {"if": "inspect.output_voltage > 230", "goto": "voltage_review"}
    assert "feedback:" not in text and step_model(text, "review")["next"] == "done"
    _shot(qe, "04-steps-after-edits")

    # 4. Try it, by clicking through: the voltage out of limits takes the new route
    qe.click("#tab-try")
    qe.wait_for_selector("#try-start")
    qe.fill("#try-start-user", "insp")
    for name, value in (("customer", "某市人民医院"), ("product_name", "监护仪"), ("serial_no", "SN-9"), ("quantity", "1")):
        qe.fill(f"#try-start [name='f.{name}']", value)
    qe.click("#try-start-button")
    qe.wait_for_selector("#try-task-receive")
    receive = qe.locator("#try-task-receive form")
    receive.locator("[name$='.received_on']").fill("2026-11-03")
    receive.locator("[name$='.condition']").fill("外包装完好")
    receive.locator("[name$='.reported_fault']").fill("开机无显示")
    receive.locator("[data-submit=receive]").click()
    qe.wait_for_selector("#try-task-inspect")
    inspect = qe.locator("#try-task-inspect form")
    inspect.locator("[name$='.output_voltage']").fill("236")
    pic = tmp_path / "现场.png"
    pic.write_bytes(PNG)
    inspect.locator("[name$='.site_photo:upload']").set_input_files(str(pic))
    inspect.locator(".add-row").first.click()
    inspect.locator("[name$='.items.0.item'][value='功能']").check()
    inspect.locator("[name$='.items.0.method']").fill("通电测试")
    inspect.locator("[name$='.items.0.requirement']").fill("输出电压 210~230 V")
    inspect.locator("[name$='.items.0.result'][value='合格']").check()
    inspect.locator("[name$='.instrument']").fill("万用表 FLUKE-17B")
    inspect.locator("[name$='.inspector']").fill("insp")
    inspect.locator("[name$='.inspected_at']").fill("2026-11-04T10:00")
    inspect.locator("[name$='.verdict'][value='合格']").check()
    inspect.locator("[data-submit=inspect]").click()
    qe.wait_for_selector("#try-task-conforming")
    conforming = qe.locator("#try-task-conforming form")
    conforming.locator("[name$='.disposition'][value='维修']").check()
    conforming.locator("[name$='.repair_record']").fill("更换电源板")
    conforming.locator("[data-submit=conforming]").click()
    qe.wait_for_selector("#try-task-report")
    report = qe.locator("#try-task-report form")
    report.locator("[name$='.report_no']").fill("R-1")
    report.locator("[name$='.process_summary']").fill("电压偏高，已维修")
    report.locator("[name$='.conclusion'][value='合格']").check()
    report.locator("[name$='.disposition']").fill("维修")
    report.locator("[data-submit=report]").click()
    qe.wait_for_selector("#try-task-voltage_review")
    assert "电压复核" in qe.inner_text("#click-path")
    _shot(qe, "05-try-click-through")

    # 5. change control: sent with a reason; the reviewer reads the change in words
    assert not [u for u in seen if "/text" in u.split("?")[0]], "the journey opened the text editor"
    _send(qe, "现场检验：增加输出电压测量与现场照片，电压超差时复核")
    qe.context.close()
    _review_and_publish(browser, base, [
        "步骤 产品检验 的期限 3wd → 2wd", "增加步骤 电压复核", "删除步骤 质量问题反馈",
        "增加字段 输出电压", "增加字段 现场照片"], "v2.0", shots=True)


def _send(page, reason: str) -> None:
    page.click("#tab-versions")
    page.fill("#reason", reason)
    page.click("#send-for-approval")
    page.wait_for_url(re.compile(r"/instances/"))


def _review_and_publish(browser, base: str, words: list[str], version: str, *, shots: bool) -> None:
    """The reviewer and then the approver (two people, neither the author) each open their
    task, read the change in words, and approve with their signature."""
    for who, title in (("mgr", "更改审核"), ("mgr2", "更改批准")):
        mgr = login(browser, base, who, PASSWORD, width=1366, height=900)
        mgr.get_by_role("link", name=title).first.click()
        mgr.wait_for_selector("form#task-form")
        summary = mgr.inner_text("#change-summary")
        for word in words:
            assert word in summary, (word, summary)
        if shots and who == "mgr":
            _shot(mgr, "06-review-in-words")
        mgr.fill("#comment", "同意")
        mgr.fill("#password", PASSWORD)
        mgr.click("#approve")
        mgr.wait_for_url(base + "/")
        if who == "mgr2":
            mgr.goto(base + "/editor")
            assert version in mgr.inner_text(f"tr[data-procedure={PID}]")
            if shots:
                _shot(mgr, "07-published")
        mgr.context.close()
