"""The shipped procedures of the seed catalogue, end to end through the REST API.

Each test logs in users of the groups that config.yaml gives the procedure's roles, starts
an instance over HTTP and walks it with the answers of one of its simulation files
(tests/data/answers/), checking on the way what the seed documents require: who may act
(users of other groups get 403), the routing, the due times of the deadlines, signatures,
and the linked instances that spawn steps open (the child points back to its origin, the
origin lists the link). Runs on SQLite and, when WF_TEST_DATABASE_URL is set, PostgreSQL.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from engine.config import load_config
from engine.language.calendar import Calendar, parse_duration
from engine.store import users as user_store
from tests.helpers.service import answers
from web import create_app

ROOT = Path(__file__).resolve().parents[2]
PW = "s3cret-pw"
CFG = load_config(ROOT / "config.yaml")
CAL = Calendar.from_config("default", CFG.get("calendars")["default"])
# smallest files whose first bytes agree with their type, for file and signature fields
FAKE_FILES = {"png": b"\x89PNG\r\n\x1a\n" + b"\0" * 16, "jpg": b"\xff\xd8\xff\xe0" + b"\0" * 16,
              "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"}

# user -> groups; every group is one that config.yaml maps a role of the procedures to
USERS: dict[str, list[str]] = {
    "clerk1": ["service-desk"],
    "chief1": ["service-managers"],
    "head1": ["after-sales-heads"],
    "tech1": ["service-technicians"],
    "export1": ["export-business"],
    "depthead1": ["department-heads"],
    "gm1": ["general-managers"],
    "dgm1": ["deputy-general-managers"],
    "mgm1": ["marketing-managers"],
    "qd1": ["quality-dept"],
    "inspector1": ["qa-inspectors"],
    "supervisor1": ["qa-supervisors"],
    "gd1": ["general-affairs"],
    "wh1": ["warehouse"],
    "sales1": ["sales"],
    "supply1": ["sales-supply"],
    "repair1": ["repair-technicians"],
    "doc1": ["document-control"],
}

# role -> the user above who holds it (through the group config.yaml maps it to)
ROLE_USER = {
    "complaint_clerk": "clerk1", "service_clerk": "clerk1", "service_dept": "clerk1",
    "service_chief": "chief1", "service_head": "head1", "technician": "tech1", "export_dept": "export1",
    "dept_head": "depthead1", "responsible_dept": "depthead1", "general_manager": "gm1",
    "deputy_gm": "dgm1", "marketing_gm": "mgm1", "quality_dept": "qd1", "quality_inspector": "inspector1",
    "fg_inspector": "inspector1", "qa_tester": "inspector1", "inspector": "inspector1",
    "qa_supervisor": "supervisor1", "quality_manager": "supervisor1", "general_dept": "gd1",
    "warehouse": "wh1", "sales_rep": "sales1", "sales_supply": "supply1", "reporter": "sales1",
    "repair_group": "repair1", "document_control": "doc1",
}


@cache
def _hash(password: str) -> str:
    return user_store.generate_password_hash(password, method=user_store.PASSWORD_METHOD)


@pytest.fixture
def app(db_url, monkeypatch):
    monkeypatch.setattr(user_store, "hash_password", _hash)
    app = create_app({"TESTING": True, "WF_OVERRIDES": {"database.url": db_url}, "SECRET_KEY": "test-secret"})
    with app.extensions["services"].database.sessions.begin() as session:
        for name, groups in USERS.items():
            user_store.add_user(session, name, PW, groups, full_name=name.title())
    yield app
    app.extensions["services"].database.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """A client logged in as one user."""

    def __init__(self, client, username: str) -> None:
        self.client, self.username = client, username
        r = client.post("/api/v1/auth/token", json={"username": username, "password": PW})
        assert r.status_code == 200, r.json
        self.headers = {"Authorization": f"Bearer {r.json['token']}"}

    def get(self, path: str, status: int = 200) -> Any:
        r = self.client.get(f"/api/v1{path}", headers=self.headers)
        assert r.status_code == status, (r.status_code, r.get_json())
        return r.get_json()

    def upload_names(self, value: Any) -> Any:
        """A file name of an answer file (``客户签字.png``, ``[依据.pdf]``) uploaded as a tiny
        file of that type and replaced by its attachment id; any other value as it is."""
        if isinstance(value, list):
            return [self.upload_names(v) for v in value]
        if not isinstance(value, str) or not value.lower().endswith(tuple("." + ext for ext in FAKE_FILES)):
            return value
        content = FAKE_FILES[value.lower().rsplit(".", 1)[1]]
        r = self.client.post("/api/v1/uploads", data={"file": (io.BytesIO(content), value)}, headers=self.headers)
        assert r.status_code == 201, (value, r.status_code, r.get_json())
        return r.get_json()["id"]

    def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        r = self.client.post(f"/api/v1{path}", json=body, headers=self.headers)
        assert r.status_code == status, (self.username, path, r.status_code, r.get_json())
        return r.get_json()


@pytest.fixture
def api(client):
    logged: dict[str, Api] = {}

    def get(username: str) -> Api:
        if username not in logged:
            logged[username] = Api(client, username)
        return logged[username]
    return get


def open_task(inst: dict, step: str) -> dict:
    found = [t for t in inst["tasks"] if t["step"] == step and t["status"] == "open"]
    assert found, (step, [(t["step"], t["status"]) for t in inst["tasks"]])
    return found[0]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Walk:
    """One instance walked through the API with the answers of a simulation file; each
    answer is given by the user holding the role of the open task's step."""

    def __init__(self, api, name: str, starter: str, **start_data: Any) -> None:
        self.api = api
        script = answers(name)
        self.procedure = script["procedure"]
        self.entries = [e for e in script["steps"] if "step" in e]
        self.i = 0
        self.inst = api(starter).post(f"/procedures/{self.procedure}/instances",
                                      {"data": {**script["start"]["data"], **start_data}}, status=201)
        self.id = self.inst["id"]

    def task(self, step: str) -> dict:
        return open_task(self.inst, step)

    def answer(self, *, as_user: str | None = None, status: int = 200, **override: Any) -> dict:
        """Answer the next entry (its data updated by ``override``)."""
        entry = self.entries[self.i]
        task = self.task(entry["step"])
        user = as_user or ROLE_USER[task["role"]]
        data = {**(entry.get("data") or {}), **override}
        data = {k: self.api(user).upload_names(v) for k, v in data.items()}
        if task["kind"] == "approval":
            data = {**data, "decision": override.get("decision", entry.get("decision", "approve")),
                    "comment": override.get("comment", entry.get("comment", ""))}
        body: dict[str, Any] = {"data": data}
        if task["signature"]:
            body["password"] = PW
        out = self.api(user).post(f"/tasks/{task['id']}/complete", body, status=status)
        if status == 200:
            self.inst = out
            self.i += 1
        return out

    def until(self, step: str) -> dict:
        """Answer entries until the next one is for ``step``; return that step's open task."""
        while self.entries[self.i]["step"] != step:
            self.answer()
        return self.task(step)

    def finish(self) -> dict:
        while self.i < len(self.entries):
            self.answer()
        return self.inst

    def refresh(self, user: str) -> dict:
        self.inst = self.api(user).get(f"/instances/{self.id}")
        return self.inst


def due_after(task: dict, duration: str) -> bool:
    """The task is due ``duration`` (on the default calendar) after it was created."""
    return ts(task["due_at"]) == CAL.add(ts(task["created_at"]), parse_duration(duration))


def children(api, user: str, origin_id: str, procedure: str) -> list[dict]:
    """Instances of ``procedure`` opened by a spawn step of ``origin_id``."""
    reader = api(user)
    found = []
    for item in reader.get(f"/instances?procedure={procedure}&limit=200")["items"]:
        inst = reader.get(f"/instances/{item['id']}")
        if (inst.get("origin") or {}).get("instance") == origin_id:
            found.append(inst)
    return found


def assert_linked(api, origin: Walk, origin_reader: str, procedure: str, child_reader: str, step: str) -> dict:
    """Exactly one ``procedure`` instance was opened by ``origin``; it points back, and the
    origin's record lists the link."""
    kids = children(api, child_reader, origin.id, procedure)
    assert len(kids) == 1, kids
    kid = kids[0]
    assert kid["origin"] == {"procedure": origin.procedure, "instance": origin.id, "step": step}
    assert kid["status"] == "running" and kid["started_by"]
    inst = origin.refresh(origin_reader)
    assert any(link["procedure"] == procedure and link["step"] == step and link["instance"] == kid["id"]
               and link["status"] == "running" for link in inst["links"]), inst["links"]
    spawned = [h for h in inst["history"] if h["type"] == "spawn:requested"]
    assert [h["step"] for h in spawned] == [step]
    return kid


# --- customer-complaint (P11) -----------------------------------------------------------------------

def test_customer_complaint_general_goes_to_the_department_head(api):
    walk = Walk(api, "customer-complaint--general", "clerk1")
    walk.answer()
    ack = walk.task("acknowledge")
    assert due_after(ack, "24h")                                    # 002-H: response within 24 h
    api("tech1").post(f"/tasks/{ack['id']}/complete", {"data": walk.entries[1]["data"]}, status=403)
    walk.answer()
    assert due_after(walk.task("verify"), "3wd")                    # 002-H: verification in 3 working days
    task = walk.until("dept_approval")
    assert task["role"] == "dept_head" and task["signature"] == "批准"
    assert not [t for t in walk.inst["tasks"] if t["step"] == "gm_approval"]
    walk.answer(as_user="gm1", status=403)                          # not the GM's decision
    body = {"data": {"decision": "approve", "comment": "同意"}}
    assert api("depthead1").post(f"/tasks/{task['id']}/complete", body, status=422)["code"] == "signature_invalid"
    inst = walk.finish()
    assert inst["status"] == "completed" and inst["outcome"] == "已结案"
    assert "gm_approval" not in inst["path"] and "open_capa" not in inst["path"]
    assert children(api, "supervisor1", walk.id, "capa") == []


def test_customer_complaint_serious_goes_to_the_general_manager_and_opens_capa(api):
    walk = Walk(api, "customer-complaint--serious", "clerk1")
    # 001-I §5.5.3: for a serious complaint the analysis is due within 24 h (3 wd otherwise)
    assert due_after(walk.until("analyse"), "24h")
    walk.answer()
    task = walk.task("gm_approval")
    assert task["role"] == "general_manager"
    walk.answer(as_user="depthead1", status=403)                    # not the department head's
    walk.answer()                                                    # GM rejects: back to the analysis
    assert walk.task("analyse")
    walk.answer()
    limit = "2026-12-31"
    walk.answer(limit_on=limit)                                     # GM approves and sets the limit
    assert walk.inst["data"]["gm_approval"]["limit_on"] == limit
    execute = walk.task("execute")
    assert execute["due_at"].startswith("2026-12-3")               # due on the GM's limit date
    inst = walk.finish()
    assert inst["outcome"] == "已结案"
    assert inst["path"].count("gm_approval") == 2 and "dept_approval" not in inst["path"]
    capa = assert_linked(api, walk, "clerk1", "capa", "supervisor1", "open_capa")
    assert capa["data"]["start"]["source"] == "客户投诉" and capa["data"]["start"]["source_ref"] == walk.id
    assert open_task(capa, "analyse")["role"] == "qa_supervisor"


# --- medical-device-complaint (P12) ------------------------------------------------------------------

def test_medical_device_complaint_local_conforming_resumes_sale_within_24h(api):
    walk = Walk(api, "medical-device-complaint--local-conforming", "qd1")
    walk.until("verify_onsite")
    verify = walk.task("verify_onsite")
    received = ts(walk.inst["data"]["record"]["received_at"])
    assert verify["role"] == "quality_inspector"
    assert ts(verify["due_at"]) == received + timedelta(hours=24)             # local: on site in 24 h of the complaint
    walk.answer(as_user="qd1", status=403)
    walk.answer()
    disposition = walk.task("disposition")
    assert ts(disposition["due_at"]) == received + timedelta(days=3)          # 3 days from the complaint
    assert disposition["signature"] == "批准"
    walk.answer()
    resume = walk.task("resume_sale")
    assert due_after(resume, "24h")                                            # resume sale within 24 h
    inst = walk.finish()
    assert inst["outcome"] == "已结案" and "open_nonconforming" not in inst["path"]
    assert inst["data"]["resume_sale"]["warehouse_notified"] is True


def test_medical_device_complaint_out_of_town_nonconforming_opens_nonconforming_product(api):
    walk = Walk(api, "medical-device-complaint--out-of-town-nonconforming", "qd1")
    walk.until("verify_onsite")
    received = ts(walk.inst["data"]["record"]["received_at"])
    assert ts(walk.task("verify_onsite")["due_at"]) == received + timedelta(days=7)   # out of town: 7 days of the complaint
    walk.until("return_goods")
    walk.answer()
    kid = assert_linked(api, walk, "qd1", "nonconforming-product", "inspector1", "open_nonconforming")
    assert kid["data"]["start"]["batch_no"] == "20260815" and kid["data"]["start"]["quantity"] == 200
    inst = walk.finish()
    assert inst["outcome"] == "已结案" and "resume_sale" not in inst["path"]


# --- field-service-dispatch (P06) --------------------------------------------------------------------

def test_field_service_dispatch_approved_order_urban_arrival_and_repair(api):
    walk = Walk(api, "field-service-dispatch--urban-repaired", "clerk1")
    walk.answer()
    assert due_after(walk.task("assign"), "1h")                                # assign within 1 h
    walk.until("approve_order")
    order = walk.task("approve_order")
    assert order["role"] == "service_head" and order["signature"] == "批准"
    walk.answer(as_user="chief1", status=403)                                  # only the head approves
    walk.answer()
    arrive = walk.task("arrive")
    assert due_after(arrive, "3wh")                                            # urban: 3 working hours
    walk.answer(as_user="clerk1", status=403)
    walk.answer()
    walk.answer()
    assert due_after(walk.task("repair"), "12h")                               # repaired within 12 h
    inst = walk.finish()
    assert inst["outcome"] == "已结案" and "spare_unit" not in inst["path"]
    signed = [h for h in inst["history"] if h["step"] == "service_record" and h["type"] == "task:completed"]
    assert signed and "确认" in str(signed[0]["data"])


def test_field_service_dispatch_spare_unit_within_24h_after_the_12h_window(api):
    walk = Walk(api, "field-service-dispatch--suburban-spare", "clerk1")
    walk.until("approve_order")
    walk.answer()                                                              # head rejects: back to assign
    assert walk.task("assign")
    walk.until("arrive")
    assert due_after(walk.task("arrive"), "7wh")                               # suburban: 7 working hours
    walk.until("repair")
    walk.answer()                                                              # not repaired in time
    spare = walk.task("spare_unit")
    arrived = ts(walk.inst["data"]["arrive"]["arrived_at"])
    assert ts(spare["due_at"]) == arrived + timedelta(hours=12 + 24)
    walk.answer()
    assert walk.task("repair")                                                 # repair goes on
    inst = walk.finish()
    assert inst["path"].count("repair") == 2 and inst["outcome"] == "已结案"


def test_field_service_dispatch_factory_return_and_major_fault_link_out(api):
    walk = Walk(api, "field-service-dispatch--out-of-town-factory-major", "clerk1")
    walk.until("arrive")
    assert due_after(walk.task("arrive"), "24h")                               # out of town: 24 h
    inst = walk.finish()
    assert inst["outcome"] == "已结案"
    repair = assert_linked_many(api, walk, "clerk1", {
        "return-to-factory-repair": ("sales1", "open_factory_repair"),
        "quality-problem-handling": ("supply1", "open_quality_problem")})
    assert repair["return-to-factory-repair"]["data"]["start"]["serial_no"] == "KT2026-0088"
    assert open_task(repair["quality-problem-handling"], "judge")["role"] == "sales_supply"


def assert_linked_many(api, origin: Walk, origin_reader: str, expected: dict[str, tuple[str, str]]) -> dict:
    inst = origin.refresh(origin_reader)
    assert sorted((lk["procedure"], lk["step"]) for lk in inst["links"]) == sorted(
        (p, step) for p, (_, step) in expected.items())
    out = {}
    for procedure, (reader, step) in expected.items():
        kids = children(api, reader, origin.id, procedure)
        assert len(kids) == 1 and kids[0]["origin"]["step"] == step
        out[procedure] = kids[0]
    return out


# --- return-to-factory-repair (P09-B) ----------------------------------------------------------------

def test_return_to_factory_repair_ages_then_qa_full_function_test(api):
    walk = Walk(api, "return-to-factory-repair--customer-free-fail", "sales1")
    walk.answer()
    gm = walk.task("gm_confirm")                           # customer's fault but free: GM confirms
    assert gm["role"] == "marketing_gm"
    walk.answer(as_user="gm1", status=403)
    walk.until("aging")
    walk.answer()                                          # a failure during aging: back to repair
    assert walk.task("repair")
    walk.until("qa_test")
    qa = walk.task("qa_test")
    assert qa["role"] == "qa_tester" and qa["signature"] == "确认"
    walk.answer(as_user="repair1", status=403)             # the repair group does not test its own work
    walk.answer()                                          # QA: 不合格
    kid = assert_linked(api, walk, "sales1", "nonconforming-product", "inspector1", "open_nonconforming")
    assert kid["data"]["start"]["source"] == "返修检测"
    assert walk.task("repair")
    inst = walk.finish()
    assert inst["outcome"] == "已发货"
    path = inst["path"]
    # every repair is aged before the full-function test, and the last test passed
    assert path.index("aging") < path.index("qa_test")
    last_repair = len(path) - 1 - path[::-1].index("repair")
    assert path[last_repair:last_repair + 5] == ["repair", "aging_check", "aging", "test_check", "qa_test"]
    assert inst["data"]["qa_test"]["verdict"] == "合格"


# --- quality-problem-handling (P13) ------------------------------------------------------------------

def test_quality_problem_serious_stops_the_batch_and_the_gm_decides(api):
    walk = Walk(api, "quality-problem-handling--serious-batch", "sales1")
    walk.answer()                                          # 严重, not use/maintenance, not one unit
    stop = walk.task("batch_stop")
    assert due_after(stop, "4h")
    walk.answer(as_user="sales1", status=403)
    walk.answer()
    assert walk.inst["data"]["batch_stop"]["stop_notice_issued"] is True
    walk.answer()
    gm = walk.task("gm_decision")
    assert gm["role"] == "general_manager" and gm["signature"] == "批准"
    # no customer statement may be made before the GM signs: there is no such task open
    assert [t["step"] for t in walk.inst["tasks"] if t["status"] == "open"] == ["gm_decision"]
    walk.answer(as_user="depthead1", status=403)
    walk.answer()                                          # GM rejects: investigate again
    walk.until("gm_decision")
    walk.answer()
    inst = walk.finish()
    assert inst["outcome"] == "已处理" and "dept_approval" not in inst["path"]
    capa = assert_linked(api, walk, "supply1", "capa", "supervisor1", "open_capa")
    assert capa["data"]["start"]["source"] == "质量问题"


def test_quality_problem_general_is_agreed_by_the_department_leader(api):
    walk = Walk(api, "quality-problem-handling--general", "tech1")
    walk.answer()
    assert not [t for t in walk.inst["tasks"] if t["step"] == "batch_stop"]
    walk.until("dept_approval")
    walk.answer(as_user="gm1", status=403)
    inst = walk.finish()
    assert inst["outcome"] == "已处理" and "gm_decision" not in inst["path"]
    assert children(api, "supervisor1", walk.id, "capa") == []


# --- customer-opinion-survey (P16) -------------------------------------------------------------------

RATINGS = ("rating_attitude", "rating_skill", "rating_arrival", "rating_promises")


def test_customer_opinion_survey_four_items_four_levels(api):
    walk = Walk(api, "customer-opinion-survey--general-complaint", "clerk1")
    walk.answer()
    card = walk.task("record_card")
    form = {t["id"]: t for t in api("clerk1").get("/tasks")["items"]}[card["id"]]["form"]
    for item in RATINGS:                                   # four items, each with the same four levels
        assert form["properties"][item]["enum"] == ["很满意", "满意", "基本满意", "不满意"]
        assert item in form["required"]
    bad = walk.answer(status=422, rating_skill="非常好")
    assert [e["field"] for e in bad["errors"]] == ["rating_skill"]
    data = {k: v for k, v in walk.entries[walk.i]["data"].items() if k != "rating_arrival"}
    missing = api("clerk1").post(f"/tasks/{card['id']}/complete", {"data": data}, status=422)
    assert [e["field"] for e in missing["errors"]] == ["rating_arrival"]
    walk.answer()
    assert walk.inst["data"]["record_card"]["rating_arrival"] == "不满意"
    assert walk.task("handle")                             # general: the service department handles it
    inst = walk.finish()
    assert inst["outcome"] == "已归档" and "deputy_gm_review" not in inst["path"]


def test_customer_opinion_survey_serious_goes_to_the_deputy_gm_and_opens_a_complaint(api):
    walk = Walk(api, "customer-opinion-survey--serious-forwarded", "clerk1")
    walk.until("deputy_gm_review")
    walk.answer(as_user="chief1", status=403)
    walk.answer()
    complaint = assert_linked(api, walk, "clerk1", "customer-complaint", "clerk1", "open_complaint")
    assert complaint["data"]["start"]["customer"] == "某商场"
    assert open_task(complaint, "register")["role"] == "complaint_clerk"
    inst = walk.finish()
    assert inst["outcome"] == "已归档" and inst["data"]["reply"]["method"] == "书面/函告"
