"""Branch coverage of a procedure by simulation runs: which outcomes its answer files visit.

A procedure *declares* branches: every target of a conditional ``next`` (including the
``else``), every ``on_reject`` loop of an approval, every ``return_to`` of a step, every
escalation level of a deadline and, for a deadline without escalation, the miss itself. ``declared`` lists them,
``visited`` finds those a simulation's events show, and the shipped-procedures test checks
that the answer files of each procedure together visit all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.i18n import _
from engine.language.procedure import Procedure

__all__ = ["declared", "visited", "describe"]

Item = tuple[str, str, str]  # (kind, step, detail)


def declared(proc: Procedure) -> set[Item]:
    """Every branch ``proc`` declares, as ``(kind, step, detail)``:
    ``("route", step, target)``, ``("reject", step, on_reject)``,
    ``("escalate", step, "level N")``, ``("miss", step, "")``; a multi-party approval
    adds ``("early", step, "")`` (any, at_least, share: decided with approvers still to
    decide) and ``("nobody", step, POLICY)`` when it declares ``if_nobody``; each step a task
    may be returned to (退回) adds ``("return", step, target)``."""
    out: set[Item] = set()
    for step in proc.steps.values():
        if len(step.next) > 1 or any(t.condition is not None for t in step.next):
            out |= {("route", step.id, t.target) for t in step.next}
        if step.type == "approval" and step.on_reject:
            out.add(("reject", step.id, step.on_reject))
        if step.approvers is not None and step.approvers.mode not in ("all", "sequence"):
            out.add(("early", step.id, ""))  # decided while some approvers had not yet
        if step.approvers is not None and step.approvers.if_nobody is not None:
            out.add(("nobody", step.id, step.approvers.if_nobody))
        out |= {("return", step.id, target) for target in step.return_to}
        if step.deadline is not None:
            if step.deadline.escalate:
                out |= {("escalate", step.id, f"level {i + 1}") for i in range(len(step.deadline.escalate))}
            else:
                out.add(("miss", step.id, ""))
    return out


def visited(proc: Procedure, events: Iterable[Mapping[str, Any]]) -> set[Item]:
    """The branches of ``proc`` that ``events`` (of one or more runs) show were taken."""
    out: set[Item] = set()
    for e in events:
        kind, step, data = e["type"], e.get("step") or "", e.get("data") or {}
        if kind == "route:taken":
            out.add(("route", step, data["to"]))
        elif kind == "task:rejected" and step in proc.steps and proc.steps[step].approvers is None:
            back = proc.steps[step].on_reject
            if back:
                out.add(("reject", step, back))
        elif kind == "approval:decided" and step in proc.steps:
            back = proc.steps[step].on_reject
            if back and data.get("decision") == "reject":
                out.add(("reject", step, back))
        elif kind == "task:cancelled" and data.get("reason") and step in proc.steps:
            out.add(("early", step, ""))
        elif kind == "approval:opened" and data.get("nobody") and step in proc.steps:
            ap = proc.steps[step].approvers
            if ap is not None and ap.if_nobody is not None:
                out.add(("nobody", step, ap.if_nobody))
        elif kind == "deadline:escalated":
            out.add(("escalate", step, f"level {data['level']}"))
        elif kind == "deadline:missed":
            out.add(("miss", step, ""))
        elif kind == "task:returned":
            out.add(("return", step, data["to"]))
    return out


def describe(item: Item) -> str:
    """A branch no answer file visits, in the reader's language."""
    kind, step, detail = item
    if kind == "route":
        return _("step '{step}' never routes to '{target}'", step=step, target=detail)
    if kind == "reject":
        return _("approval '{step}' is never rejected (back to '{target}')", step=step, target=detail)
    if kind == "escalate":
        level = detail.removeprefix("level ")
        return _("deadline of '{step}' never escalates to level {n}", step=step, n=level)
    if kind == "miss":
        return _("deadline of '{step}' is never missed", step=step)
    if kind == "early":
        return _("approval '{step}' is never decided before all its approvers have", step=step)
    if kind == "nobody":
        return _("no approver of '{step}' ever resolves to nobody (if_nobody: {policy})", step=step, policy=detail)
    if kind == "return":
        return _("step '{step}' is never returned to '{target}'", step=step, target=detail)
    raise KeyError(kind)
