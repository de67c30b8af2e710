"""The organisation chart let a department head approve their own request. ``manager: starter`` passes over the
starter (``OrgChart._direct_manager``: the head of the department above for a head), but
``head_of: starter`` answers the starter themself when they head their department, so an
administrator who makes themselves a department's head (or any head starting a request)
decided their own approval. Now the head of the department above decides it, as for
``manager: starter``."""

from __future__ import annotations

from engine.runtime.commands import Actor, Approve, CompleteTask, Start
from engine.runtime.machine import open_tasks
from tests.runtime.test_approvals import ORG, T0, make, sign_tasks, task_for


def test_a_department_head_does_not_approve_their_own_request():
    rt = make("approvers:\n  - head_of: starter\n")
    head = Actor("qahead1", frozenset({"qa"}), "品质中心负责人")  # heads 'quality' in ORG
    state, _ = rt.apply(None, Start(head, data={}, instance_id="i1"), T0, org=ORG)
    prep = next(t["id"] for t in open_tasks(state) if t["step"] == "prepare")
    state, _ = rt.apply(state, CompleteTask(prep, head, {"text": "方案"}), T0, org=ORG)
    assert [t["assignee"] for t in sign_tasks(state)] == ["ceo1"]  # heads hq, above 品质中心
    ceo = Actor("ceo1", frozenset(), "总经理")
    state, _ = rt.apply(state, Approve(task_for(state, user="ceo1"), ceo), T0, org=ORG)
    assert state["status"] == "completed"


def test_a_head_alone_at_the_top_is_nobody_with_a_reason():
    """With no department above that has another head, nobody is asked, and the record says why
    (the step's ``if_nobody`` then decides, as for any approver not found)."""
    from engine.runtime.org import Department, OrgChart

    org = OrgChart(departments={"quality": Department("quality", "品质中心", None, "qahead1")},
                   user_department={"qahead1": "quality"}, user_manager={})
    assert org.head_of("quality", not_user="qahead1") is None
    assert org.head_of("quality") == "qahead1"
