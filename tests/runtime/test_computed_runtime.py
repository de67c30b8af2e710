"""The runtime computes ``x-compute`` fields on submit (a client's value is replaced), stores
them, routes on them, recomputes them on a correction, and lets a step's ``edit:`` change
earlier values as signed corrections (issue 17, parts 4 and 5). In memory, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.errors import FormInvalid, NotPermitted, SignatureInvalid
from engine.language.procedure import load_library
from engine.runtime.commands import Actor, CompleteTask, Correct, Signature, Start
from engine.runtime.machine import Runtime, open_tasks

COMPUTED = Path(__file__).parents[2] / "tests" / "data" / "computed"
NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
RATER = Actor("rater1", frozenset({"rater"}), "评分员一")
REVIEWER = Actor("rev1", frozenset({"reviewer"}), "审核员一")
QM = Actor("qm1", frozenset({"quality_manager"}), "质量经理一")
ITEMS = [{"name": "质量", "score": 90, "weight": 2}, {"name": "交付", "score": 55, "weight": 1}]


@pytest.fixture(scope="module")
def rt() -> Runtime:
    return Runtime(load_library([COMPUTED]).require_valid().procedures["scorecard"])


def rated(rt: Runtime, items=ITEMS, **forged):
    state, _ = rt.apply(None, Start(RATER, {}), NOW)
    (task,) = open_tasks(state)
    data = {"supplier": "甲公司", "remark": "内部", "items": items, **forged}
    state, events = rt.apply(state, CompleteTask(task["id"], RATER, data, signature=Signature("确认")), NOW)
    return state, events


def test_the_server_computes_on_submit_and_a_forged_value_is_replaced(rt):
    state, events = rated(rt, total=100, low=0, average=100)         # what an attacker posts
    data = state["data"]["rate"]
    assert data["total"] == round(235 / 3, 10) and data["low"] == 1 and data["average"] == 72.5
    (done,) = [e for e in events if e["type"] == "task:completed"]
    assert done["data"]["data"]["total"] == data["total"]            # audited like entered values


def test_a_later_condition_routes_on_the_computed_value(rt):
    low, _ = rated(rt)                                                # 78.3: fails
    high, _ = rated(rt, items=[{"name": "质量", "score": 90, "weight": 2}, {"name": "交付", "score": 61, "weight": 1}])
    for state, outcome in ((low, "不合格"), (high, "合格")):
        (task,) = open_tasks(state)
        done, _ = rt.apply(state, CompleteTask(task["id"], REVIEWER, {"received_on": "2026-11-04"}), NOW)
        assert done["outcome"] == outcome
        assert done["data"]["review"]["days_open"] == 2               # from instance.started_at
        assert done["data"]["review"]["bonus_total"] == round(done["data"]["rate"]["total"] + 5, 10)


def test_live_values_are_the_submission_s_and_only_for_whoever_may_act(rt):
    state, _ = rt.apply(None, Start(RATER, {}), NOW)
    (task,) = open_tasks(state)
    assert rt.computed(state, task["id"], RATER, {"items": ITEMS, "total": 1}, NOW) == {
        "total": round(235 / 3, 10), "low": 1, "average": 72.5}
    assert rt.computed(state, task["id"], RATER, {"items": "not a table"}, NOW) == {
        "total": None, "low": None, "average": None}
    with pytest.raises(NotPermitted):
        rt.computed(state, task["id"], REVIEWER, {"items": ITEMS}, NOW)


def test_a_computed_field_is_not_corrected_directly_and_follows_its_inputs(rt):
    state, _ = rated(rt)
    with pytest.raises(FormInvalid, match="computed"):
        rt.apply(state, Correct(RATER, "rate", "total", 99, "改分", signature=Signature("更正")), NOW)
    items = [dict(ITEMS[0]), {**ITEMS[1], "score": 75}]
    fixed, events = rt.apply(state, Correct(RATER, "rate", "items", items, "录入错误", signature=Signature("更正")), NOW)
    assert fixed["data"]["rate"]["total"] == 85 and fixed["data"]["rate"]["low"] == 0
    changed = [(c["field"], c["old"], c["new"]) for c in fixed["corrections"]]
    assert changed[0][0] == "items"
    assert ("low", 1, 0) in changed and ("total", round(235 / 3, 10), 85) in changed
    assert [e["data"]["field"] for e in events if e["type"] == "data:corrected"] == ["items", "total", "low",
                                                                                      "average"]
    assert all(e["actor"] == "rater1" for e in events)


def test_a_step_s_edit_changes_earlier_values_as_signed_corrections(rt):
    state, _ = rated(rt)
    (task,) = open_tasks(state)
    review = {"received_on": "2026-11-04"}
    with pytest.raises(NotPermitted, match="rate.remark"):            # not listed under edit
        rt.apply(state, CompleteTask(task["id"], REVIEWER, review, edits={"rate.remark": "x"},
                                     edit_reason="r"), NOW)
    with pytest.raises(FormInvalid):                                  # a change needs a reason
        rt.apply(state, CompleteTask(task["id"], REVIEWER, review, edits={"rate.supplier": "乙公司"}), NOW)
    with pytest.raises(SignatureInvalid, match="更正"):               # the rater signed it
        rt.apply(state, CompleteTask(task["id"], REVIEWER, review, edits={"rate.supplier": "乙公司"},
                                     edit_reason="名称写错"), NOW)
    done, events = rt.apply(state, CompleteTask(
        task["id"], REVIEWER, review, edits={"rate.supplier": "乙公司", "rate.note": None},
        edit_reason="名称写错", edit_signature=Signature("更正")), NOW)
    assert done["data"]["rate"]["supplier"] == "乙公司"
    (c,) = done["corrections"]                                        # the unchanged note is no change
    assert (c["old"], c["new"], c["by"], c["reason"]) == ("甲公司", "乙公司", "rev1", "名称写错")
    assert c["signature"]["meaning"] == "更正" and c["signed_before"] == ["t1"]
    kinds = [e["type"] for e in events]
    assert kinds.index("data:corrected") < kinds.index("task:completed")


def test_a_refused_edit_changes_nothing(rt):
    state, _ = rated(rt)
    (task,) = open_tasks(state)
    before = {k: v for k, v in state.items()}
    with pytest.raises(SignatureInvalid):
        rt.apply(state, CompleteTask(task["id"], REVIEWER, {}, edits={"rate.supplier": "乙"}, edit_reason="r"), NOW)
    assert state == before and state["data"]["rate"]["supplier"] == "甲公司"


def test_a_start_form_computes_too_and_only_for_those_who_may_start(tmp_path):
    (tmp_path / "started.yaml").write_text(
        "id: started\ntitle: 发起即评分\nroles: {rater: 评分员}\n"
        "start: {roles: [rater], step: note, form: scorecard-rate}\n"
        "steps:\n  note: {title: 复评, role: rater, form: scorecard-rate, next: done}\n"
        "  done: {type: end, title: 结束, outcome: 完成}\n", encoding="utf-8")
    proc = load_library([tmp_path / "started.yaml", COMPUTED / "forms"]).require_valid().procedures["started"]
    rt = Runtime(proc)
    assert rt.start_computed(RATER, {"items": ITEMS, "total": 1}, NOW)["total"] == round(235 / 3, 10)
    with pytest.raises(NotPermitted):
        rt.start_computed(REVIEWER, {"items": ITEMS}, NOW)
    state, _ = rt.apply(None, Start(RATER, {"supplier": "甲", "items": ITEMS, "total": 1, "low": 9}), NOW)
    assert state["data"]["start"]["total"] == round(235 / 3, 10) and state["data"]["start"]["low"] == 1


def test_a_signed_correction_hashes_the_data_after_its_recomputed_fields(rt):
    """The correction's signature covers the values it stores, the recomputed total among
    them; the replay checks it after the recomputed values' events, and a signature recorded
    before (no ``covers_recomputed``, hashed before the recompute) still reads as bound."""
    from engine.runtime.replay import Replay
    from engine.runtime.signing import data_hash

    state, first = rt.apply(None, Start(RATER, {}), NOW)
    (task,) = open_tasks(state)
    data = {"supplier": "甲公司", "items": ITEMS}
    state, done = rt.apply(state, CompleteTask(task["id"], RATER, data, signature=Signature("确认")), NOW)
    first = [*first, *done]
    items = [dict(ITEMS[0]), {**ITEMS[1], "score": 75}]
    fixed, events = rt.apply(state, Correct(RATER, "rate", "items", items, "录入错误", signature=Signature("更正")), NOW)
    (signed,) = [c for c in fixed["corrections"] if c.get("signature")]
    assert signed["signature"]["data_hash"] == data_hash(fixed["data"])
    replay = Replay(rt.procedure)
    for e in [*first, *events]:
        replay.apply(e)
    assert replay.unbound == [] and replay.findings(fixed) == []
    # a recomputed value changed on the trail no longer matches what was signed
    forged = [{**e, "data": {**e["data"], "new": 1}} if e["type"] == "data:corrected" and e["data"]["field"] == "total"
              else e for e in events]
    replay = Replay(rt.procedure)
    for e in [*first, *forged]:
        replay.apply(e)
    assert len(replay.findings(fixed)) >= 1 and replay.unbound
    # an older record: hashed before the recompute, without the mark
    old = {**fixed["data"], "rate": {**state["data"]["rate"], "items": items}}
    older = [{**e, "data": {**e["data"], "signature": {k: v for k, v in e["data"]["signature"].items()
                                                       if k != "covers_recomputed"} | {"data_hash": data_hash(old)}}}
             if e["type"] == "data:corrected" and "signature" in e["data"] else e for e in events]
    replay = Replay(rt.procedure)
    for e in [*first, *older]:
        replay.apply(e)
    assert replay.unbound == []
