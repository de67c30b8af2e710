"""Issue 19 in real Chromium: an editor who never opens the text editor changes a deadline
and an escalation level, adds a step and a conditional route to it with pickers, renames the
step and deletes it; the step form works on a 390 px phone. The YAML is read back from the
store, not from the text editor. Screenshots go to tests/artifacts/steps-*.png."""

from __future__ import annotations

from engine import store
from engine.app import editor as editing
from engine.language.yaml_edit import step_model
from tests.browser.conftest import ARTIFACTS, login

PID = "after-sales-inspection"
PASSWORD = "s3cret-pw-steps"


def _shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"steps-{name}.png"), full_page=True)


def _source(app) -> str:
    services = app.extensions["services"]
    return editing.draft_file(services, "qe", PID).text


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width}px wide"


def test_steps_changed_with_pickers_only(server, browser):
    base, app = server
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "qe", PASSWORD, ["editors"], full_name="质量工程师甲")

    qe = login(browser, base, "qe", PASSWORD, width=1366, height=900)
    qe.goto(f"{base}/editor/{PID}")
    qe.click("#tab-steps")
    qe.wait_for_selector("#steps-table")

    # 1. a deadline and an escalation level of 'report', opened from the diagram
    qe.click("#steps-graph g.step[data-step=report]")
    qe.wait_for_selector("#update-step input[name=step][value=report]", state="attached")
    assert qe.locator("#sec-deadline[open]").count() == 1
    qe.fill("#us-within", "三天")  # the validator answers as the form changes
    qe.wait_for_selector("#live-check li")
    assert "三天" in qe.inner_text("#live-check")
    qe.fill("#us-within", "2wd")
    qe.wait_for_selector("#live-check.ok")
    levels = qe.locator("#level-rows .level-row")
    assert levels.count() == 2  # escalate: qa_supervisor, and a blank row to add one
    levels.nth(1).locator("input[name=lvl_after]").fill("1wd")
    levels.nth(1).locator("select[name=lvl_to]").select_option("quality_manager")
    qe.click("#us-check")
    qe.wait_for_selector("#step-check-ok")
    assert "2wd" in qe.input_value("#us-within")  # checked, shown as entered, not saved yet
    assert step_model(_source(app), "report")["deadline"]["within"] == "1wd"
    _shot(qe, "01-deadline-checked")
    qe.click("#us-save")
    qe.wait_for_selector("p.flash.ok")
    assert "已修改步骤 report" in qe.inner_text("p.flash.ok")
    dl = step_model(_source(app), "report")["deadline"]
    assert dl["within"] == "2wd" and dl["escalate"] == [{"after": "0h", "to": "qa_supervisor"},
                                                        {"after": "1wd", "to": "quality_manager"}]

    # a deadline rule from the data, with the same pickers (only fields recorded before the step)
    qe.check("#dk-cases")
    case = qe.locator(".case[data-case='0']")
    options = case.locator("select[name=case0_f0] option").evaluate_all("os => os.map(o => o.value)")
    assert "inspect.verdict" in options and not any(o.startswith("feedback.") for o in options)
    case.locator("select[name=case0_f0]").select_option("inspect.verdict")
    case.locator("select[name=case0_o0]").select_option("eq")
    case.locator("select[name=case0_v0]").select_option("不合格")
    case.locator("input[name=case0_then]").fill("1wd")
    qe.fill("#us-deadline-else", "2wd")
    qe.click("#us-save")
    qe.wait_for_selector("p.flash.ok")
    assert step_model(_source(app), "report")["deadline"]["within"] == [
        {"if": 'inspect.verdict == "不合格"', "then": "1wd"}, {"else": "2wd"}]
    assert "检验结论 是 不合格: 1wd" in qe.inner_text("#steps-table tr[data-step=report]")

    # 2. a new step after the report, then a conditional route to it built with pickers
    qe.fill("#st-id", "extra_check")
    qe.fill("#st-title", "报告复核")
    qe.select_option("#st-type", "approval")
    qe.select_option("#st-role", "qa_supervisor")
    qe.select_option("#st-after", "report")
    qe.click("#st-add")
    qe.wait_for_selector("#steps-table tr[data-step=extra_check]")
    qe.goto(f"{base}/editor/{PID}/steps?edit=report#edit-step")
    qe.check("#nk-routes")
    route = qe.locator(".route[data-route='0']")
    route.locator("select[name=route0_f0]").select_option("inspect.verdict")
    ops = route.locator("select[name=route0_o0] option").all_inner_texts()
    assert ops[:2] == ["是", "不是"] and "大于" not in ops  # operators suited to a choice field
    route.locator("select[name=route0_o0]").select_option("eq")
    value = route.locator("select[name=route0_v0]")
    assert value.locator("option").all_inner_texts() == ["合格", "不合格"]  # the field's choices
    value.select_option("不合格")
    route.locator("button.add-row").click()
    route.locator("select[name=route0_f1]").select_option("inspect.ambient_temperature")
    assert "介于" in route.locator("select[name=route0_o1] option").all_inner_texts()
    route.locator("select[name=route0_o1]").select_option("gt")
    route.locator("input[name=route0_v1]").fill("30")
    route.locator("select[name=route0_join]").select_option("or")
    route.locator("select[name=route0_goto]").select_option("extra_check")
    qe.select_option("#us-next-else", "review")
    _shot(qe, "02-route-with-pickers")
    qe.click("#us-save")
    qe.wait_for_selector("p.flash.ok")
    assert step_model(_source(app), "report")["next"] == [
        {"if": 'inspect.verdict == "不合格" or inspect.ambient_temperature > 30', "goto": "extra_check"},
        {"else": "review"}]
    # read back into the pickers, and said in words on the table and the diagram
    assert qe.locator("select[name=route0_f0]").input_value() == "inspect.verdict"
    assert qe.locator("select[name=route0_v0]").input_value() == "不合格"
    words = qe.inner_text("#steps-table tr[data-step=report]")
    assert "检验结论 是 不合格" in words and "环境温度 > 30" in words
    assert "检验结论 是 不合格" in qe.inner_text(".graph")
    _shot(qe, "03-route-in-words")

    # 3. rename the new step: the route follows
    qe.select_option("#rs-step", "extra_check")
    qe.fill("#rs-new", "second_review")
    qe.click("#rs-rename")
    qe.wait_for_selector("#steps-table tr[data-step=second_review]")
    assert step_model(_source(app), "report")["next"][0]["goto"] == "second_review"

    # 4. delete it: refused in Chinese while the route names it, then done once report leads on
    qe.select_option("#rs-step", "second_review")
    qe.click("#rs-delete")
    qe.wait_for_selector("p.flash.error")
    refusal = qe.inner_text("p.flash.error")
    assert "仍被" in refusal and "report" in refusal and "still" not in refusal
    _shot(qe, "04-delete-refused")
    qe.click("#steps-table tr[data-step=report] a.edit-step")
    qe.check("#nk-one")  # report leads to it plainly: deleting leads report on to where it led
    qe.select_option("#us-next-one", "second_review")
    qe.click("#us-save")
    qe.wait_for_selector("p.flash.ok")
    qe.select_option("#rs-step", "second_review")
    qe.click("#rs-delete")
    qe.wait_for_selector("p.flash.ok")
    assert qe.locator("#steps-table tr[data-step=second_review]").count() == 0
    text = _source(app)
    assert step_model(text, "report")["next"] == "review"
    assert "second_review" not in text and "extra_check" not in text
    assert "# 驳回时退回检验报告编制，修改后重新提交" in text  # the file's comments are kept
    _shot(qe, "05-deleted")
    qe.context.close()

    # 5. the step form on a phone: no sideways scrolling, sections fold, pickers wrap
    phone = login(browser, base, "qe", PASSWORD, width=390, height=844)
    phone.goto(f"{base}/editor/{PID}/steps?edit=inspect#edit-step")
    phone.wait_for_selector("#update-step")
    _no_sideways_scroll(phone)
    phone.click("#sec-actions > summary")
    phone.click("#sec-earlier > summary")
    phone.check("#nk-routes")
    phone.locator("select[name=route0_f0]").select_option("inspect.ambient_humidity")
    phone.locator("select[name=route0_o0]").select_option("between")
    assert phone.locator("input[name=route0_v0]").count() == 2
    _no_sideways_scroll(phone)
    box = phone.locator("#update-step").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    _shot(phone, "06-phone-step-form")
    phone.context.close()
