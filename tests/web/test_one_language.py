"""One language at a time (issue 18): a Chinese page shows no English word outside what users
recorded (and the switch to English, and a time zone's name): no untranslated engine message,
status, raw yes/no or chain summary."""

from __future__ import annotations

import html
import json
import re

import pytest

from tests.helpers.service import PASSWORD, add_users, answers, play, web_app
from tests.web.test_web_ui import Browser

PID = "after-sales-inspection"
# The language switch; the zone named beside times; file formats, named as every Chinese app does.
ALWAYS = {"English", "Asia", "Shanghai", "CSV", "XLSX", "PDF", "JSON", "Lines",  # JSON Lines: a format too
          "SHA"}  # SHA-256, the name of the checksum


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    wf = app.extensions["workflow"]
    app.config["DONE"] = play(wf, sessions, answers(f"{PID}--review-reject"))
    app.config["RUNNING"] = play(wf, sessions, answers(f"{PID}--review-reject"), upto=2)
    yield app
    app.extensions["services"].database.engine.dispose()


def _words(page: str) -> set[str]:
    body = page.split("<body>", 1)[-1]
    body = re.sub(r"<script.*?</script>|<style.*?</style>|<svg.*?</svg>", " ", body, flags=re.S)
    return english_words(html.unescape(re.sub(r"<[^>]+>", " ", body)))


def english_words(text: str) -> set[str]:
    """The English words of a page's text (markup already gone: also the live DOM's
    ``innerText`` in the browser journeys, tests/browser/test_journeys.py)."""
    # record ids (26-character ULIDs) and record numbers (ASI-202612-0001) are not words
    text = re.sub(r"\b[0-9A-Z]{26}\b|\b[A-Z][A-Z0-9]{0,7}-\d{6}-\d{4,}\b|\b[0-9a-f]{12,}", " ", text)
    return set(re.findall(r"[A-Za-z]{3,}", text))


def test_chinese_pages_speak_chinese(app):
    done, running = app.config["DONE"], app.config["RUNNING"]
    # what users recorded, their user names, and the procedure's id are theirs, not the UI's
    recorded = (_words(json.dumps([done["data"], running["data"]], ensure_ascii=False)) | set(PID.split("-"))
                | _words("inspector1 supervisor1"))
    b = Browser(app)
    b.login("supervisor1", PASSWORD)
    task = next(t for t in running["tasks"].values() if t["status"] == "open")
    pages = ["/", "/instances", f"/instances/{done['id']}", f"/instances/{running['id']}",
             f"/tasks/{running['id']}.{task['id']}", "/search?q=医院", "/notifications", "/org", "/ledgers",
             f"/ledgers/{PID}", "/kpi", f"/kpi/{PID}", f"/audit/instances/{done['id']}"]
    found = {}
    for url in pages:
        r = b.get(url)
        assert r.status_code in (200, 403), url
        if r.status_code == 200:
            english = _words(r.text) - recorded - ALWAYS
            if english:
                found[url] = sorted(english)
    assert not found, found


def test_the_diagram_names_step_types_in_the_readers_language(app):
    """Steps without a role (routing decisions, ends, linked procedures) are labelled by their
    type in the diagram; on a Chinese page in Chinese, not as the YAML keyword."""
    from flask import g

    from web import graph_svg

    with app.extensions["services"].database.sessions() as s:
        proc, _version = app.extensions["workflow"].procedure(s, PID)
    types = {s.type for s in proc.steps.values() if not s.role}
    assert {"decision", "end"} <= types
    for locale, decision, end in (("zh", "判断", "结束"), ("en", "routing decision", "end step")):
        with app.test_request_context():
            g.locale = locale
            svg = graph_svg.render(proc)
        labels = set(re.findall(r"<text[^>]*>([^<]+)</text>", svg))
        assert decision in labels and end in labels, (locale, labels)
        assert "decision" not in labels and "end" not in labels


def test_english_pages_show_value_words_as_words(app):
    """A status or an event kept as an identifier (``in_review``, ``task:created``) reads as
    words on an English page too, not as the identifier (scripts/i18n VALUE_WORD: the English
    catalog holds exactly those)."""
    done = app.config["DONE"]
    b = Browser(app)
    b.login("supervisor1", PASSWORD)
    b.post("/locale/en", {"next": "/"})
    value_word = re.compile(r"\b[a-z]+(?:[:_][a-z]+)+\b")
    for url in (f"/instances/{done['id']}", f"/audit/instances/{done['id']}", "/instances"):
        page = b.get(url).text
        assert "Inbox" in page, url  # English indeed
        body = re.sub(r"<script.*?</script>|<style.*?</style>|<svg.*?</svg>", " ", page.split("<body>", 1)[-1], flags=re.S)
        text = html.unescape(re.sub(r"<[^>]+>", " ", body))
        raw = set(value_word.findall(text)) - {"after-sales"}
        assert not raw, (url, sorted(raw))
    assert "task created" in b.get(f"/instances/{done['id']}").text


def test_a_missing_record_is_told_in_the_readers_language(app):
    b = Browser(app)
    b.login("supervisor1", PASSWORD)
    for url in ("/instances/NOPE", "/tasks/NOPE.t1"):
        r = b.get(url)
        assert r.status_code == 404, url
        assert "不存在" in r.text and "does not exist" not in r.text, (url, r.text[-600:])
        assert not _words(r.text) - ALWAYS - {"NOPE"}, (url, _words(r.text))


def test_a_bad_ledger_or_kpi_query_is_told_in_the_readers_language(app):
    """A ledger sorted by a column it does not have, a KPI range given backwards: the page says
    what is wrong, where (the field) and the fix, in Chinese for a Chinese reader and in
    English for one who chose English."""
    b = Browser(app)
    b.login("supervisor1", PASSWORD)
    sort, backwards = f"/ledgers/{PID}?sort=nope", f"/kpi/{PID}?from=2026-12-01&to=2026-11-01"
    expected = {
        sort: (("不能按“nope”排序：请按台帐的某一列排序（", "<b>sort</b>: 不是台帐的列"),
               ("cannot sort by &#39;nope&#39;: sort by one of the ledger&#39;s columns (",
                "<b>sort</b>: not a column")),
        backwards: (("结束日期（to）早于开始日期（from）；请对调", "<b>to</b>: 早于开始日期（from）"),
                    ("&#39;to&#39; is before &#39;from&#39;; swap them", "<b>to</b>: before &#39;from&#39;")),
    }
    for url, (zh, _en) in expected.items():
        r = b.get(url)
        assert r.status_code == 400, (url, r.status_code)
        assert all(text in r.text for text in zh), (url, r.text[-800:])
        assert "swap them" not in r.text and "cannot sort" not in r.text and "not a column" not in r.text
    assert "instance.started_at" in b.get(sort).text  # the columns it may be sorted by, as ids
    b.post("/locale/en", {"next": "/"})
    for url, (_zh, en) in expected.items():
        r = b.get(url)
        assert r.status_code == 400 and all(text in r.text for text in en), (url, r.text[-800:])
        assert "请对调" not in r.text and "排序" not in r.text
