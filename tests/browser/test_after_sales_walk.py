"""An after-sales inspection from start to signed report in real Chromium, as three users:
two inspectors and a QA supervisor; with one failed validation and one rejection.
Screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import re

from engine import store
from tests.browser.conftest import ARTIFACTS, login

USERS = {"insp-a": ("qa-inspectors", "检验员甲"), "insp-b": ("qa-inspectors", "检验员乙"),
         "sup": ("qa-supervisors", "主管丙")}
PASSWORD = "s3cret-pw"


def _shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"after-sales-{name}.png"), full_page=True)


def _login(browser, base, user):
    return login(browser, base, user, PASSWORD)


def _open_task(page, base, step_title):
    page.goto(base + "/")
    page.get_by_role("link", name=step_title).first.click()
    page.wait_for_selector("form#task-form")


def test_after_sales_walk(server, browser):
    base, app = server
    with app.extensions["services"].database.writing() as s:
        for name, (group, full) in USERS.items():
            store.add_user(s, name, PASSWORD, [group], full_name=full)

    a = _login(browser, base, "insp-a")
    _shot(a, "01-inbox")
    a.click("a[data-procedure=after-sales-inspection]")
    a.fill("#f\\.customer", "某市人民医院")
    a.fill("#f\\.product_name", "多参数监护仪")
    a.fill("#f\\.serial_no", "SN20260001")
    a.fill("#f\\.quantity", "1")
    _shot(a, "02-start-form")
    a.click("#submit")
    a.wait_for_url(re.compile(r"/instances/"))
    instance_id = a.url.rsplit("/", 1)[1]

    _open_task(a, base, "接收产品")
    a.fill("#f\\.received_on", "2026-05-11")
    a.fill("#f\\.condition", "包装完好，附件齐全")
    a.fill("#f\\.reported_fault", "开机无显示")
    a.click("#submit")
    a.wait_for_url(base + "/")

    # inspector B: inspection with one failed validation first
    b = _login(browser, base, "insp-b")
    _open_task(b, base, "产品检验")
    b.click("button.add-row")
    b.check("input[name='f.items.0.item'][value='功能']")
    b.fill("input[name='f.items.0.method']", "通电测试")
    b.fill("input[name='f.items.0.requirement']", "正常显示")
    b.fill("input[name='f.items.0.measured']", "无显示")
    b.check("input[name='f.items.0.result'][value='不合格']")
    b.fill("#f\\.ambient_temperature", "38")
    assert b.locator("#f\\.ambient_temperature").evaluate("e => e.classList.contains('out-of-limit')")
    b.check("input[name='f.verdict'][value='不合格']")
    assert b.locator("[data-path=defect]").is_visible(), "the defect field appears for 不合格"
    b.click("#submit")  # no instrument, no time, no defect: refused
    b.wait_for_selector("#form-errors")
    assert b.locator("[data-error-for=instrument]").inner_text() == "必填项"
    assert b.locator("[data-error-for=defect]").inner_text() == "必填项"
    assert b.locator("input[name='f.items.0.method']").input_value() == "通电测试"
    _shot(b, "03-validation-errors")
    # 检验人员 starts as the inspector doing it (the step's prefill): no error there
    assert b.locator("[data-error-for=inspector]").count() == 0
    assert b.locator("#f\\.inspector").input_value() == "insp-b"
    b.fill("#f\\.instrument", "万用表 E-01")
    b.fill("#f\\.inspected_at", "2026-05-11T10:30")
    b.fill("#f\\.defect", "电源板烧毁，无法开机")
    b.fill("#f\\.ambient_temperature", "25")
    b.click("#submit")
    b.wait_for_url(base + "/")

    _open_task(b, base, "不合格产品处理")
    b.check("input[name='f.category'][value='功能不合格']")
    b.check("input[name='f.disposition'][value='修复']")
    b.fill("#f\\.description", "更换电源板后复测合格")
    b.click("#submit")
    b.wait_for_url(base + "/")

    _open_task(b, base, "检验报告编制")
    assert "签名含义：确认" in b.inner_text("#signature-meaning")
    b.fill("#f\\.report_no", "JY-2026-0001")
    b.fill("#f\\.process_summary", "功能不合格，电源板烧毁，已修复")
    b.check("input[name='f.conclusion'][value='不合格']")
    b.fill("#password", PASSWORD)
    _shot(b, "04-report-signature")
    b.click("#submit")
    b.wait_for_url(base + "/")

    # supervisor: reject first
    sup = _login(browser, base, "sup")
    _open_task(sup, base, "检验报告审核")
    assert "签名含义：审核" in sup.inner_text("#signature-meaning")
    assert "JY-2026-0001" in sup.inner_text("details.earlier")
    sup.fill("#comment", "请补充检验意见")
    sup.fill("#password", PASSWORD)
    _shot(sup, "05-review")
    sup.click("#reject")
    sup.wait_for_load_state()
    _shot(sup, "05b-after-reject")
    sup.wait_for_url(base + "/")

    _open_task(b, base, "检验报告编制")
    assert b.locator("#f\\.report_no").input_value() == "JY-2026-0001", "the rejected report comes back filled"
    b.fill("#f\\.opinion", "建议加强来料检验")
    b.fill("#password", PASSWORD)
    b.click("#submit")
    b.wait_for_url(base + "/")

    _open_task(sup, base, "检验报告审核")
    sup.fill("#comment", "同意")
    sup.fill("#password", PASSWORD)
    sup.click("#approve")
    sup.wait_for_url(base + "/")

    _open_task(a, base, "质量问题反馈")
    a.check("input[name='f.departments'][value='生产部']")
    a.fill("#f\\.problem", "电源板批次质量问题")
    a.click("#submit")
    a.wait_for_url(base + "/")

    sup.goto(f"{base}/instances/{instance_id}")
    assert sup.inner_text("#instance-status") == "已完成"
    timeline = sup.inner_text("#timeline")
    assert "主管丙 于" in timeline and "（审核）" in timeline
    assert "检验员乙 于" in timeline and "（确认）" in timeline
    assert "驳回" in timeline and "请补充检验意见" in sup.content()
    _shot(sup, "06-signed-report-timeline")
    for page in (a, b, sup):
        page.context.close()
