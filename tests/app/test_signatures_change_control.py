"""Separation of duties and approvals bound to what they approve (issue 14, items 2, 4, 5),
attacked on a real database through the use cases and the API: the configured minimum of
distinct people (``change_control.distinct``: the author never approves; with ``reviewer``
never reviews; with ``all`` never sends their own draft either); one person holding both groups may not review and then approve (the
inbox hides the approval from them, the API refuses it); the approval signatures cover the
draft's content hash and publication refuses texts changed behind the approval; a
procedure's ``separate_from`` keeps the reviewer from being the report's author."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from engine.app import tasks
from engine.errors import Conflict, DefinitionInvalid, NotPermitted
from engine.language.procedure import load_library
from engine.runtime.commands import Actor, Approve, CompleteTask, Signature, Start
from engine.runtime.machine import Runtime, open_tasks
from engine.runtime.signing import data_hash
from engine.store import get_version, users, versions
from engine.store.tables import ProcedureVersion
from tests.app.test_editing import EDITORS, draft_with_new_step
from tests.helpers.service import PASSWORD, ROOT, open_task, web_app

PID = "after-sales-inspection"


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    wf = app.extensions["workflow"]
    with sessions.begin() as s:
        for name, groups in EDITORS.items():
            users.add_user(s, name, PASSWORD, groups, full_name=name)
    from engine.app.editor import Editor

    app.config["ED"] = Editor(wf)
    yield app
    app.extensions["services"].database.engine.dispose()


def _sent(app, author="author1", sender="author1"):
    """A draft written (last saved) by ``author`` and sent for approval by ``sender``."""
    sessions = app.extensions["services"].database.sessions
    with sessions.begin() as s:
        draft = draft_with_new_step(s, app.config["ED"])
        if author != "author1":
            draft = app.config["ED"].save(s, PID, draft.source + "# 修订\n", draft.forms, author)
        cc = app.config["ED"].submit(s, draft.id, sender, "增加复核步骤")
    return draft, cc


def _decide(app, cc, step, user, approve=True):
    services = app.extensions["services"]
    with services.database.writing() as s:
        return services.workflow.decide(s, open_task(cc, step), user, approve=approve, comment="ok",
                                        password=PASSWORD)


def _api(app, user):
    c = app.test_client()
    r = c.post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
    return c, {"Authorization": f"Bearer {r.json['token']}"}


def _offered(app, task_id, people=("both1", "editor2", "author1")):
    return {u: task_id in {t.id for t in tasks.inbox(app.extensions["services"], u)} for u in people}


def _distinct(app, level):
    app.config["WF"].raw["change_control"] = {"distinct": level}


def test_by_default_the_drafts_author_may_review_but_not_approve(app):
    """``change_control.distinct: approver`` (the default): the approver is not the author
    (this table) nor the sender or the reviewer (the procedure's separate_from)."""
    assert app.config["WF"].get("change_control", "distinct") in (None, "approver")
    draft, cc = _sent(app, author="both1", sender="editor2")
    assert cc["data"]["start"]["content_hash"] == get_version_hash(app, draft.id)
    review_id = open_task(cc, "review")
    assert _offered(app, review_id) == {"both1": True, "editor2": False, "author1": True}
    cc = _decide(app, cc, "review", "author1")
    assert _offered(app, open_task(cc, "approve"), ("both1", "approver1")) == {"both1": False, "approver1": True}
    with pytest.raises(NotPermitted) as err:
        _decide(app, cc, "approve", "both1")
    assert err.value.message == (
        "both1 may not approve this change: both1 is the draft's author, and config.yaml "
        "(change_control.distinct: approver) wants different people (the draft's author: both1; "
        "the sender: editor2; the reviewer: author1); another member of the group must do it (document control)")
    # the same refusal through the API, in Chinese
    c, headers = _api(app, "both1")
    r = c.post(f"/api/v1/tasks/{open_task(cc, 'approve')}/complete", headers={**headers, "Accept-Language": "zh"},
               json={"data": {"decision": "approve", "comment": "同意"}, "password": PASSWORD})
    assert r.status_code == 403 and r.json["message"].startswith("both1 不能批准此更改：both1 是草稿编写人"), r.json
    assert _decide(app, cc, "approve", "approver1")["outcome"] == "已发布"


def test_distinct_reviewer_keeps_the_author_from_reviewing_even_when_another_sends_it(app):
    _distinct(app, "reviewer")
    _draft, cc = _sent(app, author="both1", sender="editor2")
    review_id = open_task(cc, "review")
    assert _offered(app, review_id) == {"both1": False, "editor2": False, "author1": True}  # author, sender, a third
    with pytest.raises(NotPermitted, match="both1 may not review this change: both1 is the draft's author"):
        _decide(app, cc, "review", "both1")
    c, headers = _api(app, "both1")
    r = c.post(f"/api/v1/tasks/{review_id}/complete", headers=headers,
               json={"data": {"decision": "approve", "comment": "同意"}, "password": PASSWORD})
    assert r.status_code == 403 and "change_control.distinct: reviewer" in r.json["message"], r.json
    cc = _decide(app, cc, "review", "author1")
    with pytest.raises(NotPermitted, match="both1 is the draft's author"):
        _decide(app, cc, "approve", "both1")
    assert _decide(app, cc, "approve", "approver1")["outcome"] == "已发布"


def test_distinct_all_wants_four_people(app):
    """Author, sender, reviewer and approver: the author may not send their own draft."""
    _distinct(app, "all")
    with pytest.raises(NotPermitted, match="author1 may not send this change: author1 is the draft's author"):
        _sent(app)
    _draft, cc = _sent(app, author="both1", sender="editor2")
    with pytest.raises(NotPermitted, match="both1 is the draft's author"):
        _decide(app, cc, "review", "both1")
    with pytest.raises(NotPermitted, match="separation of duties"):  # the sender: the procedure's rule
        _decide(app, cc, "review", "editor2")
    cc = _decide(app, cc, "review", "author1")
    assert _decide(app, cc, "approve", "approver1")["outcome"] == "已发布"


def test_an_unknown_level_stops_the_server_at_start(db_url, tmp_path):
    from engine.errors import WorkflowError

    with pytest.raises(WorkflowError, match="change_control.distinct must be one of approver, reviewer, all"):
        web_app(db_url, tmp_path, **{"change_control.distinct": "two"})


def get_version_hash(app, version_id):
    from engine.store.repo import content_hash

    with app.extensions["services"].database.reading() as s:
        row = get_version(s, version_id)
        return content_hash(row.source, row.forms, row.procedure_id)


def test_one_person_may_not_review_and_approve_and_the_inbox_hides_it(app):
    _draft, cc = _sent(app)
    cc = _decide(app, cc, "review", "both1")
    approve_id = open_task(cc, "approve")
    services = app.extensions["services"]
    assert approve_id not in {t.id for t in tasks.inbox(services, "both1")}
    assert approve_id in {t.id for t in tasks.inbox(services, "approver1")}
    c, headers = _api(app, "both1")
    r = c.post(f"/api/v1/tasks/{approve_id}/complete", headers=headers,
               json={"data": {"decision": "approve", "comment": "同意"}, "password": PASSWORD})
    assert r.status_code == 403 and "separation of duties" in r.json["message"], r.json
    cc = _decide(app, cc, "approve", "approver1")
    assert cc["outcome"] == "已发布"


def test_approvals_are_bound_to_the_drafts_content_and_a_changed_draft_is_not_published(app):
    draft, cc = _sent(app)
    cc = _decide(app, cc, "review", "both1")
    services = app.extensions["services"]
    with services.database.reading() as s:
        events = services.workflow.events(s, cc["id"])
    (review,) = [e for e in events if e["type"] == "task:approved"]
    assert review["data"]["signature"]["data_hash"] == data_hash(
        {"start": cc["data"]["start"], "review": review["data"]["data"]})
    # An insider rewrites the draft's text after the review signed it.
    table = ProcedureVersion.__table__
    with services.database.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == draft.id)
                     .values(source=draft.source.replace("title: 复核", "title: 免检")))
    with pytest.raises(Conflict, match="no longer has the content that was sent for approval"):
        _decide(app, cc, "approve", "approver1")
    with services.database.reading() as s:
        assert get_version(s, draft.id).status == "in_review"
        assert versions.label(get_version(s, draft.id)) != "2.0"
        assert services.workflow.instance(s, cc["id"])["status"] == "running"


# --- separate_from in any procedure ---------------------------------------------------------

def _library(tmp_path: Path, extra: str):
    import shutil

    procs = tmp_path / "procedures"
    shutil.copytree(ROOT / "procedures", procs)  # the spawn targets too
    path = procs / f"{PID}.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    signature: 审核\n", f"    signature: 审核\n{extra}", 1), encoding="utf-8")
    return load_library([procs], extra_forms=[ROOT / "forms"])


def test_separate_from_names_an_unknown_step_at_its_line(tmp_path):
    with pytest.raises(DefinitionInvalid, match=r"unknown step 'reprot'.*did you mean 'report'"):
        _library(tmp_path, "    separate_from: [reprot]\n").require_valid()


def test_the_reports_author_may_not_review_it(tmp_path):
    from datetime import UTC, datetime

    from tests.helpers.service import answers

    proc = _library(tmp_path, "    separate_from: [report]\n").require_valid().procedures[PID]
    rt = Runtime(proc)
    both = Actor("both", frozenset({"inspector", "qa_supervisor"}), "两者")
    other = Actor("sup", frozenset({"qa_supervisor"}), "主管")
    now = datetime(2026, 5, 11, tzinfo=UTC)
    script = answers(f"{PID}--fail")
    state, _ = rt.apply(None, Start(both, script["start"]["data"], "I1"), now)
    for entry in [e for e in script["steps"] if e.get("step") not in (None, "review", "feedback")]:
        (task,) = [t for t in open_tasks(state) if t["step"] == entry["step"]]
        sig = Signature("确认") if proc.steps[entry["step"]].signature else None
        state, _ = rt.apply(state, CompleteTask(task["id"], both, entry["data"], signature=sig), now)
    (review,) = open_tasks(state)
    with pytest.raises(NotPermitted, match="separation of duties"):
        rt.apply(state, Approve(review["id"], both, "同意", signature=Signature("审核")), now)
    state, _ = rt.apply(state, Approve(review["id"], other, "同意", signature=Signature("审核")), now)
    assert state["tasks"][review["id"]]["completed_by"] == "sup"


def test_the_reports_author_finds_the_review_nowhere(db_url, tmp_path):
    """``separate_from`` attacked through the server, not only the runtime: a user holding
    both roles writes and signs the report, then looks for its review in the inbox and the
    API's task list and tries to approve it anyway. The inbox reads an instance's state only
    for the rows that need it, and a row of a step declaring ``separate_from`` is one."""
    from tests.helpers.service import answers, play

    _library(tmp_path, "    separate_from: [report]\n")  # the shipped procedures, with it declared
    app = web_app(db_url, tmp_path, **{"paths.procedures": str(tmp_path / "procedures")})
    services = app.extensions["services"]
    try:
        with services.database.sessions.begin() as s:
            users.add_user(s, "both", PASSWORD, ["qa-inspectors", "qa-supervisors"], full_name="两者")
            users.add_user(s, "sup", PASSWORD, ["qa-supervisors"], full_name="主管")
        script = answers(f"{PID}--fail")
        script = {**script, "start": {**script["start"], "user": "both"},
                  "steps": [{**e, "user": "both"} for e in script["steps"]]}
        upto = next(i for i, e in enumerate(script["steps"]) if e.get("step") == "review")
        state = play(services.workflow, services.database.sessions, script, upto=upto)
        review = open_task(state, "review")
        assert review not in {t.id for t in tasks.inbox(services, "both")}
        assert review in {t.id for t in tasks.inbox(services, "sup")}
        client, headers = _api(app, "both")
        listed = client.get("/api/v1/tasks", headers=headers)
        assert listed.status_code == 200 and review not in {t["id"] for t in listed.json["items"]}
        refused = client.post(f"/api/v1/tasks/{review}/complete", headers=headers,
                              json={"data": {"decision": "approve", "comment": "同意", "password": PASSWORD}})
        assert refused.status_code == 403, refused.json
        assert "separation of duties" in refused.json["message"] or "职责分离" in refused.json["message"]
    finally:
        services.database.engine.dispose()


def test_a_draft_that_no_longer_fits_what_was_installed_meanwhile_is_not_published(app):
    """A draft's spawns are checked against the installed procedures when it is saved and when
    it is sent. While it was in review, a new version of the procedure it opens was installed
    (``wf procedures load``, or another change approved first) whose start form now requires a
    field the draft does not hand over: approving it published a version whose every instance
    would fail at that step. The approval is now refused, nothing published."""
    import re

    from engine import store

    draft, cc = _sent(app)
    cc = _decide(app, cc, "review", "both1")
    services = app.extensions["services"]
    child = "repair-process-inspection"
    with services.database.writing() as s:
        row = get_version(s, store.latest_version_id(s, child))
        forms = dict(row.forms or {})
        text = forms["product-identification"]
        required = re.search(r"^  required: \[(.*)\]$", text, re.M)
        assert required, text
        forms["product-identification"] = text.replace(
            required.group(0), f"  required: [{required.group(1)}, warranty_no]").replace(
            "  properties:\n", "  properties:\n    warranty_no: {type: string, title: 保修卡号}\n", 1)
        store.register_procedure_version(s, child, row.source, forms, row.title)
    with pytest.raises(Conflict, match="no longer fits the procedures installed since it was sent") as refused:
        _decide(app, cc, "approve", "approver1")
    assert "warranty_no" in refused.value.message and f"procedures/{PID}.yaml:" in refused.value.message
    with services.database.reading() as s:
        assert get_version(s, draft.id).status == "in_review"
        assert services.workflow.instance(s, cc["id"])["status"] == "running"
