"""Reported, not fixed (engine/runtime is another engineer's area): the organisation chart
lets a department head approve their own request. ``manager: starter`` passes over the
starter (``OrgChart._direct_manager``: the head of the department above for a head), but
``head_of: starter`` answers the starter themself when they head their department, so an
administrator who makes themselves a department's head (or any head starting a request)
decides their own approval."""

from __future__ import annotations

import pytest

from engine.runtime.commands import Actor, Approve, CompleteTask, Start
from engine.runtime.machine import open_tasks
from tests.runtime.test_approvals import ORG, T0, make, sign_tasks, task_for


@pytest.mark.xfail(strict=True, reason="head_of: starter resolves to the starter when they head the department")
def test_a_department_head_does_not_approve_their_own_request():
    rt = make("approvers:\n  - head_of: starter\n")
    head = Actor("qahead1", frozenset({"qa"}), "品质中心负责人")  # heads 'quality' in ORG
    state, _ = rt.apply(None, Start(head, data={}, instance_id="i1"), T0, org=ORG)
    prep = next(t["id"] for t in open_tasks(state) if t["step"] == "prepare")
    state, _ = rt.apply(state, CompleteTask(prep, head, {"text": "方案"}), T0, org=ORG)
    assert [t["assignee"] for t in sign_tasks(state)] != ["qahead1"]
    state, _ = rt.apply(state, Approve(task_for(state, user="qahead1"), head), T0, org=ORG)
    assert state["status"] == "running"
