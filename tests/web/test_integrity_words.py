"""What the integrity check says, in the reader's language (issue: English built deep in the
engine on Chinese pages). An insider edits a record in the database, in its hash chain or
beside it; the dossier's integrity line (page and PDF) then says, in Chinese to a Chinese
reader and in English to an English one, where (the event, the step and field by their
titles, the task, the column) and what it means for the reader. ``wf audit verify`` keeps
its English for logs and scripts."""

from __future__ import annotations

import html
import re

from sqlalchemy import select, update

from engine.store.tables import Event, Instance, Task
from tests.app.test_tamper_records import (
    PID,
    edit_state,
    finished_app,  # noqa: F401  (the app fixture)
    raw,
    verify,
)
from tests.helpers.pdf import pdf_text
from tests.helpers.service import PASSWORD
from tests.helpers.tamper import insider
from tests.web.test_one_language import english_words
from tests.web.test_web_ui import Browser

ZH_TRUST = "；此记录不可信，请联系管理员并从备份核对。"
EN_TRUST = ". This record cannot be trusted: contact an administrator and check it against a backup."
ZH_SHOWN = "。本页所示并非所记录的内容：请以时间线为准（其事件完好），并请管理员从备份恢复此记录。"
EN_SHOWN = (". This page does not show what was recorded: go by the timeline (its events are intact) "
            "and ask an administrator to restore the record from a backup.")


def integrity(app, iid) -> dict[str, str]:
    """The dossier's integrity line as a Chinese and an English reader read it, and the
    English words of the whole Chinese dossier."""
    b = Browser(app)
    b.login("supervisor1", PASSWORD)
    out = {}
    for locale in ("zh", "en"):
        if locale == "en":
            assert b.post("/locale/en", {"next": "/"}).status_code == 302
        page = b.get(f"/audit/instances/{iid}").text
        line = re.search(r'<dd id="chain-check"[^>]*>(.*?)</dd>', page, re.S)
        assert line, page
        out[locale] = html.unescape(re.sub(r"<[^>]+>", "", line.group(1))).strip()
        if locale == "zh":
            out["page"] = page
    return out


def review(state):
    return next((tid, t) for tid, t in state["tasks"].items() if t["step"] == "review")


def test_a_changed_event_is_named_by_its_number_with_what_to_do(app):
    iid = app.config["DONE"]
    with insider(app.extensions["services"].database.engine) as conn:
        conn.execute(update(Event.__table__).where(Event.__table__.c.instance_id == iid, Event.__table__.c.seq == 3)
                     .values(actor="mallory"))
    said = integrity(app, iid)
    assert said["zh"] == "✘ 已被破坏：事件 3 的内容被改动（哈希不符）" + ZH_TRUST
    assert said["en"] == "✘ BROKEN: event 3 was changed after it was recorded (its hash does not match)" + EN_TRUST
    code, out = verify()  # the command line keeps its English, for logs and scripts
    assert code == 1 and f"BROKEN: {iid}: event seq 3" in out and "hash mismatch" in out, out
    b = Browser(app)  # and the printout says what the page says, in each language
    b.login("supervisor1", PASSWORD)
    for locale in ("zh", "en"):
        assert b.post(f"/locale/{locale}", {"next": "/"}).status_code == 302
        printed = re.sub(r"\s+", "", pdf_text(b.c.get(f"/audit/instances/{iid}.pdf").data))
        assert re.sub(r"\s+", "", said[locale]) in printed, printed


def test_a_deleted_event_is_named(app):
    iid = app.config["DONE"]
    with insider(app.extensions["services"].database.engine) as conn:
        conn.execute(Event.__table__.delete().where(Event.__table__.c.instance_id == iid, Event.__table__.c.seq == 4))
    said = integrity(app, iid)
    assert said["zh"] == "✘ 已被破坏：事件 5 之前的事件 4 缺失：已被删除" + ZH_TRUST
    assert said["en"] == "✘ BROKEN: event 4 is missing before event 5: it was deleted" + EN_TRUST


def test_a_forged_value_is_named_by_its_step_and_field_titles(app):
    iid = app.config["DONE"]
    edit_state(app, iid, lambda s: s["data"]["report"].update(conclusion="合格"))
    said = integrity(app, iid)
    assert said["zh"] == ("✘ 已被破坏：所显示的记录与其审计轨迹不一致：「检验报告编制」的「结论」记录中为 '合格'，"
                          "审计轨迹为 '不合格'" + ZH_SHOWN)
    assert said["en"] == ("✘ BROKEN: the record shown differs from its audit trail: the value of “Conclusion” in "
                          "“Write the inspection report” is '合格' in the record, '不合格' in its audit trail" + EN_SHOWN)
    code, out = verify()
    assert code == 1 and "data report.conclusion: stored '合格', replayed '不合格'" in out, out


def test_a_forged_status_column_is_named_in_words(app):
    iid = app.config["DONE"]
    raw(app, update(Instance.__table__).where(Instance.__table__.c.id == iid).values(status="cancelled"))
    said = integrity(app, iid)
    assert said["zh"] == ("✘ 已被破坏：所显示的记录与其审计轨迹不一致：列表与台帐所读的「状态」为 '已取消'，"
                          "记录为 '已完成'" + ZH_SHOWN)
    assert said["en"] == ("✘ BROKEN: the record shown differs from its audit trail: the status that lists and "
                          "ledgers read is 'cancelled', the record's 'completed'" + EN_SHOWN)
    code, out = verify()
    assert code == 1 and "instance column status: stored 'cancelled', state 'completed'" in out, out


def test_a_forged_decision_is_named_by_its_task_and_step(app):
    iid = app.config["DONE"]
    tid, _t = review(app.config["STATE"])
    edit_state(app, iid, lambda s: s["tasks"][tid].update(decision="reject"))
    said = integrity(app, iid)
    assert said["zh"] == (f"✘ 已被破坏：所显示的记录与其审计轨迹不一致：任务 {tid}（检验报告审核）的决定记录中为 '驳回'，"
                          "审计轨迹为 '批准'" + ZH_SHOWN)
    assert said["en"] == ("✘ BROKEN: the record shown differs from its audit trail: the decision of task "
                          f"{tid} (Review the inspection report) is 'reject' in the record, 'approve' in its "
                          "audit trail" + EN_SHOWN)


def test_a_forged_task_row_is_named_by_its_column(app):
    iid = app.config["DONE"]
    tid, t = review(app.config["STATE"])
    raw(app, update(Task.__table__).where(Task.__table__.c.instance_id == iid, Task.__table__.c.task_id == tid)
        .values(assignee="mallory"))
    said = integrity(app, iid)
    was = repr(t["assignee"]) if t["assignee"] else "无"
    assert said["zh"] == (f"✘ 已被破坏：所显示的记录与其审计轨迹不一致：待办所读的任务 {tid}（检验报告审核）的「办理人」"
                          f"为 'mallory'，记录与审计轨迹为 {was}" + ZH_SHOWN)
    was = repr(t["assignee"]) if t["assignee"] else "nothing"
    assert said["en"] == ("✘ BROKEN: the record shown differs from its audit trail: the assignee of task "
                          f"{tid} (Review the inspection report) that the inbox reads is 'mallory', the record "
                          f"and its audit trail {was}" + EN_SHOWN)
    code, out = verify()
    assert code == 1 and "task row" in out and "mallory" in out, out


def test_a_forged_path_is_named_by_step_titles(app):
    iid = app.config["DONE"]
    with app.extensions["services"].database.engine.connect() as conn:
        path = conn.execute(select(Instance.__table__.c.state).where(Instance.__table__.c.id == iid)).scalar_one()["path"]
    at = path.index("inspect")
    edit_state(app, iid, lambda s: s["path"].remove("inspect"))
    said = integrity(app, iid)
    with app.extensions["services"].database.sessions() as s:
        proc = app.extensions["workflow"].procedure(s, PID)[0]
    title = proc.steps[path[at + 1]].title
    assert said["zh"] == (f"✘ 已被破坏：所显示的记录与其审计轨迹不一致：记录中经过 {len(path) - 1} 个步骤，审计轨迹为 "
                          f"{len(path)} 个；第 {at + 1} 步记录中为「{title}」，审计轨迹为「产品检验」" + ZH_SHOWN)
    assert said["en"].startswith("✘ BROKEN: the record shown differs from its audit trail: the record lists "
                                 f"{len(path) - 1} steps taken, its audit trail {len(path)}; step {at + 1} is “")
    assert "in the record, “Inspect the product” in the trail" in said["en"], said["en"]


def test_the_chinese_dossier_of_a_tampered_record_has_no_english(app):
    iid = app.config["DONE"]
    tid, _t = review(app.config["STATE"])
    edit_state(app, iid, lambda s: s["tasks"][tid].update(role="inspector", escalated_to=["user:mallory"]))
    said = integrity(app, iid)
    assert "任务" in said["zh"] and "角色" in said["zh"]
    state = app.config["STATE"]
    recorded = english_words(str(state["data"])) | set(PID.split("-")) | {"inspector", "supervisor", "mallory", "user"}
    body = re.sub(r"<script.*?</script>|<style.*?</style>|<svg.*?</svg>|<[^>]+>", " ",
                  said["page"].split("<body>", 1)[-1], flags=re.S)
    from tests.web.test_one_language import ALWAYS
    assert not english_words(html.unescape(body)) - recorded - ALWAYS - {"inspector1", "supervisor1"}
