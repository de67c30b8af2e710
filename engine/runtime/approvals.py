"""Multi-party approvals (会签 ``all``, 或签 ``any``, 依次 ``sequence``, ``at_least`` N,
``share`` of the approvers): who is asked, when the outcome is certain, 加签.

An approval step with ``approvers:`` (``engine.language.procedure.Approvers``) resolves its
approvers when it is entered: roles become role tasks; users, user fields of the record, the
org chart's managers and department heads (``engine.runtime.org.OrgChart``) and the starter's
pick become tasks for one named person. An approver that resolves to nobody follows the
step's ``if_nobody``; with ``skip_repeated`` a person who already approved earlier in the
instance counts as approving again. Each decision is recorded on its own task (with its own
signature); the step ends as soon as its outcome is certain, cancelling the tasks still open
with the reason, and records the outcome (``approval:decided``) that ``STEP.decision``,
``STEP.approvals``, ``STEP.rejections`` and ``STEP.approvers`` read.

Pure, like the rest of the runtime; ``machine.Runtime`` dispatches here and routes on the
outcome this module returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import CommandRejected, FormInvalid, NotPermitted
from engine.i18n import StoredMessage, _, keep
from engine.language.english import titled
from engine.language.procedure import STARTER, Approvers, ApproverSource, Step
from engine.runtime import access
from engine.runtime.commands import Actor
from engine.runtime.state import PartyRound, Slot, Task

if TYPE_CHECKING:
    from engine.runtime.commands import AddApprover
    from engine.runtime.events import TaskCancelled
    from engine.runtime.machine import Runtime, _Work

__all__ = ["add_approver", "check_turn", "decide", "enter", "party_tasks"]

ADMIN = "admin"
BEFORE, AFTER = "before", "after"


def _rounds(w: _Work) -> dict[str, PartyRound]:
    """The state's rounds, copied for writing."""
    rounds = dict(w.s.get("approvals") or {})
    w.s["approvals"] = rounds
    return rounds


def _round(w: _Work, step_id: str) -> PartyRound:
    """A writable copy of the step's round."""
    rounds = _rounds(w)
    found = rounds.get(step_id)
    if found is None:
        raise CommandRejected(_("step '{step}' has no multi-party approval in progress", step=step_id))
    r: PartyRound = {"tasks": list(found["tasks"]), "queue": list(found["queue"]),
                     "total": found["total"], "auto": found["auto"]}
    rounds[step_id] = r
    return r


def party_tasks(state: Mapping[str, Any], step_id: str) -> list[Task]:
    """The tasks of the step's approval in progress, in the order they were opened (for the
    task page: the other approvers' decisions so far)."""
    r = (state.get("approvals") or {}).get(step_id)
    if r is None:
        return []
    tasks: Mapping[str, Task] = state["tasks"]
    return [tasks[t] for t in r["tasks"] if t in tasks]


# -- entering -------------------------------------------------------------------------------


def _field(w: _Work, ref: str) -> str | None:
    step, _sep, name = ref.partition(".")
    value = (w.s["data"].get(step) or {}).get(name)
    return value.strip() or None if isinstance(value, str) else None


Why = tuple[str, StoredMessage] | None


def _reason(why: tuple[str, StoredMessage]) -> dict[str, Any]:
    """A stored reason: its English text (older readers, the API) and its key and values
    (``reason_message``), which the pages show in each reader's language."""
    return {"reason": why[0], "reason_message": why[1]}


def _person(w: _Work, src: ApproverSource) -> tuple[str | None, Why]:
    """The user a named source resolves to (None: nobody), and why when nobody (``keep``:
    stored with the record, shown in each reader's language)."""
    org = w.org
    if src.kind == "user":
        return src.value, None
    if src.kind in ("field", "pick"):
        ref = src.field or src.value
        found = _field(w, ref)
        return found, None if found else keep("'{field}' is empty", field=ref)
    if src.kind == "manager":
        user = _field(w, src.field) if src.field else w.s["started_by"]
        if not user:
            return None, keep("'{field}' is empty", field=src.value)
        found = org.manager_of(user, src.levels)
        return found, None if found else keep("{user} has no manager {levels} level(s) up in the org chart",
                                              user=user, levels=src.levels)
    # head_of
    dept: str | None
    if src.field:
        dept = _field(w, src.field)
        if not dept:
            return None, keep("'{field}' is empty", field=src.field)
    elif src.value == STARTER:
        dept = org.department_of(w.s["started_by"])
        if not dept:
            return None, keep("{user} has no department in the org chart", user=w.s["started_by"])
    else:
        dept = src.value  # a department's id or name, as written
    # Nobody approves their own request: a head who starts one goes to the head above.
    starter = w.s["started_by"]
    found = org.head_of(dept, src.levels, not_user=starter)
    if found:
        return found, None
    if org.head_of(dept, src.levels) == starter:
        return None, keep("{user} heads department '{department}' and no department above it has another head "
                          "in the org chart", user=starter, department=dept)
    return None, keep("department '{department}' ({levels} up) has no head in the org chart",
                      department=dept, levels=src.levels)


def _already_approved(w: _Work, user: str) -> str | None:
    """The step where ``user`` approved earlier in this instance, or None."""
    for t in w.s["tasks"].values():
        if t["kind"] == "approval" and t["status"] == "done" and t.get("completed_by") == user \
                and t.get("decision") == "approve":
            return t["step"]
    return None


def enter(rt: Runtime, w: _Work, step: Step) -> str | None:
    """Open the step's approval: resolve the approvers and open their tasks (the first one
    only for ``sequence``). The outcome when already certain (everyone skipped or approved
    by ``if_nobody``), else None."""
    ap = step.approvers
    assert ap is not None
    slots: list[Slot] = []
    nobody: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    auto = 0
    named: set[str] = set()
    for src in ap.sources:
        where = src.describe()
        if src.kind == "role":
            slots.append({"source": where, "role": src.value})
            continue
        user, why = _person(w, src)
        if user is None:
            to = _nobody(ap, step)
            nobody.append({"source": where, "to": to, **_reason(why or keep("nobody was found"))})
            if to == "approve":
                auto += 1
            else:
                slots.append({"source": where, "role": to})
            continue
        if user in named:
            skipped.append({"source": where, "user": user, **_reason(keep("listed already"))})
            continue
        named.add(user)
        earlier = _already_approved(w, user) if ap.skip_repeated else None
        if earlier is not None:
            auto += 1
            skipped.append({"source": where, "user": user,
                            **_reason(keep("approved '{step}' earlier", step=earlier))})
            continue
        slot: Slot = {"source": where, "user": user}
        if src.kind == "pick":
            slot["role"] = src.value
        slots.append(slot)
    r: PartyRound = {"tasks": [], "queue": [], "total": len(slots) + auto, "auto": auto}
    _rounds(w)[step.id] = r
    w.event("approval:opened", {"mode": ap.mode, "need": ap.needed(r["total"]),
                                "approvers": [dict(s) for s in slots], "nobody": nobody, "skipped": skipped},
            step=step.id)
    if ap.mode == "sequence":
        first, r["queue"] = slots[:1], slots[1:]
        slots = first
    for s in slots:
        _open(rt, w, step, r, s)
    return _settle(rt, w, step, r, None)


def _nobody(ap: Approvers, step: Step) -> str:
    """Where an approver found nobody goes: ``approve``, a role, or ``admin``."""
    if ap.if_nobody == "approve":
        return "approve"
    if ap.if_nobody == "role" and ap.nobody_role:
        return ap.nobody_role
    if ap.if_nobody == "admins":
        return ADMIN
    return step.role or ADMIN


def _open(rt: Runtime, w: _Work, step: Step, r: PartyRound, slot: Slot) -> str:
    user = slot.get("user")
    tid = rt._create_task(w, step, role=slot.get("role"), assignee=user)
    r["tasks"].append(tid)
    return tid


# -- deciding -------------------------------------------------------------------------------


def check_turn(w: _Work, task: Task) -> None:
    """A task waiting for the approver added before it (加签) is not decided yet. (That one
    person decides once per approval is ``access.decided_already``, which the runtime asks
    of every action on a task.)"""
    waiting = task.get("waiting_on")
    if waiting and w.s["tasks"][waiting]["status"] == "open":
        other = w.s["tasks"][waiting].get("assignee") or waiting
        raise CommandRejected(_("{user} was added to decide before you (加签); wait for their decision", user=other))


def decide(rt: Runtime, w: _Work, step: Step, task: Task, comment: str) -> str | None:
    """Count the decision just recorded on ``task``; the outcome when it is now certain."""
    r = _round(w, step.id)
    t = w.task(task["id"])
    t["comment"] = comment
    outcome = _settle(rt, w, step, r, task["id"])
    if outcome is None:  # approvers added after this one (加签) are asked now
        for slot in [s for s in r["queue"] if s.get("after") == task["id"]]:
            r["queue"].remove(slot)
            _open(rt, w, step, r, slot)
    return outcome


def _counts(w: _Work, r: PartyRound) -> tuple[int, int, int, list[str]]:
    """(approvals, rejections, still to decide, the users who approved)."""
    tasks = [w.s["tasks"][t] for t in r["tasks"]]
    approved = [t for t in tasks if t["status"] == "done" and t.get("decision") == "approve"]
    rejections = sum(1 for t in tasks if t["status"] == "done" and t.get("decision") == "reject")
    pending = sum(1 for t in tasks if t["status"] == "open") + len(r["queue"])
    return len(approved) + r["auto"], rejections, pending, [t["completed_by"] or "" for t in approved]


def _settle(rt: Runtime, w: _Work, step: Step, r: PartyRound, last: str | None) -> str | None:
    ap = step.approvers
    assert ap is not None
    approvals, rejections, pending, users = _counts(w, r)
    need = ap.needed(r["total"])
    if approvals >= need:
        decision = "approve"
        why = keep("approved: {approvals} of {need} approvals needed were given", approvals=approvals, need=need)
    elif ap.veto and rejections:
        decision = "reject"
        why = keep("rejected: one rejection rejects this approval")
    elif approvals + pending < need:
        decision = "reject"
        why = keep("rejected: {need} approvals can no longer be reached", need=need)
    else:
        if ap.mode == "sequence" and r["queue"] and not any(
                w.s["tasks"][t]["status"] == "open" for t in r["tasks"]):
            _open(rt, w, step, r, r["queue"].pop(0))
        return None
    for tid in r["tasks"]:
        if w.s["tasks"][tid]["status"] == "open":
            t = w.task(tid)
            t["status"], t["completed_at"] = "cancelled", w.at
            cancelled: TaskCancelled = {"reason": why[0], "reason_message": why[1]}
            w.event("task:cancelled", cancelled, step=step.id, task=tid)
    comment = ""
    if last is not None:
        comment = w.s["tasks"][last].get("comment", "")
    data = {"decision": decision, "comment": comment, "approvals": approvals, "rejections": rejections,
            "approvers": users}
    w.s["data"][step.id] = data
    rounds = _rounds(w)
    rounds.pop(step.id, None)
    if not rounds:
        del w.s["approvals"]
    w.event("approval:decided", {"decision": decision, "approvals": approvals, "rejections": rejections,
                                 "need": need, "data": data}, step=step.id)
    return decision


# -- 加签 ------------------------------------------------------------------------------------


def add_approver(rt: Runtime, w: _Work, cmd: AddApprover) -> None:
    """加签: the approver of an open task adds a holder of the step's ``add_approver`` role
    before (they decide first; this task waits) or after themselves."""
    task, step = rt._actionable(w, cmd.task_id, cmd.actor, "approval")
    ap = step.approvers
    if ap is None or ap.add_from is None:
        raise NotPermitted(_("step '{title}' does not allow adding approvers (add_approver)", title=titled(step)))
    if cmd.position not in (BEFORE, AFTER):
        raise _invalid("position", _("add the approver 'before' or 'after' yourself"))
    reason = (cmd.reason or "").strip()
    if not reason:
        raise _invalid("reason", _("say why you add an approver"))
    user = (cmd.user or "").strip()
    if not user or user == cmd.actor.user:
        raise _invalid("user", _("name another person to add as approver"))
    if ap.add_from not in cmd.roles:
        role = rt.procedure.roles.get(ap.add_from, ap.add_from)
        raise NotPermitted(_("{user} cannot be added: approvers added here must hold role '{role}'",
                             user=user, role=role))
    check_turn(w, task)
    r = _round(w, step.id)
    if any(w.s["tasks"][t]["status"] == "open" and w.s["tasks"][t].get("assignee") == user for t in r["tasks"]) \
            or any(s.get("user") == user for s in r["queue"]):
        raise CommandRejected(_("{user} is already an approver of this step", user=user))
    # Whoever could never decide the added task would hold the step (and, added before, the
    # adder) open for good: one who decided in this approval already, or one a separation
    # of duties keeps from the step.
    if access.decided_already(w.s, task, user):
        raise CommandRejected(_("{user} has already decided in this approval and decides once; "
                                "add someone else", user=user))
    other = access.separation_conflict(w.s, rt.procedure, task, Actor(user, cmd.roles, user))
    if other is not None:
        done = _("the start") if other == "start" else rt.procedure.steps[other].title
        raise NotPermitted(_("{user} did '{other}' and may not decide this step too (separation of duties); "
                             "add someone else", user=user, other=done))
    r["total"] += 1
    slot: Slot = {"source": "add_approver", "user": user, "added_by": cmd.actor.user}
    opened: str | None = None
    if cmd.position == BEFORE:
        opened = _open(rt, w, step, r, slot)
        w.task(task["id"])["waiting_on"] = opened
    elif ap.mode == "sequence":
        r["queue"].insert(0, slot)
    else:
        slot["after"] = task["id"]
        r["queue"].append(slot)
    w.event("approval:added", {"user": user, "position": cmd.position, "reason": reason, "task": opened},
            step=step.id, task=task["id"])


def _invalid(field: str, message: str) -> FormInvalid:
    return FormInvalid(message, errors=[{"field": field, "message": message}])
