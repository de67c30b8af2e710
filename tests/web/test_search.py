"""The search box everyone has (issue 18): a record by its number, or by any part of an indexed
field; only records the searcher may read, and never a sensitive value (a search must not be a
way to read back a masked phone number by guessing it)."""

from __future__ import annotations

import re

import pytest

from tests.helpers.service import PASSWORD, add_users, answers, play, web_app
from tests.web.test_web_ui import Browser

PID = "after-sales-inspection"
PHONE = "13800000000"


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1", "applicant1"])
    wf = app.extensions["workflow"]
    script = answers(f"{PID}--fail")
    script["start"]["data"] = {**script["start"]["data"], "customer": "某市血液中心", "contact_phone": PHONE}
    done = play(wf, sessions, script)
    other = answers(f"{PID}--pass-repair")
    other["start"]["data"] = {**other["start"]["data"], "customer": "第六人民医院", "serial_no": "SN-OPEN"}
    running = play(wf, sessions, other, upto=1)
    app.config["IDS"] = (done, running)
    yield app
    app.extensions["services"].database.engine.dispose()


def _login(app, user):
    b = Browser(app)
    b.login(user, PASSWORD)
    return b


def _hits(page: str) -> list[str]:
    return re.findall(r'<tr data-instance="([A-Z0-9]+)"', page)


def test_inspector_finds_records_by_any_part_of_what_was_recorded(app):
    done, running = app.config["IDS"]
    b = _login(app, "inspector1")
    assert 'id="nav-search"' in b.get("/").text
    assert _hits(b.get("/search", query_string={"q": "血液"}).text) == [done["id"]]
    page = b.get("/search", query_string={"q": "第六"}).text
    assert _hits(page) == [running["id"]] and "客户" in page and running["serial"] in page
    assert _hits(b.get("/search", query_string={"q": "人民医院"}).text) == [running["id"]]
    # part of a number lists the records it starts; the whole number opens the record
    prefix = done["serial"].rsplit("-", 1)[0]
    assert set(_hits(b.get("/search", query_string={"q": prefix.lower()}).text)) == {done["id"], running["id"]}
    r = b.get("/search", query_string={"q": done["serial"]})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/instances/{done['id']}")
    assert "search-empty" in b.get("/search", query_string={"q": "不存在的客户"}).text


def test_a_sensitive_value_cannot_be_found_by_guessing_it(app):
    b = _login(app, "supervisor1")
    for q in (PHONE, PHONE[:7], "1380"):
        page = b.get("/search", query_string={"q": q}).text
        assert _hits(page) == [] and "search-empty" in page  # the page echoes only what was typed


def test_records_of_procedures_one_may_not_read_are_not_found(app):
    b = _login(app, "applicant1")  # production: no role in after-sales inspection
    page = b.get("/search", query_string={"q": "血液"}).text
    assert _hits(page) == [] and "search-empty" in page
    done, _running = app.config["IDS"]
    assert b.get("/search", query_string={"q": done["serial"]}).status_code == 200  # not a redirect


def test_the_api_searches_the_same_way(app):
    done, running = app.config["IDS"]
    c = app.test_client()
    token = c.post("/api/v1/auth/token", json={"username": "inspector1", "password": PASSWORD}).get_json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    body = c.get("/api/v1/search", query_string={"q": "血液"}, headers=h).get_json()
    assert [i["instance"] for i in body["items"]] == [done["id"]]
    assert body["items"][0]["serial"] == done["serial"] and body["items"][0]["value"] == "某市血液中心"
    assert c.get("/api/v1/search", query_string={"q": PHONE}, headers=h).get_json()["items"] == []
    assert c.get("/api/v1/search", query_string={"q": " "}, headers=h).status_code == 400
    assert c.get("/api/v1/search", query_string={"q": "x" * 101}, headers=h).status_code == 400
    assert c.get("/api/v1/search", query_string={"q": "%"}, headers=h).get_json()["items"] == []
