"""An ordinary user acting on a task tries to set what the step does not let them: an earlier
value the step's ``edit:`` does not list (a crafted ``e.STEP.FIELD`` input, an API ``edits``
entry), a computed value, a field the form does not have, a field ``x-visible-if`` hides,
and an earlier value ``edit:`` lists while its form hides it on this record. Each is ignored
or refused, and the record keeps what it held. Real database, the Flask test client."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine import store
from tests.web.test_computed_web import COMPUTED, ITEMS, PW, Api
from tests.web.test_web_ui import Browser
from web import create_app

RATE_EXTRA = """\
    kind: {type: string, title: 类别, enum: [常规, 特殊]}
    detail: {type: string, title: 特殊说明, maxLength: 5, x-visible-if: kind == "特殊"}
"""


@pytest.fixture
def app(db_url, tmp_path: Path):
    """The scorecard, whose review may change rate.supplier, rate.note and rate.detail; the
    rate form's 特殊说明 applies only to a 特殊 supplier."""
    root = tmp_path / "computed"
    shutil.copytree(COMPUTED, root)
    rate = root / "forms" / "scorecard-rate.yaml"
    rate.write_text(rate.read_text(encoding="utf-8").replace("    note: {type: string, title: 说明}\n",
                                                             "    note: {type: string, title: 说明}\n" + RATE_EXTRA),
                    encoding="utf-8")
    proc = root / "procedures" / "scorecard.yaml"
    proc.write_text(proc.read_text(encoding="utf-8").replace("edit: [rate.supplier, rate.note]",
                                                             "edit: [rate.supplier, rate.note, rate.detail]"),
                    encoding="utf-8")
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "locale": "zh", "paths.uploads": str(tmp_path / "uploads"),
        "paths.procedures": str(root / "procedures"), "paths.forms": str(root / "forms"),
        "roles": {"rater": ["raters"], "reviewer": ["reviewers"], "quality_manager": ["qms"],
                  "admin": ["admins"]}}})
    with app.extensions["services"].database.sessions.begin() as s:
        for user, groups in (("rater1", ["raters"]), ("rev1", ["reviewers"])):
            store.add_user(s, user, PW[user], groups, full_name=user + "（全名）")
    yield app
    app.extensions["services"].database.engine.dispose()


def _rated(app, **extra):
    rater = Api(app, "rater1")
    inst = rater.post("/procedures/scorecard/instances", {"data": {}}, 201)
    (task,) = [t for t in inst["tasks"] if t["status"] == "open"]
    rater.post(f"/tasks/{task['id']}/complete", {"data": {"supplier": "甲公司", "items": ITEMS, "remark": "内部",
                                                          "kind": "常规", **extra}, "password": PW["rater1"]})
    return inst["id"]


def test_the_page_ignores_earlier_values_the_step_may_not_change(app):
    iid = _rated(app)
    before = Api(app, "rev1").get(f"/instances/{iid}")
    b = Browser(app)
    b.login("rev1", PW["rev1"])
    page = b.get(f"/tasks/{iid}.t2").text
    assert 'name="e.rate.supplier"' in page and 'name="e.rate.remark"' not in page
    r = b.post(f"/tasks/{iid}.t2", {"e.rate.remark": "改了", "e.rate.total": "100", "e.start.x": "1",
                                   "e.rate.items.0.score": "100", "f.received_on": "2026-11-04"})
    assert r.status_code == 302, r.text
    after = Api(app, "rev1").get(f"/instances/{iid}")
    assert after["data"]["rate"] == before["data"]["rate"] and after["corrections"] == {}


def test_the_api_refuses_earlier_values_computed_values_and_unknown_fields(app):
    iid = _rated(app)
    rev = Api(app, "rev1")
    before = rev.get(f"/instances/{iid}")["data"]
    for edits in ({"rate.remark": "x"}, {"rate.total": 100}, {"start.customer": "x"}, {"rate.items": []}):
        r = rev.c.post(f"/api/v1/tasks/{iid}.t2/complete", headers=rev.h, json={
            "data": {"received_on": "2026-11-04"}, "edits": edits, "edit_reason": "r", "password": PW["rev1"]})
        assert r.status_code == 403, (edits, r.get_json())
    rev.post(f"/tasks/{iid}.t2/complete", {"data": {"received_on": "2026-11-04", "supplier": "乙公司"}}, 422)
    assert rev.get(f"/instances/{iid}")["data"]["rate"] == before["rate"]


def test_a_value_for_a_field_the_form_hides_is_not_recorded(app):
    iid = _rated(app, detail="偷偷写入的很长的一段说明")  # 常规: 特殊说明 does not apply
    assert "detail" not in Api(app, "rev1").get(f"/instances/{iid}")["data"]["rate"]


def test_an_edit_of_an_earlier_value_its_form_hides_on_this_record_is_refused(app):
    """``edit:`` lists rate.detail, which applies only to a 特殊 supplier: on a 常规 record
    the value would be stored unchecked (validation leaves hidden fields out), as a
    correction of a hidden field was before ``instances.refuse_hidden``."""
    iid = _rated(app)
    rev = Api(app, "rev1")
    body = {"data": {"received_on": "2026-11-04"}, "edits": {"rate.detail": "x" * 500}, "edit_reason": "补充",
            "password": PW["rev1"]}
    refused = rev.post(f"/tasks/{iid}.t2/complete", body, 422)
    assert [e["field"] for e in refused["errors"]] == ["rate.detail"], refused
    assert "特殊说明" in refused["errors"][0]["message"]
    assert "detail" not in rev.get(f"/instances/{iid}")["data"]["rate"]
    # the page keeps what was typed and names the input
    b = Browser(app)
    b.login("rev1", PW["rev1"])
    b.get(f"/tasks/{iid}.t2")
    r = b.post(f"/tasks/{iid}.t2", {"e.rate.detail": "补一句", "edit_reason": "补充", "password": PW["rev1"],
                                   "f.received_on": "2026-11-04"})
    assert r.status_code == 422 and "补一句" in r.text and 'data-error-for="detail"' in r.text, r.text[-3000:]
