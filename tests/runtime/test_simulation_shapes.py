"""An answer script of the wrong shape (``start: 3``, ``steps: 5``, ``data: [1]``) is refused
naming the key, the shape it must have and an example, before anything is played."""

from __future__ import annotations

import pytest

from engine import i18n
from engine.runtime.simulation import SimulationError, check_script, simulate
from tests.runtime.test_simulation_clock import CALENDARS, PROC, START


@pytest.mark.parametrize(("script", "said"), [
    ({"start": 3}, "answers: start must be a mapping, e.g. `start: {user: inspector1, data: {}}`, not 3"),
    ({"start": {"user": "author", "data": [1]}}, "answers: start.data must be a mapping"),
    ({"start": {"user": ["a"]}}, "answers: start.user must be text, e.g. `user: inspector1`, not a list"),
    ({"start": START, "steps": 5}, "answers: steps must be a list"),
    ({"start": START, "steps": [3]}, "answers: steps[0] must be a mapping"),
    ({"start": START, "steps": [{"step": "receive", "data": "x"}]}, "answers: steps[0].data must be a mapping"),
    ({"start": START, "steps": [{"advance": {"h": 1}}]}, "answers: steps[0].advance must be text"),
    ({"start": START, "steps": [{"step": "r", "add_approver": "qa2"}]}, "answers: steps[0].add_approver must be"),
    ({"now": "tomorrow", "start": START}, "answers: now must be a date and time"),
    ({"org": [1], "start": START}, "answers: org must be a mapping"),
    ({"org": {"users": {"a": "qa"}}, "start": START}, "answers: org.users must be a mapping of names to mappings"),
    ({"record": "x", "start": START}, "answers: record must be a mapping"),
])
def test_a_part_of_the_wrong_shape_is_named_with_its_shape(script, said):
    with pytest.raises(SimulationError) as caught:
        simulate(PROC, script, calendars=CALENDARS)
    assert caught.value.message.startswith(said), caught.value.message


def test_a_script_that_is_not_a_mapping_is_refused():
    with pytest.raises(SimulationError, match="must be a mapping with start and steps"):
        check_script([1, 2])


def test_a_well_shaped_script_passes_and_plays():
    check_script({"now": "2026-11-02T09:00:00+08:00", "start": START, "steps": [{"advance": "1h"}],
                  "org": {"users": {"insp": {"department": "qa"}}}, "record": {}})
    assert simulate(PROC, {"start": START}, calendars=CALENDARS).path


def test_the_shape_is_said_in_chinese():
    i18n.set_locale("zh")  # the autouse fixture puts the default back
    with pytest.raises(SimulationError) as caught:
        check_script({"steps": 5})
    assert caught.value.message.startswith("答案脚本：steps 必须是")
