"""An auditor in real Chromium: searches by serial number, opens the dossier, prints it to
PDF through Chromium and downloads the server's PDF, opens the ledger and exports it (CSV
and XLSX), and opens the KPI dashboard and drills down. Screenshots and the printed PDF go
to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import re

from engine.store import users as user_store
from tests.browser.conftest import ARTIFACTS
from tests.helpers.service import PASSWORD, add_users, answers, play

PID = "after-sales-inspection"


def _shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"audit-{name}.png"), full_page=True)


def test_auditor_dossier_ledger_dashboard(server, browser):
    base, app = server
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    with sessions.begin() as s:
        user_store.add_user(s, "officer", "s3cret-pw", ["auditors", "data-officers"], full_name="数据专员")
    wf = app.extensions["workflow"]
    done = play(wf, sessions, answers(f"{PID}--fail"))
    with sessions.begin() as s:
        # A closed record is corrected by the quality manager, under signature (issue 14).
        wf.correct(s, done["id"], "supervisor1", "start", "model", "PM-9001", "型号笔误", password=PASSWORD)
    script = answers(f"{PID}--pass-repair")
    script["start"]["data"] = {**script["start"]["data"], "serial_no": "SN-OPEN"}
    play(wf, sessions, script, upto=2)

    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", "officer")
    page.fill("input[name=password]", "s3cret-pw")
    page.click("button[type=submit].primary")
    page.wait_for_url(base + "/")

    page.click("#nav-audit")
    page.fill("#search-value", "SN20260101")
    page.click("#search")
    page.wait_for_selector("#audit-results")
    _shot(page, "01-search")
    page.click(f"#audit-results a[href='/audit/instances/{done['id']}']")
    page.wait_for_selector("#dossier")
    assert "intact" in page.inner_text("#chain-check") or "完整" in page.inner_text("#chain-check")
    assert "质量主管一" in page.inner_text("#signatures")
    assert "型号笔误" in page.inner_text("#corrections")
    _shot(page, "02-dossier")
    page.emulate_media(media="print")
    _shot(page, "03-dossier-print-view")
    assert not page.is_visible("header.top")  # print CSS hides the navigation
    printed = ARTIFACTS / "audit-dossier-chromium.pdf"
    page.pdf(path=str(printed), format="A4", print_background=True)
    assert printed.read_bytes().startswith(b"%PDF") and printed.stat().st_size > 10_000
    page.emulate_media(media="screen")
    server_pdf = page.request.get(base + f"/audit/instances/{done['id']}.pdf")
    assert server_pdf.ok and server_pdf.body().startswith(b"%PDF")
    (ARTIFACTS / "audit-dossier-server.pdf").write_bytes(server_pdf.body())

    page.click("#nav-ledgers")
    page.click(f"a[data-ledger={PID}]")
    page.wait_for_selector("#ledger")
    assert page.locator("#ledger tbody tr[data-instance]").count() == 2
    page.fill("input[name='f.start.serial_no']", "SN20260101")
    page.click("#ledger-filter")
    page.wait_for_url(re.compile(r"f\.start\.serial_no="))
    assert page.locator("#ledger tbody tr[data-instance]").count() == 1
    _shot(page, "04-ledger")
    with page.expect_download() as dl:
        page.click("#export-csv")
    csv_path = ARTIFACTS / "audit-ledger.csv"
    dl.value.save_as(str(csv_path))
    text = csv_path.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("记录编号") and len(text.splitlines()) == 2
    with page.expect_download() as dl:
        page.click("#export-xlsx")
    xlsx_path = ARTIFACTS / "audit-ledger.xlsx"
    dl.value.save_as(str(xlsx_path))
    assert xlsx_path.read_bytes()[:2] == b"PK"

    page.click("#nav-kpi")
    page.click(f"a[data-procedure={PID}]")
    page.wait_for_selector("#kpi-tiles")
    assert page.inner_text("#kpi-started") == "2"
    assert page.locator("#chart-volume svg rect").count() > 0
    _shot(page, "05-dashboard")
    page.click("#kpi-completed")
    page.wait_for_selector("#drill-title")
    assert page.locator("#ledger tbody tr[data-instance]").count() == 1
    _shot(page, "06-drill-down")
    ctx.close()
