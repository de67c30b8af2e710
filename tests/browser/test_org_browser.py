"""The organisation chart page on a phone (390 px wide, no sideways scrolling), and an
administrator's CSV upload through the real page."""

from __future__ import annotations

from engine.store import users as user_store
from tests.browser.conftest import ARTIFACTS, login

CHART = ("kind,id,name,parent,head,department,manager\n"
         "department,gm-office,总经理办公室,,boss,,\n"
         "department,quality,质量部（含检验、计量、体系与供应商质量管理的综合部门）,gm-office,qhead,,\n"
         "department,lab,实验室,quality,,,\n"
         "user,clerk,,,,lab,\n")


def test_org_page_on_a_phone(server, browser, tmp_path):
    base, app = server
    with app.extensions["services"].database.writing() as s:
        for name, groups in [("boss", []), ("qhead", []), ("clerk", ["qa-inspectors"]), ("root", ["admins"])]:
            user_store.add_user(s, name, f"a long passphrase {name}", groups, full_name=name.upper())
    page = login(browser, base, "root", "a long passphrase root", width=390, height=844)
    page.goto(base + "/org")
    source = tmp_path / "org.csv"
    source.write_text(CHART, encoding="utf-8-sig")
    page.set_input_files("#org-import input[type=file]", str(source))
    page.click("#org-import button[type=submit]")
    page.wait_for_selector('[data-dept="lab"]')
    assert page.get_attribute('[data-user="clerk"] [data-manager]', "data-manager") == "qhead"
    assert page.inner_text('[data-user="clerk"] [data-manager]') == "QHEAD"  # the full name
    assert page.locator('[data-change="imported"]').count() == 1
    wide = page.evaluate("document.scrollingElement.scrollWidth")
    page.screenshot(path=str(ARTIFACTS / "org-390.png"), full_page=True)
    assert wide <= 390, f"the page is {wide} px wide on a 390 px phone"
    page.context.close()
