"""Quality staff build a form in real Chromium and try it: a photo field and a measurement
with limits added by the builder (ids made from the Chinese titles), a field dragged to a new
place, the photo shown only when the measurement is out of limits (set by picker), then Try it
clicked through past a deadline (overdue and escalated) and through the changed form with a
photo. The builder and Try it fit a 390 px phone. Screenshots: tests/artifacts/form-builder-*.png."""

from __future__ import annotations

import yaml

from engine import store
from tests.browser.conftest import ARTIFACTS, login

PID = "after-sales-inspection"
FORM = "after-sales-inspection-result"
PASSWORD = "s3cret-pw"
PHONE = 390
WIDE = "document.documentElement.scrollWidth"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")


def _shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"form-builder-{name}.png"), full_page=True)


def _yaml(page) -> dict:
    return yaml.safe_load(page.inner_text("#form-yaml"))["schema"]


def _drag(page, source, target) -> None:
    """Drag ``source`` (a handle) onto ``target`` with the mouse, in small steps as a hand does."""
    a, b = source.bounding_box(), target.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    for i in range(1, 16):
        page.mouse.move(a["x"] + a["width"] / 2, a["y"] + (b["y"] + 2 - a["y"]) * i / 15, steps=2)
    page.mouse.up()


def test_build_a_form_and_click_through_it(server, browser, tmp_path):
    base, app = server
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "qe", PASSWORD, ["editors"], full_name="质量工程师甲")
        store.add_user(s, "insp", PASSWORD, ["qa-inspectors"], full_name="检验员丙")
        store.add_user(s, "sup", PASSWORD, ["qa-supervisors"], full_name="主管丁")
    qe = login(browser, base, "qe", PASSWORD, width=1400, height=950)
    qe.goto(f"{base}/editor/{PID}/forms/{FORM}")

    # a measurement with limits: the id comes from the title as the user types it
    qe.select_option("#fb-type", "number")
    assert qe.is_visible("#fb-unit") and not qe.is_visible("#fb-columns") and not qe.is_visible("#fb-camera")
    qe.fill("#fb-title", "输出电压")
    qe.wait_for_selector("#fb-id-hint:has-text('shu_chu_dian_ya')")
    qe.fill("#fb-unit", "V")
    qe.fill("#fb-min", "210")
    qe.fill("#fb-max", "230")
    qe.click("#fb-add")
    qe.wait_for_selector("tr[data-field=shu_chu_dian_ya]")
    assert _yaml(qe)["properties"]["shu_chu_dian_ya"]["x-limits"] == {"min": 210, "max": 230}

    # a photo, shown only when the voltage is out of limits, chosen by picker
    qe.select_option("#fb-type", "photo")
    assert qe.is_visible("#fb-camera") and not qe.is_visible("#fb-unit")
    qe.fill("#fb-title", "超差照片")
    qe.check("#fb-vis-picker")
    qe.select_option("#fb-vis-field", "shu_chu_dian_ya")
    qe.select_option("#fb-vis-op", ">")
    qe.fill("#fb-vis-value", "230")
    _shot(qe, "01-add-photo")
    qe.click("#fb-add")
    qe.wait_for_selector("tr[data-field=chao_cha_zhao_pian]")
    photo = _yaml(qe)["properties"]["chao_cha_zhao_pian"]
    assert photo["x-widget"] == "file" and photo["x-visible-if"] == "shu_chu_dian_ya > 230"
    assert photo["x-accept"] == ["image/jpeg", "image/png"]

    # drag the measurement to the top of the form
    qe.set_viewport_size({"width": 1400, "height": 2000})  # the table whole on screen: a hand drags what it sees
    rows = qe.locator("#field-rows tr")
    first = rows.first.get_attribute("data-field")
    with qe.expect_navigation():  # the move is saved, then the page shows the saved draft
        _drag(qe, qe.locator("tr[data-field=shu_chu_dian_ya] .handle"), rows.first)
    qe.wait_for_selector("#field-rows tr:first-child[data-field=shu_chu_dian_ya]")
    qe.set_viewport_size({"width": 1400, "height": 950})
    names = list(_yaml(qe)["properties"])
    assert names[0] == "shu_chu_dian_ya" and names[1] == first, names
    # the edit form's picker shows the photo's condition as chosen
    qe.click("summary[data-edit=chao_cha_zhao_pian]")
    edit = qe.locator("form[data-field-form=chao_cha_zhao_pian]")
    assert edit.locator("[name=vis_field]").input_value() == "shu_chu_dian_ya"
    assert edit.locator("[name=vis_op]").input_value() == ">"
    assert edit.locator("[name=vis_value]").input_value() == "230"
    _shot(qe, "02-dragged-and-picker")

    # the builder on a phone: nothing scrolls sideways
    qe.set_viewport_size({"width": PHONE, "height": 800})
    assert qe.evaluate(WIDE) <= PHONE, qe.evaluate(WIDE)
    _shot(qe, "03-phone")
    qe.set_viewport_size({"width": 1400, "height": 950})

    # Try it: start, let a working day pass, the receipt is overdue and escalated
    qe.click("#tab-try")
    qe.wait_for_selector("#try-start")
    qe.fill("#try-start-user", "insp")
    for name, value in (("customer", "某市人民医院"), ("product_name", "监护仪"), ("serial_no", "SN-9"), ("quantity", "1")):
        qe.fill(f"#try-start [name='f.{name}']", value)
    qe.click("#try-start-button")
    qe.wait_for_selector("#try-task-receive")
    qe.click("#clock-1wd")
    qe.wait_for_selector("#try-task-receive.overdue")
    assert "质量主管" in qe.inner_text("#try-task-receive .escalated")
    # The graph is redrawn after the task list: wait for it as for the task, then count.
    qe.wait_for_selector("#try-graph g.step.current[data-step=receive]")
    assert qe.locator("#try-graph g.step.current[data-step=receive]").count() == 1
    _shot(qe, "04-try-overdue")
    receive = qe.locator("#try-task-receive form")
    receive.locator("[name$='.received_on']").fill("2026-11-03")
    receive.locator("[name$='.condition']").fill("外包装完好")
    receive.locator("[name$='.reported_fault']").fill("开机无显示")
    receive.locator("[data-submit=receive]").click()
    qe.wait_for_selector("#try-task-inspect")

    # the inspection form is the one just built: the photo appears when the voltage is out of limits
    inspect = qe.locator("#try-task-inspect form")
    voltage = inspect.locator("[name$='.shu_chu_dian_ya']")
    photo_field = inspect.locator("[name$='.chao_cha_zhao_pian:upload']")
    voltage.fill("220")
    voltage.blur()
    assert not photo_field.is_visible()
    voltage.fill("236")
    voltage.blur()
    photo_field.wait_for(state="visible")
    assert photo_field.get_attribute("capture") == "environment"
    pic = tmp_path / "超差.png"
    pic.write_bytes(PNG)
    photo_field.set_input_files(str(pic))
    inspect.locator(".add-row").first.click()
    inspect.locator("[name$='.items.0.item'][value='功能']").check()
    inspect.locator("[name$='.items.0.method']").fill("通电测试")
    inspect.locator("[name$='.items.0.requirement']").fill("输出电压 210~230 V")
    inspect.locator("[name$='.items.0.result'][value='不合格']").check()
    inspect.locator("[name$='.instrument']").fill("万用表 FLUKE-17B")
    inspect.locator("[name$='.inspector']").fill("insp")
    inspect.locator("[name$='.inspected_at']").fill("2026-11-04T10:00")
    inspect.locator("[name$='.verdict'][value='不合格']").check()
    inspect.locator("[name$='.defect']").fill("输出电压偏高 6 V")
    _shot(qe, "05-try-inspect-form")
    inspect.locator("[data-submit=inspect]").click()
    qe.wait_for_selector("#try-task-nonconforming")
    assert "接收产品 → 产品检验 → 检验结果评估 → 不合格产品处理" in qe.inner_text("#click-path")
    for sid in ("receive", "inspect", "nonconforming"):
        assert "taken" in (qe.locator(f"#try-graph g.step[data-step={sid}]").get_attribute("class") or ""), sid
    assert qe.locator("#try-graph g.step.current[data-step=nonconforming]").count() == 1
    assert "超差.png" in qe.locator("#try-task-nonconforming [name=script]").input_value()
    _shot(qe, "06-try-path")

    # on a phone the click-through fits the screen too
    qe.set_viewport_size({"width": PHONE, "height": 800})
    assert qe.evaluate(WIDE) <= PHONE, qe.evaluate(WIDE)
    _shot(qe, "07-try-phone")
    qe.set_viewport_size({"width": 1400, "height": 950})
    qe.context.close()


def test_a_new_procedure_from_the_template_built_and_tried(server, browser):
    """The issue's acceptance: a procedure created from the template gets a photo field and a
    measurement with limits in its form, and is tried by clicking through to its end."""
    base, app = server
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "qe", PASSWORD, ["editors"], full_name="质量工程师甲")
        store.add_user(s, "sup", PASSWORD, ["qa-supervisors"], full_name="主管丁")
    qe = login(browser, base, "qe", PASSWORD, width=PHONE, height=800)  # all of it on a phone
    qe.goto(f"{base}/editor")
    qe.fill("#np-title", "设备点检")
    qe.fill("#np-id", "device-check")
    qe.click("#np-create")
    qe.wait_for_selector("#edit-form-device-check-record")
    qe.click("#edit-form-device-check-record")
    qe.select_option("#fb-type", "number")
    qe.fill("#fb-title", "绝缘电阻")
    qe.fill("#fb-unit", "MΩ")
    qe.fill("#fb-min", "100")
    qe.check("#fb-required")
    qe.click("#fb-add")
    qe.wait_for_selector("tr[data-field=jue_yuan_dian_zu]")
    qe.select_option("#fb-type", "photo")
    qe.fill("#fb-title", "铭牌照片")
    qe.click("#fb-add")
    qe.wait_for_selector("tr[data-field=ming_pai_zhao_pian]")
    props = _yaml(qe)["properties"]
    assert props["jue_yuan_dian_zu"]["x-limits"] == {"min": 100}
    assert props["ming_pai_zhao_pian"]["x-accept"] == ["image/jpeg", "image/png"]
    assert qe.evaluate(WIDE) <= PHONE

    qe.click("#tab-try")
    qe.click("#try-start-button")
    qe.wait_for_selector("#try-task-record")
    record = qe.locator("#try-task-record form")
    record.locator("[name$='.content']").fill("点检完成")
    record.locator("[name$='.jue_yuan_dian_zu']").fill("80")
    record.locator("[data-submit=record]").click()
    qe.wait_for_selector("#try-task-review")
    qe.click("#clock-1d")
    qe.wait_for_selector("#try-now:has-text('2026-11-03')")
    review = qe.locator("#try-task-review form")
    review.locator("[name=user]").fill("sup")
    review.locator("[name=comment]").fill("绝缘电阻低于下限，已记录")
    review.locator("[data-decision=approve]").click()
    qe.wait_for_selector("#try-finished")
    assert "完成" in qe.inner_text("#try-click-outcome")
    assert qe.inner_text("#click-path") == "记录 → 审核 → 完成"
    assert qe.evaluate(WIDE) <= PHONE
    _shot(qe, "08-new-procedure-tried-on-phone")
    qe.context.close()
