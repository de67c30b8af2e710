"""Computed fields and a step's hide/edit through the API and the HTML pages (issue 17, parts
4 and 5): the live compute endpoints answer bad input with a clear 4xx (never a 500) and
nobody who cannot act on the task; a forged total is replaced; hidden fields stay out of the
task's page and its API view; edits are corrections under the signature rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine import store
from tests.web.test_web_ui import Browser
from web import create_app

COMPUTED = Path(__file__).parents[1] / "data" / "computed"
PW = {"rater1": "pw-rater1", "rev1": "pw-rev1", "qm1": "pw-qm1", "outsider": "pw-outsider"}
ITEMS = [{"name": "质量", "score": 90, "weight": 2}, {"name": "交付", "score": 55, "weight": 1}]
TOTAL = round(235 / 3, 10)


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "locale": "zh", "paths.uploads": str(tmp_path / "uploads"),
        "paths.procedures": str(COMPUTED / "procedures"), "paths.forms": str(COMPUTED / "forms"),
        "roles": {"rater": ["raters"], "reviewer": ["reviewers"], "quality_manager": ["qms"],
                  "admin": ["admins"]}}})
    with app.extensions["services"].database.sessions.begin() as s:
        for user, groups in (("rater1", ["raters"]), ("rev1", ["reviewers"]), ("qm1", ["qms"]),
                             ("outsider", ["nobody"])):
            store.add_user(s, user, PW[user], groups, full_name=user + "（全名）")
    yield app
    app.extensions["services"].database.engine.dispose()


class Api:
    def __init__(self, app, user):
        self.c = app.test_client()
        r = self.c.post("/api/v1/auth/token", json={"username": user, "password": PW[user]})
        self.h = {"Authorization": f"Bearer {r.json['token']}"}

    def post(self, path, body=None, status=200, **kw):
        r = self.c.post(f"/api/v1{path}", json=body, headers=self.h, **kw)
        assert r.status_code == status, (r.status_code, r.get_data(as_text=True))
        return r.get_json()

    def get(self, path, status=200):
        r = self.c.get(f"/api/v1{path}", headers=self.h)
        assert r.status_code == status, r.get_json()
        return r.get_json()


def started(app) -> tuple[str, str]:
    inst = Api(app, "rater1").post("/procedures/scorecard/instances", {"data": {}}, 201)
    (task,) = [t for t in inst["tasks"] if t["status"] == "open"]
    return inst["id"], task["id"]


def test_api_live_compute_is_the_submission_s_and_refuses_bad_input_with_4xx(app):
    _iid, tid = started(app)
    rater = Api(app, "rater1")
    (listed,) = rater.get("/tasks")["items"]
    assert listed["form"]["properties"]["total"]["readOnly"] is True   # clients need not send it
    assert rater.post(f"/tasks/{tid}/compute", {"data": {"items": ITEMS, "total": 5}})["values"] == {
        "total": TOTAL, "low": 1, "average": 72.5}
    # Nonsense inside the data: nothing can be computed, and that is no error.
    assert rater.post(f"/tasks/{tid}/compute", {"data": {"items": "many", "supplier": [1]}})["values"] == {
        "total": None, "low": None, "average": None}
    assert rater.post(f"/tasks/{tid}/compute", {})["values"]["low"] == 0
    bad = [({"data": [1, 2]}, 400), ({"data": "x"}, 400), ({"data": {}, "extra": 1}, 400)]
    for body, status in bad:
        answer = rater.post(f"/tasks/{tid}/compute", body, status)
        assert answer["code"] and answer["message"]
    r = rater.c.post(f"/api/v1/tasks/{tid}/compute", data="{not json", headers={**rater.h, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["code"]
    rater.post(f"/tasks/{tid[:-1]}9/compute", {"data": {}}, 404)
    rater.post("/tasks/nonsense/compute", {"data": {}}, 404)
    deep = {"items": [{"score": 1, "weight": 1}] * 2000}
    assert rater.post(f"/tasks/{tid}/compute", {"data": deep})["values"]["total"] == 1


def test_no_one_who_cannot_act_on_the_task_reads_through_the_compute_endpoint(app):
    _iid, tid = started(app)
    for user in ("rev1", "qm1", "outsider"):
        refused = Api(app, user).post(f"/tasks/{tid}/compute", {"data": {"items": ITEMS}}, 403)
        assert "values" not in refused
    b = Browser(app)
    b.login("outsider", PW["outsider"])
    r = b.post(f"/tasks/{tid}/compute", {"f.items.0.score": "90", "f.items.0.weight": "1"},
               headers={"Accept": "application/json"})
    assert r.status_code == 403 and "values" not in r.get_json()


def test_a_forged_total_is_replaced_stored_shown_and_routes_the_instance(app):
    iid, tid = started(app)
    rater = Api(app, "rater1")
    done = rater.post(f"/tasks/{tid}/complete", {
        "data": {"supplier": "甲公司", "items": ITEMS, "total": 100, "low": 0, "remark": "内部备注"},
        "password": PW["rater1"]})
    assert done["data"]["rate"]["total"] == TOTAL and done["data"]["rate"]["low"] == 1
    (completed,) = [e for e in done["history"] if e["type"] == "task:completed"]
    assert completed["data"]["data"]["total"] == TOTAL                   # audited as recorded
    b = Browser(app)
    b.login("rater1", PW["rater1"])
    page = b.get(f"/instances/{iid}").text
    assert "加权得分" in page and str(TOTAL) in page
    (review,) = [t for t in done["tasks"] if t["status"] == "open"]
    ended = Api(app, "rev1").post(f"/tasks/{review['id']}/complete", {"data": {"received_on": "2026-11-05"}})
    assert ended["outcome"] == "不合格"                                   # 78.3 < 80


def test_hidden_fields_stay_out_of_the_task_page_and_its_api_view(app):
    iid, tid = started(app)
    Api(app, "rater1").post(f"/tasks/{tid}/complete", {
        "data": {"supplier": "甲公司", "items": ITEMS, "remark": "绝密备注"}, "password": PW["rater1"]})
    review_id = f"{iid}.t2"
    view = Api(app, "rev1").get(f"/tasks/{review_id}")
    assert "绝密备注" not in json.dumps(view, ensure_ascii=False)
    (rate,) = [e for e in view["earlier"] if e["step"] == "rate"]
    assert "remark" not in rate["data"] and rate["data"]["supplier"] == "甲公司"
    assert [e["field"] for e in view["editable"]] == ["rate.supplier", "rate.note"]
    assert view["editable"][0]["signed"] is True
    rate_form = Api(app, "rater1").get("/tasks")  # the rater has nothing open now
    assert rate_form["items"] == []
    b = Browser(app)
    b.login("rev1", PW["rev1"])
    page = b.get(f"/tasks/{review_id}").text
    assert "绝密备注" not in page and "甲公司" in page and 'name="e.rate.supplier"' in page
    # The rater's own task view is gone (done); someone who may not act gets no view.
    Api(app, "outsider").get(f"/tasks/{review_id}", 403)


def test_edits_through_the_api_are_corrections_under_the_signature_rules(app):
    iid, tid = started(app)
    Api(app, "rater1").post(f"/tasks/{tid}/complete", {
        "data": {"supplier": "甲公司", "items": ITEMS}, "password": PW["rater1"]})
    rev = Api(app, "rev1")
    body = {"data": {}, "edits": {"rate.supplier": "乙公司"}, "edit_reason": "名称写错"}
    refused = rev.post(f"/tasks/{iid}.t2/complete", body, 422)            # signed by the rater
    assert "更正" in refused["message"]
    rev.post(f"/tasks/{iid}.t2/complete", {**body, "edits": {"rate.remark": "x"}}, 403)
    rev.post(f"/tasks/{iid}.t2/complete", {**body, "edits": "rate.supplier"}, 400)
    assert rev.get(f"/instances/{iid}")["data"]["rate"]["supplier"] == "甲公司"
    done = rev.post(f"/tasks/{iid}.t2/complete", {**body, "password": PW["rev1"]})
    assert done["data"]["rate"]["supplier"] == "乙公司"
    (c,) = done["corrections"]["rate.supplier"]
    assert c["old"] == "甲公司" and c["signature"]["meaning"] == "更正" and c["by"] == "rev1"


def test_the_task_page_renders_computed_fields_read_only_and_computes_live(app):
    iid, tid = started(app)
    b = Browser(app)
    b.login("rater1", PW["rater1"])
    page = b.get(f"/tasks/{tid}").text
    assert re.search(r'<output id="f.total" class="computed" data-computed="total"', page)
    assert ' name="f.total"' not in page and f'data-compute-url="/tasks/{tid}/compute"' in page
    form = {"f.items.0.name": "质量", "f.items.0.score": "90", "f.items.0.weight": "2",
            "f.items.1.name": "交付", "f.items.1.score": "55", "f.items.1.weight": "1"}
    r = b.post(f"/tasks/{tid}/compute", form, headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.get_json()["values"]["total"] == TOTAL
    assert r.get_json()["text"]["total"] == f"{TOTAL} 分"
    r = b.post(f"/tasks/{tid}/compute", {**form, "f.items.0.score": "九十"}, headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.get_json()["values"]["low"] is None  # not yet computable, never a 500
    r = b.c.post(f"/tasks/{tid}/compute", data=form, headers={"Accept": "application/json"})
    assert r.status_code == 400                                           # no CSRF token
    for bad in (f"{tid[:-1]}9", "nonsense", f"{iid}.t99"):
        r = b.post(f"/tasks/{bad}/compute", form, headers={"Accept": "application/json"})
        assert r.status_code == 404 and r.get_json()["message"], bad
    odd = {"f.items.99999999999.score": "1e999", "f.items.x.score": "1", "f.total": ["1", "2"], "f.items": "x"}
    r = b.post(f"/tasks/{tid}/compute", odd, headers={"Accept": "application/json"})
    assert r.status_code == 200 and set(r.get_json()["values"]) == {"total", "low", "average"}
    # Submitting with a forged computed input: the server's value is recorded.
    r = b.post(f"/tasks/{tid}", {**form, "f.supplier": "甲公司", "f.total": "100", "password": PW["rater1"]})
    assert r.status_code == 302, r.text
    data = Api(app, "rater1").get(f"/instances/{iid}")["data"]["rate"]
    assert data["total"] == TOTAL


def test_the_review_page_edits_an_earlier_value_as_a_correction(app):
    iid, tid = started(app)
    Api(app, "rater1").post(f"/tasks/{tid}/complete", {
        "data": {"supplier": "甲公司", "items": ITEMS}, "password": PW["rater1"]})
    b = Browser(app)
    b.login("rev1", PW["rev1"])
    b.get(f"/tasks/{iid}.t2")
    r = b.post(f"/tasks/{iid}.t2", {"e.rate.supplier": "乙公司", "e.rate.note": "", "edit_reason": ""})
    assert r.status_code == 422 and "请填写修改前面步骤数据的原因" in r.text
    r = b.post(f"/tasks/{iid}.t2", {"e.rate.supplier": "乙公司", "e.rate.note": "", "edit_reason": "笔误",
                                   "password": PW["rev1"]})
    assert r.status_code == 302, r.text
    inst = Api(app, "rev1").get(f"/instances/{iid}")
    assert inst["data"]["rate"]["supplier"] == "乙公司" and list(inst["corrections"]) == ["rate.supplier"]


def test_the_start_form_compute_endpoint_is_for_those_who_may_start(app):
    b = Browser(app)
    b.login("rev1", PW["rev1"])
    b.get("/")
    r = b.post("/start/scorecard/compute", {}, headers={"Accept": "application/json"})
    assert r.status_code == 403


def test_a_start_form_computes_live_and_on_start(db_url, tmp_path):
    import shutil

    shutil.copytree(COMPUTED / "forms", tmp_path / "forms")
    (tmp_path / "procedures").mkdir()
    (tmp_path / "procedures" / "started.yaml").write_text(
        "id: started\ntitle: 发起即评分\nroles: {rater: 评分员}\n"
        "start: {roles: [rater], step: again, form: scorecard-rate}\n"
        "steps:\n  again: {title: 复评, role: rater, form: scorecard-rate, next: done}\n"
        "  done: {type: end, title: 结束, outcome: 完成}\n", encoding="utf-8")
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "locale": "zh", "paths.uploads": str(tmp_path / "uploads"),
        "paths.procedures": str(tmp_path / "procedures"), "paths.forms": str(tmp_path / "forms"),
        "roles": {"rater": ["raters"]}}})
    try:
        with app.extensions["services"].database.sessions.begin() as s:
            store.add_user(s, "rater1", PW["rater1"], ["raters"])
        b = Browser(app)
        b.login("rater1", PW["rater1"])
        page = b.get("/start/started").text
        assert 'data-compute-url="/start/started/compute"' in page and 'data-computed="total"' in page
        form = {"f.supplier": "甲", "f.items.0.name": "质量", "f.items.0.score": "90", "f.items.0.weight": "2",
                "f.items.1.name": "交付", "f.items.1.score": "55", "f.items.1.weight": "1"}
        r = b.post("/start/started/compute", form, headers={"Accept": "application/json"})
        assert r.status_code == 200 and r.get_json()["values"]["total"] == TOTAL
        r = b.post("/start/started", {**form, "f.total": "100"})
        assert r.status_code == 302, r.text
        iid = r.location.rsplit("/", 1)[1]
        assert Api(app, "rater1").get(f"/instances/{iid}")["data"]["start"]["total"] == TOTAL
    finally:
        app.extensions["services"].database.engine.dispose()


def test_a_correction_recomputes_the_total_and_the_record_still_matches_its_trail(app):
    from engine.app.audit import verify_records

    iid, tid = started(app)
    rater = Api(app, "rater1")
    rater.post(f"/tasks/{tid}/complete", {"data": {"supplier": "甲公司", "items": ITEMS}, "password": PW["rater1"]})
    rater.post(f"/instances/{iid}/corrections", {"step": "rate", "field": "total", "value": 99,
                                                 "reason": "改分", "password": PW["rater1"]}, 422)
    items = [ITEMS[0], {**ITEMS[1], "score": 75}]
    fixed = rater.post(f"/instances/{iid}/corrections", {"step": "rate", "field": "items", "value": items,
                                                         "reason": "录入错误", "password": PW["rater1"]})
    assert fixed["data"]["rate"]["total"] == 85 and fixed["data"]["rate"]["low"] == 0
    assert [c["old"] for c in fixed["corrections"]["rate.total"]] == [TOTAL]
    services, wf = app.extensions["services"], app.extensions["workflow"]
    with services.database.reading() as s:
        assert verify_records(wf, s) == []
    b = Browser(app)
    b.login("rater1", PW["rater1"])
    page = b.get(f"/audit/instances/{iid}").text
    assert "加权得分" in page and "85 分" in page
    options = re.findall(r'<option value="([^"]+)"', b.get(f"/instances/{iid}").text)
    assert "rate:supplier" in options and "rate:total" not in options   # computed: not offered


def test_a_signed_correction_signs_the_recomputed_values_it_stores(app):
    """The 更正 signature's hash was taken before the computed fields followed the corrected
    value: it signed a total (78.3) the record no longer holds (85). It signs what is stored."""
    from engine.app.audit import verify_records
    from engine.runtime.signing import data_hash

    iid, tid = started(app)
    rater = Api(app, "rater1")
    rater.post(f"/tasks/{tid}/complete", {"data": {"supplier": "甲公司", "items": ITEMS}, "password": PW["rater1"]})
    items = [ITEMS[0], {**ITEMS[1], "score": 75}]
    fixed = rater.post(f"/instances/{iid}/corrections", {"step": "rate", "field": "items", "value": items,
                                                         "reason": "录入错误", "password": PW["rater1"]})
    services, wf = app.extensions["services"], app.extensions["workflow"]
    with services.database.reading() as s:
        state = store.load_instance(s, iid).state
        assert state["data"]["rate"]["total"] == 85 == fixed["data"]["rate"]["total"]
        (signed,) = [c for c in state["corrections"] if c.get("signature")]
        assert signed["signature"]["data_hash"] == data_hash(state["data"])
        assert verify_records(wf, s) == []
        # tampering with a recomputed value on the trail side is what the signature now binds
        events = services.workflow.events(s, iid)
    corrected = [e for e in events if e["type"] == "data:corrected"]
    assert [e["data"]["field"] for e in corrected] == ["items", "total", "low", "average"]


def test_the_shipped_supplier_evaluation_computes_its_weighted_score_into_the_ledger(db_url, tmp_path):
    from tests.helpers.service import PASSWORD, answers, play, web_app

    app = web_app(db_url, tmp_path)
    try:
        services, wf = app.extensions["services"], app.extensions["workflow"]
        with services.database.sessions.begin() as s:
            store.add_user(s, "buyer1", PASSWORD, ["purchasing"], full_name="采购一")
            store.add_user(s, "qm1", PASSWORD, ["qa-supervisors"], full_name="质量经理一")
        script = answers("supplier-evaluation--qualified")
        script["steps"][1]["data"]["score"] = 100            # a forged score is replaced
        script["steps"][1]["data"]["verdict"] = "合格"
        state = play(wf, services.database.sessions, script)
        assert state["data"]["evaluate"]["score"] == 88.2 and state["data"]["evaluate"]["verdict"] == "合格"
        assert state["outcome"] == "合格供应商"
        # A purchaser who forges 合格 and 100 on a failing evaluation does not qualify the supplier.
        blocked = answers("supplier-evaluation--supplier-blocked")
        for entry in blocked["steps"]:
            if entry.get("step") == "evaluate":
                entry["data"].update(score=100, failing=0, verdict="合格")
        assert [e.get("step") for e in blocked["steps"][:3]] == ["screening", "evaluate", "approve"]
        failed = play(wf, services.database.sessions, blocked, upto=3)
        assert failed["data"]["evaluate"]["verdict"] == "不合格" and failed["data"]["evaluate"]["score"] < 60
        assert failed["path"][-1] == "rectify" and "qualified" not in failed["path"]
        b = Browser(app)
        b.login("qm1", PASSWORD)
        page = b.get("/ledgers/supplier-evaluation").text
        assert "加权得分" in page and "88.2" in page
    finally:
        app.extensions["services"].database.engine.dispose()


def test_the_form_builder_adds_changes_and_removes_a_computation(db_url, tmp_path):
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "en"}})
    try:
        with app.extensions["services"].database.writing() as s:
            store.add_user(s, "author", "pw-author", ["editors"], full_name="编写人")
        b = Browser(app)
        b.login("author")
        base = "/editor/after-sales-inspection/forms/after-sales-inspection-result"
        b.get(base)
        r = b.post(f"{base}/fields", {"name": "failed_items", "title": "不合格项数", "type": "integer",
                                      "compute": "count(items, 'result', '不合格')"})
        assert r.status_code == 302
        page = b.get(base).text
        assert "x-compute: count(items, &#39;result&#39;, &#39;不合格&#39;)" in page
        assert "computed: count(items" in page
        r = b.post(f"{base}/fields", {"name": "rows", "title": "x", "type": "table",
                                      "columns": "a:string:A", "compute": "1"})
        assert r.status_code == 422 and "a table is entered, not computed" in r.text  # the form as typed
        b.post(f"{base}/fields/failed_items/update", {"title": "不合格项数", "compute": "len(items)"})
        assert "x-compute: len(items)" in b.get(base).text
        b.post(f"{base}/fields/failed_items/update", {"title": "不合格项数", "compute": ""})
        page = b.get(base).text
        assert 'data-field="failed_items"' in page and "x-compute:" not in page
    finally:
        app.extensions["services"].database.engine.dispose()
