"""Who may do what to an instance: the one copy of each rule.

``Runtime.apply`` enforces these when it applies a command; the application layer and the
pages call the same functions to decide what to offer (an inbox entry, a button, a form),
so a page never offers what the runtime refuses, nor refuses what the API allows.
Each takes the actor's procedure roles as resolved by the application layer (``Actor.roles``,
``admin`` included when the user is an administrator).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from engine.errors import NotPermitted
from engine.i18n import _, reader_locale
from engine.language.english import titled
from engine.language.procedure import Procedure
from engine.runtime.commands import Actor

__all__ = [
    "ADMIN", "check_act", "check_decides_once", "closed_correction_roles", "decided_already", "correction_roles", "holds", "may_act", "may_cancel", "may_correct",
    "check_separation", "may_reassign", "may_release", "may_start", "separation_conflict",
    "REJECTED", "SYSTEM_OUTCOMES", "outcome_words", "URGE_INTERVAL", "WITHDRAWN", "cc_named", "cc_recipient", "cc_refusal", "following", "next_urge_at",
    "recall_refusal", "return_refusal", "return_targets", "transfer_refusal", "transfer_target_refusal",
    "urge_refusal", "withdraw_refusal",
]

ADMIN = "admin"
# A closed (completed or cancelled) record is corrected only by the procedure's
# ``correct_closed`` roles: its values were relied on (reported, archived, signed), so neither
# the step's role nor an administrator changes them any more.


def holds(task: Mapping[str, Any], actor: Actor) -> bool:
    """Whether ``actor`` is one of those ``task`` is for: a holder of its role, of a role
    it was escalated to, or the user it was escalated to by name (a manager, ``user:NAME``)."""
    escalated = task.get("escalated_to") or ()
    return (task.get("role") in actor.roles or bool(actor.roles.intersection(escalated))
            or f"user:{actor.user}" in escalated)


def may_act(task: Mapping[str, Any], actor: Actor) -> bool:
    """Whether ``actor`` may complete, approve, reject or claim ``task``: while it is claimed,
    only the person who claimed it; while unclaimed, whoever ``holds`` it. The system (the
    clock) never acts on a person's task. Whether the task is still open is checked apart
    (the runtime names a closed task differently), so a caller listing tasks filters open ones."""
    if actor.system:
        return False
    if task.get("assignee"):
        if task.get("named"):
            # A named approver's task picked among a role's holders (``pick``) is theirs while
            # they hold that role.
            if task.get("role") and task["role"] not in actor.roles:
                return False
            return bool(task["assignee"] == actor.user)
        # A claimed (or transferred) task is its holder's while they may still hold it: every
        # way of giving it to someone checks ``holds``, and taking a person out of the role
        # must not leave them able to do the role's work with a page or a token they had.
        return bool(task["assignee"] == actor.user) and holds(task, actor)
    return holds(task, actor)


def check_act(task: Mapping[str, Any], actor: Actor, procedure: Procedure) -> None:
    """``may_act``, raising ``NotPermitted`` with what the actor can do about it."""
    if may_act(task, actor):
        return
    step = procedure.steps[task["step"]]
    if actor.system:
        raise NotPermitted(_("the system cannot act on a person's task"))
    if task.get("named"):
        if task["assignee"] == actor.user:
            role = procedure.role_title(task["role"], reader_locale())
            raise NotPermitted(_("task '{title}' was given to you as a holder of role '{role}', which you no "
                                 "longer hold", title=titled(step), role=role))
        raise NotPermitted(_("task '{title}' is {user}'s own approval; only they decide it",
                             title=titled(step), user=task["assignee"]))
    if task.get("assignee") == actor.user:
        role = procedure.role_title(task["role"], reader_locale())
        raise NotPermitted(_("task '{title}' is yours, but you no longer hold role '{role}'; ask an "
                             "administrator to hand it on", title=titled(step), role=role))
    if task.get("assignee"):
        raise NotPermitted(_("task '{title}' is claimed by {user}; ask them to release it or a "
                             "supervisor to reassign it", title=titled(step), user=task["assignee"]))
    role = procedure.role_title(task["role"], reader_locale())
    raise NotPermitted(_("task '{title}' is for role '{role}' ({id}); you do not hold that role",
                          title=titled(step), role=role, id=task["role"]))


def separation_conflict(state: Mapping[str, Any], procedure: Procedure, task: Mapping[str, Any],
                        actor: Actor) -> str | None:
    """The earlier step (``start``: the start) that ``actor`` did and that the task's step is
    declared ``separate_from``, or None: separation of duties (e.g. review ≠ report). The
    inbox hides such tasks and the runtime refuses them."""
    step = procedure.steps.get(task["step"])
    if step is None or not step.separate_from:
        return None
    for other in step.separate_from:
        if other == "start":
            if state.get("started_by") == actor.user:
                return other
        elif any(t["step"] == other and t["status"] == "done" and t.get("completed_by") == actor.user
                 for t in state["tasks"].values()):
            return other
    return None


def check_separation(state: Mapping[str, Any], procedure: Procedure, task: Mapping[str, Any],
                     actor: Actor) -> None:
    """``separation_conflict``, raising ``NotPermitted`` that names both steps."""
    other = separation_conflict(state, procedure, task, actor)
    if other is None:
        return
    step = procedure.steps[task["step"]]
    done = _("the start") if other == "start" else procedure.steps[other].title
    raise NotPermitted(_("'{title}' must be done by someone other than whoever did '{other}' (separation of "
                         "duties), and you did; another holder of the role must do it",
                         title=titled(step), other=done))


def decided_already(state: Mapping[str, Any], task: Mapping[str, Any], user: str) -> bool:
    """Whether ``user`` has decided another task of the multi-party approval ``task`` is one
    of: one person decides once per approval (会签), however many of its roles they hold. The
    inbox hides the approval's other tasks from them, the runtime refuses them the claim and
    the decision, and a transfer or 加签 does not give them one."""
    r = (state.get("approvals") or {}).get(task["step"])
    if r is None or task.get("id") not in r["tasks"]:
        return False
    tasks = state["tasks"]
    return any(tasks[t]["status"] == "done" and tasks[t].get("completed_by") == user
               for t in r["tasks"] if t != task["id"])


def check_decides_once(state: Mapping[str, Any], task: Mapping[str, Any], actor: Actor) -> None:
    """``decided_already``, raising ``NotPermitted``."""
    if decided_already(state, task, actor.user):
        raise NotPermitted(_("you have already decided in this approval; each approver decides once"))


def may_release(task: Mapping[str, Any], actor: Actor) -> bool:
    """Only the person who claimed a task releases it; a named approver's task (a
    multi-party approval) has no pool to go back to."""
    return bool(task.get("assignee")) and task["assignee"] == actor.user and not task.get("named")


def may_reassign(task: Mapping[str, Any], actor: Actor) -> bool:
    """An administrator, the system, or whoever ``holds`` the task (claimed or not) may give
    it to someone else."""
    return actor.system or ADMIN in actor.roles or holds(task, actor)


def may_start(procedure: Procedure, actor: Actor) -> bool:
    """The procedure's start roles, and the system (schedules, triggers, spawn steps)."""
    return actor.system or bool(actor.roles.intersection(procedure.start_roles))


def may_cancel(instance: Mapping[str, Any], procedure: Procedure, actor: Actor) -> bool:
    """A running instance is cancelled by those who may start the procedure, an administrator
    or the system."""
    if instance.get("status") != "running":
        return False
    return actor.system or ADMIN in actor.roles or bool(actor.roles.intersection(procedure.start_roles))


def correction_roles(procedure: Procedure, step_id: str) -> frozenset[str]:
    """The roles that correct the data recorded at ``step_id``: the step's role (the start
    roles for the start form, ``"start"``) and ``admin``."""
    step = procedure.steps.get(step_id) if step_id != "start" else None
    if step is not None and step.role:
        return frozenset({ADMIN, step.role})
    return frozenset({ADMIN, *procedure.start_roles})


def closed_correction_roles(procedure: Procedure) -> frozenset[str]:
    """The roles that correct a closed record: the procedure's ``correct_closed:`` (by
    default its ``quality_manager`` role, or nobody)."""
    return frozenset(procedure.correct_closed)


def may_correct(procedure: Procedure, step_id: str, actor: Actor, status: str = "running") -> bool:
    """Whether ``actor`` may correct the data recorded at ``step_id`` of an instance in
    ``status`` (a person, never the system: a correction is someone's statement)."""
    if actor.system:
        return False
    if status != "running":
        return bool(actor.roles & closed_correction_roles(procedure))
    return bool(actor.roles & correction_roles(procedure, step_id))


# --------------------------------------------------------------------------- task actions
# 转交、退回、撤回、收回、催办、抄送 (``engine.runtime.actions`` applies them). Each rule answers
# with the reason it refuses, in words for the person refused, or None when it allows: the
# runtime raises that reason, the pages and the API offer the action only where it is None.

#: A task is urged at most once in this time.
URGE_INTERVAL = timedelta(hours=1)
#: The outcome a withdrawn instance ends with (shown as 已撤回).
WITHDRAWN = "withdrawn"
#: The outcome of an instance ended by an approval rejected without ``on_reject`` (驳回).
REJECTED = "rejected"
#: The outcomes the runtime gives, kept as English words and shown translated; an end
#: step's ``outcome`` is the procedure's own words and shown as written.
SYSTEM_OUTCOMES = frozenset({WITHDRAWN, REJECTED})


def outcome_words(value: str | None) -> str:
    """An instance's outcome as people read it: the runtime's own (``SYSTEM_OUTCOMES``) in the
    reader's language, an end step's as the procedure words it. The one rule of the record
    page, the lists, the dossier (page and PDF), the timeline and the audit search."""
    if not value:
        return ""
    return _(value) if value in SYSTEM_OUTCOMES else str(value)


def transfer_refusal(task: Mapping[str, Any], procedure: Procedure, actor: Actor) -> str | None:
    """转交: whoever may act on the task (or an administrator), on a step that allows it."""
    step = procedure.steps.get(task["step"])
    if step is None or not step.is_human or task.get("reapproval"):
        return _("this task cannot be transferred")
    if not step.transfer:
        return _("step '{title}' does not allow transfer ('transfer: false'); do it yourself or release it",
                 title=titled(step))
    if task.get("named"):
        # Nobody else holds a named approver's place: no role to hand it on within.
        return _("task '{title}' is {user}'s own approval and cannot be transferred; where the step allows it, "
                 "add an approver (加签) instead", title=titled(step), user=task.get("assignee"))
    if actor.system or not (may_act(task, actor) or ADMIN in actor.roles):
        return _("only the person holding task '{title}' may transfer it", title=titled(step))
    return None


def transfer_target_refusal(state: Mapping[str, Any], procedure: Procedure, task: Mapping[str, Any],
                            target: Actor) -> str | None:
    """Whom a task may be transferred to: someone who may hold it (its role, or a role it
    was escalated to), kept from it by no separation of duties, who has not decided in its
    approval already."""
    if not holds(task, target):
        role = procedure.roles.get(task.get("role") or "", task.get("role"))
        return _("{user} does not hold role '{role}' and cannot take this task; choose someone who does",
                 user=target.user, role=role)
    other = separation_conflict(state, procedure, task, target)
    if other is not None:
        done = _("the start") if other == "start" else procedure.steps[other].title
        return _("{user} did '{other}' and may not do this step too (separation of duties)",
                 user=target.user, other=done)
    if decided_already(state, task, target.user):
        return _("{user} has already decided in this approval and decides once; choose someone else",
                 user=target.user)
    return None


def return_refusal(state: Mapping[str, Any], task: Mapping[str, Any], procedure: Procedure,
                   actor: Actor) -> str | None:
    """退回: whoever may act on the task, on a step declaring ``return_to`` (which earlier step
    is checked when the target is known: ``return_targets``)."""
    step = procedure.steps.get(task["step"])
    if step is None or not step.return_to or task.get("reapproval"):
        return _("this step cannot be returned to an earlier one (it declares no 'return_to')")
    if not may_act(task, actor):
        return _("only the person holding task '{title}' may return it", title=titled(step))
    if not return_targets(state, task, procedure):
        return _("none of the steps this one may return to has been done in this instance")
    return None


def return_targets(state: Mapping[str, Any], task: Mapping[str, Any], procedure: Procedure) -> list[str]:
    """The steps ``task`` may be returned to: declared in ``return_to`` and on this instance's path."""
    step = procedure.steps.get(task["step"])
    path = set(state.get("path") or ())
    return [s for s in (step.return_to if step else ()) if s in path]


def withdraw_refusal(state: Mapping[str, Any], procedure: Procedure, actor: Actor) -> str | None:
    """撤回: the starter, while the instance runs and nobody else has done a step of it (the
    starter's own steps, such as a registration right after starting, do not count)."""
    if state.get("status") != "running":
        return _("the instance is already {status}", status=_(state["status"]))
    if not procedure.withdraw:
        return _("'{title}' cannot be withdrawn ('withdraw: false'); ask to have it cancelled",
                 title=titled(procedure))
    if actor.system or state.get("started_by") != actor.user:
        return _("only {user}, who started this instance, may withdraw it", user=state.get("started_by"))
    for t in state["tasks"].values():
        if t["kind"] != "wait" and t["status"] == "done" and t.get("completed_by") != actor.user:
            title = procedure.steps[t["step"]].title if t["step"] in procedure.steps else t["step"]
            return _("{user} has already done '{title}'; the instance can no longer be withdrawn (ask to "
                     "have it cancelled)", user=t.get("completed_by"), title=title)
    return None


def recall_refusal(state: Mapping[str, Any], procedure: Procedure, task: Mapping[str, Any],
                   actor: Actor, *, drafts: bool = False) -> str | None:
    """收回: the person who completed the task, on a step declaring ``recall: true``, while it is
    the last one done and the tasks its completion opened are untouched: not claimed, not
    decided, no draft saved on them (``drafts``, from the store), no linked instance opened."""
    step = procedure.steps.get(task["step"])
    if step is None or not step.recall:
        return _("this step cannot be recalled (it does not declare 'recall: true')")
    if state.get("status") != "running":
        return _("the instance is already {status}", status=_(state["status"]))
    if task["status"] != "done" or task.get("completed_by") != actor.user or actor.system:
        return _("only the person who completed '{title}' may recall it", title=titled(step))
    last = state.get("last_done")
    if not last or last["task"] != task["id"]:
        return _("a later step has been done since '{title}'; it can no longer be recalled", title=titled(step))
    if len(state.get("links") or ()) != last["links"]:
        return _("'{title}' opened a linked instance; it can no longer be recalled", title=titled(step))
    if step.approvers is not None and not task.get("reapproval") and (
            "approvals" not in last or task["id"] not in _round_tasks(state, step.id)):
        # One approver's decision that settled the approval (会签, 或签) moved the instance on
        # for everyone; taking it back would reopen an approval whose outcome others were
        # told of. (A decision recorded before rounds were kept for recalls: likewise.)
        return _("your decision settled the approval '{title}' and the instance has moved on, so it can no "
                 "longer be recalled; ask whoever holds the next step to return it (退回)", title=titled(step))
    for t in following(state, task):
        # A named approver's task has its assignee from the start; it is taken up once
        # decided or drafted (``drafts``), not by being theirs.
        if t["status"] != "open" or t["kind"] == "wait" or (t.get("assignee") and not t.get("named")):
            title = procedure.steps[t["step"]].title if t["step"] in procedure.steps else t["step"]
            return _("'{title}' has been taken up already; the submission can no longer be recalled", title=title)
    if drafts:
        return _("someone has saved a draft on the next step; the submission can no longer be recalled")
    return None


def _round_tasks(state: Mapping[str, Any], step_id: str) -> list[str]:
    """The tasks of the step's multi-party approval in progress ([] when none is)."""
    r = (state.get("approvals") or {}).get(step_id)
    return list(r["tasks"]) if r else []


def following(state: Mapping[str, Any], task: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The tasks opened by the last completion (of ``task``): what a recall closes."""
    last = state.get("last_done")
    if not last or last["task"] != task["id"]:
        return []
    return [t for t in state["tasks"].values() if int(t["id"][1:]) > last["seq"]]


def urge_refusal(state: Mapping[str, Any], procedure: Procedure, task: Mapping[str, Any],
                 actor: Actor) -> str | None:
    """催办: while the task is open, by the starter, anyone who did a step of the instance (who
    waits for the rest) or an administrator; never by one who may act on it themselves."""
    if state.get("status") != "running" or task["status"] != "open" or task["kind"] == "wait":
        return _("only an open task can be urged")
    if actor.system:
        return _("the system does not urge; deadlines remind and escalate")
    if may_act(task, actor) and separation_conflict(state, procedure, task, actor) is None:
        return _("you hold this task yourself; do it or transfer it")
    waiting = (state.get("started_by") == actor.user or ADMIN in actor.roles
               or any(t.get("completed_by") == actor.user for t in state["tasks"].values()))
    if not waiting:
        return _("only the starter and those who did a step of this instance may urge it")
    return None


def next_urge_at(task: Mapping[str, Any]) -> datetime | None:
    """When the task may be urged again (None: now)."""
    urged = task.get("urged_at")
    return datetime.fromisoformat(urged) + URGE_INTERVAL if urged else None


def cc_refusal(task: Mapping[str, Any], procedure: Procedure, actor: Actor) -> str | None:
    """抄送 by a person: whoever may act on an open task of a step declaring ``cc_add: true``."""
    step = procedure.steps.get(task["step"])
    if step is None or not step.cc_add:
        return _("this step does not let you add CC recipients ('cc_add: true' is not declared)")
    if not may_act(task, actor):
        return _("only the person holding task '{title}' may send it to others", title=titled(step))
    return None


def cc_recipient(state: Mapping[str, Any], actor: Actor) -> bool:
    """Whether the instance was sent to ``actor`` (by name, or to a role they hold)."""
    mine = {f"user:{actor.user}", *actor.roles}
    return any(mine.intersection(c["to"]) for c in state.get("cc") or ())


def cc_named(state: Mapping[str, Any], username: str) -> bool:
    """Whether the instance was sent to ``username`` by name (``user:NAME``): what gives
    someone without a role in the procedure read access to this one instance."""
    return any(f"user:{username}" in c["to"] for c in state.get("cc") or ())
