"""People on a record as people read them (the record page, its correction notes, the
dossier): the full name where a person is named, the user name beside it as a tooltip; the
API keeps answering with user names, as machines read them."""

from __future__ import annotations

import html
import re

import pytest

from tests.helpers.service import PASSWORD, add_users, answers, play, web_app
from tests.web.test_signatures_corrections import CONCLUSION, PID, Api, browser


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    done = play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"))
    app.config["DONE"] = done["id"]
    supervisor = Api(app, "supervisor1")
    supervisor.post(f"/instances/{done['id']}/corrections", {**CONCLUSION, "password": PASSWORD}, 200)
    yield app
    app.extensions["services"].database.engine.dispose()


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def _dd(page: str, term: str) -> str:
    """The ``<dd>`` after the ``<dt>`` reading ``term``, as written (tags kept)."""
    m = re.search(rf"<dt>{re.escape(term)}</dt>\s*<dd[^>]*>(.*?)</dd>", page, re.S)
    assert m, term
    return m.group(1)


def test_the_record_page_names_who_started_it_and_who_corrected_it(app):
    iid = app.config["DONE"]
    page = browser(app, "inspector1").get(f"/instances/{iid}").text
    started = _dd(page, "发起时间")
    assert "检验员一" in _text(started) and "inspector1" not in _text(started), started
    assert 'title="inspector1"' in started
    (note,) = re.findall(r'<div class="correction">(.*?)</div>', page.split('<h2>数据</h2>', 1)[1], re.S)
    assert "质量主管一" in _text(note) and "supervisor1" not in _text(note), note
    assert 'title="supervisor1"' in note


def test_the_dossier_names_who_started_it_and_who_corrected_it(app):
    iid = app.config["DONE"]
    page = browser(app, "supervisor1").get(f"/audit/instances/{iid}").text
    started = _dd(page, "发起时间")
    assert "检验员一" in _text(started) and "inspector1" not in _text(started), started
    assert 'title="inspector1"' in started
    row = page.split('id="corrections"', 1)[1].split("</table>", 1)[0]
    assert "质量主管一" in _text(row) and "supervisor1" not in _text(row), row
    (note,) = re.findall(r'<div class="correction">(.*?)</div>', page.split('<h2>数据</h2>', 1)[1], re.S)
    assert "质量主管一" in _text(note) and "supervisor1" not in _text(note), note


def test_the_api_answers_with_user_names_as_before(app):
    iid = app.config["DONE"]
    inst = Api(app, "inspector1").get(f"/instances/{iid}")
    assert inst["started_by"] == "inspector1"
    (c,) = inst["corrections"]["report.conclusion"]
    assert c["by"] == "supervisor1"
