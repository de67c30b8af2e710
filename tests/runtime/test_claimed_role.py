"""A claimed task is its holder's while they may still hold it (``access.may_act``): taking a
person out of the role ends what they can do with the task they had claimed, as it does for a
named approver picked among the role's holders."""

from __future__ import annotations

from engine.runtime.access import may_act
from engine.runtime.commands import Actor

CLAIMED = {"id": "t1", "step": "inspect", "role": "inspector", "assignee": "ins2", "status": "open"}


def test_the_claimer_acts_while_holding_the_role_or_an_escalation():
    assert may_act(CLAIMED, Actor("ins2", frozenset({"inspector"})))
    escalated = {**CLAIMED, "escalated_to": ["user:ins2"]}
    assert may_act(escalated, Actor("ins2", frozenset()))


def test_the_claimer_taken_out_of_the_role_no_longer_acts():
    assert not may_act(CLAIMED, Actor("ins2", frozenset({"reviewer"})))
    assert not may_act(CLAIMED, Actor("ins1", frozenset({"inspector"})))  # someone else's claim
