"""Task actions through the API and the pages, on a shipped procedure (customer complaints:
the registration may be recalled, verification may be returned to it, the GM's approval is
sent to the sales GM): each endpoint with its answer and its refusals (403 with what to do,
409 for what is closed, 429 with Retry-After for a second urge), checked against the OpenAPI
schemas; the task page's "更多操作", the instance page's urge, recall, withdraw and 已阅, and
the inbox's 抄送我的."""

from __future__ import annotations

import re

import pytest

from engine import store
from tests.helpers.service import answer, answers
from tests.web.test_api import Api, _check
from web import create_app

PW = "s3cret-pw"
USERS = {"clerk1": ["service-desk"], "clerk2": ["service-desk"], "chief1": ["service-managers"],
         "chief2": ["service-managers"], "depthead1": ["department-heads"], "gm1": ["general-managers"],
         "sales1": ["sales-gm"], "x": []}
SERIOUS = answers("customer-complaint--serious")
START = SERIOUS["start"]["data"]
STEPS = {e["step"]: e for e in SERIOUS["steps"] if "step" in e}


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app({"TESTING": True, "WF_OVERRIDES": {"database.url": db_url, "locale": "zh",
                                                        "paths.uploads": str(tmp_path / "uploads")},
                      "SECRET_KEY": "test-secret"})
    with app.extensions["services"].database.writing() as s:
        for name, groups in USERS.items():
            store.add_user(s, name, PW, groups, full_name=name.title())
    yield app
    app.extensions["services"].database.engine.dispose()


@pytest.fixture
def api(app):
    client = app.test_client()
    return {name: Api(client, name) for name in ("clerk1", "clerk2", "chief1", "chief2", "sales1", "x")}


def task(instance: dict, step: str) -> str:
    found = [t["id"] for t in instance["tasks"] if t["step"] == step and t["status"] == "open"]
    assert found, (step, [(t["step"], t["status"]) for t in instance["tasks"]])
    return found[0]


def registered(api) -> dict:
    clerk = api["clerk1"]
    inst = clerk.post("/procedures/customer-complaint/instances", {"data": START}, status=201, schema="Instance")
    inst = clerk.complete(task(inst, "register"), STEPS["register"]["data"])
    return clerk.complete(task(inst, "acknowledge"), STEPS["acknowledge"]["data"])


def test_transfer_return_urge_and_withdraw_through_the_api(api):
    inst = registered(api)
    verify = task(inst, "verify")
    refused = api["x"].post(f"/tasks/{verify}/transfer", {"to_user": "chief2", "reason": "x"}, status=403)
    assert "you hold no role" in refused["message"]  # x may not read the record: told only that
    refused = api["chief1"].post(f"/tasks/{verify}/transfer", {"to_user": "clerk2", "reason": "x"}, status=403)
    assert "does not hold role" in refused["message"]
    api["chief1"].post(f"/tasks/{verify}/transfer", {"reason": "x"}, status=400)
    inst = api["chief1"].post(f"/tasks/{verify}/transfer", {"to_user": "chief2", "reason": "出差"}, schema="Instance")
    assert next(t for t in inst["tasks"] if t["id"] == verify)["assignee"] == "chief2"
    assert api["chief1"].post(f"/tasks/{verify}/transfer", {"to_user": "chief1", "reason": "要回来"}, status=403)

    # 催办 by the starter: once an hour
    api["chief2"].post(f"/tasks/{verify}/urge", {"note": "?"}, status=403)
    api["clerk1"].post(f"/tasks/{verify}/urge", {"note": "客户来电催问"}, schema="Instance")
    r = api["clerk1"].client.post(f"/api/v1/tasks/{verify}/urge", json={}, headers=api["clerk1"].headers)
    body = _check(r, 429, None)
    assert body["code"] == "too_soon" and int(r.headers["Retry-After"]) > 3000

    # 退回 to an earlier step the step declares
    api["chief2"].post(f"/tasks/{verify}/return", {"to_step": "classify", "reason": "x"}, status=403)
    api["chief2"].post(f"/tasks/{verify}/return", {"to_step": "register", "reason": "x", "resume": "later"},
                       status=400)
    inst = api["chief2"].post(f"/tasks/{verify}/return", {"to_step": "register", "reason": "序列号有误"},
                              schema="Instance")
    assert [h["data"] for h in inst["history"] if h["type"] == "task:returned"] == [
        {"to": "register", "reason": "序列号有误", "resume": "here"}]
    api["chief2"].post(f"/tasks/{verify}/return", {"to_step": "register", "reason": "again"}, status=409)
    inst = api["clerk1"].complete(task(inst, "register"), STEPS["register"]["data"])
    assert [t["step"] for t in inst["tasks"] if t["status"] == "open"] == ["verify"]  # straight back

    # 撤回: only the starter, and only once
    api["clerk2"].post(f"/instances/{inst['id']}/withdraw", {"reason": "x"}, status=403)
    inst = api["clerk1"].post(f"/instances/{inst['id']}/withdraw", {"reason": "重复登记"}, schema="Instance")
    assert (inst["status"], inst["outcome"]) == ("cancelled", "withdrawn")
    api["clerk1"].post(f"/instances/{inst['id']}/withdraw", {"reason": "再撤"}, status=409)


def test_a_transfer_to_an_unknown_user_is_refused_in_the_readers_language(api):
    """转交 to a user name that is mistyped: the API names the user and the fix, in Chinese
    when the client asks for it and in English by default."""
    verify = task(registered(api), "verify")
    chief = api["chief1"]
    r = chief.client.post(f"/api/v1/tasks/{verify}/transfer", json={"to_user": "chief9", "reason": "出差"},
                          headers={**chief.headers, "Accept-Language": "zh"})
    zh = _check(r, 403, None)
    assert zh["message"] == "用户“chief9”不存在或已停用；请核对用户名，或联系管理员", zh
    en = chief.post(f"/tasks/{verify}/transfer", {"to_user": "chief9", "reason": "away"}, status=403)
    assert en["message"] == "unknown or inactive user 'chief9'; check the user name or ask an administrator", en


def test_recall_through_the_api(api):
    clerk = api["clerk1"]
    inst = clerk.post("/procedures/customer-complaint/instances", {"data": START}, status=201)
    register = task(inst, "register")
    inst = clerk.complete(register, STEPS["register"]["data"])
    api["clerk2"].post(f"/tasks/{register}/recall", status=403)
    inst = clerk.post(f"/tasks/{register}/recall", schema="Instance")
    assert [t["step"] for t in inst["tasks"] if t["status"] == "open"] == ["register"]
    inst = clerk.complete(register, STEPS["register"]["data"])
    api["clerk2"].post(f"/tasks/{task(inst, 'acknowledge')}/claim")
    refused = clerk.post(f"/tasks/{register}/recall", status=403)
    assert "taken up already" in refused["message"]


def _to_gm_approval(app) -> str:
    """A serious complaint played through the GM's approval (sent to the sales GM)."""
    services = app.extensions["services"]
    wf = services.workflow
    with services.database.writing() as s:
        state = wf.start(s, "customer-complaint", "clerk1", START)
    for entry in SERIOUS["steps"][:9]:
        with services.database.writing() as s:
            state = answer(wf, s, state, entry, password=PW)
    assert any(t["step"] == "execute" and t["status"] == "open" for t in state["tasks"].values())
    return state["id"]


def test_cc_list_and_read_through_the_api(app, api):
    iid = _to_gm_approval(app)
    listed = api["sales1"].get("/cc", schema="CcList")
    assert listed["unread"] == 1 and [c["instance"] for c in listed["items"]] == [iid]
    zh = api["sales1"].client.get("/api/v1/cc", headers={**api["sales1"].headers, "Accept-Language": "zh"})
    assert listed["items"][0]["unread"] and zh.get_json()["items"][0]["text"].startswith("抄送：客户投诉处理")
    api["x"].post(f"/cc/{iid}/read", status=403)
    api["x"].get(f"/instances/{iid}", status=403)
    inst = api["sales1"].post(f"/cc/{iid}/read", schema="Instance")
    assert "sales1" in inst["cc_read"]
    assert api["sales1"].get("/cc")["unread"] == 0
    execute = task(inst, "execute")  # reads, but did no step and started nothing: no urging, no acting
    assert "only the starter" in api["sales1"].post(f"/tasks/{execute}/urge", status=403)["message"]
    api["sales1"].post(f"/tasks/{execute}/transfer", {"to_user": "chief2", "reason": "x"}, status=403)
    assert api["x"].get("/cc", schema="CcList") == {"items": [], "unread": 0}


# --------------------------------------------------------------------------- pages


class Browser:
    def __init__(self, app, user: str) -> None:
        self.c = app.test_client()
        self.token = ""
        self.get("/login")
        r = self.post("/login", {"username": user, "password": PW})
        assert r.status_code == 302, r.text

    def get(self, url, **kw):
        r = self.c.get(url, **kw)
        m = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
        if m:
            self.token = m.group(1)
        return r

    def post(self, url, data=None, **kw):
        return self.c.post(url, data={"csrf_token": self.token, **(data or {})}, **kw)


def test_the_pages_offer_what_the_rules_allow_and_show_it_in_the_history(app, api):
    inst = registered(api)
    verify = task(inst, "verify")
    chief = Browser(app, "chief1")
    page = chief.get(f"/tasks/{verify}").text
    assert "更多操作" in page and 'id="transfer-form"' in page and 'id="return-form"' in page
    assert re.findall(r'<option value="(\w+)">[^<]*</option>', page.split('id="to-user"')[1].split("</select>")[0]) == ["chief2"]
    assert 'value="register"' in page.split('id="to-step"')[1].split("</select>")[0]
    r = chief.post(f"/tasks/{verify}/transfer", {"to_user": "chief2", "reason": ""})
    assert r.status_code == 302 and r.location.endswith(f"/tasks/{verify}")
    assert "请填写转交原因" in chief.get(r.location, follow_redirects=True).text
    r = chief.post(f"/tasks/{verify}/transfer", {"to_user": "chief2", "reason": "出差"})
    assert r.status_code == 302 and r.location.endswith("/")

    clerk = Browser(app, "clerk1")
    page = clerk.get(f"/instances/{inst['id']}").text
    assert 'class="urge"' in page and 'id="withdraw-form"' in page and "转交" in page and "出差" in page
    r = clerk.post(f"/tasks/{verify}/urge", {"note": "客户催"})
    assert r.status_code == 302
    page = clerk.get(f"/instances/{inst['id']}").text
    assert "之后可再次催办" in page and "客户催" in page
    r = clerk.post(f"/tasks/{verify}/urge", {"note": "再催"})
    assert "一小时内已催办过" in clerk.get(r.location).text

    chief2 = Browser(app, "chief2")
    page = chief2.get(f"/tasks/{verify}").text
    r = chief2.post(f"/tasks/{verify}/return", {"to_step": "register", "reason": "序列号有误"})
    assert r.status_code == 302
    page = clerk.get(f"/instances/{inst['id']}").text
    assert "退回" in page and "序列号有误" in page and "补正后直接回到此步骤" in page

    other = Browser(app, "clerk2")
    page = other.get(f"/instances/{inst['id']}").text
    assert 'id="withdraw-form"' not in page and 'class="urge"' not in page
    r = other.post(f"/instances/{inst['id']}/withdraw", {"reason": "我来撤"})
    assert "只有发起人 clerk1 可以撤回此流程" in other.get(r.location).text
    r = clerk.post(f"/instances/{inst['id']}/withdraw", {"reason": "重复登记"})
    page = clerk.get(r.location).text
    assert "流程已撤回" in page and "已撤回" in page


def test_the_inbox_lists_what_was_sent_to_me_and_the_instance_page_marks_it_read(app):
    iid = _to_gm_approval(app)
    sales = Browser(app, "sales1")
    inbox = sales.get("/").text
    assert "抄送我的" in inbox and "1 条未读" in inbox and f'data-instance="{iid}"' in inbox
    page = sales.get(f"/instances/{iid}").text
    assert 'id="mark-read"' in page and "销售公司总经理" in page
    r = sales.post(f"/cc/{iid}/read")
    page = sales.get(r.location).text
    assert "已标记为已阅" in page and 'id="mark-read"' not in page and 'id="cc-read"' in page
    assert "条未读" not in sales.get("/").text


def test_an_over_long_note_is_refused_by_the_api_and_the_pages_alike(app, api):
    """One rule for a 催办's note (at most 500 characters), in the runtime: the API answers 422
    naming the field in the reader's language, the page says so, and neither records a cut
    note; 500 characters go through whole."""
    inst = registered(api)
    verify = task(inst, "verify")
    clerk = api["clerk1"]
    r = clerk.client.post(f"/api/v1/tasks/{verify}/urge", json={"note": "催" * 501},
                          headers={**clerk.headers, "Accept-Language": "zh"})
    body = _check(r, 422, None)
    assert body["code"] == "invalid_form" and body["message"] == "附言有 501 个字符，最多 500 个：请删减"
    assert body["errors"] == [{"field": "note", "message": "最多 500 个字符"}]
    page = Browser(app, "clerk1")
    page.get(f"/instances/{inst['id']}")
    r = page.post(f"/tasks/{verify}/urge", {"note": "催" * 600})
    assert r.status_code == 302, r.status_code
    assert "附言有 600 个字符，最多 500 个：请删减" in page.get(r.location).text
    history = clerk.get(f"/instances/{inst['id']}/events")
    assert not [e for e in history["items"] if e["type"] == "task:urged"]
    done = clerk.post(f"/tasks/{verify}/urge", {"note": "催" * 500}, schema="Instance")
    assert done["rev"] == inst["rev"] + 1


def test_a_long_list_to_transfer_to_is_typed_into_with_suggestions(app, api):
    """A role that thirty people hold (a big company's service managers): the transfer form
    offers them as suggestions to a typed name rather than a list to scroll on a phone, and
    the user name that goes in transfers the task as the list did."""
    with app.extensions["services"].database.writing() as s:
        for i in range(30):
            store.add_user(s, f"mgr{i:02d}", PW, ["service-managers"], full_name=f"经理{i:02d}")
    inst = registered(api)
    verify = task(inst, "verify")
    chief = Browser(app, "chief1")
    page = chief.get(f"/tasks/{verify}").text
    assert '<input name="to_user" id="to-user" list="transfer-people"' in page
    offered = re.findall(r'<option value="(\w+)">([^<]*)</option>', page.split('id="transfer-people"')[1].split("</datalist>")[0])
    assert len(offered) == 31 and ("mgr07", "经理07") in offered and "chief1" not in dict(offered)
    assert "共有 31 人可以接手。" in page
    r = chief.post(f"/tasks/{verify}/transfer", {"to_user": "mgr07", "reason": "出差"})
    assert r.status_code == 302 and r.location.endswith("/")


def test_urge_and_withdraw_are_refused_to_someone_who_may_no_longer_read_the_record(app):
    """催办 and 撤回 are allowed to the starter and whoever did a step, who may hold no role
    (moved to another department). Their answer was the whole record, data and history, which
    its page and GET /instances/{id} refuse them: now the action is refused as the read is,
    through the API and the pages alike, and nothing is recorded."""
    from engine.store import users as user_store

    client = app.test_client()
    clerk = Api(client, "clerk1")
    inst = registered({"clerk1": clerk})
    fresh = clerk.post("/procedures/customer-complaint/instances", {"data": START}, status=201)
    with app.extensions["services"].database.writing() as s:
        user_store.set_groups(s, "clerk1", [])
    clerk = Api(client, "clerk1")
    assert client.get(f"/api/v1/instances/{inst['id']}", headers=clerk.headers).status_code == 403
    acknowledged = next(t["id"] for t in inst["tasks"] if t["step"] == "acknowledge")
    for path, body in ((f"/tasks/{task(inst, 'verify')}/urge", {"note": "?"}),
                       (f"/instances/{fresh['id']}/withdraw", {"reason": "重复登记"}),
                       (f"/tasks/{acknowledged}/recall", {})):
        r = client.post(f"/api/v1{path}", json=body, headers=clerk.headers)
        assert r.status_code == 403 and "data" not in r.json, (path, r.json)
        assert START["customer"] not in r.get_data(as_text=True)
    page = Browser(app, "clerk1")
    page.get("/")
    r = page.post(f"/tasks/{task(inst, 'verify')}/urge", {"note": "?"})
    assert r.status_code == 302  # the refusal is flashed on the way back, as every action's
    chief = Api(client, "chief1")
    events = chief.get(f"/instances/{inst['id']}/events")["items"]
    assert not {"task:urged", "task:recalled"} & {e["type"] for e in events}
    assert chief.get(f"/instances/{fresh['id']}")["status"] == "running"


def test_someone_who_may_not_read_a_record_learns_nothing_of_its_progress_from_a_write(app):
    """'x' holds no role: the record and its tasks are refused to them. The writes used to
    answer with what the record holds: who did which step (409 "already done by clerk1"),
    which task is open for which role, which steps hold data (a correction: 404 for a step not
    done, 403 for a done one). Each now answers the read's own refusal, through the API and
    the pages alike; a holder of a role still gets the runtime's words."""
    client = app.test_client()
    inst = registered({"clerk1": Api(client, "clerk1")})
    iid = inst["id"]
    done = next(t["id"] for t in inst["tasks"] if t["step"] == "register")
    x = Api(client, "x")
    refusal = client.get(f"/api/v1/instances/{iid}", headers=x.headers).json["message"]
    verify = task(inst, "verify")
    calls = [(f"/tasks/{done}/claim", None), (f"/tasks/{done}/complete", {"data": {}}),
             (f"/tasks/{verify}/claim", None), (f"/tasks/{verify}/complete", {"data": {}}),
             (f"/tasks/{verify}/complete", {"data": {}, "expected_rev": 0}),  # the version it is at
             (f"/tasks/{done}/transfer", {"to_user": "clerk2", "reason": "r"}),
             (f"/tasks/{done}/return", {"to_step": "register", "reason": "r"}),
             (f"/tasks/{done}/recall", {}), (f"/tasks/{done}/compute", {"data": {}}),
             (f"/instances/{iid}/corrections", {"step": "verify", "field": "findings", "value": "v", "reason": "r"}),
             (f"/instances/{iid}/corrections", {"step": "register", "field": "content", "value": "v", "reason": "r"})]
    for path, body in calls:
        r = client.post(f"/api/v1{path}", json=body, headers=x.headers)
        assert (r.status_code, r.json["message"]) == (403, refusal), (path, r.json)
    page = Browser(app, "x")
    page.get("/")
    for path, form in ((f"/tasks/{done}/claim", {}),
                       (f"/instances/{iid}/correct", {"target": "verify:findings", "value": "v", "reason": "r"})):
        r = page.post(path, form)
        assert "clerk1" not in r.text and "没有已记录的数据" not in r.text, (path, r.status_code, r.text[:300])
    clerk2 = Api(client, "clerk2")  # a holder of the role is told what happened
    r = client.post(f"/api/v1/tasks/{done}/claim", headers=clerk2.headers)
    assert r.status_code == 409 and ("clerk1" in r.json["message"] or "Clerk1" in r.json["message"]), r.json
