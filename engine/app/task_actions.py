"""Task actions: 转交 (transfer), 退回 (return), 收回 (recall), 催办 (urge) and 撤回 (withdraw),
for the task and instance pages and the API alike, and what each page may offer.

Each change is one write transaction through ``Workflow`` (the runtime applies the rule of
``engine.runtime.access`` and records the event with who, when and why; the notifications
those events call for are written with it: the new holder of a transferred task, the
holders of a returned step with the reason, the holders of an urged task). The offers
(``task_offers``, ``instance_offers``) ask the same rules, so a page never shows a button the
runtime refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine import store
from engine.app import access as app_access
from engine.app import instances
from engine.errors import CommandRejected, NotPermitted
from engine.i18n import _, reader_locale
from engine.runtime import access
from engine.runtime.commands import Actor
from engine.store import timekeeping as tk
from engine.store import users as user_store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.app.access import Reader
    from engine.app.services import Services


def _change(services: Services, instance_id: Callable[[Session], str], change: Callable[[Session], Any],
            answer_for: Reader | None, *, reader_only: str | None = None,
            task: tuple[str, str] | None = None) -> instances.Answer | None:
    """Make ``change`` to the instance and answer with it as ``answer_for`` sees it. The
    answer shows the whole record, so an action its rule allows to someone who may hold no
    role (催办, 撤回, 收回: the starter, whoever did a step) is refused to ``reader_only`` unless
    they may read the record, as its page would be (``require_instance``), on the
    pages and the API alike. ``task``: ``(user, task id)`` of an action on a task, whose
    refusal tells an outsider nothing (``outsiders_told_nothing``)."""
    with services.database.writing() as s:
        iid = instance_id(s)
        if reader_only is not None:
            app_access.require_instance(services.workflow, s, app_access.reader_named(services.config, s, reader_only),
                                        iid)
        with (app_access.outsiders_told_nothing(services.workflow, services.config, s, *task) if task is not None
              else nullcontext()):
            change(s)
        answer = instances.view_in(services, s, answer_for, iid, check=False) if answer_for else None
    return instances.log_answer(services, answer_for, answer) if answer_for and answer else None


def _of_task(task_id: str) -> Callable[[Session], str]:
    return lambda s: store.task_ref(s, task_id).instance_id


def transfer(services: Services, username: str, task_id: str, to_user: str, reason: str, *,
             answer_for: Reader | None = None) -> instances.Answer | None:
    """转交 an open task to another person who may hold it (the reason is recorded). A named
    approver's task is theirs alone and is not transferred, except by an administrator once
    that approver can no longer decide it (``stranded``: deactivated, or out of the role it
    was given to them for): it is then handed on (``task:reassigned``) rather than left open
    for ever."""
    wf = services.workflow

    def change(s: Session) -> Any:
        if _hand_on_stranded(services, s, username, task_id, to_user, reason):
            return None
        return wf.transfer(s, task_id, username, to_user, reason)

    return _change(services, _of_task(task_id), change, answer_for, task=(username, task_id))


def stranded(session: Session, workflow: Any, procedure: Any, task: dict) -> str | None:
    """The person an open task waits for when they can no longer do it, else None: a named
    approver's own approval (a multi-party approval's task) or a claimed task whose holder's
    account is deactivated (or gone), or who no longer holds the role it was given or claimed
    for. Nobody else may act on such a task (``may_act``), so only an administrator's hand-on
    (``transfer``) keeps it from waiting for ever."""
    if task.get("status") != "open" or not task.get("assignee"):
        return None
    name = task["assignee"]
    try:
        actor = workflow.actor(session, name, procedure)
    except NotPermitted:  # unknown or inactive
        return name
    if task.get("named"):
        return None if access.may_act(task, actor) else name
    role = task.get("role")
    return name if role and not access.holds(task, actor) else None


def _hand_on_stranded(services: Services, s: Session, username: str, task_id: str, to_user: str,
                      reason: str) -> bool:
    """An administrator's transfer of a ``stranded`` named task: checked here (the person
    handed it must be active, may hold it, be kept from it by no separation of duties, and
    not decide twice in the approval) and done as the runtime's reassignment. False when the
    task is not such a task, or the user no administrator: the ordinary transfer (and its
    refusal) applies."""
    wf = services.workflow
    instance_id, _sep, local = task_id.rpartition(".")
    row = store.load_instance(s, instance_id)
    proc = wf.runtime(s, row.version_id).procedure
    state = row.state
    task = state["tasks"].get(local)
    if task is None or state.get("status") != "running" or not task.get("named"):
        return False  # a claimed task: the runtime's transfer, which administrators may make
    left = stranded(s, wf, proc, task)
    if left is None or access.ADMIN not in wf.actor(s, username, proc).roles:
        return False
    title = proc.steps[task["step"]].title if task["step"] in proc.steps else task["step"]
    if not (reason or "").strip():
        raise CommandRejected(_("Say why the approval of {user} is handed on (the reason is recorded).",
                                user=left))
    to_user = (to_user or "").strip()
    if to_user == left:
        raise CommandRejected(_("{user} can no longer decide '{title}'; choose another person.",
                                user=left, title=title))
    target = wf.actor(s, to_user, proc)  # NotPermitted: unknown or inactive
    refusal = _hand_on_refusal(proc, state, task, target)
    if refusal is not None:
        raise NotPermitted(refusal)
    wf.reassign(s, task_id, username, to_user, reason.strip())
    return True


def _hand_on_refusal(proc: Any, state: dict, task: dict, target: Actor) -> str | None:
    """Why ``target`` may not be handed a ``stranded`` task, or None: the one rule of the
    hand-on (``_hand_on_stranded``) and of whom the record page offers (``_successors``). They
    must hold its role, be kept from it by no separation of duties, and not be deciding in its
    approval already."""
    role = task.get("role")
    if role and role not in target.roles:
        return _("{user} does not hold role '{role}' and cannot take this task; choose someone who does",
                 user=target.user, role=proc.role_title(role, reader_locale()))
    other = access.separation_conflict(state, proc, task, target)
    if other is not None:
        done = _("the start") if other == "start" else proc.steps[other].title
        return _("{user} did '{other}' and may not do this step too (separation of duties)",
                 user=target.user, other=done)
    if access.decided_already(state, task, target.user) or any(
            t["status"] == "open" and t.get("assignee") == target.user and t["step"] == task["step"]
            for t in state["tasks"].values()):
        title = proc.steps[task["step"]].title if task["step"] in proc.steps else task["step"]
        return _("{user} is already an approver of '{title}' and decides once; choose someone else",
                 user=target.user, title=title)
    return None


def return_task(services: Services, username: str, task_id: str, to_step: str, reason: str,
                resume: str = "", *, answer_for: Reader | None = None) -> instances.Answer | None:
    """退回 from an open task to an earlier step the step declares (the reason is required)."""
    wf = services.workflow
    return _change(services, _of_task(task_id),
                   lambda s: wf.return_task(s, task_id, username, to_step, reason, resume), answer_for,
                   task=(username, task_id))


def recall(services: Services, username: str, task_id: str, *,
           answer_for: Reader | None = None) -> instances.Answer | None:
    """收回 one's own last completion while the next tasks are untouched."""
    wf = services.workflow
    return _change(services, _of_task(task_id), lambda s: wf.recall(s, task_id, username), answer_for,
                   reader_only=username, task=(username, task_id))


def urge(services: Services, username: str, task_id: str, note: str = "", *,
         answer_for: Reader | None = None) -> instances.Answer | None:
    """催办 the holders of an open task (once an hour per task; ``TooSoon`` says when again)."""
    wf = services.workflow
    return _change(services, _of_task(task_id), lambda s: wf.urge(s, task_id, username, note), answer_for,
                   reader_only=username, task=(username, task_id))


def withdraw(services: Services, username: str, instance_id: str, reason: str, *,
             answer_for: Reader | None = None) -> instances.Answer | None:
    """撤回 an instance by its starter before anyone else has done a step."""
    wf = services.workflow
    return _change(services, lambda s: instance_id, lambda s: wf.withdraw(s, instance_id, username, reason),
                   answer_for, reader_only=username)


# --------------------------------------------------------------------------- what pages offer


@dataclass
class TaskOffers:
    """What the holder of an open task may do besides completing it."""

    transfer_to: list[tuple[str, str]] = field(default_factory=list)  # (user, full name)
    may_transfer: bool = False
    return_to: list[tuple[str, str]] = field(default_factory=list)  # (step, title)
    resume_choice: bool = False  # the step declares ``resume: choose``
    cc_add: bool = False
    roles: list[tuple[str, str]] = field(default_factory=list)  # CC to a role: (id, title)


def task_offers(services: Services, username: str, task_id: str) -> TaskOffers:
    """The actions the task page's "更多操作" offers ``username`` on an open task."""
    wf = services.workflow
    instance_id, _sep, local = task_id.rpartition(".")
    with services.database.reading() as s:
        row = store.load_instance(s, instance_id)
        proc = wf.runtime(s, row.version_id).procedure
        state = row.state
        task = state["tasks"].get(local)
        out = TaskOffers()
        if task is None or task["status"] != "open" or state["status"] != "running":
            return out
        actor = wf.actor(s, username, proc)
        step = proc.steps[task["step"]]
        if access.transfer_refusal(task, proc, actor) is None:
            out.may_transfer = True
            out.transfer_to = _holders(services, s, proc, state, task, actor)
        if access.return_refusal(state, task, proc, actor) is None:
            out.return_to = [(sid, proc.steps[sid].title) for sid in access.return_targets(state, task, proc)]
            out.resume_choice = step.resume == "choose"
        if access.cc_refusal(task, proc, actor) is None:
            out.cc_add = True
            out.roles = list(proc.roles.items())
    return out


def _holders(services: Services, session: Session, proc: Any, state: dict, task: dict,
             actor: Actor) -> list[tuple[str, str]]:
    """The active people a task may be transferred to (its role, or a role it was escalated
    to, through their groups), but not its current holder nor anyone separation keeps off.
    One query for the groups' members, whatever their number."""
    roles = [r for r in (task.get("role"), *task.get("escalated_to", [])) if r and not r.startswith("user:")]
    groups_of = {r: services.config.groups_for_role(proc.id, r) for r in roles}
    members = tk.members(session, {g for gs in groups_of.values() for g in gs})
    held: dict[str, set[str]] = {}
    for role, groups in groups_of.items():
        for g in groups:
            for name, _mail in members.get(g, ()):
                held.setdefault(name, set()).add(role)
    names = sorted(held)
    full = user_store.full_names(session, names)
    out = []
    for name in names:
        if name in (task.get("assignee"), actor.user if not task.get("assignee") else None):
            continue
        target = Actor(user=name, roles=frozenset(held[name]))
        if access.transfer_target_refusal(state, proc, task, target) is None:
            out.append((name, full.get(name, name)))
    return out


@dataclass
class InstanceOffers:
    """What the instance page offers its reader: withdraw, urge (per open task: allowed now,
    or the time it is allowed again), recall (tasks they may take back), 已阅."""

    may_withdraw: bool = False
    urge: dict[str, datetime | None] = field(default_factory=dict)  # local task id -> again at
    recall: list[str] = field(default_factory=list)  # local task ids
    cc_unread: bool = False  # the instance was sent to the reader, not yet marked read
    # Administrators: tasks whose holder can no longer do them (``stranded``),
    # local task id -> (that approver, the people they may be handed on to: (user, full name)).
    stranded: dict[str, tuple[str, list[tuple[str, str]]]] = field(default_factory=dict)


def instance_offers(services: Services, username: str, instance_id: str) -> InstanceOffers:
    """The task actions the instance page offers ``username`` (who may read the instance)."""
    wf = services.workflow
    with services.database.reading() as s:
        row = store.load_instance(s, instance_id)
        proc = wf.runtime(s, row.version_id).procedure
        state = row.state
        actor = wf.actor(s, username, proc)
        now = services.now()
        out = InstanceOffers(may_withdraw=access.withdraw_refusal(state, proc, actor) is None)
        for t in state["tasks"].values():
            if t["status"] == "open" and access.urge_refusal(state, proc, t, actor) is None:
                again = access.next_urge_at(t)
                out.urge[t["id"]] = again if again and again > now else None
            elif t["status"] == "done" and access.recall_refusal(state, proc, t, actor) is None:
                out.recall.append(t["id"])
        out.cc_unread = access.cc_recipient(state, actor) and username not in (state.get("cc_read") or {})
        if access.ADMIN in actor.roles and state["status"] == "running":
            for t in state["tasks"].values():
                left = stranded(s, wf, proc, t)
                if left is not None:
                    out.stranded[t["id"]] = (left, _successors(services, s, proc, state, t, left))
    return out


def _successors(services: Services, session: Session, proc: Any, state: dict, task: dict,
                left: str) -> list[tuple[str, str]]:
    """Whom a ``stranded`` task may be handed on to: the active holders of its role (any
    active person when it was given by name, not for a role) that ``_hand_on_refusal`` lets
    take it."""
    role = task.get("role")
    if role:
        members = tk.members(session, set(services.config.groups_for_role(proc.id, role)))
        names = sorted({name for found in members.values() for name, _mail in found})
    else:
        names = [c.username for c in user_store.people_to_pick(session, "", 1000)]
    full = user_store.full_names(session, names)
    return [(name, full.get(name, name)) for name in names
            if name != left and _hand_on_refusal(proc, state, task,
                                                 Actor(user=name, roles=frozenset({role} if role else ()))) is None]
