"""Corrections under signature, attacked through the API and the HTML pages (issue 14, items
1, 5 and 6): on a completed after-sales inspection whose report was signed (确认) and
reviewed (审核), changing the conclusion 不合格 -> 合格 needs the quality role the procedure
declares and the corrector's own signature (更正); the earlier signatures then read "signed
before correction" with a link to it; a change request is never corrected; a rejection's
signature reads 审核（驳回）."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.runtime.signing import data_hash
from engine.store import users as user_store
from tests.helpers.service import PASSWORD, add_users, answers, play, web_app
from tests.web.test_web_ui import Browser

PID = "after-sales-inspection"
CONCLUSION = {"step": "report", "field": "conclusion", "value": "合格", "reason": "复核后更正"}


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    with sessions.begin() as s:
        user_store.add_user(s, "author", PASSWORD, ["editors"], full_name="编写人")
    done = play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"))
    app.config["DONE"] = done["id"]
    yield app
    app.extensions["services"].database.engine.dispose()


class Api:
    def __init__(self, app, username: str) -> None:
        self.c = app.test_client()
        r = self.c.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.json
        self.headers = {"Authorization": f"Bearer {r.json['token']}"}

    def post(self, path, body, status):
        r = self.c.post(f"/api/v1{path}", json=body, headers=self.headers)
        assert r.status_code == status, r.get_json()
        return r.get_json()

    def get(self, path):
        r = self.c.get(f"/api/v1{path}", headers=self.headers)
        assert r.status_code == 200, r.get_json()
        return r.get_json()


def browser(app, user):
    b = Browser(app)
    b.login(user, PASSWORD)
    return b


def test_api_refuses_an_unsigned_or_unauthorised_rewrite_of_a_signed_record(app):
    iid = app.config["DONE"]
    inspector, supervisor = Api(app, "inspector1"), Api(app, "supervisor1")
    # The report's author holds the step's role, but the record is closed.
    refused = inspector.post(f"/instances/{iid}/corrections", CONCLUSION, 403)
    assert "质量经理" in refused["message"], refused["message"]
    in_chinese = inspector.c.post(f"/api/v1/instances/{iid}/corrections", json=CONCLUSION,
                                  headers={**inspector.headers, "Accept-Language": "zh"}).get_json()
    assert in_chinese["message"] == "记录已完成：现在只有 质量经理 可以更正", in_chinese
    # The quality manager without a signature, then with someone else's password.
    unsigned = supervisor.post(f"/instances/{iid}/corrections", CONCLUSION, 422)
    assert "更正" in unsigned["message"] and "检验员一" in unsigned["message"] and "质量主管一" in unsigned["message"]
    # The field as pages name it (not its id), each signer once.
    assert unsigned["message"].startswith("'结论'") and unsigned["message"].count("质量主管一") == 1, unsigned
    supervisor.post(f"/instances/{iid}/corrections", {**CONCLUSION, "password": "guess"}, 422)
    inst = supervisor.get(f"/instances/{iid}")
    assert inst["data"]["report"]["conclusion"] == "不合格" and not inst["corrections"]
    assert all(not t.get("signed_before_correction") for t in inst["tasks"])

    fixed = supervisor.post(f"/instances/{iid}/corrections", {**CONCLUSION, "password": PASSWORD}, 200)
    assert fixed["data"]["report"]["conclusion"] == "合格"
    (c,) = fixed["corrections"]["report.conclusion"]
    assert c["old"] == "不合格" and c["signature"]["meaning"] == "更正" and c["signature"]["user"] == "supervisor1"
    with app.extensions["services"].database.reading() as s:
        recorded = app.extensions["workflow"].instance(s, iid)  # unmasked, as hashed
    stored = recorded["data"]
    # The hash is bound to the corrected record; a reader without clearance gets it masked
    # (test_hostile_signature_hash: it would confirm a guessed masked value).
    assert c["signature"]["data_hash"] == "●●●●"
    (kept,) = recorded["corrections"]["report.conclusion"]
    assert kept["signature"]["data_hash"] == data_hash(stored)
    hashed = {t["id"]: t["signature"]["data_hash"] for t in recorded["tasks"] if t.get("signature")}
    signed = {t["step"]: t for t in fixed["tasks"] if t["signed"]}
    assert set(signed) == {"report", "review"}
    for t in signed.values():
        (later,) = t["signed_before_correction"]
        assert (later["correction"], later["field"], later["by"]) == (1, "conclusion", "supervisor1")
        assert hashed[t["local_id"]] != data_hash(stored)  # what they signed is not what shows
    (event,) = [e for e in fixed["history"] if e["type"] == "data:corrected"]
    assert sorted(event["data"]["signed_before"]) == sorted(t["local_id"] for t in signed.values())


def test_html_correction_needs_the_password_and_pages_mark_earlier_signatures(app):
    iid = app.config["DONE"]
    assert 'id="correct-form"' not in browser(app, "inspector1").get(f"/instances/{iid}").text
    b = browser(app, "supervisor1")
    page = b.get(f"/instances/{iid}").text
    assert 'id="correct-password"' in page
    form = {"target": "report:conclusion", "value": "合格", "reason": "复核后更正"}
    r = b.post(f"/instances/{iid}/correct", form)
    assert r.status_code == 422 and 'data-error-for="password"' in r.text and "更正" in r.text
    r = b.post(f"/instances/{iid}/correct", {**form, "password": "wrong"})
    assert r.status_code == 422 and "密码" in r.text
    assert "签于更正之前" not in b.get(f"/instances/{iid}").text
    r = b.post(f"/instances/{iid}/correct", {**form, "password": PASSWORD})
    assert r.status_code == 302, r.text
    page = b.get(f"/instances/{iid}").text
    seq = re.search(r'id="e(\d+)" data-type="data:corrected"', page).group(1)
    assert page.count("签于更正之前") == 2
    assert page.count(f'href="#e{seq}"') == 2
    dossier = b.get(f"/audit/instances/{iid}").text
    assert dossier.count("签于更正之前") == 2 and f'id="e{seq}"' in dossier
    pdf = b.c.get(f"/audit/instances/{iid}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    # The printout an auditor files says it too, once per earlier signature.
    from tests.helpers.pdf import pdf_text

    assert pdf_text(pdf.data).count("签于更正之前") == 2


def test_a_running_record_signed_once_needs_a_signature_before_the_report_only_after(app):
    wf = app.extensions["workflow"]
    sessions = app.extensions["services"].database.sessions
    script = answers(f"{PID}--fail")
    upto = [i for i, e in enumerate(script["steps"], 1) if e.get("step") == "report"][0]
    running = play(wf, sessions, script, upto=upto)
    inspector = Api(app, "inspector1")
    # receive's data was recorded before the report was signed: the signature covers it.
    body = {"step": "receive", "field": "condition", "value": "外箱压痕", "reason": "笔误"}
    inspector.post(f"/instances/{running['id']}/corrections", body, 422)
    inspector.post(f"/instances/{running['id']}/corrections", {**body, "password": PASSWORD}, 200)
    # Before any signature no password is asked.
    fresh = play(wf, sessions, script, upto=1)
    inspector.post(f"/instances/{fresh['id']}/corrections", body, 200)


def test_a_change_request_is_never_corrected(app):
    services = app.extensions["services"]
    wf = services.workflow
    with services.database.writing() as s:
        cr = wf.start(s, "procedure-change-control", "author",
                      {"procedure": PID, "version": "2", "reason": "更新检验项目"})
    body = {"step": "start", "field": "version", "value": "9", "reason": "改版本号"}
    author = Api(app, "author")
    refused = author.post(f"/instances/{cr['id']}/corrections", body, 403)
    assert "change request cannot be corrected" in refused["message"]
    assert author.get(f"/instances/{cr['id']}")["data"]["start"]["version"] == "2"
    b = browser(app, "author")
    assert 'id="correct-form"' not in b.get(f"/instances/{cr['id']}").text
    r = b.post(f"/instances/{cr['id']}/correct", {"target": "start:version", "value": "9", "reason": "x"})
    assert r.status_code == 403


def test_a_rejection_signature_reads_as_a_rejection(app):
    wf = app.extensions["workflow"]
    sessions = app.extensions["services"].database.sessions
    state = play(wf, sessions, answers(f"{PID}--review-reject"))
    with sessions() as s:
        events = wf.events(s, state["id"])
    meanings = [(e["type"], e["data"]["signature"]["meaning"]) for e in events if e["data"].get("signature")]
    assert ("task:rejected", "审核（驳回）") in meanings and ("task:approved", "审核") in meanings
    dossier = browser(app, "supervisor1").get(f"/audit/instances/{state['id']}").text
    assert "审核（驳回）" in dossier



@pytest.fixture
def reapproving(db_url, tmp_path):
    """The shipped library, with the after-sales review declaring ``on_correction: reapprove``."""
    import shutil

    from tests.helpers.service import ROOT

    procs = tmp_path / "procedures"
    shutil.copytree(ROOT / "procedures", procs)
    path = procs / f"{PID}.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    signature: 审核\n", "    signature: 审核\n    on_correction: reapprove\n", 1),
                    encoding="utf-8")
    app = web_app(db_url, tmp_path, **{"paths.procedures": str(procs)})
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    with sessions.begin() as s:
        user_store.add_user(s, "sup2", PASSWORD, ["qa-supervisors"], full_name="质量主管二")
    app.config["DONE"] = play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"))["id"]
    yield app
    app.extensions["services"].database.engine.dispose()


def test_a_correction_reopens_a_declared_approval_which_signs_the_corrected_record(reapproving):
    app, iid = reapproving, reapproving.config["DONE"]
    supervisor = Api(app, "supervisor1")
    fixed = supervisor.post(f"/instances/{iid}/corrections", {**CONCLUSION, "password": PASSWORD}, 200)
    assert fixed["status"] == "completed"  # the record stays closed; only the approval reopens
    (again,) = [t for t in fixed["tasks"] if t["status"] == "open"]
    assert again["step"] == "review" and again["kind"] == "approval"
    # It is in the approvers' inbox, and is decided with a signature over the corrected data.
    sup2 = browser(app, "sup2")
    assert f'/tasks/{again["id"]}' in sup2.get("/").text
    sup2.get(f"/tasks/{again['id']}")
    r = sup2.post(f"/tasks/{again['id']}", {"action": "approve", "comment": "复核更正后同意", "password": PASSWORD})
    assert r.status_code in (302, 303), r.text
    with app.extensions["services"].database.reading() as s:
        inst = app.extensions["workflow"].instance(s, iid)
    (resigned,) = [t for t in inst["tasks"] if t["id"] == again["local_id"]]
    assert resigned["status"] == "done" and resigned["signature"]["data_hash"] == data_hash(inst["data"])
    assert inst["status"] == "completed" and inst["path"][-1] == "done"  # it moved nowhere
    page = sup2.get(f"/instances/{iid}").text
    assert page.count("签于更正之前") == 2  # the report's and the first review's, not the new one
    code = CliRunner().invoke(main, ["audit", "verify"], env={"WF_DATABASE_URL": str(
        app.extensions["services"].database.engine.url.render_as_string(hide_password=False))})
    assert code.exit_code == 0, code.output
