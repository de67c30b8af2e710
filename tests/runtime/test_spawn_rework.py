"""A spawn step re-entered through a rejection loop opens its linked instance once, unless
the procedure says ``again: true``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.language.procedure import load_library, load_procedure_text
from engine.runtime.commands import Actor, Approve, CompleteTask, Reject, Start
from engine.runtime.machine import Runtime, open_tasks

LANG = Path(__file__).parents[1] / "data" / "lang"
T0 = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
ME = Actor("ins1", frozenset({"inspector"}), "检验员甲")


def task(state, step):
    [t] = [t for t in open_tasks(state) if t["step"] == step]
    return t["id"]


def run_with_two_rejections(proc):
    rt = Runtime(proc)
    spawns = 0
    state, _ = rt.apply(None, Start(ME, instance_id="i1"), T0)
    now = T0
    for round_ in range(3):
        now += timedelta(minutes=5)
        state, events = rt.apply(state, CompleteTask(task(state, "fix"), ME, {"text": f"第{round_ + 1}次"}), now)
        spawns += sum(e["type"] == "spawn:requested" for e in events)
        decide = Approve if round_ == 2 else Reject
        state, _ = rt.apply(state, decide(task(state, "review"), ME, comment="缺少照片"), now)
    assert state["status"] == "completed"
    return state, spawns


@pytest.fixture(scope="module")
def library():
    lib = load_library([LANG / "rework.yaml", LANG / "forms"])
    assert lib.problems == []
    return lib


def test_rework_does_not_open_a_second_linked_instance(library):
    state, spawns = run_with_two_rejections(library.procedures["rework"])
    assert spawns == 1
    assert [link["data"] for link in state["links"]] == [{"problem": "第1次"}]
    assert state["path"].count("open_capa") == 3  # entered each time, opened once


def test_again_true_opens_one_per_round(library):
    text = (LANG / "rework.yaml").read_text(encoding="utf-8").replace(
        "    procedure: capa\n", "    procedure: capa\n    again: true\n")
    proc = load_procedure_text(text, "rework.yaml", library.forms)
    state, spawns = run_with_two_rejections(proc)
    assert spawns == 3
    assert [link["data"]["problem"] for link in state["links"]] == ["第1次", "第2次", "第3次"]
