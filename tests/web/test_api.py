"""REST API ``/api/v1`` through the Flask test client, on SQLite and (when configured) PostgreSQL.

Every endpoint, every error status, and an after-sales inspection walked from start to the
archived report by three users of different groups. Responses are checked against the
schemas of the OpenAPI document the server publishes.
"""

from __future__ import annotations

import time
from functools import cache

import pytest
from itsdangerous import TimestampSigner
from jsonschema import Draft202012Validator

from engine.store import users as user_store
from web import create_app
from web.api.openapi import document

PW = "s3cret-pw"
USERS = {  # name -> groups (config.yaml: roles -> groups)
    "inspector1": ["qa-inspectors"],
    "inspector2": ["qa-inspectors"],
    "supervisor1": ["qa-supervisors"],
    "clerk1": ["production"],
}
START = {"customer": "某市人民医院", "product_name": "多参数监护仪", "model": "PM-9000",
         "serial_no": "SN20260101", "quantity": 1}
RECEIVE = {"receipt_no": "RK-2026-0101", "received_on": "2026-11-02",
           "condition": "包装完好", "reported_fault": "开机后血氧读数跳变"}
INSPECT = {
    "items": [{"item": "外观", "method": "目视检查", "requirement": "无裂纹", "measured": "轻微划痕", "result": "合格"}],
    "instrument": "血氧模拟器 SIM-02", "ambient_temperature": 23.5, "ambient_humidity": 55,
    "inspector": "inspector1", "inspected_at": "2026-11-03T10:00:00+08:00", "verdict": "合格",
}
CONFORMING = {"disposition": "返修", "repair_record": "返厂返修", "repair_ref": "FX-2026-0034"}
REPORT = {"report_no": "JY-2026-0101", "process_summary": "检验完成", "conclusion": "合格"}
FEEDBACK = {"departments": ["质量部"], "problem": "焊点虚焊", "measures": "加强焊接检验", "needs_capa": False}


@cache
def _hash(password: str) -> str:
    return user_store.generate_password_hash(password, method=user_store.PASSWORD_METHOD)


@pytest.fixture
def app(db_url, monkeypatch):
    # scrypt is slow on purpose: hash the test password once per run, not once per user.
    monkeypatch.setattr(user_store, "hash_password", _hash)
    app = create_app({"TESTING": True, "WF_OVERRIDES": {"database.url": db_url},
                      "MAX_CONTENT_LENGTH": 64 * 1024, "SECRET_KEY": "test-secret"})
    with app.extensions["services"].database.writing() as session:
        for name, groups in USERS.items():
            user_store.add_user(session, name, PW, groups, full_name=name.title())
    yield app
    app.extensions["services"].database.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """A client logged in as one user, with short-hands that check the status code."""

    def __init__(self, client, username: str) -> None:
        self.client = client
        r = client.post("/api/v1/auth/token", json={"username": username, "password": PW})
        assert r.status_code == 200, r.json
        self.headers = {"Authorization": f"Bearer {r.json['token']}"}

    def get(self, path: str, status: int = 200, schema: str | None = None, **kw):
        r = self.client.get(f"/api/v1{path}", headers=self.headers, **kw)
        return _check(r, status, schema)

    def post(self, path: str, body=None, status: int = 200, schema: str | None = None, **kw):
        r = self.client.post(f"/api/v1{path}", json=body, headers=self.headers, **kw)
        return _check(r, status, schema)

    def start(self, data=None, status: int = 201):
        return self.post("/procedures/after-sales-inspection/instances", {"data": data or START},
                         status=status, schema="Instance" if status == 201 else None)

    def complete(self, task_id: str, data=None, status: int = 200, **extra):
        return self.post(f"/tasks/{task_id}/complete", {"data": data or {}, **extra}, status=status,
                         schema="Instance" if status == 200 else None)


@cache
def _validator(name: str) -> Draft202012Validator:
    doc = document()
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


def _check(r, status: int, schema: str | None):
    assert r.status_code == status, (r.status_code, r.get_json())
    assert r.mimetype == "application/json"
    body = r.get_json()
    name = schema or ("Error" if status >= 400 else None)
    if name:
        errors = sorted(_validator(name).iter_errors(body), key=str)
        assert not errors, [str(e) for e in errors[:3]]
    return body


@pytest.fixture
def inspector(client):
    return Api(client, "inspector1")


@pytest.fixture
def supervisor(client):
    return Api(client, "supervisor1")


def open_task(instance: dict, step: str) -> dict:
    found = [t for t in instance["tasks"] if t["step"] == step and t["status"] == "open"]
    assert found, (step, [(t["step"], t["status"]) for t in instance["tasks"]])
    return found[0]


# --- the document and authentication ------------------------------------------------------------

def test_openapi_document_is_public_and_complete(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert set(doc["paths"]) >= {
        "/auth/token", "/procedures", "/procedures/{procedure_id}",
        "/procedures/{procedure_id}/instances", "/instances", "/instances/{instance_id}",
        "/instances/{instance_id}/events", "/instances/{instance_id}/cancel",
        "/instances/{instance_id}/corrections", "/tasks", "/tasks/{task_id}/complete",
        "/tasks/{task_id}/claim", "/tasks/{task_id}/release", "/openapi.json"}
    Draft202012Validator.check_schema({"components": doc["components"]})
    # every route of the blueprint is documented
    routes = {rule.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}")
              for rule in client.application.url_map.iter_rules() if rule.rule.startswith("/api/v1")}
    assert routes == set(doc["paths"])


def test_token_is_issued_for_the_right_password(client):
    r = client.post("/api/v1/auth/token", json={"username": "inspector1", "password": PW})
    body = _check(r, 200, "Token")
    assert body["token_type"] == "Bearer"
    assert body["expires_at"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 7.9 * 3600))  # auth.token_hours: 8


def test_wrong_password_is_401_then_locked_out_with_429(client):
    for _ in range(5):
        r = client.post("/api/v1/auth/token", json={"username": "inspector2", "password": "wrong"})
        assert _check(r, 401, None)["code"] == "unauthenticated"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = client.post("/api/v1/auth/token", json={"username": "inspector2", "password": PW})
    body = _check(r, 429, None)
    assert body["code"] == "too_many_attempts" and "try again" in body["message"]
    assert int(r.headers["Retry-After"]) > 0
    # other user names are not affected
    assert client.post("/api/v1/auth/token", json={"username": "inspector1", "password": PW}).status_code == 200


def test_token_request_needs_both_fields(client):
    r = client.post("/api/v1/auth/token", json={"username": "inspector1"})
    assert _check(r, 400, None)["errors"] == [{"field": "password", "message": "required"}]


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer not-a-token",
                                    "Bearer eyJ1IjoiaW5zcGVjdG9yMSJ9.forged.signature"])
def test_missing_or_bad_token_is_401(client, header):
    headers = {"Authorization": header} if header else {}
    r = client.get("/api/v1/tasks", headers=headers)
    body = _check(r, 401, None)
    assert body["code"] == "unauthenticated"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_is_401(client, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 13 * 3600)
        token = client.post("/api/v1/auth/token", json={"username": "inspector1", "password": PW}).json["token"]
    r = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert "expired" in _check(r, 401, None)["message"]


# --- procedures -------------------------------------------------------------------------------------

def test_list_procedures_with_roles_groups_and_start_permission(inspector, supervisor):
    items = {p["id"]: p for p in inspector.get("/procedures", schema="ProcedureList")["items"]}
    asi = items["after-sales-inspection"]
    assert {r["id"]: r["groups"] for r in asi["roles"]}["qa_supervisor"] == ["qa-supervisors"]
    assert asi["start_roles"] == ["inspector"] and asi["can_start"] is True
    assert len(asi["version"]["hash"]) == 64
    sup = {p["id"]: p for p in supervisor.get("/procedures")["items"]}
    assert sup["after-sales-inspection"]["can_start"] is False
    assert "qa_supervisor" in sup["after-sales-inspection"]["my_roles"]


def test_get_procedure_with_steps_and_start_form(inspector):
    p = inspector.get("/procedures/after-sales-inspection", schema="ProcedureDetail")
    steps = {s["id"]: s for s in p["steps"]}
    assert steps["review"]["type"] == "approval" and steps["review"]["signature"] == "审核"
    assert steps["report"]["form"] == "inspection-report"
    assert steps["receive"]["deadline"].startswith("within 1wd")
    assert p["start_form"]["id"] == "product-identification"
    assert "serial_no" in p["start_form"]["schema"]["required"]


def test_unknown_procedure_is_404(inspector):
    assert inspector.get("/procedures/no-such-thing", status=404)["code"] == "not_found"
    assert inspector.get("/procedures/Not_An_Id", status=404)["code"] == "not_found"
    inspector.post("/procedures/no-such-thing/instances", {"data": START}, status=404)


# --- starting and reading instances --------------------------------------------------------------------

def test_start_returns_201_with_location(inspector, client):
    r = client.post("/api/v1/procedures/after-sales-inspection/instances", json={"data": START},
                    headers=inspector.headers)
    inst = _check(r, 201, "Instance")
    assert r.headers["Location"] == f"/api/v1/instances/{inst['id']}"
    assert inst["status"] == "running" and inst["rev"] == 1
    assert open_task(inst, "receive")["id"] == f"{inst['id']}.t1"
    assert inspector.get(f"/instances/{inst['id']}", schema="Instance")["data"]["start"]["serial_no"] == "SN20260101"


def test_start_with_bad_form_data_is_422_with_fields(inspector):
    body = inspector.start({**START, "quantity": 0, "serial_no": ""}, status=422)
    assert body["code"] == "invalid_form"
    assert {e["field"] for e in body["errors"]} >= {"quantity", "serial_no"}


def test_start_outside_the_start_role_is_403(supervisor):
    assert supervisor.start(status=403)["code"] == "forbidden"


def test_list_instances_filters_and_pages(inspector, supervisor):
    ids = [inspector.start()["id"] for _ in range(3)]
    page = inspector.get("/instances?procedure=after-sales-inspection&status=running&limit=2",
                         schema="InstanceList")
    assert page["total"] == 3 and [i["id"] for i in page["items"]] == ids[::-1][:2]
    rest = inspector.get("/instances?limit=2&offset=2")
    assert [i["id"] for i in rest["items"]] == [ids[0]]
    assert inspector.get("/instances?status=completed")["total"] == 0
    assert supervisor.get("/instances")["total"] == 3  # qa_supervisor is a role in the procedure
    assert inspector.get("/instances?status=bogus", status=400)["errors"][0]["field"] == "status"
    assert inspector.get("/instances?limit=0", status=400)["errors"][0]["field"] == "limit"
    inspector.get("/instances?procedure=no-such-thing", status=404)


def test_reading_without_a_role_in_the_procedure_is_403(inspector, client):
    inst = inspector.start()
    clerk = Api(client, "clerk1")  # production: applicant of acceptance, nothing in after-sales
    assert clerk.get(f"/instances/{inst['id']}", status=403)["code"] == "forbidden"
    clerk.get(f"/instances/{inst['id']}/events", status=403)
    clerk.get("/instances?procedure=after-sales-inspection", status=403)
    assert all(i["procedure"] != "after-sales-inspection" for i in clerk.get("/instances")["items"])


def test_unknown_instance_and_task_are_404(inspector):
    missing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    inspector.get(f"/instances/{missing}", status=404)
    inspector.get(f"/instances/{missing}/events", status=404)
    inspector.post(f"/instances/{missing}/cancel", {"reason": "x"}, status=404)
    inspector.post(f"/tasks/{missing}.t1/complete", {"data": {}}, status=404)
    inspector.post(f"/tasks/{missing}.t1/claim", status=404)
    inspector.get("/instances/not-an-id", status=404)
    inspector.post("/tasks/garbage/claim", status=404)
    inspector.get("/no/such/endpoint", status=404)


def test_events_carry_the_hash_chain(inspector):
    inst = inspector.start()
    events = inspector.get(f"/instances/{inst['id']}/events", schema="EventList")["items"]
    assert [e["type"] for e in events] == ["instance:started", "task:created"]
    assert events[1]["prev_hash"] == events[0]["hash"]


# --- malformed requests ---------------------------------------------------------------------------------

def test_malformed_json_is_400(inspector, client):
    r = client.post("/api/v1/procedures/after-sales-inspection/instances", data="{not json",
                    content_type="application/json", headers=inspector.headers)
    assert _check(r, 400, None)["code"] == "bad_request"
    r = client.post("/api/v1/auth/token", data="[1, 2", content_type="application/json")
    _check(r, 400, None)
    assert inspector.post("/procedures/after-sales-inspection/instances", [1, 2], status=400)["code"] == "bad_request"
    body = inspector.post("/procedures/after-sales-inspection/instances", {"data": START, "extra": 1}, status=400)
    assert body["errors"] == [{"field": "extra", "message": "unknown member"}]
    inspector.post("/procedures/after-sales-inspection/instances", {"data": "text"}, status=400)
    inspector.post("/procedures/after-sales-inspection/instances", {"data": {"customer": "a\x00b"}}, status=400)


def test_a_malformed_request_is_told_in_the_readers_language_naming_the_member_or_parameter(inspector, client):
    path = "/api/v1/procedures/after-sales-inspection/instances"
    zh = {**inspector.headers, "Accept-Language": "zh-CN,zh;q=0.9"}
    body = _check(client.post(path, json={"data": START, "extra": 1}, headers=zh), 400, None)
    assert body["message"] == "未知的成员“extra”；允许的成员：data"
    assert body["errors"] == [{"field": "extra", "message": "未知的成员"}]
    body = _check(client.post(path, json={"data": "text"}, headers=zh), 400, None)
    assert body["message"] == "“data”应为 JSON 对象"
    # English for a client that asks for no language, as before
    body = _check(client.post(path, json={"data": START, "extra": 1}, headers=inspector.headers), 400, None)
    assert body["message"] == "unknown member(s) 'extra'; allowed: data"
    # a query parameter, with its range
    body = _check(client.get("/api/v1/instances?limit=0", headers=zh), 400, None)
    assert body["message"] == "查询参数“limit”应为 1 到 200 之间的整数"
    assert body["errors"] == [{"field": "limit", "message": "1 到 200"}]
    body = _check(client.get("/api/v1/notifications?unread=yes", headers=zh), 400, None)
    assert body["message"] == "查询参数“unread”应为“true”或“false”"
    body = inspector.get("/instances?limit=0", status=400)
    assert body["message"] == "query parameter 'limit' must be a whole number from 1 to 200"
    assert body["errors"] == [{"field": "limit", "message": "1 to 200"}]
    # an id of the wrong shape in the path
    assert _check(client.get("/api/v1/instances/not-an-id", headers=zh), 404, None)["message"] == "没有流程实例“not-an-id”"
    assert inspector.get("/tasks/garbage", status=404)["message"] == "no task 'garbage'"


def test_sign_in_errors_are_told_in_the_readers_language(client):
    r = client.get("/api/v1/tasks", headers={"Accept-Language": "zh"})
    assert _check(r, 401, None)["message"] == ("此接口需要请求头“Authorization: Bearer <token>”；"
                                               "请先通过 POST /api/v1/auth/token 获取令牌")
    r = client.post("/api/v1/auth/token", json={"username": "inspector1", "password": "wrong"},
                    headers={"Accept-Language": "zh"})
    assert _check(r, 401, None)["message"] == "用户名或密码错误"
    r = client.post("/api/v1/auth/token", json={"username": "inspector1"}, headers={"Accept-Language": "zh"})
    body = _check(r, 400, None)
    assert body["message"] == "“password”为必填项"
    assert body["errors"] == [{"field": "password", "message": "必填"}]
    r = client.get("/api/v1/tasks", headers={"Authorization": "Basic abc"})
    assert _check(r, 401, None)["message"] == "the Authorization header must read 'Bearer <token>'"


def test_bad_expected_rev_is_400(inspector):
    inst = inspector.start()
    task = open_task(inst, "receive")
    body = inspector.complete(task["id"], RECEIVE, expected_rev="1", status=400)
    assert body["errors"][0]["field"] == "expected_rev"


def test_oversized_body_is_413(inspector):
    body = inspector.start({**START, "model": "x" * (70 * 1024)}, status=413)
    assert body["code"] == "too_large"
    assert body["message"].startswith("the request body is too large (at most ")


def test_http_errors_of_the_api_are_told_in_the_readers_language(inspector, client):
    """A body too large, an address with nothing at it and a method a route does not take are
    answered by the framework, not a view: their messages were Werkzeug's English."""
    zh = {**inspector.headers, "Accept-Language": "zh-CN"}
    r = client.post("/api/v1/procedures/after-sales-inspection/instances", headers=zh,
                    json={"data": {**START, "model": "x" * (70 * 1024)}})
    assert r.status_code == 413 and r.get_json()["message"].startswith("请求内容过大（最多 ")
    r = client.get("/api/v1/no-such-route", headers=zh)
    assert r.status_code == 404 and r.get_json()["message"] == "/api/v1/no-such-route 处没有内容；请核对地址"
    r = client.get("/api/v1/no-such-route", headers=inspector.headers)
    assert r.get_json()["message"] == "there is nothing at /api/v1/no-such-route; check the address"
    r = client.delete("/api/v1/tasks", headers=zh)
    assert r.status_code == 405
    assert r.get_json()["message"].startswith("/api/v1/tasks 不接受 DELETE 请求；可用的方法：")


# --- tasks ----------------------------------------------------------------------------------------------

def test_my_tasks_carry_the_form_schema(inspector, supervisor):
    inst = inspector.start()
    tasks = inspector.get("/tasks", schema="TaskList")["items"]
    mine = [t for t in tasks if t["instance"] == inst["id"]]
    assert len(mine) == 1
    t = mine[0]
    assert (t["step"], t["role"], t["kind"], t["id"]) == ("receive", "inspector", "task", f"{inst['id']}.t1")
    assert t["due_at"] and t["assignee"] is None
    assert t["form"]["type"] == "object" and "received_on" in t["form"]["properties"]
    assert supervisor.get("/tasks")["items"] == []


def test_claim_and_release(inspector, client):
    inst = inspector.start()
    task = open_task(inst, "receive")
    other = Api(client, "inspector2")
    claimed = inspector.post(f"/tasks/{task['id']}/claim", schema="Instance")
    assert open_task(claimed, "receive")["assignee"] == "inspector1"
    assert all(t["id"] != task["id"] for t in other.get("/tasks")["items"])
    assert other.complete(task["id"], RECEIVE, status=403)["code"] == "forbidden"
    other.post(f"/tasks/{task['id']}/release", status=403)
    released = inspector.post(f"/tasks/{task['id']}/release", schema="Instance")
    assert open_task(released, "receive")["assignee"] is None
    assert any(t["id"] == task["id"] for t in other.get("/tasks")["items"])


def test_completing_with_bad_data_is_422_with_the_field_list(inspector):
    inst = inspector.start()
    task = open_task(inst, "receive")
    body = inspector.complete(task["id"], {**RECEIVE, "received_on": "yesterday", "condition": None}, status=422)
    assert body["code"] == "invalid_form"
    assert {e["field"] for e in body["errors"]} >= {"received_on", "condition"}
    assert all(e["message"] for e in body["errors"])


def test_wrong_role_cannot_complete_403(inspector, supervisor):
    inst = inspector.start()
    assert supervisor.complete(open_task(inst, "receive")["id"], RECEIVE, status=403)["code"] == "forbidden"


def test_duplicate_submission_and_stale_rev_are_409(inspector):
    inst = inspector.start()
    task = open_task(inst, "receive")
    done = inspector.complete(task["id"], RECEIVE, expected_rev=inst["rev"])
    assert done["rev"] == inst["rev"] + 1
    again = inspector.complete(task["id"], RECEIVE, status=409)
    assert again["code"] == "task_closed"
    nxt = open_task(done, "inspect")
    stale = inspector.complete(nxt["id"], INSPECT, expected_rev=inst["rev"], status=409)
    assert stale["code"] == "conflict" and "reload" in stale["message"]


def test_cancel_and_correct(inspector, supervisor):
    inst = inspector.start()
    task = open_task(inst, "receive")
    inspector.complete(task["id"], RECEIVE)
    fixed = inspector.post(f"/instances/{inst['id']}/corrections",
                           {"step": "receive", "field": "condition", "value": "外包装破损", "reason": "笔误"},
                           schema="Instance")
    assert fixed["data"]["receive"]["condition"] == "外包装破损"
    assert fixed["corrections"]["receive.condition"][0]["old"] == "包装完好"
    body = inspector.post(f"/instances/{inst['id']}/corrections",
                          {"step": "receive", "field": "received_on", "value": "soon", "reason": "x"}, status=422)
    assert body["errors"][0]["field"] == "received_on"
    inspector.post(f"/instances/{inst['id']}/corrections", {"step": "receive", "field": "condition"}, status=400)
    supervisor.post(f"/instances/{inst['id']}/cancel", {"reason": "测试"}, status=403)
    inspector.post(f"/instances/{inst['id']}/cancel", {}, status=400)
    cancelled = inspector.post(f"/instances/{inst['id']}/cancel", {"reason": "客户撤回"}, schema="Instance")
    assert cancelled["status"] == "cancelled"
    assert all(t["status"] != "open" for t in cancelled["tasks"])
    assert inspector.post(f"/instances/{inst['id']}/cancel", {"reason": "again"}, status=409)["code"] == "instance_closed"



def _reading(client, username: str, language: str) -> Api:
    """``username``'s client whose requests ask for answers in ``language`` (Accept-Language)."""
    api = Api(client, username)
    api.headers = {**api.headers, "Accept-Language": language}
    return api


def test_a_correction_of_a_step_not_yet_done_is_refused_in_the_readers_language(client):
    """An inspector correcting the inspection before it was recorded is told, in their
    language, which step has nothing to correct yet; the receipt's value is corrected."""
    zh, en = _reading(client, "inspector1", "zh"), _reading(client, "inspector1", "en")
    inst = zh.start()
    zh.complete(open_task(inst, "receive")["id"], RECEIVE)
    path = f"/instances/{inst['id']}/corrections"
    early = {"step": "inspect", "field": "verdict", "value": "合格", "reason": "笔误"}
    body = zh.post(path, early, status=404)
    assert body["code"] == "not_found" and body["message"] == "步骤“inspect”没有已记录的数据可更正"
    assert en.post(path, early, status=404)["message"] == "step 'inspect' has no recorded data to correct"
    fixed = zh.post(path, {"step": "receive", "field": "condition", "value": "外包装破损", "reason": "笔误"})
    assert fixed["data"]["receive"]["condition"] == "外包装破损"


def test_a_rejection_without_a_comment_is_refused_in_the_readers_language(client, inspector):
    """A supervisor who rejects the report without saying why is asked for the comment in
    their language, at the field ``comment``; the review stays open."""
    inst = inspector.start()
    inst = inspector.complete(open_task(inst, "receive")["id"], RECEIVE)
    inst = inspector.complete(open_task(inst, "inspect")["id"], INSPECT)
    inst = inspector.complete(open_task(inst, "conforming")["id"], CONFORMING)
    inst = inspector.complete(open_task(inst, "report")["id"], REPORT, password=PW)
    review = open_task(inst, "review")["id"]
    reject = {"decision": "reject", "password": PW}
    body = _reading(client, "supervisor1", "zh").complete(review, reject, status=422)
    assert body["code"] == "invalid_form"
    assert body["message"] == "驳回时须填写意见，说明需要修改什么"
    assert body["errors"] == [{"field": "comment", "message": "驳回时必须填写意见"}]
    body = _reading(client, "supervisor1", "en").complete(review, reject, status=422)
    assert body["message"] == "a rejection needs a comment saying what must change"
    assert body["errors"] == [{"field": "comment", "message": "Write why you reject"}]
    assert open_task(inspector.get(f"/instances/{inst['id']}"), "review")["id"] == review


# --- the whole procedure --------------------------------------------------------------------------------

def test_after_sales_inspection_walk_by_three_users(client, inspector, supervisor):
    """Start to archived report: inspector1 receives, inspects (one failed validation first)
    and reports; supervisor1 rejects the report, then approves it with a signature;
    inspector2 writes the feedback. The instance then reads ``completed``."""
    second = Api(client, "inspector2")
    inst = inspector.start()
    iid = inst["id"]

    inst = inspector.complete(open_task(inst, "receive")["id"], RECEIVE, expected_rev=inst["rev"])
    task = open_task(inst, "inspect")
    bad = inspector.complete(task["id"], {**INSPECT, "verdict": "也许"}, status=422)
    assert [e["field"] for e in bad["errors"]] == ["verdict"]
    inst = inspector.complete(task["id"], INSPECT, expected_rev=inst["rev"])
    inst = inspector.complete(open_task(inst, "conforming")["id"], CONFORMING)

    # the report is signed (确认): no password, a wrong one, then the right one in the body
    report = open_task(inst, "report")
    assert report["signature"] == "确认"
    assert inspector.complete(report["id"], REPORT, status=422)["code"] == "signature_invalid"
    assert inspector.complete(report["id"], REPORT, password="wrong", status=422)["code"] == "signature_invalid"
    inst = inspector.complete(report["id"], REPORT, password=PW)

    # the review is an approval with a signature (审核), for qa_supervisor only
    review = open_task(inst, "review")
    listed = {t["id"]: t for t in supervisor.get("/tasks")["items"]}[review["id"]]
    assert listed["kind"] == "approval" and listed["signature"] == "审核"
    assert listed["form"]["properties"]["decision"]["enum"] == ["approve", "reject"]
    assert set(listed["form"]["required"]) == {"decision", "password"}
    assert listed["form"]["properties"]["password"]["description"] == "re-enter your password to sign (审核)"
    in_chinese = supervisor.client.get("/api/v1/tasks", headers={**supervisor.headers, "Accept-Language": "zh"})
    form = {t["id"]: t for t in in_chinese.get_json()["items"]}[review["id"]]["form"]
    assert form["properties"]["password"]["description"] == "请再次输入密码以签名（审核）"
    assert form["properties"]["comment"]["description"] == "驳回时必填：说明需要修改什么"
    inspector.complete(review["id"], {"decision": "approve", "password": PW}, status=403)
    assert supervisor.complete(review["id"], {"decision": "maybe"}, status=422)["errors"][0]["field"] == "decision"
    assert supervisor.complete(review["id"], {"decision": "reject", "password": PW}, status=422)["errors"][0]["field"] == "comment"
    assert supervisor.complete(review["id"], {"decision": "approve", "password": "nope"}, status=422)["code"] == "signature_invalid"
    inst = supervisor.complete(review["id"], {"decision": "reject", "comment": "缺少处理方式", "password": PW})
    report = open_task(inst, "report")
    inst = inspector.complete(report["id"], {**REPORT, "disposition": "返修", "password": PW})
    inst = supervisor.complete(open_task(inst, "review")["id"],
                               {"decision": "approve", "comment": "同意", "password": PW})

    inst = second.complete(open_task(inst, "feedback")["id"], FEEDBACK)
    assert inst["status"] == "completed" and inst["outcome"] == "已归档"
    assert inst["path"] == ["receive", "inspect", "evaluate", "conforming", "report", "review",
                            "report", "review", "feedback", "done"]
    final = inspector.get(f"/instances/{iid}", schema="Instance")
    assert final["status"] == "completed"
    by_type = [(h["type"], h["actor"]) for h in final["history"]]
    assert ("task:rejected", "supervisor1") in by_type and ("task:approved", "supervisor1") in by_type
    assert ("task:completed", "inspector2") in by_type

    events = inspector.get(f"/instances/{iid}/events", schema="EventList")["items"]
    for prev, cur in zip(events, events[1:], strict=False):
        assert cur["prev_hash"] == prev["hash"]
    approved = [e for e in events if e["type"] == "task:approved"][0]
    assert "审核" in str(approved["data"]) and "password" not in str(approved["data"]).lower()
    assert inspector.get("/instances?status=completed")["items"][0]["id"] == iid
    assert not [t for t in inspector.get("/tasks")["items"] if t["instance"] == iid]


def test_auditor_reads_every_instance_through_the_api_and_changes_nothing(app, client, inspector):
    """The audit API links to /api/v1/instances/{id}: an auditor, who holds no role in the
    procedure, reads it there (and its events, and the list) as on the pages, and still
    changes nothing. Somebody without a role and without the auditors' group stays refused."""
    with app.extensions["services"].database.writing() as session:
        user_store.add_user(session, "auditor1", PW, ["auditors"], full_name="Auditor")
    iid = inspector.start()["id"]
    auditor = Api(client, "auditor1")
    assert auditor.get(f"/instances/{iid}", schema="Instance")["id"] == iid
    assert auditor.get(f"/instances/{iid}/events")["items"]
    assert iid in [i["id"] for i in auditor.get("/instances?procedure=after-sales-inspection")["items"]]
    assert iid in [i["id"] for i in auditor.get("/instances")["items"]]
    auditor.post(f"/instances/{iid}/cancel", {"reason": "审计员不得取消"}, status=403)
    clerk = Api(client, "clerk1")  # production holds no role in after-sales inspection
    clerk.get(f"/instances/{iid}", status=403)


def test_a_refusal_names_the_step_and_role_by_the_titles_the_reader_reads(inspector, supervisor, client):
    """A supervisor completing the inspector's task: the refusal names the step and the role
    by their English titles for a client that asks for English, as written (Chinese) for one
    that asks for Chinese, and as written for one that asks for nothing."""
    task = open_task(inspector.start(), "receive")
    path = f"/api/v1/tasks/{task['id']}/complete"
    en = _check(client.post(path, json={"data": RECEIVE}, headers={**supervisor.headers, "Accept-Language": "en"}),
                403, None)["message"]
    assert "'Receive the product'" in en and "'After-sales inspector'" in en, en
    zh = _check(client.post(path, json={"data": RECEIVE}, headers={**supervisor.headers, "Accept-Language": "zh"}),
                403, None)["message"]
    assert zh == "任务“接收产品”属于角色“售后检验人员”（inspector）；您不担任该角色", zh
    plain = supervisor.post(f"/tasks/{task['id']}/complete", {"data": RECEIVE}, status=403)["message"]
    assert plain == "task '接收产品' is for role '售后检验人员' (inspector); you do not hold that role", plain
