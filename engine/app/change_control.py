"""Change control of procedures (ISO 9001 7.5.3), run by the shipped
``procedure-change-control`` procedure on this engine.

The editor starts an instance with ``request_data``: the draft's version id, the change
reason and the draft's content hash, which every later signature (review, approval) covers
through its ``data_hash``. The service calls ``check_decider`` before every approval decision
(who must be different people, see below; the procedure itself keeps the sender from
reviewing or approving and the approver apart from the reviewer with ``separate_from``) and
``after_decision`` in the same transaction, which publishes the draft when the instance ends
at its ``published`` step, only if the draft's texts still hash to the approved content, or
returns it to draft when the change is rejected. A change request is never corrected
(``refuse_correction``).

The minimum of distinct people is a setting, ``change_control.distinct`` in config.yaml
(``DISTINCT``): ``approver`` (the default) keeps the approver apart from the draft's author
and from the reviewer; ``reviewer`` keeps the author from reviewing too; ``all`` wants four
different people, author, sender, reviewer and approver (so an author's draft is sent by
another editor). A refusal names who holds which part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import Conflict, NotPermitted, Problem, WorkflowError
from engine.i18n import _
from engine.store import versions
from engine.store.repo import content_hash

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.config import Config
    from engine.language.procedure import Procedure
    from engine.runtime.commands import Actor
    from engine.store.tables import ProcedureVersion

PROCEDURE_ID = "procedure-change-control"
PUBLISHED_STEP = "published"
AUTHOR_ROLE, REVIEWER_ROLE, APPROVER_ROLE = "change_author", "change_reviewer", "change_approver"
REVIEW_STEP, APPROVE_STEP = "review", "approve"

#: Per ``change_control.distinct`` level: for each act (sending, reviewing, approving), the
#: parts its doer may not also hold. The procedure's ``separate_from`` keeps, at every level
#: and in its own words, the sender from reviewing or approving and the reviewer from
#: approving; this table adds the draft's author, who need not be the sender. With ``all``
#: the four parts are four people: every pair is kept apart by one of the two.
DISTINCT: dict[str, dict[str, tuple[str, ...]]] = {
    "approver": {"approve": ("author",)},
    "reviewer": {"review": ("author",), "approve": ("author",)},
    "all": {"send": ("author",), "review": ("author",), "approve": ("author",)},
}
DEFAULT_DISTINCT = "approver"


def distinct_level(config: Config) -> str:
    """The configured ``change_control.distinct`` (``DISTINCT``); an unknown value is refused
    when the services open rather than read as a weaker rule."""
    level = config.get("change_control", "distinct", default=DEFAULT_DISTINCT)
    if level not in DISTINCT:
        raise WorkflowError(_("config.yaml: change_control.distinct must be one of {choices}, not '{value}'",
                              choices=", ".join(DISTINCT), value=level))
    return str(level)


def _part_names() -> dict[str, str]:
    return {"author": _("the draft's author"), "sender": _("the sender"), "reviewer": _("the reviewer"),
            "approver": _("the approver")}


def request_data(row: ProcedureVersion, reason: str) -> dict[str, Any]:
    """The start data of a change request for draft ``row``: its ``content_hash`` is
    recomputed from the stored texts, so the approvals bind to what will be published."""
    return {"procedure": row.procedure_id, "version": versions.label(row), "version_id": row.id,
            "reason": reason, "content_hash": content_hash(row.source, row.forms or {}, row.procedure_id)}


def author_of(session: Session, state: Mapping[str, Any]) -> str | None:
    """The author (last editor) of the draft a change request sends, or None."""
    version_id = ((state.get("data") or {}).get("start") or {}).get("version_id")
    return versions.get_version(session, int(version_id)).registered_by if version_id is not None else None


def _reviewer(state: Mapping[str, Any]) -> str | None:
    done = [t for t in (state.get("tasks") or {}).values()
            if t.get("step") == REVIEW_STEP and t.get("status") == "done" and not t.get("reapproval")]
    return str(done[-1].get("completed_by")) if done else None


def conflict(config: Config, act: str, user: str, people: Mapping[str, str | None]) -> str | None:
    """Why ``user`` may not ``act`` (send, review, approve) on a change whose other parts are
    held by ``people`` (author, sender, reviewer), under ``change_control.distinct``; None
    when they may. The message names who holds which part."""
    level = distinct_level(config)
    held = [part for part in DISTINCT[level].get(act, ()) if people.get(part) == user]
    if not held:
        return None
    names = _part_names()
    acts = {"send": _("send"), "review": _("review"), "approve": _("approve")}
    who = "; ".join(f"{names[p]}: {people[p]}" for p in ("author", "sender", "reviewer") if people.get(p))
    return _("{user} may not {act} this change: {user} is {parts}, and config.yaml "
             "(change_control.distinct: {level}) wants different people ({who}); another member "
             "of the group must do it (document control)",
             user=user, act=acts[act], parts=_(" and ").join(names[p] for p in held), level=level, who=who)


def people_of(session: Session, state: Mapping[str, Any]) -> dict[str, str | None]:
    """Who holds each part of a change request so far: author, sender, reviewer."""
    return {"author": author_of(session, state), "sender": state.get("started_by"), "reviewer": _reviewer(state)}


def decider_conflict_possible(procedure_id: str, step: str) -> bool:
    """Whether ``decider_conflict`` can find one: a change request's review or approval."""
    return procedure_id == PROCEDURE_ID and step in (REVIEW_STEP, APPROVE_STEP)


def decider_conflict(session: Session, config: Config, procedure_id: str, state: Mapping[str, Any],
                     step: str, user: str) -> str | None:
    """:func:`conflict` for a review or approval task of a change request (None for any other
    procedure or step): the one rule the service enforces and the inbox follows."""
    if not decider_conflict_possible(procedure_id, step):
        return None
    return conflict(config, "review" if step == REVIEW_STEP else "approve", user, people_of(session, state))


def check_decider(session: Session, config: Config, procedure_id: str, state: Mapping[str, Any],
                  step: str, actor: Actor) -> None:
    """Refuse a review or approval of a change by someone the configured minimum of distinct
    people keeps from it (ISO 9001 7.5.2: review and approval by others than the author)."""
    why = decider_conflict(session, config, procedure_id, state, step, actor.user)
    if why:
        raise NotPermitted(why)


def check_sender(config: Config, author: str | None, user: str) -> None:
    """Refuse sending a draft its sender may not send (``all``: not the author's own)."""
    why = conflict(config, "send", user, {"author": author})
    if why:
        raise NotPermitted(why)


#: The steps of ``procedure-change-control`` this module reads by id, with their types.
STEPS_READ = {REVIEW_STEP: "approval", APPROVE_STEP: "approval", PUBLISHED_STEP: "end"}


def draft_problems(proc: Procedure) -> list[Problem]:
    """A new version of ``procedure-change-control`` keeps the steps this module reads by id
    (``STEPS_READ``): renamed, an approved change would go back to draft (its end no longer
    reads as published) and the author would no longer be kept from deciding their own."""
    if proc.id != PROCEDURE_ID:
        return []
    from engine.language import yaml_source as yamlsrc

    src = yamlsrc.load(proc.text, proc.file)
    problems = []
    for sid, kind in STEPS_READ.items():
        step = proc.steps.get(sid)
        if step is not None and step.type == kind:
            continue
        line, col = src.where(("steps", sid), key=True) if step is not None else src.where(("steps",), key=True)
        problems.append(Problem(proc.file, line, col, _(
            "the service reads the step '{step}' of procedure-change-control by its id, as a step of "
            "type {kind}; keep it (change its title, not its id or type), or every approved change "
            "would stay unpublished and authors could decide their own", step=sid, kind=kind)))
    return problems


def _still_fits(session: Session, workflow: Any, row: Any, label: Any) -> None:
    """Refuse the approval (``Conflict``, nothing published) when the draft no longer fits the
    procedures installed now."""
    from engine.app.editor import Editor  # the editor sends changes here: imported when used

    problems = Editor(workflow).problems_now(session, row)
    if problems:
        first = problems[0]
        where = f"{first.file}:{first.line}:{first.col}"
        raise Conflict(_("draft {version} no longer fits the procedures installed since it was sent "
                         "({where}: {problem}); reject this change, correct the draft and send it again",
                         version=label, where=where, problem=first.message))


def library_problems(lib: Any) -> list[Problem]:
    """``draft_problems`` of a library read from files (``wf validate``, ``wf procedures load``,
    the server's start): a procedure-change-control.yaml edited by hand is held to the same."""
    return [p for proc in lib.procedures.values() for p in draft_problems(proc)]


def refuse_correction(procedure_id: str) -> None:
    """A change request's data is fixed once submitted: what was reviewed and approved is what
    the record shows. A wrong request is rejected and sent again, never corrected."""
    if procedure_id == PROCEDURE_ID:
        raise NotPermitted(_("a change request cannot be corrected once submitted; reject it and "
                             "send the draft again with the right details"))


def after_decision(session: Session, state: Mapping[str, Any], workflow: Any = None) -> None:
    """Publish or return the draft once the change-control instance has ended. Given the
    ``workflow``, a draft about to be published is checked again against the procedures
    installed now (spawns and triggers, both ways: ``Editor.check``): another change may have
    been published while this one was in review, and each was checked only against what was
    installed when it was sent."""
    if state.get("procedure") != PROCEDURE_ID or state.get("status") == "running":
        return
    start = (state.get("data") or {}).get("start") or {}
    version_id = start.get("version_id")
    if version_id is None:
        return  # started by hand, not from the editor: nothing to publish
    row = versions.get_version(session, int(version_id))
    if row.change_instance != state.get("id"):
        return  # only the run the editor started for this draft may publish it
    path = state.get("path") or []
    if state.get("status") == "completed" and path and path[-1] == PUBLISHED_STEP:
        approved = start.get("content_hash")
        actual = content_hash(row.source, row.forms or {}, row.procedure_id)
        if approved is not None and actual != approved:
            # The texts changed after the change was sent (only a hand in the database can do
            # that): publishing them would publish what nobody approved. The approval is refused.
            raise Conflict(_("draft {version} no longer has the content that was sent for approval "
                             "({approved}…, now {actual}…); reject this change and send the draft again",
                             version=start.get("version"), approved=approved[:12], actual=actual[:12]))
        if workflow is not None:
            _still_fits(session, workflow, row, start.get("version"))
        versions.publish(session, row.id)
    else:
        versions.back_to_draft(session, row.id)
