"""Corrections as evidence, attacked by ordinary users and read by an auditor (after-sales
inspection, SQLite file database, real HTTP through the test client):

- a "correction" that writes the value already recorded changes nothing, yet it was kept
  as a signed correction and every earlier signature then read "signed before correction";
- the dossier (page and PDF: its corrections and its timeline) printed a correction's old
  and new values as Python writes them (False → True, ['质量部', '生产部'], 2026-11-03T10:00:00+08:00) where the record
  page shows them as the form does (否 → 是, 质量部、生产部, 2026-11-03 10:00)."""

from __future__ import annotations

import re

import pytest

from tests.helpers.pdf import pdf_text
from tests.helpers.service import PASSWORD, add_users, answers, play, web_app
from tests.web.test_signatures_corrections import Api, browser

PID = "after-sales-inspection"


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    wf = app.extensions["workflow"]
    script = answers(f"{PID}--fail")
    upto = [i for i, e in enumerate(script["steps"], 1) if e.get("step") == "report"][0]
    app.config["RUN"] = play(wf, sessions, script, upto=upto)["id"]
    app.config["DONE"] = play(wf, sessions, script)["id"]
    app.config["PASSED"] = play(wf, sessions, answers(f"{PID}--pass-repair"), upto=2)["id"]  # inspected: 合格
    yield app
    app.extensions["services"].database.engine.dispose()


def _correct(api, iid, body, lang="zh"):
    r = api.c.post(f"/api/v1/instances/{iid}/corrections", json={**body, "password": PASSWORD},
                   headers={**api.headers, "Accept-Language": lang})
    return r.status_code, r.get_json()


def test_a_correction_to_the_value_already_recorded_is_refused_and_signatures_stay_clean(app):
    iid = app.config["RUN"]
    inspector = Api(app, "inspector1")
    same = {"step": "report", "field": "report_no", "value": "JY-2026-0101", "reason": "复核"}
    status, body = _correct(inspector, iid, same)
    assert status == 422, body
    assert body["errors"] == [{"field": "value", "message": body["errors"][0]["message"]}]
    assert "报告编号" in body["message"] and "JY-2026-0101" not in body["message"], body
    status, english = _correct(inspector, iid, same, lang="en")
    assert status == 422 and "Report number" in english["message"], english
    inst = inspector.get(f"/instances/{iid}")
    assert not inst["corrections"]
    assert all(not t.get("signed_before_correction") for t in inst["tasks"])
    # The page says it at the value, nothing recorded.
    b = browser(app, "inspector1")
    r = b.post(f"/instances/{iid}/correct", {"target": "inspect:ambient_humidity", "value": "55",
                                             "reason": "复核", "password": PASSWORD})
    assert r.status_code == 422 and 'data-error-for="value"' in r.text, r.text
    assert "签于更正之前" not in b.get(f"/instances/{iid}").text
    # A real change still goes through.
    status, body = _correct(inspector, iid, {**same, "value": "JY-2026-0102"})
    assert status == 200 and body["corrections"]["report.report_no"][0]["new"] == "JY-2026-0102", body


def test_a_sensitive_value_is_not_confirmed_by_refusing_the_same_value(app):
    """Whoever is not cleared sees the mask: refusing "the same value" would tell them the
    phone number they guessed. Their correction is recorded as any other."""
    iid = app.config["RUN"]
    status, body = _correct(Api(app, "inspector1"), iid, {"step": "start", "field": "contact_phone",
                                                          "value": "13800000000", "reason": "核对"})
    assert status == 200, body
    assert body["corrections"]["start.contact_phone"][0]["old"] == "●●●●"


def test_the_dossier_shows_corrected_values_as_the_form_does(app):
    iid = app.config["DONE"]
    manager = Api(app, "supervisor1")  # qa-supervisors hold quality_manager: corrects a closed record
    for field, step, value in [("needs_capa", "feedback", True), ("departments", "feedback", ["质量部"]),
                               ("inspected_at", "inspect", "2026-11-03T11:00:00+08:00")]:
        status, body = _correct(manager, iid, {"step": step, "field": field, "value": value, "reason": "复核后更正"})
        assert status == 200, body
    b = browser(app, "supervisor1")
    page = b.get(f"/audit/instances/{iid}").text
    table = page[page.index('id="corrections"'):]
    table = re.sub(r"<[^>]+>", "|", table[:table.index("</table>")])
    for raw in ("False", "True", "[&#39;", "T10:00:00", "T11:00:00"):
        assert raw not in table, table
    for shown in ("|否||是|", "|质量部、生产部||质量部|", "|2026-11-03 10:00||2026-11-03 11:00|"):
        assert shown in table, table
    # The timeline says the same in its details.
    rows = re.findall(r'data-type="data:corrected">(.*?)</tr>', page)
    notes = [re.sub(r"<[^>]+>", "|", r) for r in rows]
    assert len(notes) == 3 and not any("True" in n or "T11:00:00" in n or "[&#39;" in n for n in notes), notes
    assert any("需要启动纠正预防措施: 否 → 是" in n for n in notes), notes
    text = pdf_text(b.c.get(f"/audit/instances/{iid}.pdf").data)
    timeline = text[text.index("时间线"):]  # the timeline comes last
    assert "True" not in timeline and "['" not in timeline and "T11:00:00" not in timeline, timeline
    corrections = text[text.index("更正记录"):text.index("附件")]
    assert "True" not in corrections and "['" not in corrections and "T11:00:00" not in corrections, corrections
    assert "质量部、生产部" in corrections and "2026-11-03 11:00" in corrections, corrections


def test_a_field_the_form_hides_on_this_record_takes_no_value_by_correction(app):
    """不合格描述 is asked only when the verdict is 不合格: validation leaves a hidden field
    out, so a number, an object or 20,000 characters (twice the bound of a text) were stored
    and printed on the dossier unchecked."""
    iid = app.config["PASSED"]
    inspector = Api(app, "inspector1")
    for value in (123, {"a": 1}, "x" * 20_000, "外壳裂纹"):
        status, body = _correct(inspector, iid, {"step": "inspect", "field": "defect", "value": value,
                                                 "reason": "补充"})
        assert status == 422, body
        (error,) = body["errors"]
        assert error["field"] == "value" and "不合格描述" in error["message"] and "verdict" in error["message"]
    inst = inspector.get(f"/instances/{iid}")
    assert "defect" not in inst["data"]["inspect"] and not inst["corrections"]
    b = browser(app, "inspector1")
    r = b.post(f"/instances/{iid}/correct", {"target": "inspect:defect", "value": "外壳裂纹", "reason": "补充",
                                             "password": PASSWORD})
    assert r.status_code == 422 and 'data-error-for="value"' in r.text
    # The way the message gives: the verdict first, then the description it now asks for.
    for field, value in (("verdict", "不合格"), ("defect", "外壳裂纹")):
        status, body = _correct(inspector, iid, {"step": "inspect", "field": field, "value": value, "reason": "复检"})
        assert status == 200, body
    assert body["data"]["inspect"]["defect"] == "外壳裂纹"


def test_a_correction_clears_an_optional_value_and_says_required_for_a_required_one(app):
    """The API says `null` clears the field, the page sends an empty value: an optional value
    (处理方式) is cleared; a required one (报告编号) is refused as required, not as "must be text"."""
    iid = app.config["RUN"]
    inspector = Api(app, "inspector1")
    status, body = _correct(inspector, iid, {"step": "report", "field": "report_no", "value": None, "reason": "笔误"})
    assert status == 422 and body["errors"] == [{"field": "report_no", "message": "必填项"}], body
    status, body = _correct(inspector, iid, {"step": "report", "field": "disposition", "value": None, "reason": "笔误"})
    assert status == 200, body
    assert "disposition" not in body["data"]["report"] or body["data"]["report"]["disposition"] is None


def test_a_correction_made_on_a_record_that_changed_since_it_was_read_is_refused(app):
    """Two people correct the same record: the second had read the value the first then
    corrected, and their correction replaced a correction they never saw. A correction may say
    which version it was made on (``expected_rev``; the page sends it): a stale one is refused
    with 409 and what to do, the page shows the record as it is now and keeps what was typed."""
    iid = app.config["RUN"]
    first, second = Api(app, "inspector1"), browser(app, "inspector1")
    seen = second.get(f"/instances/{iid}").text
    rev = re.search(r'name="rev" value="(\d+)"', seen).group(1)
    status, body = _correct(first, iid, {"step": "report", "field": "report_no", "value": "JY-2026-0102",
                                         "reason": "笔误", "expected_rev": int(rev)})
    assert status == 200, body
    r = second.post(f"/instances/{iid}/correct", {"target": "report:report_no", "value": "JY-2026-0199",
                                                  "reason": "复核", "password": PASSWORD, "rev": rev})
    assert r.status_code == 409, r.text[:300]
    assert "JY-2026-0199" in r.text and "JY-2026-0102" in r.text  # typed value kept, current value shown
    assert re.search(r'name="rev" value="(\d+)"', r.text).group(1) != rev  # resubmitting now is on the new version
    status, body = _correct(first, iid, {"step": "report", "field": "report_no", "value": "JY-2026-0103",
                                         "reason": "笔误", "expected_rev": int(rev)})
    assert status == 409 and body["code"] == "conflict", body
    assert [c["new"] for c in first.get(f"/instances/{iid}")["corrections"]["report.report_no"]] == ["JY-2026-0102"]
