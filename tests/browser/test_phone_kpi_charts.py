"""The KPI charts on a phone (390x844, real Chromium, Chinese and English), over a year of
records: every text of every chart at least 11 px as drawn, inside its chart, none over
another, and each step's title whole (not "Handle a conforming pr").
Screenshots: tests/artifacts/reach-kpi-*.png."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import store
from tests.browser.test_phone_nav import ASI, LANGS, W, _no_sideways, _phone, _shot
from tests.helpers.service import PASSWORD, answers, play

# Each text a chart shows (SVG or HTML): what it says, its size as drawn (CSS px, an SVG's
# scaling included), where it is. Tooltips (SVG <title>) and hidden variants are not shown.
CHART_TEXTS = """root => [...root.querySelectorAll('.chart')].map(chart => {
  const box = chart.getBoundingClientRect();
  const texts = [];
  const walk = document.createTreeWalker(chart, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!n.data.trim() || el.closest('title') || !el.checkVisibility({visibilityProperty: true})) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const r = range.getBoundingClientRect();
    const scale = el instanceof SVGElement ? el.getScreenCTM().a : 1;
    const label = el.closest('text') || el;
    texts.push({text: label.textContent.trim(), px: parseFloat(getComputedStyle(el).fontSize) * scale,
                left: r.left, right: r.right, top: r.top, bottom: r.bottom});
  }
  return {id: chart.id || chart.className, texts,
          box: {left: box.left, right: box.right, top: box.top, bottom: box.bottom}};
})"""


def _overlap(a: dict, b: dict) -> bool:
    slack = 1.0
    return (a["left"] < b["right"] - slack and b["left"] < a["right"] - slack
            and a["top"] < b["bottom"] - slack and b["top"] < a["bottom"] - slack)


@pytest.mark.parametrize("lang", LANGS)
def test_kpi_charts_are_readable_on_a_phone(server, browser, lang):
    base, app = server
    wf, db = app.extensions["workflow"], app.extensions["services"].database
    with db.writing() as s:
        store.add_user(s, "inspector1", PASSWORD, ["qa-inspectors"], full_name="检验员甲")
        store.add_user(s, "supervisor1", PASSWORD, ["qa-supervisors"], full_name="质量主管乙")
        store.add_user(s, "sup", PASSWORD, ["auditors"], full_name="审核员丙")
    # a record or two in each of the last twelve months: a column chart of twelve periods
    now, clock = wf.clock(), wf.clock
    try:
        for month in range(12):
            wf.clock = lambda month=month: now - timedelta(days=30 * month + 2)
            for name in ("pass-repair", "fail")[: 1 + month % 2]:
                play(wf, db.sessions, answers(f"{ASI}--{name}"))
    finally:
        wf.clock = clock
    play(wf, db.sessions, answers(f"{ASI}--pass-rework"))
    play(wf, db.sessions, answers(f"{ASI}--pass-repair"), upto=2)

    page = _phone(browser, base, "sup", lang, PASSWORD)
    page.goto(f"{base}/kpi/{ASI}")
    page.wait_for_selector("#kpi-tiles")
    _shot(page, f"kpi-{lang}")
    _no_sideways(page, "KPI page")
    charts = page.evaluate(CHART_TEXTS, page.locator("main").element_handle())
    assert len(charts) >= 4
    problems = []
    for chart in charts:
        texts, box = chart["texts"], chart["box"]
        assert texts, chart["id"]
        for t in texts:
            if t["px"] < 11:
                problems.append(f"{chart['id']}: {t['text']!r} drawn at {t['px']:.1f} px")
            if t["left"] < box["left"] or t["right"] > box["right"] or t["right"] > W:
                problems.append(f"{chart['id']}: {t['text']!r} cut at x={t['left']:.0f}..{t['right']:.0f} "
                                f"(chart {box['left']:.0f}..{box['right']:.0f})")
        for i, a in enumerate(texts):
            problems += [f"{chart['id']}: {a['text']!r} over {b['text']!r}" for b in texts[i + 1:] if _overlap(a, b)]
    # every step with a due date is named in full in the on-time chart, in the page's language
    titles = page.locator("#kpi-steps tbody tr").evaluate_all(
        "rows => rows.filter(r => r.cells[5].textContent.trim() !== '—').map(r => r.cells[0].textContent.trim())")
    assert len(titles) >= 3, titles
    shown = {t["text"] for chart in charts if chart["id"] == "chart-on-time" for t in chart["texts"]}
    problems += [f"on-time chart: {title!r} not shown whole" for title in titles if title not in shown]
    if lang == "en":
        assert "Handle a conforming product" in titles
    assert not problems, "\n".join(problems)
