"""The three journeys of issue 18 in real Chromium, at a phone's 390x844 and a desktop's
1366x900, in Chinese and in English: the operator (sign in, inbox, start, a task with a photo),
the approver (an approval with a signature, a rejection with its reason, the returned task
showing that reason at the top, the notification) and the auditor (the record with its
thumbnail and 流水号, the dossier, its PDF read back as text, the audit search); the
operator's search finds the record by its customer and opens it by its 流水号.

Every page is checked as its user sees it: no sideways scrolling (``scrollWidth <=
innerWidth``), the form's primary action on screen without scrolling, and on a Chinese page
no English word in the rendered text (``innerText`` of the live DOM) outside what users
recorded. Screenshots: tests/artifacts/journey-*.png. One server and one browser serve the
module."""

from __future__ import annotations

import functools
import json
import re
import time
from pathlib import Path

import pytest
import segno
import yaml

from engine import store
from engine.store import Instance
from tests.browser.conftest import ARTIFACTS, serving
from tests.browser.test_phone import _png
from tests.helpers.pdf import pdf_qr, pdf_text
from tests.helpers.service import open_task
from tests.web.test_one_language import ALWAYS, english_words

PID = "after-sales-inspection"
PASSWORD = "s3cret-pw"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}
REASON = "报告缺少处理方式和实测值汇总"
PHOTO = "外观照片.png"

START = {"customer": "某市人民医院", "product_name": "多参数监护仪", "serial_no": "SN20261206", "quantity": "1"}
RECEIVE = {"received_on": "2026-12-01", "condition": "包装完好，附件齐全", "reported_fault": "开机后血氧读数跳变"}


def _inspect(user: str) -> dict:
    return {
        "items": [
            {"item": "外观", "method": "目视检查", "requirement": "外壳无裂纹", "measured": "外壳轻微划痕", "result": "合格"},
            {"item": "性能", "method": "血氧模拟器测试", "requirement": "SpO2 误差 ≤ ±2%", "measured": "±1.5%",
             "result": "合格"},
        ],
        "instrument": "血氧模拟器 SIM-02",
        "ambient_temperature": 38,  # above the form's limit of 35 ℃: flagged, as recorded
        "ambient_humidity": 55,
        "inspector": user,
        "inspected_at": "2026-12-02T10:00:00+08:00",
        "verdict": "合格",
    }


CONFORMING = {"disposition": "返修", "repair_record": "返厂返修", "repair_ref": "FX-2026-0034"}
REPORT = {"report_no": "JY-2026-0101", "process_summary": "外观、功能、性能检验完成", "conclusion": "合格"}
FEEDBACK = {"departments": ["质量部"], "problem": "血氧模块连接器焊点虚焊", "needs_capa": False}


@pytest.fixture(scope="module")
def site(tmp_path_factory, browser_module):
    from web import create_app

    tmp = tmp_path_factory.mktemp("journeys")
    app = create_app({"WF_OVERRIDES": {"database.url": f"sqlite:///{tmp / 'wf.db'}",
                                       "paths.uploads": str(tmp / "uploads")}})
    with serving(app) as base:
        yield base, app, browser_module


@pytest.fixture(scope="module")
def browser_module(chromium):
    """The process's Chromium (tests/browser/conftest.py), shared by this module's tests."""
    try:
        yield chromium
    finally:
        for ctx in chromium.contexts:
            ctx.close()


# The text a person sees on the page: rendered text nodes (not hidden ones, nor a closed
# select's other options, which innerText would include), placeholders and button values.
SHOWN_TEXT = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest("script, style, template")) continue;
    const option = el.closest("option");
    const shown = option ? option.selected && option.parentElement.closest("select").checkVisibility()
                         : el.checkVisibility({visibilityProperty: true});
    if (shown) out.push(n.data);
  }
  for (const el of document.querySelectorAll("[placeholder], input[type=submit], input[type=button]")) {
    if (el.checkVisibility()) out.push(el.placeholder || el.value || "");
  }
  return out.join(" ");
}"""


class Journey:
    """One person's pages at one size and language, each checked and photographed."""

    def __init__(self, browser, base: str, user: str, lang: str, size: str, recorded: set[str]):
        self.base, self.user, self.lang, self.size = base, user, lang, size
        self.view = SIZES[size]
        self.recorded = recorded
        self.ctx = browser.new_context(locale="zh-CN" if lang == "zh" else "en-US", viewport=self.view)
        self.page = self.ctx.new_page()
        self.shots = 0

    def sign_in(self) -> None:
        p = self.page
        p.goto(self.base + "/login")
        if self.lang == "en" and p.locator("#switch-locale").inner_text() == "English":
            p.click("#switch-locale")
            p.wait_for_selector("#switch-locale:text('中文')")
        self.check("login", primary="button[type=submit].primary")
        p.fill("input[name=username]", self.user)
        p.fill("input[name=password]", PASSWORD)
        p.click("button[type=submit].primary")
        p.wait_for_url(self.base + "/")
        if (p.locator("#switch-locale").inner_text() == "English") == (self.lang == "en"):
            p.click("#switch-locale")  # the user's own choice, kept on the user
            p.wait_for_url(self.base + "/")
        self.check("inbox")

    def check(self, what: str, *, primary: str | None = None) -> None:
        p = self.page
        p.wait_for_load_state("load")
        self.shots += 1
        p.screenshot(path=str(ARTIFACTS / f"journey-{self.lang}-{self.size}-{self.user.split('-')[0]}"
                                          f"-{self.shots:02d}-{what}.png"), full_page=True)
        wide, inner = p.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert wide <= inner, f"{self.tag} {what}: the page is {wide} px wide in a {inner} px window"
        if primary:
            box = p.locator(primary).first.bounding_box()
            assert box is not None, f"{self.tag} {what}: {primary} is not shown"
            assert box["y"] >= 0 and box["y"] + box["height"] <= self.view["height"], \
                f"{self.tag} {what}: {primary} is at y={box['y']:.0f}, below the {self.view['height']} px screen"
            assert box["x"] >= 0 and box["x"] + box["width"] <= self.view["width"], \
                f"{self.tag} {what}: {primary} sticks out to x={box['x'] + box['width']:.0f}"
        if self.lang == "zh":
            english = english_words(p.evaluate(SHOWN_TEXT)) - self.recorded - ALWAYS - written_words()
            assert not english, f"{self.tag} {what}: English words on a Chinese page: {sorted(english)}"
        else:
            assert p.get_attribute("html", "lang") == "en", f"{self.tag} {what}: not in English"
            label = p.locator(primary).first.inner_text() if primary else ""
            assert not re.search(r"[\u4e00-\u9fff]", label), f"{self.tag} {what}: the action reads {label!r}"

    @property
    def tag(self) -> str:
        return f"[{self.lang} {self.size} {self.user}]"

    def open_step(self, title: str) -> None:
        self.page.goto(self.base + "/")
        self.page.get_by_role("link", name=title).first.click()
        self.page.wait_for_selector("form#task-form")

    def close(self) -> None:
        self.ctx.close()


@functools.cache
def written_words() -> set[str]:
    """The codes in capitals (FORM-MA-076, ISO, SOP) that the shipped procedures' and forms'
    own texts (titles, descriptions, instructions, outcomes, options) cite: shown as written."""
    words: set[str] = set()

    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key in ("title", "description", "instructions", "outcome", "enum", "source"):
            words.update(w for w in english_words(node) if w.isupper())  # codes, not prose

    root = Path(__file__).resolve().parents[2]
    for path in [*root.glob("procedures/*.yaml"), *root.glob("forms/*.yaml")]:
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return words


# Every journey's users (user names are user data wherever a page lists people).
USERNAMES = [f"{role}-{lang}-{size}" for role in ("insp", "sup", "aud", "qrep", "prep", "rrep", "sales")
             for lang in ("zh", "en") for size in SIZES]


def _advance(app, instance_id: str, step: str, user: str, data: dict, *, signed: bool = False) -> None:
    """Answer one step through the application layer, as its web request would."""
    wf, sessions = app.extensions["workflow"], app.extensions["services"].database.sessions
    with sessions() as s:
        state = s.get(Instance, instance_id).state
        wf.complete_task(s, open_task(state, step), user, data, password=PASSWORD if signed else None)
        s.commit()


def _drawn(img, seconds: float = 10) -> int:
    """The decoded width of an image once the browser has drawn it (0 if it never is)."""
    deadline = time.monotonic() + seconds
    while True:
        width = img.evaluate("img => img.complete ? img.naturalWidth : -1")
        if width >= 0 or time.monotonic() > deadline:
            return max(width, 0)
        time.sleep(0.1)


def _text(lang: str, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


@pytest.mark.parametrize("size", ["phone", "desktop"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_operator_approver_and_auditor(site, lang, size):
    base, app, browser = site
    insp, sup, aud = (f"{role}-{lang}-{size}" for role in ("insp", "sup", "aud"))
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, insp, PASSWORD, ["qa-inspectors"], full_name="检验员甲")
        store.add_user(s, sup, PASSWORD, ["qa-supervisors"], full_name="主管丙")
        store.add_user(s, aud, PASSWORD, ["auditors"], full_name="审核员丁")
    everything = [START, RECEIVE, _inspect(insp), CONFORMING, REPORT, FEEDBACK, REASON, PHOTO]
    recorded = (english_words(json.dumps(everything, ensure_ascii=False)) | set(PID.split("-"))
                | english_words(" ".join(USERNAMES)))

    # -- the operator: sign in, start, the first task with a photo
    op = Journey(browser, base, insp, lang, size, recorded)
    op.sign_in()
    p = op.page
    p.click(f"a[data-procedure={PID}]")
    p.wait_for_selector("form#start-form")
    op.check("start", primary="#submit")
    for key, value in START.items():
        p.fill(f"#f\\.{key}", value)
    p.click("#submit")
    p.wait_for_url(re.compile(r"/instances/\w+$"))
    instance_id = p.url.rsplit("/", 1)[1]
    serial = p.inner_text("#record-no")
    assert re.fullmatch(r"ASI-\d{6}-\d{4}", serial), serial
    op.check("record-started")
    p.goto(base + "/")
    assert serial in p.inner_text("#tasks"), "the inbox names the record by its 流水号"
    op.open_step(_text(lang, "接收产品", "Receive the product"))
    op.check("task", primary="#submit")
    for key, value in RECEIVE.items():
        p.fill(f"#f\\.{key}", value)
    p.set_input_files("input[name='f.photos:upload']",
                      files=[{"name": PHOTO, "mimeType": "image/png", "buffer": _png()}])
    p.click("#submit")
    p.wait_for_url(base + "/")
    op.check("inbox-after-submit")
    p.click("#nav-search")
    p.wait_for_selector("#search-form")
    op.check("search", primary="#search-go")
    p.fill("#search-q", START["customer"])
    p.click("#search-go")
    p.wait_for_selector("#search-hits")
    op.check("search-hits")
    p.fill("#search-q", serial.lower())  # a typed 流水号 opens its record, in any case
    p.click("#search-go")
    p.wait_for_url(f"{base}/instances/{instance_id}")

    _advance(app, instance_id, "inspect", insp, _inspect(insp))
    _advance(app, instance_id, "conforming", insp, CONFORMING)
    _advance(app, instance_id, "report", insp, REPORT, signed=True)

    # -- the approver: the approval, with a signature, sent back with its reason
    ap = Journey(browser, base, sup, lang, size, recorded)
    ap.sign_in()
    assert serial in ap.page.inner_text("main")
    ap.page.click("#nav-notifications")
    ap.page.wait_for_selector("#notifications")
    assert serial in ap.page.inner_text("#notifications"), "the approver is told which record waits"
    ap.check("notifications")
    ap.open_step(_text(lang, "检验报告审核", "Review the inspection report"))
    ap.check("approval", primary="#approve")
    assert "审核" in ap.page.inner_text("#signature-meaning")
    ap.page.fill("#comment", REASON)
    ap.page.fill("#password", PASSWORD)
    ap.page.click("#reject")
    ap.page.wait_for_url(base + "/")
    ap.check("inbox-after-reject")

    # -- the operator: told, and the returned task opens with why
    p.goto(base + "/notifications")
    op.check("notifications")
    told = p.inner_text("#notifications tbody tr:first-child")
    assert REASON in told and serial in told, "the notification names the record and says why it came back"
    op.open_step(_text(lang, "检验报告编制", "Write the inspection report"))
    returned = p.locator("#returned")
    assert REASON in returned.inner_text()
    box = returned.bounding_box()
    assert box and box["y"] + box["height"] <= op.view["height"], f"the reason is below the fold: {box}"
    op.check("returned-task", primary="#submit")
    assert p.input_value("#f\\.report_no") == REPORT["report_no"], "the returned form comes back filled"
    p.fill("#password", PASSWORD)
    p.click("#submit")
    p.wait_for_url(base + "/")

    ap.open_step(_text(lang, "检验报告审核", "Review the inspection report"))
    ap.page.fill("#comment", "同意")
    ap.page.fill("#password", PASSWORD)
    ap.page.click("#approve")
    ap.page.wait_for_url(base + "/")
    _advance(app, instance_id, "feedback", insp, FEEDBACK)

    # -- the auditor: the record, its dossier and PDF, the audit search
    au = Journey(browser, base, aud, lang, size, recorded)
    au.sign_in()
    q = au.page
    q.goto(f"{base}/instances/{instance_id}")
    assert q.inner_text("#record-no") == serial
    thumb = q.locator("section.step-data a.thumb img").first
    thumb.wait_for()
    thumb.scroll_into_view_if_needed()  # loading="lazy": drawn once near the screen
    assert _drawn(thumb) == 8, "the photo is drawn as a thumbnail"
    assert q.locator("#record-qr svg").count() == 1
    timeline = q.inner_text("#timeline")
    assert "主管丙" in timeline and "审核" in timeline, "the signature and its meaning (as written in the procedure)"
    au.check("record")
    q.goto(f"{base}/audit/instances/{instance_id}")
    assert serial in q.inner_text("#dossier-serial")
    au.check("dossier")
    pdf = q.request.get(f"{base}/audit/instances/{instance_id}.pdf")
    assert pdf.ok and pdf.headers["content-type"].startswith("application/pdf")
    text = pdf_text(pdf.body())
    assert serial in text, "the PDF names the record by its 流水号"
    assert "38 ℃" in text, "a number is printed with its unit"
    assert re.search(r"38 ℃ +\(" + _text(lang, "规格", "Specification") + r": 15 ~ 35 ℃\) +※ ", text), \
        "the out-of-limit value is printed flagged, beside its specification"
    for cell in ("血氧模拟器测试", "SpO2 误差 ≤ ±2%", "±1.5%", "外壳轻微划痕"):
        assert cell in text, f"table cell {cell!r} missing from the PDF"
    signatures = text[text.index(_text(lang, "签名", "Signatures")):]
    assert "主管丙" in signatures and "检验员甲" in signatures, "both signers printed"
    assert "审核" in signatures and "确认" in signatures, "with the meaning of each signature"
    assert PHOTO in text, "the attachment is listed"
    address = f"{base}/instances/{instance_id}"
    want = [list(r) for r in segno.make_qr(address, error="m").matrix_iter(scale=1, border=0)]
    assert pdf_qr(pdf.body(), len(want)) == want, "the printout carries the record's address as a QR code"
    q.click("#nav-audit")
    q.wait_for_load_state("load")
    au.check("audit-search")
    for name, path in (("instances", "/instances"), ("ledger", f"/ledgers/{PID}"), ("kpi", f"/kpi/{PID}")):
        q.goto(base + path)
        if name != "kpi":
            assert serial in q.inner_text("main"), f"{name}: the record is listed by its 流水号"
        au.check(name)
    for j in (op, ap, au):
        j.close()


# -- 会签: three representatives approve one step together; one refusal sends it back.
MODE = "repair-mode-decision"
MODE_START = {"customer": "某电子公司（越南）", "contact_person": "阮先生", "product_name": "电源模块",
              "model": "PW-500", "serial_no": "PW2026-B12"}
ASSESS = {"quantity": 120, "defect": "输出电压漂移", "location": "越南海防", "country": "越南",
          "first_judgement": "国外维修", "comm_group": "PW-500 越南维修群"}
DECIDE = {"responsibility": "公司责任", "quantity": 120, "distance": "约 1500 公里", "customer_requirements": "两周内恢复",
          "mode": "派人到客户所在地", "participants": "品质王工、生产李工、研发赵工"}
REFUSAL = "维修组人手不足，请改期"
SIGNERS = {"qrep": ("qa-supervisors", "品质代表"), "prep": ("repair-technicians", "生产代表"),
           "rrep": ("rnd", "研发代表"), "sales": ("sales", "业务员")}


@pytest.mark.parametrize(("lang", "size"), [("zh", "phone"), ("en", "desktop")])
def test_countersign_refused_by_one_goes_back_with_the_reason(site, lang, size):
    base, app, browser = site
    names = {role: f"{role}-{lang}-{size}" for role in SIGNERS}
    with app.extensions["services"].database.writing() as s:
        for role, (group, full) in SIGNERS.items():
            store.add_user(s, names[role], PASSWORD, [group], full_name=full)
    wf, sessions = app.extensions["workflow"], app.extensions["services"].database.sessions
    with sessions() as s:
        state = wf.start(s, MODE, names["sales"], MODE_START)
        s.commit()
    _advance(app, state["id"], "assess", names["sales"], ASSESS)
    _advance(app, state["id"], "decide", names["sales"], DECIDE)
    with sessions() as s:
        serial = s.get(Instance, state["id"]).serial
    recorded = (english_words(json.dumps([MODE_START, ASSESS, DECIDE, REFUSAL], ensure_ascii=False))
                | set(MODE.split("-")) | english_words(" ".join(names.values())))

    quality = Journey(browser, base, names["qrep"], lang, size, recorded)
    quality.sign_in()
    countersign = _text(lang, "品质、生产、研发代表会签", "Countersign by the quality, production and R&D representatives")
    quality.open_step(countersign)
    party = quality.page.inner_text("#party")
    assert party.count(_text(lang, "待审批", "waiting for the decision")) == 3, f"three signers wait: {party}"
    quality.check("countersign", primary="#approve")
    quality.page.fill("#comment", "同意派人维修")
    quality.page.fill("#password", PASSWORD)
    quality.page.click("#approve")
    quality.page.wait_for_url(base + "/")

    production = Journey(browser, base, names["prep"], lang, size, recorded)
    production.sign_in()
    production.open_step(countersign)
    party = production.page.inner_text("#party")
    assert _text(lang, "已同意", "Approved") in party and "同意派人维修" in party, "the earlier approval is shown"
    assert SIGNERS["qrep"][1] in party, "by the signer's full name"
    production.check("countersign-second", primary="#reject")
    production.page.fill("#comment", REFUSAL)
    production.page.fill("#password", PASSWORD)
    production.page.click("#reject")
    production.page.wait_for_url(base + "/")

    sales = Journey(browser, base, names["sales"], lang, size, recorded)
    sales.sign_in()
    sales.page.goto(base + "/notifications")
    told = sales.page.inner_text("#notifications tbody tr:first-child")
    assert REFUSAL in told and serial in told
    sales.check("notifications")
    sales.open_step(_text(lang, "确定维修方式", "Decide the repair mode"))
    returned = sales.page.locator("#returned")
    assert REFUSAL in returned.inner_text()
    box = returned.bounding_box()
    assert box and box["y"] + box["height"] <= sales.view["height"], "the reason is on the first screen"
    sales.check("returned-task", primary="#submit")
    for j in (quality, production, sales):
        j.close()
