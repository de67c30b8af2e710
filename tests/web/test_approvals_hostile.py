"""Approvals as a quality department uses them (会签/或签/依次, 转交, 加签, 退回, 撤回, 收回,
抄送), through real HTTP on a real database: the defects a hostile pass found, each now a
regression test. After every action allowed, ``wf audit verify`` finds the record agreeing
with its events."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from engine import store
from tests.web.test_web_ui import Browser

LANG_FORMS = Path(__file__).parents[1] / "data" / "lang" / "forms"
ROLES = {"clerk": ["clerks"], "fin": ["fins"], "pres": ["preses"], "vp": ["vps"], "head": ["heads"],
         "admin": ["admins"]}
USERS = {"clerk1": ["clerks"], "clerk2": ["clerks"], "fin1": ["fins"], "fin2": ["fins"], "pres1": ["preses"],
         "pres2": ["preses"], "vp1": ["vps"], "vp2": ["vps"], "head1": ["heads"], "both": ["fins", "preses"],
         "adm": ["admins"], "x": []}

PROC = """
id: allapp
title: 会签测试
roles:
  clerk: 职员
  fin: 财务
  pres: 总裁办
  vp: 副总裁
start: {roles: [clerk], step: draft}
steps:
  draft:
    title: 起草
    role: clerk
    form: note
    DRAFT_EXTRA
    next: sign
  sign:
    type: approval
    title: 会签
    approvers:
      - role: fin
      - role: pres
      EXTRA_APPROVER
    mode: MODE
    recall: true
    return_to: [draft]
    add_approver: {from: vp}
    SIGN_EXTRA
    on_reject: draft
    next: check
  check:
    title: 复核
    role: clerk
    form: note
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""


def proc(mode="all", draft="", approver="", sign="cc_add: true"):
    return (PROC.replace("MODE", mode).replace("DRAFT_EXTRA", draft).replace("EXTRA_APPROVER", approver)
            .replace("SIGN_EXTRA", sign))


class Api:
    def __init__(self, app, user, lang="zh"):
        self.c = app.test_client()
        r = self.c.post("/api/v1/auth/token", json={"username": user, "password": f"pw-{user}"})
        assert r.status_code == 200, r.json
        self.h = {"Authorization": f"Bearer {r.json['token']}", "Accept-Language": lang}

    def get(self, path):
        return self.c.get(f"/api/v1{path}", headers=self.h)

    def post(self, path, body=None):
        return self.c.post(f"/api/v1{path}", json=body, headers=self.h)


@pytest.fixture
def mk(db_url, tmp_path):
    from web import create_app

    apps = []

    def make(text):
        (tmp_path / "procedures").mkdir(exist_ok=True)
        (tmp_path / "procedures" / "allapp.yaml").write_text(text, encoding="utf-8")
        if not (tmp_path / "forms").exists():
            shutil.copytree(LANG_FORMS, tmp_path / "forms")
        app = create_app({"TESTING": True, "SECRET_KEY": "t", "WF_OVERRIDES": {
            "database.url": db_url, "locale": "zh", "paths.uploads": str(tmp_path / "uploads"),
            "paths.procedures": str(tmp_path / "procedures"), "paths.forms": str(tmp_path / "forms"),
            "roles": ROLES}})
        with app.extensions["services"].database.sessions.begin() as s:
            for user, groups in USERS.items():
                store.add_user(s, user, f"pw-{user}", groups)
        apps.append(app)
        return app
    yield make
    for app in apps:
        app.extensions["services"].database.engine.dispose()


def web(app, user):
    b = Browser(app)
    b.login(user)
    return b


def verify(app) -> list:
    """``wf audit verify``: the breaks found (empty: OK)."""
    from engine.app.admin import verify_audit
    return [str(b) for b in verify_audit(app.extensions["services"]).breaks]


def open_tasks(inst: dict, step: str | None = None) -> list[dict]:
    return [t for t in inst["tasks"] if t["status"] == "open" and (step is None or t["step"] == step)]


def submitted(app) -> dict:
    clerk = Api(app, "clerk1")
    inst = clerk.post("/procedures/allapp/instances", {"data": {}}).json
    return clerk.post(f"/tasks/{open_tasks(inst, 'draft')[0]['id']}/complete", {"data": {"text": "v1"}}).json


def sign_task(inst, role=None, assignee=None) -> str:
    return next(t["id"] for t in open_tasks(inst, "sign")
                if (role is None or t["role"] == role) and (assignee is None or t["assignee"] == assignee))


def decisions(inst) -> list[str]:
    return [h["data"]["decision"] for h in inst["history"] if h["type"] == "approval:decided"]


APPROVE = {"data": {"decision": "approve", "comment": "同意"}}


# 收回 (recall) in a multi-party approval --------------------------------------------------

@pytest.mark.parametrize("mode", ["all", "any"])
def test_the_decision_that_settled_a_multiparty_approval_is_not_recalled(mk, mode):
    """Once one approver's decision settled a 会签/或签 and the instance moved on, 收回 is
    neither offered nor accepted: the refusal names the approval and says to ask for a 退回;
    the record stays whole."""
    app = mk(proc(mode))
    inst = submitted(app)
    fin, pres = Api(app, "fin1"), Api(app, "pres1")
    ft = sign_task(inst, "fin")
    if mode == "all":
        assert pres.post(f"/tasks/{sign_task(inst, 'pres')}/complete", APPROVE).status_code == 200
    assert fin.post(f"/tasks/{ft}/complete", APPROVE).status_code == 200
    assert "/recall" not in web(app, "fin1").get(f"/instances/{inst['id']}").text
    r = fin.post(f"/tasks/{ft}/recall")
    assert r.status_code == 403
    assert "会签" in r.json["message"] and "退回" in r.json["message"], r.json["message"]
    assert Api(app, "fin1", "en").post(f"/tasks/{ft}/recall").json["message"].startswith(
        "your decision settled the approval")
    assert verify(app) == []
    inst = fin.get(f"/instances/{inst['id']}").json
    assert [t["step"] for t in open_tasks(inst)] == ["check"]


def test_recall_in_a_sequence_asks_the_next_approver_again_in_turn(mk):
    """依次 财务 → 总裁办: 财务 approves, recalls (收回), approves again: 总裁办 is asked next (the
    step is not decided 'reject' for want of approvers), and the record agrees with its events
    after each action."""
    app = mk(proc("sequence"))
    inst = submitted(app)
    fin = Api(app, "fin1")
    ft = sign_task(inst, "fin")
    fin.post(f"/tasks/{ft}/complete", APPROVE)
    assert fin.post(f"/tasks/{ft}/recall").status_code == 200
    assert verify(app) == []
    inst = fin.post(f"/tasks/{ft}/complete", APPROVE).json
    assert decisions(inst) == []
    assert [t["role"] for t in open_tasks(inst, "sign")] == ["pres"]
    assert verify(app) == []
    inst = Api(app, "pres1").post(f"/tasks/{sign_task(inst, 'pres')}/complete", APPROVE).json
    assert decisions(inst) == ["approve"]
    assert verify(app) == []


@pytest.mark.parametrize("again", ["approve", "reject"])
def test_recall_inside_an_unsettled_cosign_then_deciding_again(mk, again):
    """会签: 财务 approves while 总裁办 has not decided, recalls, decides again: the step is
    decided once, on the decisions that stand."""
    app = mk(proc("all"))
    inst = submitted(app)
    fin = Api(app, "fin1")
    ft = sign_task(inst, "fin")
    fin.post(f"/tasks/{ft}/complete", APPROVE)
    assert "/recall" in web(app, "fin1").get(f"/instances/{inst['id']}").text
    assert fin.post(f"/tasks/{ft}/recall").status_code == 200
    assert verify(app) == []
    inst = fin.post(f"/tasks/{ft}/complete", {"data": {"decision": again, "comment": "金额不对"}}).json
    assert verify(app) == []
    if again == "approve":
        assert decisions(inst) == [] and [t["role"] for t in open_tasks(inst)] == ["pres"]
        inst = Api(app, "pres1").post(f"/tasks/{sign_task(inst, 'pres')}/complete", APPROVE).json
        assert decisions(inst) == ["approve"] and [t["step"] for t in open_tasks(inst)] == ["check"]
    else:  # 会签: one rejection leaves the approvals needed out of reach
        assert decisions(inst) == ["reject"] and [t["step"] for t in open_tasks(inst)] == ["draft"]
    assert verify(app) == []


def test_recalled_submission_leaves_no_approval_behind(mk):
    """收回 of the submission that opened a 会签, then submitting again: one round, asked anew."""
    app = mk(proc("all", draft="recall: true"))
    clerk = Api(app, "clerk1")
    inst = clerk.post("/procedures/allapp/instances", {"data": {}}).json
    draft = open_tasks(inst, "draft")[0]["id"]
    clerk.post(f"/tasks/{draft}/complete", {"data": {"text": "v1"}})
    assert clerk.post(f"/tasks/{draft}/recall").status_code == 200
    assert verify(app) == []
    inst = clerk.post(f"/tasks/{draft}/complete", {"data": {"text": "v2"}}).json
    assert sorted(t["role"] for t in open_tasks(inst, "sign")) == ["fin", "pres"]
    for role, user in (("fin", "fin1"), ("pres", "pres1")):
        inst = Api(app, user).post(f"/tasks/{sign_task(inst, role)}/complete", APPROVE).json
    assert decisions(inst) == ["approve"]
    assert verify(app) == []


def test_recall_is_not_refused_as_taken_up_for_a_named_approver(mk):
    """收回 the submission while no approver has touched it: a named approver's task (user:,
    manager:, head_of:...) has its assignee from the start, which is not taking it up."""
    app = mk(proc(draft="recall: true", approver="- user: head1"))
    clerk = Api(app, "clerk1")
    inst = clerk.post("/procedures/allapp/instances", {"data": {}}).json
    draft = open_tasks(inst, "draft")[0]["id"]
    clerk.post(f"/tasks/{draft}/complete", {"data": {"text": "v1"}})
    r = clerk.post(f"/tasks/{draft}/recall")
    assert r.status_code == 200, r.json["message"]
    assert verify(app) == []


def test_recall_is_refused_once_the_named_approver_decided(mk):
    app = mk(proc(draft="recall: true", approver="- user: head1"))
    clerk = Api(app, "clerk1")
    inst = clerk.post("/procedures/allapp/instances", {"data": {}}).json
    draft = open_tasks(inst, "draft")[0]["id"]
    inst = clerk.post(f"/tasks/{draft}/complete", {"data": {"text": "v1"}}).json
    Api(app, "head1").post(f"/tasks/{sign_task(inst, assignee='head1')}/complete", APPROVE)
    r = clerk.post(f"/tasks/{draft}/recall")
    assert r.status_code == 403 and "不能再收回" in r.json["message"], r.json["message"]


# 抄送 of the step ---------------------------------------------------------------------

def test_step_cc_of_a_cosign_is_sent_once_when_the_step_is_decided(mk):
    """`cc:` on a 会签 goes out when the step is decided, once: not at the first approver's
    decision, nor again at each later one."""
    app = mk(proc("all", sign="cc: [vp, user:x]"))
    inst = submitted(app)
    inst = Api(app, "fin1").post(f"/tasks/{sign_task(inst, 'fin')}/complete", APPROVE).json
    assert open_tasks(inst, "sign")
    assert inst["cc"] == []
    assert Api(app, "x").get("/cc").json["items"] == []
    inst = Api(app, "pres1").post(f"/tasks/{sign_task(inst, 'pres')}/complete", APPROVE).json
    assert [c["to"] for c in inst["cc"]] == [["vp", "user:x"]]
    assert len(Api(app, "x").get("/cc").json["items"]) == 1
    assert verify(app) == []


# one person decides once per approval ---------------------------------------------------

def test_one_who_decided_is_not_offered_nor_given_the_other_roles_task(mk):
    """'both' holds 财务 and 总裁办 and approved as 财务: the 总裁办 task is not in their
    inbox, they may not claim it, and it is not transferred to them (nor offered as a target)."""
    app = mk(proc("all"))
    inst = submitted(app)
    both = Api(app, "both")
    pt = sign_task(inst, "pres")
    assert pt in [t["id"] for t in both.get("/tasks").json["items"]]
    both.post(f"/tasks/{sign_task(inst, 'fin')}/complete", APPROVE)
    assert pt not in [t["id"] for t in both.get("/tasks").json["items"]]
    r = both.post(f"/tasks/{pt}/claim")
    assert r.status_code == 403 and "只审批一次" in r.json["message"], r.json["message"]
    r = Api(app, "pres1").post(f"/tasks/{pt}/transfer", {"to_user": "both", "reason": "出差"})
    assert r.status_code == 403 and "both" in r.json["message"], r.json["message"]
    page = web(app, "pres1").get(f"/tasks/{pt}").text
    form = page[page.index('id="transfer-form"'):]
    form = form[:form.index("</form>")]
    assert 'value="pres2"' in form and 'value="both"' not in form
    assert verify(app) == []


# 退回 -----------------------------------------------------------------------------------

def _returned_box(b, task_id) -> str:
    page = b.get(f"/tasks/{task_id}").text
    i = page.find('id="returned"')
    return re.sub(r"\s+", " ", page[i:page.find("</div>", i)]) if i >= 0 else ""


def test_the_returned_task_page_shows_the_reason_of_the_return(mk):
    """退回 from 会签 to 起草 with a reason: the reopened 起草 shows that reason, not an older
    rejection's."""
    app = mk(proc("all"))
    clerk, fin, b = Api(app, "clerk1"), Api(app, "fin1"), web(app, "clerk1")
    inst = submitted(app)
    inst = fin.post(f"/tasks/{sign_task(inst, 'fin')}/return", {"to_step": "draft", "reason": "首次：缺页"}).json
    assert "首次：缺页" in _returned_box(b, open_tasks(inst, "draft")[0]["id"])
    inst = clerk.post(f"/tasks/{open_tasks(inst, 'draft')[0]['id']}/complete", {"data": {"text": "v2"}}).json
    inst = fin.post(f"/tasks/{sign_task(inst, 'fin')}/complete",
                    {"data": {"decision": "reject", "comment": "旧理由：附件缺失"}}).json
    assert "旧理由：附件缺失" in _returned_box(b, open_tasks(inst, "draft")[0]["id"])
    inst = clerk.post(f"/tasks/{open_tasks(inst, 'draft')[0]['id']}/complete", {"data": {"text": "v3"}}).json
    inst = fin.post(f"/tasks/{sign_task(inst, 'fin')}/return",
                    {"to_step": "draft", "reason": "新理由：签字页缺失"}).json
    box = _returned_box(b, open_tasks(inst, "draft")[0]["id"])
    assert "新理由：签字页缺失" in box, box
    assert "旧理由" not in box


# refusals in the right words --------------------------------------------------------------

def test_refusals_on_a_claimed_or_named_task_say_the_real_reason(mk):
    """A 财务 task fin2 claimed, opened by fin1: told fin2 holds it; head1's own approval
    opened by fin2: told it is head1's; head1 may not transfer their named approval, and
    the page offers no transfer form."""
    app = mk(proc("all", approver="- user: head1"))
    inst = submitted(app)
    ft, ht = sign_task(inst, "fin"), sign_task(inst, assignee="head1")
    Api(app, "fin2").post(f"/tasks/{ft}/claim")
    claimed = Api(app, "fin1").get(f"/tasks/{ft}").json["message"]
    assert "fin2" in claimed, claimed
    page = web(app, "fin1").get(f"/tasks/{ft}").text
    assert "fin2" in page and "它属于角色“财务”" not in page
    named = Api(app, "fin2").get(f"/tasks/{ht}").json["message"]
    assert "head1" in named and "None" not in named, named
    r = Api(app, "head1").post(f"/tasks/{ht}/transfer", {"to_user": "fin2", "reason": "出差"})
    assert r.status_code == 403 and "不能转交" in r.json["message"] and "None" not in r.json["message"]
    assert 'id="transfer-form"' not in web(app, "head1").get(f"/tasks/{ht}").text
    assert 'id="transfer-form"' in web(app, "fin2").get(f"/tasks/{ft}").text


def test_cc_refuses_an_outsider_like_every_other_task_action(mk):
    """An ordinary user with no role posts to 抄送 on someone's task: refused as 转交 refuses
    them (the read's refusal), never naming the step nor telling whether a user exists."""
    app = mk(proc("all"))
    inst = submitted(app)
    x, ft = Api(app, "x"), sign_task(inst, "fin")
    told = x.post(f"/tasks/{ft}/transfer", {"to_user": "fin2", "reason": "r"}).json["message"]
    assert "没有角色" in told
    for recipients in (["clerk"], ["user:nosuch"]):
        r = x.post(f"/tasks/{ft}/cc", {"recipients": recipients})
        assert (r.status_code, r.json["message"]) == (403, told)
    # who may send it is still told of a user name that does not exist
    r = Api(app, "fin1").post(f"/tasks/{ft}/cc", {"recipients": ["user:nosuch"]})
    assert r.status_code == 404 and "nosuch" in r.json["message"]


# system outcomes in the reader's language ----------------------------------------------

def test_a_withdrawn_instance_reads_in_chinese(mk):
    app = mk(proc("all"))
    inst = submitted(app)
    Api(app, "clerk1").post(f"/instances/{inst['id']}/withdraw", {"reason": "重复"})
    b = web(app, "clerk1")
    status = re.search(r'id="instance-status".*?</dd>', b.get(f"/instances/{inst['id']}").text, re.S).group(0)
    assert "withdrawn" not in status and "已撤回" in status, status
    listing = b.get("/instances").text
    assert "withdrawn" not in listing and "已撤回" in listing


def test_a_rejected_instance_reads_in_chinese_and_an_end_steps_outcome_as_written(mk):
    app = mk(proc("all").replace("    on_reject: draft\n", ""))
    inst = submitted(app)
    Api(app, "fin1").post(f"/tasks/{sign_task(inst, 'fin')}/complete",
                          {"data": {"decision": "reject", "comment": "不行"}})
    page = web(app, "clerk1").get(f"/instances/{inst['id']}").text
    status = re.search(r'id="instance-status".*?</dd>', page, re.S).group(0)
    assert "rejected" not in status and "驳回" in status, status
    assert verify(app) == []
