"""Task actions: 转交 (transfer), 退回 (return), 撤回 (withdraw), 收回 (recall), 催办 (urge),
抄送 (CC) and 已阅 (CC read).

Handlers of ``Runtime.apply`` (``HANDLERS``, registered by ``engine.runtime.machine``), pure
like the rest of the runtime: they take the runtime, the working copy of the state and the
command, and record events. Who may do each is decided in ``engine.runtime.access`` (one
copy, also asked by the pages and the API); which steps allow which action is declared in the
procedure (``Step.transfer``, ``return_to``, ``resume``, ``recall``, ``cc``, ``cc_add``;
``Procedure.withdraw``).

Two hooks run inside the machine: ``after`` once a completion or decision has moved the
instance on (it remembers what a recall restores and sends the step's declared CC), and
``resume_at`` when a step is left (after a return with ``resume: here``, the returned step
comes straight back to the step that returned it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import (
    CommandRejected,
    FormInvalid,
    InstanceClosed,
    NotFound,
    NotPermitted,
    TooSoon,
)
from engine.i18n import _
from engine.language.english import titled
from engine.runtime import access
from engine.runtime.commands import (
    Actor,
    Approve,
    Cc,
    CcRead,
    Command,
    CompleteTask,
    Recall,
    Reject,
    Return,
    Transfer,
    Urge,
    Withdraw,
)
from engine.runtime.state import CcRecord, InstanceState, Task

if TYPE_CHECKING:
    from engine.language.procedure import Step
    from engine.runtime.machine import Runtime, _Work

__all__ = ["HANDLERS", "NOTE_MAX", "after", "resume_at"]

# The longest note a 催办 or 抄送 carries: a line for the people told, not a report (it is
# kept in the state and in each notification).
NOTE_MAX = 500


def _reason(text: str, what: str) -> str:
    reason = (text or "").strip()
    if not reason:
        raise CommandRejected(what)
    return reason


def _note(text: str) -> str:
    """The optional note of a 催办 or 抄送, whole or refused: the pages and the API pass on
    what was typed, and cutting it here would record words its writer did not send."""
    note = (text or "").strip()
    if len(note) > NOTE_MAX:
        raise FormInvalid(_("the note has {count} characters; a note is at most {n}: shorten it",
                            count=len(note), n=NOTE_MAX),
                          errors=[{"field": "note", "message": _("at most {n} characters", n=NOTE_MAX)}])
    return note


def _transfer(rt: Runtime, w: _Work, cmd: Transfer) -> None:
    task = rt._open_task(w, cmd.task_id)
    refusal = access.transfer_refusal(task, rt.procedure, cmd.actor)
    if refusal:
        raise NotPermitted(refusal)
    reason = _reason(cmd.reason, _("say why the task is transferred"))
    if not cmd.to_user or cmd.to_user == task.get("assignee") or (
            cmd.to_user == cmd.actor.user and not task.get("assignee")):
        raise CommandRejected(_("choose someone else to transfer the task to"))
    target = Actor(user=cmd.to_user, roles=cmd.to_roles)
    target_refusal = access.transfer_target_refusal(w.s, rt.procedure, task, target)
    if target_refusal:
        raise NotPermitted(target_refusal)
    t = w.task(task["id"])
    before = t["assignee"]
    t["assignee"] = cmd.to_user
    w.event("task:transferred", {"from": before, "to": cmd.to_user, "reason": reason}, step=t["step"], task=t["id"])


def _return(rt: Runtime, w: _Work, cmd: Return) -> None:
    task = rt._open_task(w, cmd.task_id)
    step = rt.procedure.steps[task["step"]]
    refusal = access.return_refusal(w.s, task, rt.procedure, cmd.actor)
    if refusal:
        if step.return_to and not access.may_act(task, cmd.actor):
            access.check_act(task, cmd.actor, rt.procedure)  # names who holds it
        raise NotPermitted(refusal)
    allowed = access.return_targets(w.s, task, rt.procedure)
    if cmd.to_step not in allowed:
        titles = ", ".join(f"{s} ({rt.procedure.steps[s].title})" for s in allowed)
        raise NotPermitted(_("'{title}' may be returned only to: {steps}", title=titled(step), steps=titles))
    access.check_separation(w.s, rt.procedure, task, cmd.actor)
    reason = _reason(cmd.reason, _("say why the task is returned and what must change"))
    resume = _resume(step, cmd.resume)
    t = w.task(task["id"])
    t["status"], t["completed_at"], t["completed_by"], t["returned"] = "cancelled", w.at, cmd.actor.user, reason
    w.event("task:returned", {"to": cmd.to_step, "reason": reason, "resume": resume}, step=step.id, task=t["id"])
    rt._close_open_tasks(w)
    w.s["joins"] = {}  # the target lies before any parallel step still open (the validator checks)
    back = dict(w.s.get("resume") or {})
    if resume == "here":
        back[cmd.to_step] = step.id
    else:
        back.pop(cmd.to_step, None)
    w.s["resume"] = back
    w.s.pop("last_done", None)
    rt._enter(w, cmd.to_step)


def _resume(step: Step, asked: str) -> Any:
    if step.resume == "choose":
        if asked not in ("here", "again"):
            raise CommandRejected(_("choose how the returned step comes back: 'here' (straight back to this "
                                    "step) or 'again' (along the path)"))
        return asked
    if asked and asked != step.resume:
        raise CommandRejected(_("a return from this step always comes back '{resume}'", resume=step.resume))
    return step.resume


def _withdraw(rt: Runtime, w: _Work, cmd: Withdraw) -> None:
    if w.s["status"] != "running":
        raise InstanceClosed(_("the instance is already {status}", status=_(w.s["status"])))
    refusal = access.withdraw_refusal(w.s, rt.procedure, cmd.actor)
    if refusal:
        raise NotPermitted(refusal)
    reason = _reason(cmd.reason, _("say why the instance is withdrawn"))
    rt._close_open_tasks(w)
    w.s["status"] = "cancelled"
    w.s["outcome"] = access.WITHDRAWN
    w.s["ended_at"] = w.at
    w.event("instance:withdrawn", {"reason": reason})


def _recall(rt: Runtime, w: _Work, cmd: Recall) -> None:
    task = w.s["tasks"].get(cmd.task_id)
    if task is None:
        raise NotFound(_("no task '{task}' in this instance", task=cmd.task_id))
    refusal = access.recall_refusal(w.s, rt.procedure, task, cmd.actor, drafts=cmd.drafts)
    if refusal:
        raise (InstanceClosed if w.s["status"] != "running" else NotPermitted)(refusal)
    last = w.s["last_done"]
    closed = [str(t["id"]) for t in access.following(w.s, task)]
    for tid in closed:
        c = w.task(tid)
        c["status"], c["completed_at"] = "cancelled", w.at
    t = w.task(task["id"])
    t["status"], t["completed_at"], t["completed_by"], t["assignee"] = "open", None, None, cmd.actor.user
    t.pop("signature", None)
    t.pop("decision", None)
    w.s["path"] = w.s["path"][:last["path"]]
    w.s["joins"] = dict(last["joins"])
    if "resume" in last:
        w.s["resume"] = dict(last["resume"])
    if "approvals" in last:
        # The multi-party approvals as they were: a recalled decision's round asks the
        # approvers its decision had opened (依次, 加签 after) again in turn, and a recalled
        # submission leaves no round behind for the approval it had opened.
        if last["approvals"]:
            w.s["approvals"] = dict(last["approvals"])
        else:
            w.s.pop("approvals", None)
    w.s.pop("last_done")
    w.event("task:recalled", {"cancelled": closed}, step=t["step"], task=t["id"])
    for tid in closed:
        w.event("task:cancelled", {}, step=w.s["tasks"][tid]["step"], task=tid)


def _urge(rt: Runtime, w: _Work, cmd: Urge) -> None:
    task = rt._open_task(w, cmd.task_id)
    refusal = access.urge_refusal(w.s, rt.procedure, task, cmd.actor)
    if refusal:
        raise NotPermitted(refusal)
    again = access.next_urge_at(task)
    if again is not None and again > w.now:
        local = again.astimezone(rt._calendar(None).timezone).strftime("%H:%M")
        raise TooSoon(_("'{title}' was urged less than an hour ago; you may urge it again after {time}",
                        title=titled(rt.procedure.steps[task["step"]]), time=local),
                      retry_after=int((again - w.now).total_seconds()) + 1)
    note = _note(cmd.note)
    t = w.task(task["id"])
    t["urged_at"] = w.at
    # the claimer; else the role and those it was escalated to (roles, or ``user:NAME`` for a manager)
    holders = [t["assignee"]] if t["assignee"] else [
        r if r.startswith("user:") else f"role:{r}" for r in (t["role"], *t.get("escalated_to", [])) if r]
    w.event("task:urged", {"note": note, "holders": holders}, step=t["step"], task=t["id"])


def _cc(rt: Runtime, w: _Work, cmd: Cc) -> None:
    task = rt._open_task(w, cmd.task_id)
    refusal = access.cc_refusal(task, rt.procedure, cmd.actor)
    if refusal:
        raise NotPermitted(refusal)
    note = _note(cmd.note)
    to = list(dict.fromkeys(r.strip() for r in cmd.recipients if r and r.strip()))
    if not to:
        raise CommandRejected(_("say to whom the instance is sent (roles or users)"))
    unknown = [r for r in to if not r.startswith("user:") and r not in rt.procedure.roles]
    if unknown:
        raise CommandRejected(_("unknown recipient(s) {names}: give role ids of this procedure or user:NAME",
                                names=", ".join(unknown)))
    _send(w, to, task["step"], task["id"], note, auto=False)


def _send(w: _Work, to: list[str], step: str, task: str, note: str, *, auto: bool) -> None:
    record: CcRecord = {"to": to, "step": step, "by": w.actor.user, "at": w.at, "note": note}
    w.s["cc"] = [*(w.s.get("cc") or []), record]
    w.event("cc:sent", {"to": to, "note": note, "auto": auto}, step=step, task=task)


def _cc_read(rt: Runtime, w: _Work, cmd: CcRead) -> None:
    if not access.cc_recipient(w.s, cmd.actor):
        raise NotPermitted(_("this instance was not sent to you (抄送), so there is nothing to mark read"))
    if cmd.actor.user in (w.s.get("cc_read") or {}):
        return  # read once is read
    w.s["cc_read"] = {**(w.s.get("cc_read") or {}), cmd.actor.user: w.at}
    w.event("cc:read", {})


HANDLERS: Mapping[type, Callable[[Runtime, _Work, Any], None]] = {
    Transfer: _transfer,
    Return: _return,
    Withdraw: _withdraw,
    Recall: _recall,
    Urge: _urge,
    Cc: _cc,
    CcRead: _cc_read,
}


# -- hooks the machine calls --------------------------------------------------------------


def after(rt: Runtime, w: _Work, before: InstanceState, command: Command) -> None:
    """After a completion or decision: remember what a recall would restore, and send the
    step's declared CC (``cc:``) once the step is decided."""
    if not isinstance(command, CompleteTask | Approve | Reject) or not w.events:
        return
    task: Task = w.s["tasks"][command.task_id]
    if task.get("reapproval"):
        return
    step = rt.procedure.steps[task["step"]]
    w.s["last_done"] = {"task": task["id"], "by": command.actor.user, "at": w.at, "seq": before["seq"],
                        "path": len(before["path"]), "links": len(before["links"]),
                        "joins": dict(before["joins"])}
    if "resume" in before:
        w.s["last_done"]["resume"] = dict(before["resume"])
    w.s["last_done"]["approvals"] = dict(before.get("approvals") or {})
    # ``cc:`` tells of the step's outcome: a multi-party approval has one once it is
    # settled (``approval:decided``), not at each approver's decision.
    settled = step.approvers is None or any(
        e["type"] == "approval:decided" and e["step"] == step.id for e in w.events)
    if step.cc and settled:
        _send(w, list(step.cc), step.id, task["id"], "", auto=True)


def resume_at(w: _Work, step: Step) -> str | None:
    """The step to enter instead of routing, when ``step`` was returned to with ``resume: here``."""
    back = w.s.get("resume")
    if not back or step.id not in back:
        return None
    rest = dict(back)
    target = rest.pop(step.id)
    w.s["resume"] = rest
    return target
