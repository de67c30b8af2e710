"""Tasks: the inbox, the task page, submitting a form or a decision (with its signature and
masked values), drafts, claiming and releasing, adding an approver (加签).

The task page and the API complete a task through the same ``submit``: a signature's
password is checked before the write transaction (scrypt, about 0.1 s, never under the
write lock), a sensitive value sent back as the mask keeps the value recorded for it (or is
refused when nothing is), files the data references are bound to the instance, and the
submitter's draft is dropped."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine import json_codec, store
from engine.app import access, change_control, instances, library, people, uploads
from engine.app.masking import (
    holds_mask,
    in_clear,
    keep_masked,
    mask_corrections,
    mask_data,
    record_views,
    sensitive_keys,
)
from engine.app.people import NOBODY, PeopleOffer
from engine.errors import FormInvalid, NotFound
from engine.i18n import _, reader_locale
from engine.language.english import shown as shown_in
from engine.language.procedure import PREFILL_ME
from engine.runtime import signing
from engine.runtime.approvals import party_tasks
from engine.runtime.commands import Actor
from engine.store import drafts
from engine.store.tables import TaskKind
from engine.store.users import full_names

if TYPE_CHECKING:
    from engine.app.access import Reader
    from engine.app.services import Services
    from engine.language.forms import Form
    from engine.language.procedure import Procedure, Step
    from engine.runtime.commands import Actor


# --------------------------------------------------------------------------- the inbox


@dataclass
class InboxTask:
    id: str
    instance_id: str
    procedure: Procedure  # the version the instance is pinned to
    step: Step | None
    step_id: str
    kind: str
    status: str
    role: str | None
    assignee: str | None
    due_at: datetime | None
    created_at: datetime
    serial: str | None = None  # the instance's record number (流水号)
    # A named approver's task (multi-party approval): theirs alone, never released to a pool.
    named: bool = False

    @property
    def step_title(self) -> str:
        return shown_in(self.step, "title", reader_locale()) if self.step else self.step_id

    @property
    def role_title(self) -> str | None:
        return self.procedure.role_title(self.role, reader_locale()) if self.role else self.role


def inbox(services: Services, username: str, *, limit: int = 500) -> list[InboxTask]:
    """The open tasks the user may act on: assigned to them, or unassigned for a role they
    hold (escalations included), most urgent first, at most ``limit``."""
    return inbox_with_more(services, username, limit=limit)[0]


def inbox_with_more(services: Services, username: str, *, limit: int = 500) -> tuple[list[InboxTask], bool]:
    """``inbox`` and whether the queue holds more than ``limit`` tasks (a page then says so
    rather than give the first ``limit`` as all of them)."""
    wf = services.workflow
    with services.database.reading() as s:
        roles = [f"{proc.id}.{r}" for proc, _, held in wf.roles_in_current(s, username) for r in held]
        rows = store.open_tasks_for(s, roles, username, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        # The instances of all the rows in one read (one by one, 500 open tasks were 500 reads),
        # and the state only of those that need it: a shared role's queue held hundreds of
        # 6 KB states parsed for a page that shows a hundred rows and needs none of them.
        heads = store.instance_heads(s, [row.instance_id for row in rows])
        # An instance gone between the reads is left out (a PostgreSQL read sees each
        # statement's own snapshot).
        rows = [row for row in rows if row.instance_id in heads]
        pinned = {iid: wf.runtime(s, version_id).procedure for iid, (version_id, _) in heads.items()}
        needed = {row.id for row in rows if _needs_state(pinned[row.instance_id], row)}
        states = store.instance_states(s, [row.instance_id for row in rows if row.id in needed])
        out = []
        for row in rows:
            if row.id in needed and row.instance_id not in states:
                continue
            proc = pinned[row.instance_id]
            state = states[row.instance_id][1] if row.id in needed else None
            step = proc.steps.get(row.step)
            if state is not None:
                if step is not None and step.separate_from and access.separation_conflict(
                        state, proc, {"step": row.step}, Actor(user=username)):
                    continue  # separation of duties: this user did an earlier step it is kept from
                if change_control.decider_conflict(s, wf.config, proc.id, state, row.step, username):
                    continue  # change control keeps this user from deciding (config: change_control.distinct)
                if row.task_id in state["tasks"] and access.decided_already(state, state["tasks"][row.task_id],
                                                                            username):
                    continue  # they decided in this approval already, under another of its roles
            named = bool(state and state["tasks"].get(row.task_id, {}).get("named"))
            out.append(InboxTask(row.id, row.instance_id, proc, step, row.step,
                                 str(row.kind), str(row.status), row.role, row.assignee,
                                 row.due_at, row.created_at, heads[row.instance_id][1], named))
    return out, more


def _needs_state(proc: Procedure, row: Any) -> bool:
    """Whether an inbox row needs its instance's state: to keep a user from a step they may
    not take (separation of duties, change control's distinct deciders, an approval they
    decided in already under another role) or to tell a named approver's task (only a task
    with an assignee can be one)."""
    step = proc.steps.get(row.step)
    return bool(row.assignee or (step is not None and (step.separate_from or step.approvers is not None))
                or change_control.decider_conflict_possible(proc.id, row.step))


def by_urgency(tasks: list[InboxTask], now: datetime) -> list[InboxTask]:
    """Overdue first, then by due time (tasks without one last), then oldest first."""
    return sorted(tasks, key=lambda t: (not (t.due_at and t.due_at < now), t.due_at is None,
                                        t.due_at or now, t.created_at))


def startable(services: Services, username: str) -> list[Procedure]:
    """The procedures (current versions) the user may start."""
    return [found.procedure for found in library.installed(services, username) if found.may_start]


# --------------------------------------------------------------------------- the task page


@dataclass
class Earlier:
    """Recorded data of a step before this one, as the worker on the task sees it."""

    step: str
    title: str
    form: Form | None
    data: dict[str, Any]
    corrections: dict[str, list[dict]]


@dataclass
class Editable:
    """A field of an earlier step that this step's ``edit:`` lets its actor change."""

    ref: str  # STEP.FIELD
    step: str
    field: str
    title: str  # the earlier step's title
    schema: dict[str, Any]  # the field's schema (for the input)
    value: Any
    signed: bool  # a signature covers it: changing it needs the password (更正)


@dataclass
class TaskPage:
    inst: dict
    task: dict
    procedure: Procedure
    step: Step
    form: Form | None
    actor: Actor
    earlier: list[Earlier]
    data: dict[str, Any] = field(default_factory=dict)  # what the form starts with
    draft_saved_at: datetime | None = None
    people: PeopleOffer = NOBODY  # whom its person fields (and "add an approver") offer
    closed: bool = False  # the task or the instance is no longer open
    editable: list[Editable] = field(default_factory=list)  # earlier values this step may change
    # A multi-party approval: every approver's task of this round (this one included), so
    # each approver sees the others' decisions so far; and whether 加签 is offered here.
    party: list[dict] = field(default_factory=list)
    may_add_approver: bool = False
    # Why the work came back to this step (a rejection): shown above everything else.
    returned: Returned | None = None
    # The full names of the approvers earlier 会签 steps record (user name -> full name).
    names: dict[str, str] = field(default_factory=dict)


def shown_of_earlier(step: Step, earlier_step: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """What a step's page (and the API's task view) shows of an earlier step's data: all of
    it but the fields the step's ``hide:`` lists. The one copy of that rule."""
    hidden = {ref.partition(".")[2] for ref in step.hide if ref.partition(".")[0] == earlier_step}
    return {k: v for k, v in data.items() if k not in hidden}


@dataclass(frozen=True)
class Returned:
    step: str       # the title of the step that sent it back
    by: str         # user name
    at: str         # ISO time
    reason: str


def prefilled(step: Step, inst: Mapping[str, Any], username: str) -> dict[str, Any]:
    """What the step declares its form starts with (``prefill``): the person opening it for
    ``me``, or the value recorded earlier for ``STEP.FIELD`` (skipped while not recorded)."""
    out: dict[str, Any] = {}
    for name, source in step.prefill:
        if source == PREFILL_ME:
            out[name] = username
            continue
        sid, _dot, field_name = source.partition(".")
        value = (inst["data"].get(sid) or {}).get(field_name)
        if value is not None:
            out[name] = value
    return out


def returned_to(inst: Mapping[str, Any], task: Mapping[str, Any], proc: Procedure) -> Returned | None:
    """What sent the work back to ``task``'s step: the latest rejection or 退回 (a task closed
    by a return keeps its reason, ``returned``) before the task was opened, when the step had
    been done before it (a rework). None for a step met for the first time. The latest of
    both, so an older rejection's reason never stands for a newer return's."""
    tasks = list(inst["tasks"].values() if isinstance(inst["tasks"], Mapping) else inst["tasks"])
    created = task.get("created_at") or ""
    senders = [t for t in tasks if (t.get("decision") == "reject" or t.get("returned"))
               and t.get("completed_at") and t["completed_at"] <= created]
    if not senders:
        return None
    last = max(senders, key=lambda t: t["completed_at"])
    if not any(t["step"] == task["step"] and t["status"] == "done" and t["id"] != task.get("id")
               and (t.get("completed_at") or "") <= last["completed_at"] for t in tasks):
        return None
    step = proc.steps.get(last["step"])
    reason = last.get("returned") or last.get("comment") or (inst["data"].get(last["step"]) or {}).get("comment") or ""
    return Returned(shown_in(step, "title", reader_locale()) if step else last["step"], last.get("completed_by") or "",
                    last["completed_at"], str(reason))


def _load(services: Services, session: Any, reader: Reader, task_id: str) -> tuple[dict, dict, Procedure, Actor]:
    """The task with its instance, for whoever may read the instance or act on the task
    (``access.require_task``)."""
    inst, task, proc, actor = access.require_task(services.workflow, session, reader, task_id)
    if task is None:
        raise NotFound(_("Task {id} does not exist; it may have been withdrawn or the link is mistyped.", id=task_id))
    return inst, task, proc, actor


def _refuse_unless_may_act(inst: Mapping[str, Any], proc: Procedure, task: Mapping[str, Any], actor: Actor) -> None:
    """Refuse whoever may not do the task, in the runtime's words (``check_act``: another
    role's task, claimed by someone else, a named approver's own), or kept from it by
    separation of duties (``check_separation``, which also refuses the submission): the task
    page shows the earlier steps' sensitive values in clear to whoever it lets in, and keeps
    their drafts."""
    access.check_act(task, actor, proc)
    access.check_separation({**inst, "tasks": {t["id"]: t for t in inst["tasks"]}}, proc, task, actor)


def task_page(services: Services, reader: Reader, task_id: str) -> TaskPage:
    """What the task page shows to someone who may act on the task. Whoever may act needs
    the earlier steps' sensitive values for the job (a field engineer calls the customer),
    so they are shown in clear here, and each such view is logged as ``task``."""
    with services.database.reading() as s:
        inst, task, proc, actor = _load(services, s, reader, task_id)
        step = proc.steps[task["step"]]
        form = proc.forms.get(step.form) if step.form else None
        if task["status"] != "open" or (inst["status"] != "running" and not task.get("reapproval")):
            return TaskPage(inst, task, proc, step, form, actor, [], closed=True)
        _refuse_unless_may_act(inst, proc, task, actor)
        saved = drafts.get(s, reader.username, task_id)
        party: list[dict] = []
        # The approvers who decided and the correctors by the names they had then, from the
        # chart's renames read once for the page.
        if step.approvers is not None:
            state = store.load_instance(s, inst["id"]).state  # the round, which the view has not
            access.check_decides_once(state, task, actor)
            decided = party_tasks(state, step.id)
            named = people.names_then(s, {t.get("completed_by") or "" for t in decided}
                                      | people.correction_users(inst["corrections"]))
            party = _party(decided, proc, named)
        else:
            named = people.names_then(s, people.correction_users(inst["corrections"]))
        may_add = bool(step.approvers is not None and step.approvers.add_from)
        # Suggestions for a person field (the form's, or an earlier one it may correct) or an
        # added approver, only where the page has one:
        # every user (ORM objects with their groups) went into every form's page, 5,000
        # names (150 KB) on a phone in a company that size.
        offered = people.offer(s) if may_add or _page_picks_people(proc, step, form) else NOBODY
        approvers = {u for d in inst["data"].values() if isinstance(d, dict)
                     for u in (d.get("approvers") or []) if isinstance(u, str)}
        names = full_names(s, approvers) if approvers else {}
        by_then = people.correctors_named(s, inst["corrections"], named)  # each corrector by the name then
    working = in_clear(reader)
    keys = sensitive_keys(proc)
    shown: set[str] = set()
    data: dict[str, Any] = {}
    if saved is not None:
        data = saved[0]
    elif form is not None and isinstance(inst["data"].get(step.id), dict):
        # the step runs again (after a rejection): start from what was recorded
        data = {k: v for k, v in inst["data"][step.id].items() if k in form.schema.get("properties", {})}
        shown |= mask_data(keys, step.id, data, working)[1]
    elif form is not None:
        data = {**form.initial(), **prefilled(step, inst, reader.username)}
    earlier = []
    hidden = set(step.hide)
    for sid in dict.fromkeys(["start", *inst["path"]]):
        if sid not in inst["data"] or sid == step.id:
            continue
        values, unmasked = mask_data(keys, sid, shown_of_earlier(step, sid, inst["data"][sid]), working)
        corrections, corrected = mask_corrections(
            keys, {k: v for k, v in by_then.items()
                   if k.startswith(f"{sid}.") and k not in hidden}, working)
        shown |= unmasked | corrected
        earlier.append(Earlier(sid, _("Start form") if sid == "start" else shown_in(proc.steps[sid], "title", reader_locale()),
                               proc.form_of(sid) if sid == "start" or sid in proc.steps else None,
                               values, corrections))
    editable = []
    for ref in step.edit:
        sid, _dot, name = ref.partition(".")
        recorded = inst["data"].get(sid)
        other = proc.form_of(sid) if sid == "start" or sid in proc.steps else None
        if not isinstance(recorded, dict) or other is None:
            continue  # that step did not run on this path
        value, unmasked = mask_data(keys, sid, {name: recorded.get(name)}, working)
        shown |= unmasked
        editable.append(Editable(ref, sid, name, _("Start form") if sid == "start"
                                 else shown_in(proc.steps[sid], "title", reader_locale()),
                                 other.schema["properties"][name], value[name],
                                 bool(signing.covering(inst, sid))))
    record_views(services.database, reader, [(inst["id"], proc.id, shown)], "task")
    return TaskPage(inst, task, proc, step, form, actor, earlier, data=data,
                    draft_saved_at=saved[1] if saved is not None else None, people=offered,
                    editable=editable, party=party, may_add_approver=may_add,
                    returned=returned_to(inst, task, proc), names=names)


def task_form(services: Services, reader: Reader, task_id: str) -> Form | None:
    """The form of a task's step (to read what a page posted), or None for a step without one."""
    with services.database.reading() as s:
        return _task_of(services, s, task_id)[3]


def compute(services: Services, reader: Reader, task_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The values the task form's computed fields (``x-compute``) get for ``data`` as typed
    so far, computed by the same code as the submission; for whoever may act on the task
    (anyone else is refused, so this never reads an instance for someone who may not)."""
    if not isinstance(data, Mapping):
        raise FormInvalid(_("'data' must be an object of the form's fields"),
                          errors=[{"field": "data", "message": _("'data' must be an object of the form's fields")}])
    with services.database.reading() as s, \
            access.outsiders_told_nothing(services.workflow, services.config, s, reader.username, task_id):
        return services.workflow.computed(s, task_id, reader.username, data)


def compute_start(services: Services, reader: Reader, procedure_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """As ``compute``, for the start form, for whoever may start the procedure."""
    if not isinstance(data, Mapping):
        raise FormInvalid(_("'data' must be an object of the form's fields"),
                          errors=[{"field": "data", "message": _("'data' must be an object of the form's fields")}])
    with services.database.reading() as s:
        return services.workflow.start_computed(s, procedure_id, reader.username, data)


def _party(tasks: list[dict], proc: Procedure, named: people.NamesThen) -> list[dict]:
    """The approvers of the step's round so far (``party_tasks``): who (a named person, or a
    role), the decision and comment of those who decided (by their names then), open or
    cancelled for the others."""
    out = []
    for t in tasks:
        by = t.get("completed_by")
        out.append({"id": t["id"], "who": t.get("assignee") or (proc.role_title(t["role"], reader_locale())
                                                               if t.get("role") else t.get("role")),
                    "status": t["status"], "decision": t.get("decision"), "comment": t.get("comment", ""),
                    "by": by, "by_name": named.at(by, t.get("completed_at")) if by else None,  # 会签: the signer's name
                    "at": t.get("completed_at")})
    return out


# --------------------------------------------------------------------------- submitting


def submit(services: Services, username: str, task_id: str, data: Mapping[str, Any], *,
           decision: str | None = None, comment: str | None = None, password: str | None = None,
           expected_rev: int | None = None, locale: str = "zh",
           answer_for: Reader | None = None, edits: Mapping[str, Any] | None = None,
           edit_reason: str = "", history: bool = True) -> str | instances.Answer:
    """Complete a task with its form data, or decide an approval; the instance id, or (with
    ``answer_for``) the changed instance as that reader may see it.

    For an approval, ``decision`` (``approve`` or ``reject``), ``comment`` and the signature
    ``password`` may also come inside ``data`` (as API clients send them); for a task, a
    ``password`` inside ``data`` is the signature's unless the form has a field of that name.
    ``edits`` (``STEP.FIELD`` -> value) change earlier values the step's ``edit:`` names, as
    corrections with ``edit_reason`` (signed with the same ``password`` where a signature
    covers them); a sensitive value sent back as the mask is left as recorded. The answer
    is built from the state the step wrote; ``history=False`` leaves its events out.

    Raises ``FormInvalid`` (422, with the fields), ``SignatureInvalid`` (a wrong password),
    ``Conflict`` (a stale ``expected_rev``) or ``NotPermitted``.
    """
    wf = services.workflow
    data = dict(data)
    signed = None
    if password is not None or "password" in data:
        # The password is checked (scrypt, ~0.1 s) before the write transaction, which then
        # holds the write lock only briefly.
        with services.database.reading() as s:
            ref, _version, proc, form = _task_of(services, s, task_id)
            password = _take_password(ref, form, data, password)
            if password is not None:
                signed = wf.verify_password(s, username, password)
    with services.database.writing() as s:
        ref, version_id, proc, form = _task_of(services, s, task_id)
        decision, comment = _decision(ref, data, decision, comment)
        if holds_mask(data):
            row = store.load_instance(s, ref.instance_id)
            data, errors = keep_masked(sensitive_keys(proc), ref.step, data,
                                       row.state["data"].get(ref.step))
            if errors:
                raise FormInvalid(errors[0]["message"], errors=errors)
        edits = _unmasked_edits(edits)
        files = uploads.file_values(form.schema, data) if form is not None else []
        uploads.refuse_foreign(s, username, ref.instance_id, files, locale)
        with access.outsiders_told_nothing(services.workflow, services.config, s, username, task_id):
            # Earlier values are judged once all are ones the step may change: the runtime
            # refuses any other (403), and a judgement must not tell about it first.
            listed = edits if all(k in proc.steps[ref.step].edit for k in edits) else {}
            _refuse_unknown_people(s, proc, form, data, listed)
            if listed:
                _refuse_hidden_edits(proc, store.load_instance(s, ref.instance_id).state, listed)
            if ref.kind == TaskKind.APPROVAL:
                state = wf.decide(s, task_id, username, approve=decision == "approve", comment=comment,
                                  data=data, password=signed, expected_rev=expected_rev, locale=locale,
                                  edits=edits, edit_reason=edit_reason)
            else:
                state = wf.complete_task(s, task_id, username, data, password=signed,
                                         expected_rev=expected_rev, locale=locale, edits=edits,
                                         edit_reason=edit_reason)
        uploads.bind(s, username, ref.instance_id, files, locale, now=services.now(), step=ref.step,
                     task=task_id.partition(".")[2])
        drafts.discard(s, username, task_id)
        if answer_for is not None:
            answer = instances.view_in(services, s, answer_for, ref.instance_id, check=False,
                                       history=history, written=(version_id, state))
    if answer_for is not None:
        return instances.log_answer(services, answer_for, answer)
    return ref.instance_id


def _edited_fields(proc: Procedure, edits: Mapping[str, Any]) -> Iterator[tuple[str, str, str, Form, Any]]:
    """Each earlier value the step changes (``edit:``) that names a field of a form:
    ``(STEP.FIELD, step, field, its form, the value)``."""
    for ref, value in edits.items():
        sid, _dot, name = str(ref).partition(".")
        other = proc.form_of(sid) if sid == "start" or sid in proc.steps else None
        if other is not None and name in other.fields:
            yield str(ref), sid, name, other, value


def _refuse_unknown_people(session: Any, proc: Procedure, form: Form | None, data: Mapping[str, Any],
                           edits: Mapping[str, Any]) -> None:
    """``people.refuse_unknown_people`` for the step's own form and for each earlier value it
    changes (``edit:``, reported under ``STEP.FIELD`` as the page names its input)."""
    people.refuse_unknown_people(session, form, data)
    for ref, _sid, name, other, value in _edited_fields(proc, edits):
        people.refuse_unknown_people(session, other, value, under=name, at=ref)


def _refuse_hidden_edits(proc: Procedure, inst: Mapping[str, Any], edits: Mapping[str, Any]) -> None:
    """``instances.refuse_hidden`` for each earlier value the step changes (``edit:``), at
    ``STEP.FIELD``: a field its form hides on this record is not set through the step."""
    for ref, sid, name, _form, value in _edited_fields(proc, edits):
        instances.refuse_hidden(proc, inst, sid, name, value, at=ref)


def _page_picks_people(proc: Procedure, step: Any, form: Form | None) -> bool:
    """Whether a task page has a person field (``x-widget: user``): in the step's form, or
    among the earlier fields the step may correct (``edit:``)."""
    if form is not None and form.has_widget("user"):
        return True
    for ref in step.edit:
        sid, _dot, name = ref.partition(".")
        other = proc.form_of(sid) if sid == "start" or sid in proc.steps else None
        if other is not None and other.has_widget("user", name):
            return True
    return False


def _unmasked_edits(edits: Mapping[str, Any] | None) -> dict[str, Any]:
    """Edits without the values sent back as the mask (they stand for a value the user was
    not shown: the recorded one stays)."""
    if edits is None:
        return {}
    if not isinstance(edits, Mapping):
        raise FormInvalid(_("'edits' must map STEP.FIELD to the new value"),
                          errors=[{"field": "edits", "message": _("'edits' must map STEP.FIELD to the new value")}])
    return {k: v for k, v in edits.items() if not holds_mask(v)}


def _task_of(services: Services, session: Any, task_id: str) -> tuple[store.TaskRef, int, Procedure, Form | None]:
    """The task's reference, the version its instance is pinned to, that procedure and the
    step's form (None for a step without one)."""
    ref, version_id = store.task_route(session, task_id)
    proc = services.workflow.runtime(session, version_id).procedure
    step = proc.steps[ref.step]
    return ref, version_id, proc, proc.forms.get(step.form) if step.form else None


def _take_password(ref: store.TaskRef, form: Form | None, data: dict[str, Any],
                   password: str | None) -> str | None:
    """The signature password, taken out of ``data`` where a client sent it there: always for
    an approval, for a task unless its form has a field of that name."""
    if ref.kind == TaskKind.APPROVAL:
        password = data.pop("password", None) or password
    elif "password" in data and password is None and (
            form is None or "password" not in form.schema.get("properties", {})):
        password = data.pop("password")
    if password is not None and not isinstance(password, str):
        raise FormInvalid(_("'password' must be text"),
                          errors=[{"field": "password", "message": _("must be text")}])
    return password


def _decision(ref: store.TaskRef, data: dict[str, Any], decision: str | None,
              comment: str | None) -> tuple[str | None, str]:
    """An approval's decision and comment, from the arguments or (API) from ``data``."""
    if ref.kind != TaskKind.APPROVAL:
        return None, ""
    data.pop("password", None)
    decision = decision or data.pop("decision", None)
    comment = comment if comment is not None else data.pop("comment", None) or ""
    if decision not in ("approve", "reject"):
        raise FormInvalid(_("an approval needs 'decision': 'approve' or 'reject'"),
                          errors=[{"field": "decision", "message": _("approve or reject")}])
    if not isinstance(comment, str):
        raise FormInvalid(_("'comment' must be text"),
                          errors=[{"field": "comment", "message": _("must be text")}])
    return decision, comment


# A draft is kept as typed, unchecked; this bounds what one may hold (a form's own bounds,
# 10,000 characters a text, are checked when it is sent).
DRAFT_MAX = 1024 * 1024


def save_draft(services: Services, reader: Reader, task_id: str, data: dict[str, Any]) -> datetime:
    """Keep what the user typed without submitting it; when it was saved. A draft larger
    than ``DRAFT_MAX`` (as JSON) is refused (``FormInvalid``), the one before it kept."""
    size = len(json_codec.dumps(data).encode())
    if size > DRAFT_MAX:
        raise FormInvalid(_("This draft is too large to keep ({size} KB; at most 1 MB): shorten the longest "
                            "texts, then save it again.", size=size // 1024))
    now = services.now()
    with services.database.writing() as s:
        inst, task, proc, actor = _load(services, s, reader, task_id)
        _refuse_unless_may_act(inst, proc, task, actor)
        drafts.save(s, reader.username, task_id, data, now)
    return now


def claim(services: Services, username: str, task_id: str, *,
          answer_for: Reader | None = None, history: bool = True) -> instances.Answer | None:
    """Take an open task of one's role (with ``answer_for``: the instance as it now is)."""
    return _hold(services, username, task_id, services.workflow.claim, answer_for, history)


def release(services: Services, username: str, task_id: str, *,
            answer_for: Reader | None = None, history: bool = True) -> instances.Answer | None:
    """Give a claimed task back to its role (with ``answer_for``: the instance as it now is)."""
    return _hold(services, username, task_id, services.workflow.release, answer_for, history)


# --------------------------------------------------------------------------- 加签


def add_approver(services: Services, username: str, task_id: str, user: str, position: str, reason: str, *,
                 answer_for: Reader | None = None, history: bool = True) -> instances.Answer | None:
    """加签: the approver of an open task of a multi-party approval adds ``user`` ``before``
    themselves (they decide first) or ``after`` (asked once this task is decided). Only
    where the step declares ``add_approver``, and only a holder of its candidate role; the
    runtime refuses anything else (with ``answer_for``: the instance as it now is)."""
    with services.database.writing() as s:
        instance_id = store.task_ref(s, task_id).instance_id
        with access.outsiders_told_nothing(services.workflow, services.config, s, username, task_id):
            services.workflow.add_approver(s, task_id, username, user, position, reason)
        answer = instances.view_in(services, s, answer_for, instance_id, check=False,
                                   history=history) if answer_for else None
    return instances.log_answer(services, answer_for, answer) if answer_for and answer else None


def _hold(services: Services, username: str, task_id: str, change: Any,
          answer_for: Reader | None, history: bool = True) -> instances.Answer | None:
    with services.database.writing() as s:
        instance_id = store.task_ref(s, task_id).instance_id
        with access.outsiders_told_nothing(services.workflow, services.config, s, username, task_id):
            change(s, task_id, username)
        answer = instances.view_in(services, s, answer_for, instance_id, check=False,
                                   history=history) if answer_for else None
    return instances.log_answer(services, answer_for, answer) if answer_for and answer else None
