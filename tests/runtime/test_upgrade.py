"""Stored states of every earlier format upgrade to the current one and run on.

``states/demo-format-1.json`` is a state as the format-1 runtime wrote it (the demo
procedure, default calendar): started by ins1 at T0, inspect completed an hour later
(不合格, 一般, 本地), the head's approval claimed by head1 at T0+2h, and a tick at T0+30d
(missed, escalated to gm). The same commands run by today's runtime must give exactly
what upgrading that file gives: an upgrade that forgets or invents a key fails here.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pytest

from engine.errors import CommandRejected
from engine.language.procedure import load_library
from engine.runtime.commands import (
    Actor,
    Approve,
    Claim,
    CompleteTask,
    Correct,
    Signature,
    Start,
    Tick,
)
from engine.runtime.machine import Runtime, open_tasks
from engine.runtime.state import STATE_FORMAT, InstanceState
from engine.runtime.upgrade import upgrade

DATA = Path(__file__).parents[1] / "data" / "lang"
STATES = Path(__file__).parent / "states"
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
INSPECTOR = Actor("ins1", frozenset({"inspector"}), "检验员甲")
HEAD = Actor("head1", frozenset({"head"}), "部门负责人")


@pytest.fixture(scope="module")
def rt():
    lib = load_library([DATA / "demo.yaml", DATA / "forms"])
    return Runtime(lib.procedures["demo"])


def format_1() -> dict:
    return json.loads((STATES / "demo-format-1.json").read_text(encoding="utf-8"))


def the_same_commands_today(rt) -> InstanceState:
    state, _ = rt.apply(None, Start(INSPECTOR, instance_id="i1"), T0)
    state, _ = rt.apply(state, CompleteTask("t1", INSPECTOR, {"verdict": "不合格", "severity": "一般", "location": "本地"}),
                        T0 + timedelta(hours=1))
    state, _ = rt.apply(state, Claim("t2", HEAD), T0 + timedelta(hours=2))
    state, _ = rt.apply(state, Tick(), T0 + timedelta(days=30))
    return state


def test_a_format_1_state_upgrades_to_what_the_runtime_writes_today(rt):
    old = format_1()
    assert old["format"] == 1 and "corrections" not in old
    kept = copy.deepcopy(old)
    new = upgrade(old)
    assert old == kept, "upgrade changed its input"
    assert new["format"] == STATE_FORMAT == 2
    today = the_same_commands_today(rt)
    # What a recall (收回) would restore is kept from this release on; a state written
    # before it has none, and its last completion simply cannot be recalled.
    today.pop("last_done")
    assert new == today
    assert json.loads(json.dumps(new)) == new  # still plain JSON


def test_an_upgraded_state_runs_on_to_the_end(rt):
    old = format_1()
    now = T0 + timedelta(days=31)
    state, events = rt.apply(old, Approve("t2", HEAD, "同意", signature=Signature("审核", "head1")), now)
    assert events[0]["type"] == "task:approved" and state["path"][-2:] == ["note_a", "note_b"]
    assert state["format"] == STATE_FORMAT and state["rev"] == old["rev"] + 1
    state, events = rt.apply(state, Correct(INSPECTOR, "inspect", "remark", "外壳裂纹", "漏填", signature=Signature("更正")), now)
    assert state["corrections"][0]["old"] is None and state["corrections"][0]["new"] == "外壳裂纹"
    for task in open_tasks(state):
        state, _ = rt.apply(state, CompleteTask(task["id"], HEAD if task["role"] == "head" else INSPECTOR, {"text": "x"}), now)
    state, _ = rt.apply(state, Tick(), now + timedelta(days=6))
    (report,) = open_tasks(state)
    state, _ = rt.apply(state, CompleteTask(report["id"], INSPECTOR, {"text": "r"}, signature=Signature("确认", "ins1")), now)
    assert state["status"] == "completed" and state["outcome"] == "不合格"


def test_a_refused_command_on_an_old_state_changes_nothing(rt):
    old = format_1()
    kept = copy.deepcopy(old)
    with pytest.raises(CommandRejected):
        rt.apply(old, Approve("t2", INSPECTOR, "同意"), T0)
    assert old == kept


def test_upgrade_keeps_what_format_1_had(rt):
    old = format_1()
    entry = {"step": "inspect", "field": "remark", "old": None, "new": "x", "by": "ins1", "at": "2026-11-02T03:00:00+00:00",
             "reason": "漏填"}
    old["corrections"] = [entry]
    old["links"] = [{"procedure": "capa", "step": "spawn_capa", "data": {"problem": "无"}}]
    new = upgrade(old)
    assert new["corrections"] == [entry] and new["links"] == old["links"]
    # A state that already has the current format is taken as it is, not copied.
    assert upgrade(new) is new


@pytest.mark.parametrize("fmt", [STATE_FORMAT + 1, 0, None, "1", True])
def test_formats_this_server_never_wrote_are_refused(rt, fmt):
    state = {**format_1(), "format": fmt}
    with pytest.raises(CommandRejected, match="format"):
        upgrade(state)
    with pytest.raises(CommandRejected, match="format"):
        rt.apply(state, Tick(), T0)



def test_a_read_only_mapping_is_accepted_as_before(rt):
    state = upgrade(format_1())
    frozen = MappingProxyType(state)
    new, events = rt.apply(frozen, Tick(), T0 + timedelta(days=60))
    assert events == [] and new == state and new is not state
