"""What Try it's click-through asks of the simulation: the clock moved up to a moment
(``advance_to``), acting in a chosen role (``act_as``, refused by the runtime when the task is
not for it), and a refusal that names its entry and carries the form's field errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.runtime.simulation import SimulationError, simulate
from tests.language.test_shipped_procedures import CALENDARS, LIB

PROC = LIB.procedures["after-sales-inspection"]
START = {"user": "insp", "data": {"customer": "某医院", "product_name": "监护仪", "serial_no": "SN", "quantity": 1}}
RECEIVE = {"step": "receive", "user": "insp",
           "data": {"received_on": "2026-11-02", "condition": "完好", "reported_fault": "不开机"}}


def run(*steps):
    return simulate(PROC, {"start": START, "steps": list(steps)}, calendars=CALENDARS)


def test_advance_to_a_moment_lets_the_deadline_pass_and_never_goes_back():
    sim = run({"advance_to": "2026-11-04T09:00:00+08:00"})
    task = next(t for t in sim.state["tasks"].values() if t["step"] == "receive")
    assert sim.now == datetime(2026, 11, 4, 1, 0, tzinfo=UTC)
    assert task["missed"] and task["escalated_to"] == ["qa_supervisor"]
    types = [e["type"] for e in sim.events]
    assert types.index("deadline:missed") < types.index("deadline:escalated")
    earlier = run({"advance_to": "2026-11-04T09:00:00+08:00"}, {"advance_to": "2026-11-01T09:00:00+08:00"})
    assert earlier.now == sim.now  # a moment already passed leaves the clock where it is


def test_a_bare_moment_is_utc_and_a_wrong_one_is_named():
    assert run({"advance_to": "2026-11-03T00:00:00"}).now.isoformat() == "2026-11-03T00:00:00+00:00"
    with pytest.raises(SimulationError, match=r"steps\[0\]: advance_to '明天' is not a date and time"):
        run({"advance_to": "明天"})


def test_acting_in_a_role_the_task_is_not_for_is_refused_by_the_runtime():
    with pytest.raises(SimulationError) as exc:
        run({**RECEIVE, "user": "gm", "act_as": "quality_manager"})
    assert exc.value.entry == 0 and "inspector" in exc.value.message
    sim = run({**RECEIVE, "act_as": "inspector"})
    assert sim.path[:2] == ["receive", "inspect"]


def test_a_refused_form_carries_its_field_errors():
    with pytest.raises(SimulationError) as exc:
        run({"advance": "1h"}, {"step": "receive", "user": "insp", "data": {"condition": "完好"}})
    assert exc.value.entry == 1
    assert {e["field"] for e in exc.value.errors} >= {"received_on", "reported_fault"}
    with pytest.raises(SimulationError) as exc:
        simulate(PROC, {"start": {"user": "insp", "data": {}}}, calendars=CALENDARS)
    assert exc.value.entry == -1 and {e["field"] for e in exc.value.errors} >= {"customer", "serial_no"}


def test_working_days_pass_in_the_procedures_own_calendar():
    from dataclasses import replace

    from engine.language.calendar import Calendar

    seven_days = Calendar.from_config("plant", {"rest_days": []})  # a plant that works every day
    proc = replace(PROC, calendar="plant")
    start = {"start": START, "now": "2026-11-06T09:00:00+08:00"}  # a Friday
    office = simulate(PROC, {**start, "steps": [{"advance": "1wd"}]}, calendars=CALENDARS)
    plant = simulate(proc, {**start, "steps": [{"advance": "1wd"}]}, calendars={**CALENDARS, "plant": seven_days})
    assert office.now == datetime(2026, 11, 9, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
    assert plant.now == datetime(2026, 11, 7, 1, 0, tzinfo=UTC)  # Saturday 09:00: a working day there


def test_a_misspelt_key_or_decision_is_refused_not_taken_as_an_approval():
    """An approval entry approves unless it says otherwise; `decison: reject` (a misspelt key)
    was ignored and so recorded a signed approval, and `decision: aprove` a rejection."""
    import yaml

    from tests.helpers.service import ANSWERS

    script = yaml.safe_load((ANSWERS / "procedure-change-control--published.yaml").read_text(encoding="utf-8"))
    proc = LIB.procedures["procedure-change-control"]
    review, approve = script["steps"]

    def play(entry):
        return simulate(proc, {"start": script["start"], "steps": [review, entry]}, calendars=CALENDARS)

    assert play(approve).outcome == "已发布"
    with pytest.raises(SimulationError, match=r"steps\[1\]: unknown key\(s\) decison; an entry takes .*decision") as exc:
        play({**approve, "decison": "reject"})
    assert exc.value.entry == 1
    with pytest.raises(SimulationError, match=r"steps\[1\]: 'approve' is an approval: write decision: approve or "
                                              r"decision: reject \(not 'aprove'\)"):
        play({**approve, "decision": "aprove"})
    assert play({**approve, "decision": "reject"}).path[-1] != "published"


def test_an_escalation_to_the_holders_manager_finds_them_in_the_answers_org():
    """The org: block resolved `manager: starter` approvers but not `escalate: to: manager`,
    which always took its fallback in a simulated run ("clerk2 has no manager")."""
    from pathlib import Path

    from engine.language.procedure import load_library

    data = Path(__file__).resolve().parents[1] / "data" / "time"
    lib = load_library([data / "procedures" / "timed-steps.yaml", data / "forms"])
    answers = {"start": {"user": "clerk1", "data": {"kind": "h"}},
               "org": {"users": {"clerk2": {"manager": "boss1"}}},
               "steps": [{"step": "hours", "user": "clerk1", "transfer_to": "clerk2", "reason": "出差"},
                         {"advance": "2h"}]}
    sim = simulate(lib.procedures["timed-steps"], answers, calendars=CALENDARS)
    first = next(e for e in sim.events if e["type"] == "deadline:escalated")
    assert first["data"]["to"] == "manager" and first["data"]["user"] == "boss1" and first["data"]["of"] == "clerk2"
