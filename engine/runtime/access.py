"""Who may do what to an instance: the one copy of each rule.

``Runtime.apply`` enforces these when it applies a command; the application layer and the
pages call the same functions to decide what to offer (an inbox entry, a button, a form),
so a page never offers what the runtime refuses, nor refuses what the API allows.
Each takes the actor's procedure roles as resolved by the application layer (``Actor.roles``,
``admin`` included when the user is an administrator).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import NotPermitted
from engine.i18n import _
from engine.language.procedure import Procedure
from engine.runtime.commands import Actor

__all__ = [
    "ADMIN", "CLOSED_CORRECTION_ROLE", "check_act", "closed_correction_roles", "correction_roles", "holds", "may_act", "may_cancel", "may_correct",
    "check_separation", "may_reassign", "may_release", "may_start", "separation_conflict",
]

ADMIN = "admin"
#: The role that corrects a closed (completed or cancelled) record, when the procedure declares
#: it: once a record is closed, its values were relied on (reported, archived, signed), so
#: neither the step's role nor an administrator changes them any more.
CLOSED_CORRECTION_ROLE = "quality_manager"


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
        # A named approver's task picked among a role's holders (``pick``) is theirs while
        # they hold that role.
        if task.get("named") and task.get("role") and task["role"] not in actor.roles:
            return False
        return bool(task["assignee"] == actor.user)
    return holds(task, actor)


def check_act(task: Mapping[str, Any], actor: Actor, procedure: Procedure) -> None:
    """``may_act``, raising ``NotPermitted`` with what the actor can do about it."""
    if may_act(task, actor):
        return
    step = procedure.steps[task["step"]]
    if actor.system:
        raise NotPermitted("the system cannot act on a person's task")
    if task.get("named"):
        if task["assignee"] == actor.user:
            role = procedure.roles.get(task["role"], task["role"])
            raise NotPermitted(_("task '{title}' was given to you as a holder of role '{role}', which you no "
                                 "longer hold", title=step.title, role=role))
        raise NotPermitted(_("task '{title}' is {user}'s own approval; only they decide it",
                             title=step.title, user=task["assignee"]))
    if task.get("assignee"):
        raise NotPermitted(_("task '{title}' is claimed by {user}; ask them to release it or a "
                             "supervisor to reassign it", title=step.title, user=task["assignee"]))
    role = procedure.roles.get(task["role"], task["role"])
    raise NotPermitted(_("task '{title}' is for role '{role}' ({id}); you do not hold that role",
                          title=step.title, role=role, id=task["role"]))


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
                         title=step.title, other=done))


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
    """The roles that correct a closed record: the quality role the procedure declares
    (``CLOSED_CORRECTION_ROLE``), or nobody when it declares none."""
    return frozenset({CLOSED_CORRECTION_ROLE} & set(procedure.roles))


def may_correct(procedure: Procedure, step_id: str, actor: Actor, status: str = "running") -> bool:
    """Whether ``actor`` may correct the data recorded at ``step_id`` of an instance in
    ``status`` (a person, never the system: a correction is someone's statement)."""
    if actor.system:
        return False
    if status != "running":
        return bool(actor.roles & closed_correction_roles(procedure))
    return bool(actor.roles & correction_roles(procedure, step_id))
