"""Every page a user reaches, at a phone's 390x844, in Chinese and in English.

One server and one data set with content on every kind of page: after-sales inspections
started, half done, waiting for an approval, done (and corrected), cancelled; an annual
maintenance contract at its 会签 (one approver has signed); customer complaints, one of them
sent to the sales GM for information (抄送), one at a step that may be returned; a draft of a
procedure (so versions and diff have two sides). Then, for each person (inspector, quality
manager, service chief, auditor, administrator) and each language, a loop over the pages
they reach from the navigation and from those records. For each page:

- no HTTP 5xx (the page or anything it loads);
- no sideways scrolling: ``document.documentElement.scrollWidth <= 390``;
- the page's primary action lies inside the 390 px (a task's or start's pinned buttons also
  inside the 844 px screen);
- on a Chinese page no English word outside user data and codes.

Every page is photographed to tests/artifacts/sweep-*.png. The problems of all pages are
reported together."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from engine import store
from engine.app import editor as editing
from engine.store import org as org_store
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_journeys import written_words
from tests.helpers.service import PASSWORD, answers, play
from tests.web.test_one_language import ALWAYS, english_words

W, H = 390, 844
ASI = "after-sales-inspection"
AMC = "annual-maintenance-contract"
CCP = "customer-complaint"

# user -> (full name, groups). The five people whose pages are swept come first; the others
# answer the steps before them.
USERS = {
    "inspector1": ("检验员甲", ["qa-inspectors"]),
    "supervisor1": ("质量经理乙", ["qa-supervisors", "president-office"]),
    "chief1": ("服务主任丙", ["service-managers", "sales-gm"]),
    "auditor1": ("审核员丁", ["auditors"]),
    "admin1": ("管理员戊", ["admins", "editors"]),
    "inspector2": ("检验员己", ["qa-inspectors"]),
    "chief2": ("服务主任庚", ["service-managers"]),
    "clerk1": ("客服辛", ["service-desk"]), "gm1": ("总经理壬", ["general-managers"]),
    "depthead1": ("部门经理癸", ["department-heads"]), "com1": ("商务子", ["commercial"]),
    "vp1": ("副总裁丑", ["vp-after-sales"]), "fin1": ("财务寅", ["finance"]),
}

# The text a person sees: rendered text nodes (not hidden ones, nor a closed select's other
# options), placeholders and button values; not code a page shows as code (YAML, ids).
SHOWN_TEXT = """() => {
  const out = [];
  const code = "script, style, template, textarea, pre, code, .mono, table.diff, .yaml-editor, [translate=no]";
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(code)) continue;
    const option = el.closest("option");
    const shown = option ? option.selected && option.parentElement.closest("select").checkVisibility()
                         : el.checkVisibility({visibilityProperty: true});
    if (shown) out.push(n.data);
  }
  for (const el of document.querySelectorAll("[placeholder], input[type=submit], input[type=button]")) {
    if (el.checkVisibility() && !el.closest(code)) out.push(el.placeholder || el.value || "");
  }
  return out.join(" ");
}"""


# Names of formats and encodings, written so in Chinese too (beside test_one_language's ALWAYS).
FORMATS = {"YAML", "yaml", "zip", "Excel", "UTF"}
# Codes written in a sentence: file paths (procedures/ID.yaml), a CSV file's header line and a
# dotted login name given as an example (zhang.san).
CODE = re.compile(r"[\w*.-]+/[\w*./-]+|\b\w+(?:,\w+){3,}\b|\b[a-z]+\.[a-z]+\b")
# English found on Chinese pages and left, each with why (none left today; page name -> words):
KNOWN: dict[str, set[str]] = {}


@functools.cache
def ids() -> re.Pattern[str]:
    """Ids shown as ids, each a whole token (``qa-inspectors``, ``repair-process-inspection``):
    of the shipped procedures, their steps, roles and forms, and the groups config.yaml gives
    roles to; only ids of several words (a one-word id where a title belongs is still found),
    but a step's id in brackets after its title too (the step editor's way)."""
    root = Path(__file__).resolve().parents[2]
    found: set[str] = set()
    for path in root.glob("procedures/*.yaml"):
        proc = yaml.safe_load(path.read_text(encoding="utf-8"))
        found |= {proc["id"], *proc.get("steps", {}), *proc.get("roles", {})}
    found |= {path.stem for path in root.glob("forms/*.yaml")}
    cfg = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    found |= {g for groups in cfg["roles"].values() for g in groups}
    found.add("double_check")  # the step the sweep's draft adds
    several = sorted((i for i in found if re.search(r"[-_]", i)), key=len, reverse=True)
    steps = sorted({sid for path in root.glob("procedures/*.yaml")
                    for sid in yaml.safe_load(path.read_text(encoding="utf-8")).get("steps", {})}, key=len, reverse=True)
    # and any step's id in brackets after its title, as the step editor names steps
    return re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, several)) + r")(?![\w-])"
                      r"|\((?:" + "|".join(map(re.escape, steps)) + r")\)")


@dataclass
class Page:
    name: str
    url: str
    primary: str | None = None  # the page's primary action
    pinned: bool = False  # its buttons stay on screen (task and start forms)
    status: int = 200
    open: tuple[str, ...] = ()  # <details> to open first (更多操作, correct or cancel)
    then: str | None = None  # a link or button to follow after loading (e.g. compare versions)


@dataclass
class Sweep:
    base: str
    recorded: set[str]
    problems: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # the 5xx answers of the page being checked
    shots: int = 0

    def watch(self, page) -> None:
        page.on("response", lambda r: self.failed.append(f"HTTP {r.status} {r.url}") if r.status >= 500 else None)

    def visit(self, page, who: str, lang: str, p: Page) -> None:
        tag = f"[{lang} {who}] {p.name} ({p.url})"
        self.failed.clear()
        response = page.goto(self.base + p.url)
        if p.then:
            with page.expect_navigation() as went:
                page.click(p.then)
            response = went.value
        if response is not None and response.status != p.status:
            self.problems.append(f"{tag}: HTTP {response.status}, expected {p.status}")
        for sel in p.open:
            if page.locator(sel).count():
                page.eval_on_selector(sel, "d => d.open = true")
            else:
                self.problems.append(f"{tag}: nothing to open at {sel}")
        page.wait_for_load_state("load")
        self.shots += 1
        page.screenshot(path=str(ARTIFACTS / f"sweep-{lang}-{self.shots:02d}-{who}-{p.name}.png"), full_page=True)
        self.problems += [f"{tag}: {f}" for f in self.failed]
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > W:
            culprits = page.evaluate(WIDEST)
            self.problems.append(f"{tag}: the page is {wide} px wide; widest: {culprits}")
        if p.primary:
            button = page.locator(p.primary).first
            box = button.bounding_box() if button.count() else None
            if box is None:
                self.problems.append(f"{tag}: the primary action {p.primary} is not shown")
            else:
                if box["x"] < 0 or box["x"] + box["width"] > W:
                    self.problems.append(f"{tag}: {p.primary} spans x={box['x']:.0f}..{box['x'] + box['width']:.0f}")
                if p.pinned and (box["y"] < 0 or box["y"] + box["height"] > H):
                    self.problems.append(f"{tag}: {p.primary} is at y={box['y']:.0f}, off the {H} px screen")
        if lang == "zh":
            text = re.sub(r"\s+", " ", page.evaluate(SHOWN_TEXT))
            english = english_words(ids().sub(" ", CODE.sub(" ", text))) - self.recorded - ALWAYS - FORMATS - written_words()
            english -= KNOWN.get(p.name, set())
            if english:
                where = [text[max(m.start() - 25, 0):m.end() + 25] for w in sorted(english)
                         for m in [re.search(rf"\b{w}\b", text)] if m]
                self.problems.append(f"{tag}: English on a Chinese page: {sorted(english)} in {where}")
        elif page.get_attribute("html", "lang") != "en":
            self.problems.append(f"{tag}: not in English")


# The elements that stick out furthest to the right (for the report of a wide page).
WIDEST = """() => {
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.right > 391 && el.checkVisibility()) out.push([Math.round(r.right), el.tagName.toLowerCase()
      + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "")]);
  }
  out.sort((a, b) => b[0] - a[0]);
  return out.slice(0, 4);
}"""


def _task(state: dict, step: str, role: str | None = None) -> str:
    found = [t for t in state["tasks"].values() if t["step"] == step and t["status"] == "open"
             and (role is None or t.get("role") == role)]
    assert found, (step, role, [(t["step"], t.get("role"), t["status"]) for t in state["tasks"].values()])
    return f"{state['id']}.{found[0]['id']}"


def _data(app) -> dict[str, str]:
    """The records every page draws on; their ids and task ids by name."""
    wf, db = app.extensions["workflow"], app.extensions["services"].database
    sessions = db.sessions
    with db.writing() as s:
        for name, (full, groups) in USERS.items():
            store.add_user(s, name, PASSWORD, groups, full_name=full)
        org_store.save_department(s, org_store.DepartmentRow("quality", "质量部", None, "supervisor1"))
        org_store.save_department(s, org_store.DepartmentRow("after-sales", "售后服务部", None, "chief1"))
        s.flush()
        for user, dept, manager in (("inspector1", "quality", "supervisor1"), ("inspector2", "quality", "supervisor1"),
                                    ("supervisor1", "quality", None), ("chief1", "after-sales", None),
                                    ("clerk1", "after-sales", "chief1")):
            org_store.set_person(s, user, department=dept, manager=manager)

    asi = answers(f"{ASI}--pass-repair")
    ids: dict[str, str] = {}
    done = play(wf, sessions, asi)
    ids["done"] = done["id"]
    with sessions() as s:  # a correction of the closed record by the quality manager
        wf.correct(s, done["id"], "supervisor1", "receive", "condition", "包装完好，附件齐全，外壳有划痕",
                   "接收时漏记划痕位置", password=PASSWORD)
        s.commit()
    review = play(wf, sessions, asi, upto=4)
    ids["review"] = _task(review, "review")
    inspect = play(wf, sessions, asi, upto=1)
    ids["inspect"] = _task(inspect, "inspect")
    started = play(wf, sessions, asi, upto=0)
    ids["started"], ids["receive"] = started["id"], _task(started, "receive")
    cancelled = play(wf, sessions, asi, upto=1)
    with sessions() as s:
        wf.cancel(s, cancelled["id"], "admin1", "重复登记")
        s.commit()
    ids["cancelled"] = cancelled["id"]

    amc = answers(f"{AMC}--signed")
    cosign = play(wf, sessions, amc, upto=5)
    with sessions() as s:
        cosign = wf.decide(s, _task(cosign, "cosign", "finance"), "fin1", approve=True, comment="同意",
                           password=PASSWORD)
        s.commit()
    ids["cosign"] = _task(cosign, "cosign", "president_office")

    ccp = answers(f"{CCP}--serious")
    copied = play(wf, sessions, ccp, upto=9)  # the GM's approval sends it to the sales GM (抄送)
    ids["copied"] = copied["id"]
    verify = play(wf, sessions, ccp, upto=2)
    ids["verify"] = _task(verify, "verify")

    # a draft of the inspection: versions and diff have two sides
    editing.add_step(app.extensions["services"], "admin1", ASI, "double_check", title="报告复核", role="qa_supervisor",
                     type="approval", signature="复核", next="feedback", after="review")
    return ids


def _recorded() -> set[str]:
    """User data: what the answers files record (their forms' values and comments: not their
    keys, step ids or decisions, which no page shows as such), user names, a record id typed
    into an address."""
    def values(node) -> str:
        if isinstance(node, dict):
            return " ".join(values(v) for v in node.values())
        if isinstance(node, list):
            return " ".join(values(v) for v in node)
        return "" if node is None or isinstance(node, bool) else str(node)
    entries = [e for n in (f"{ASI}--pass-repair", f"{AMC}--signed", f"{CCP}--serious")
               for script in [answers(n)] for e in [script["start"], *script["steps"]]]
    recorded = values([[e.get("data"), e.get("comment")] for e in entries])
    return english_words(recorded) | english_words(" ".join(USERS)) | {"NOPE"}


def _pages(ids: dict[str, str]) -> dict[str, list[Page]]:
    asi_form = "after-sales-inspection-result"
    return {
        "inspector1": [
            Page("inbox", "/"),
            Page("start", f"/start/{ASI}", "#submit", pinned=True),
            Page("task-form", f"/tasks/{ids['receive']}", "#submit", pinned=True, open=("#more-actions",)),
            Page("task-table", f"/tasks/{ids['inspect']}", "#submit", pinned=True),
            Page("record-running", f"/instances/{ids['started']}", "#withdraw", open=("#withdraw-box",)),
            Page("records", f"/instances?procedure={ASI}&status=running"),
            Page("search", "/search", "#search-go"),
            Page("search-hits", "/search?q=某市人民医院", "#search-go"),
            Page("notifications", "/notifications"),
            Page("password", "/password", "#change-password"),
            Page("not-found-record", "/instances/NOPE", status=404),
            Page("not-found", "/no-such-page", status=404),
            Page("forbidden", "/audit/access-log", status=403),
        ],
        "supervisor1": [
            Page("inbox", "/"),
            Page("approval", f"/tasks/{ids['review']}", "#approve", pinned=True, open=("#more-actions",)),
            Page("countersign", f"/tasks/{ids['cosign']}", "#approve", pinned=True),
            Page("record-done", f"/instances/{ids['done']}", "#correct-form button[type=submit]",
                 open=("#record-actions",)),
            Page("ledgers", "/ledgers"),
            Page("ledger-filtered", f"/ledgers/{ASI}?q=医院&sort=instance.started_at", "#ledger-filter"),
            Page("kpis", "/kpi"),
            Page("kpi", f"/kpi/{ASI}"),
            Page("kpi-drill", f"/kpi/{ASI}/instances?what=started"),
            Page("org", "/org"),
            Page("notifications", "/notifications"),
        ],
        "chief1": [
            Page("inbox-cc", "/"),
            Page("record-cc", f"/instances/{ids['copied']}", "#mark-read"),
            Page("task-return", f"/tasks/{ids['verify']}", "#submit", pinned=True, open=("#more-actions",)),
        ],
        "auditor1": [
            Page("audit-search", f"/audit?procedure={ASI}", "#search"),
            Page("dossier", f"/audit/instances/{ids['done']}"),
            Page("access-log", "/audit/access-log"),
            Page("records", "/instances"),
            Page("record", f"/instances/{ids['done']}"),
        ],
        "admin1": [
            Page("procedures", "/editor"),
            Page("procedure", f"/editor/{ASI}"),
            Page("text-editor", f"/editor/{ASI}/text"),
            Page("steps", f"/editor/{ASI}/steps"),
            Page("step-edit", f"/editor/{ASI}/steps?edit=review"),
            Page("form-builder", f"/editor/{ASI}/forms/{asi_form}"),
            Page("try-it", f"/editor/{ASI}/try"),
            Page("versions", f"/editor/{ASI}/versions", "#compare"),
            Page("diff", f"/editor/{ASI}/versions", then="#compare"),
            Page("record-admin", f"/instances/{ids['started']}", "#cancel-form button[type=submit]",
                 open=("#record-actions",)),
            Page("record-cancelled", f"/instances/{ids['cancelled']}"),
            Page("org-admin", "/org"),
            Page("users", "/admin/users", "#add-user"),
            Page("user-add", "/admin/add-user", "#save-user", pinned=True),
            Page("user-edit", "/admin/users/inspector1", "#save-user"),
            Page("notifications", "/notifications"),
        ],
    }


def test_every_page_fits_a_phone_in_both_languages(server, browser):
    base, app = server
    ids = _data(app)
    sweep = Sweep(base, _recorded())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for f in ARTIFACTS.glob("sweep-*.png"):
        f.unlink()

    ctx = browser.new_context(locale="zh-CN", viewport={"width": W, "height": H})
    anon = ctx.new_page()
    sweep.watch(anon)
    sweep.visit(anon, "anon", "zh", Page("login", "/login", "button[type=submit].primary"))
    ctx.close()
    for who, pages in _pages(ids).items():
        ctx = browser.new_context(locale="zh-CN", viewport={"width": W, "height": H})
        page = ctx.new_page()
        sweep.watch(page)
        page.goto(base + "/login")
        page.fill("input[name=username]", who)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit].primary")
        page.wait_for_url(base + "/")
        for lang in ("zh", "en"):
            if lang == "en":
                page.goto(base + "/")
                page.click("#switch-locale")
                page.wait_for_selector("html[lang=en]")
            for p in pages:
                sweep.visit(page, who, lang, p)
        ctx.close()
    assert not sweep.problems, f"{len(sweep.problems)} problems:\n" + "\n".join(sweep.problems)
