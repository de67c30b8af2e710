"""The pure interpreter: ``Runtime(procedure).apply(state, command, now) -> (state, events)``.

No I/O and no clock of its own: the caller passes ``now``. The state is plain JSON data
(``engine.runtime.state``) carrying ``format``; the input state is never modified, so a
refused command leaves it exactly as it was. Events (``engine.runtime.events``) are dicts
``{type, at, actor, step, task, data}`` that the store appends to the audit chain. Who may
act is decided by ``engine.runtime.access``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from engine.errors import (
    CommandRejected,
    ExpressionError,
    FormInvalid,
    InstanceClosed,
    NotFound,
    NotPermitted,
    SignatureInvalid,
    TaskClosed,
)
from engine.i18n import N_, StoredMessage, _, keep, reader_locale
from engine.language.calendar import Calendar, DurationError, parse_duration
from engine.language.english import titled
from engine.language.expressions import Expr
from engine.language.forms.submission import TEXT_MAX
from engine.language.procedure import MANAGER, Deadline, Escalation, Procedure, Step
from engine.runtime import access, actions, approvals, signing
from engine.runtime.commands import (
    Actor,
    AddApprover,
    Approve,
    Cancel,
    Claim,
    Command,
    CompleteTask,
    Correct,
    Reassign,
    Reject,
    Release,
    Signature,
    Start,
    Tick,
)
from engine.runtime.events import (
    DataCorrected,
    DeadlineEscalated,
    DeadlineNotice,
    Event,
    EventData,
    EventType,
    InstanceStarted,
    TaskCreated,
    TaskFinished,
    TaskReassigned,
)
from engine.runtime.org import EMPTY_ORG, OrgChart
from engine.runtime.state import (
    STATE_FORMAT,
    Correction,
    InstanceState,
    Join,
    Link,
    SignatureRecord,
    Task,
    TaskKind,
    new_state,
)
from engine.runtime.upgrade import upgrade

__all__ = ["MAX_AUTOMATIC_STEPS", "STATE_FORMAT", "Runtime", "iso", "new_state", "next_wakeup", "open_tasks", "parse_time"]

MAX_AUTOMATIC_STEPS = 1000
_DEFAULT_CALENDAR = Calendar.from_config("default", None)


def calendar_named(calendars: Mapping[str, Calendar], name: str) -> Calendar:
    """The calendar ``name``; when config.yaml no longer has it (renamed or removed after a
    version that names it was installed), the configured ``default`` with its public holidays
    and 调休: the built-in one knows no holiday at all, and a 3wd deadline from 30 September
    fell due in the middle of the National Day holidays."""
    return calendars.get(name) or calendars.get("default") or _DEFAULT_CALENDAR


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def next_wakeup(state: Mapping[str, Any]) -> datetime | None:
    """The earliest time at which a ``Tick`` could change this instance (for the worker)."""
    return parse_time(state.get("timer_at"))


def open_tasks(state: Mapping[str, Any]) -> list[Task]:
    tasks: dict[str, Task] = state["tasks"]
    return [t for t in tasks.values() if t["status"] == "open"]


class _Work:
    """A copy-on-write working copy of one state, plus the events of one command."""

    def __init__(self, state: InstanceState, now: datetime, actor: Actor, org: OrgChart = EMPTY_ORG) -> None:
        s = state.copy()
        s["tasks"] = dict(state["tasks"])
        s["data"] = dict(state["data"])
        s["path"] = list(state["path"])
        s["joins"] = dict(state["joins"])
        s["links"] = list(state["links"])
        self.s = s
        self.now = now
        self.at = iso(now)
        self.actor = actor
        self.events: list[Event] = []
        self.automatic = 0
        self.start_due: str | None = None  # Start.due_at: the deadline of tasks opened at start
        self.managers: Mapping[str, str] = {}
        self.org = org  # whom approvers from the org chart resolve to

    def event(self, type_: EventType, data: EventData, *, step: str | None = None, task: str | None = None) -> None:
        self.events.append({
            "type": type_, "at": self.at, "actor": self.actor.user,
            "step": step, "task": task, "data": data,
        })

    def task(self, task_id: str) -> Task:
        """A private, writable copy of one task."""
        t = self.s["tasks"][task_id].copy()
        self.s["tasks"][task_id] = t
        return t

    def new_id(self) -> str:
        self.s["seq"] = self.s["seq"] + 1
        return f"t{self.s['seq']}"


class Runtime:
    """Runs instances of one procedure. ``calendars`` maps calendar names to ``Calendar``."""

    def __init__(self, procedure: Procedure, calendars: Mapping[str, Calendar] | None = None, *, validate_forms: bool = True) -> None:
        self.procedure = procedure
        self.calendars = dict(calendars or {})
        self.validate_forms = validate_forms

    # -- public -----------------------------------------------------------------------

    def apply(self, state: Mapping[str, Any] | None, command: Command, now: datetime, *,
              org: OrgChart | None = None) -> tuple[InstanceState, list[Event]]:
        """Apply one command. Raises a ``CommandRejected`` subclass and changes nothing when
        the command is not allowed; otherwise returns the new state and its events. A state
        of an earlier format is upgraded first (``engine.runtime.upgrade``), so the state
        returned, even without events, is of the current format. ``org`` is the organisation
        chart that approvers of multi-party approvals are resolved from (managers, heads)."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        _refuse_long_texts(command)
        if isinstance(command, Start):
            if state is not None:
                raise CommandRejected(_("this instance has already started"))
            return self._start(command, now, org or EMPTY_ORG)
        if state is None:
            raise NotFound(_("no instance: start one first"))
        current = upgrade(state)
        handler = self._handlers[type(command)]
        w = _Work(current, now, command.actor, org or EMPTY_ORG)
        handler(self, w, command)
        actions.after(self, w, current, command)
        if not w.events:
            return current.copy(), []
        w.s["rev"] = current["rev"] + 1
        self._refresh_timer(w)
        return w.s, w.events

    def computed(self, state: Mapping[str, Any], task_id: str, actor: Actor, data: Mapping[str, Any] | None,
                 now: datetime) -> dict[str, Any]:
        """The values the computed fields (``x-compute``) of the task's form would get if
        ``actor`` submitted ``data`` now: the same computation as a submission, for the form's
        live totals. Refused like a submission (``NotPermitted``, ``TaskClosed``...) when the
        actor may not act on the task; nothing is changed."""
        w = _Work(upgrade(state), now, actor)
        _task, step = self._actionable(w, task_id, actor, None)
        form = self.procedure.forms.get(step.form) if step.form else None
        if form is None or not form.computed:
            return {}
        values = form.compute(dict(data or {}), self._context(w))
        return {c.name: values.get(c.name) for c in form.computed}

    def start_computed(self, actor: Actor, data: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
        """As ``computed``, for the start form of someone who may start the procedure."""
        proc = self.procedure
        if not access.may_start(proc, actor):
            raise NotPermitted(_("you may not start '{title}': it is started by {roles}", title=titled(proc),
                                  roles=", ".join(proc.roles.get(r, r) for r in proc.start_roles)))
        form = proc.forms.get(proc.start_form) if proc.start_form else None
        if form is None or not form.computed:
            return {}
        values = form.compute(dict(data or {}), self._start_context(actor, "instance", now))
        return {c.name: values.get(c.name) for c in form.computed}

    def _start_context(self, actor: Actor, instance_id: str, now: datetime) -> dict[str, Any]:
        return {"instance": {"id": instance_id, "started_at": iso(now), "started_by": actor.user,
                             "procedure": self.procedure.id},
                "__now__": now, "__calendar__": self._calendar(None)}

    # -- commands ---------------------------------------------------------------------

    def _start(self, cmd: Start, now: datetime, org: OrgChart) -> tuple[InstanceState, list[Event]]:
        proc = self.procedure
        if not access.may_start(proc, cmd.actor):
            raise NotPermitted(_("you may not start '{title}': it is started by {roles}", title=titled(proc),
                                  roles=", ".join(proc.roles.get(r, r) for r in proc.start_roles)))
        context = self._start_context(cmd.actor, cmd.instance_id or "instance", now)
        data = self._check_form(proc.start_form, cmd.data, cmd.locale, context) if proc.start_form else dict(cmd.data or {})
        state = new_state(cmd.instance_id or "instance", proc.id, iso(now), cmd.actor.user, cmd.origin)
        w = _Work(state, now, cmd.actor, org)
        w.start_due = cmd.due_at
        if data:
            w.s["data"]["start"] = data
        started: InstanceStarted = {"procedure": proc.id, "version": proc.content_hash, "data": data, "origin": cmd.origin}
        if cmd.serial:
            w.s["serial"] = started["serial"] = cmd.serial
        w.event("instance:started", started)
        self._enter(w, proc.start_step)
        w.s["rev"] = 1
        self._refresh_timer(w)
        return w.s, w.events

    def _complete(self, w: _Work, cmd: CompleteTask) -> None:
        task, step = self._actionable(w, cmd.task_id, cmd.actor, "task")
        self._apply_edits(w, step, cmd)
        data = self._check_form(step.form, cmd.data, cmd.locale, self._context(w))
        sig = self._check_signature(w, step, cmd.signature)
        self._finish_task(w, task, step, data, sig, "task:completed")
        self._leave(w, step)

    def _decide(self, w: _Work, cmd: Approve | Reject) -> None:
        task, step = self._actionable(w, cmd.task_id, cmd.actor, "approval")
        party = step.approvers is not None and not task.get("reapproval")
        if party:
            approvals.check_turn(w, task)
        approve = isinstance(cmd, Approve)
        comment = (cmd.comment or "").strip()
        if not approve and not comment:
            raise FormInvalid(
                _("a rejection needs a comment saying what must change"),
                errors=[{"field": "comment", "message": _("Write why you reject", cmd.locale)}],
            )
        self._apply_edits(w, step, cmd)
        extra = self._check_form(step.form, cmd.data, cmd.locale, self._context(w)) if step.form else {}
        sig = self._check_signature(w, step, cmd.signature)
        if sig and not approve:
            sig["meaning"] += signing.REJECTED  # a rejection never reads as the approval
        data = {**extra, "decision": "approve" if approve else "reject", "comment": comment}
        self._finish_task(w, task, step, data, sig, "task:approved" if approve else "task:rejected", party=party)
        if task.get("reapproval"):
            return  # a re-approval signs (or refuses) the corrected record; the path stays
        if party:
            self._after_party(w, step, approvals.decide(self, w, step, task, comment))
            return
        if approve:
            self._leave(w, step)
        elif step.on_reject:
            self._enter(w, step.on_reject)
        else:
            self._end(w, access.REJECTED, step.id)

    def _after_party(self, w: _Work, step: Step, outcome: str | None) -> None:
        """Route a multi-party approval whose outcome is certain (None: not yet)."""
        if outcome == "approve":
            self._leave(w, step)
        elif outcome == "reject":
            if step.on_reject:
                self._enter(w, step.on_reject)
            else:
                self._end(w, access.REJECTED, step.id)

    def _add_approver(self, w: _Work, cmd: AddApprover) -> None:
        approvals.add_approver(self, w, cmd)

    def _claim(self, w: _Work, cmd: Claim) -> None:
        task, _ = self._actionable(w, cmd.task_id, cmd.actor, None)
        if task["assignee"] == cmd.actor.user:
            return
        t = w.task(task["id"])
        t["assignee"] = cmd.actor.user
        w.event("task:claimed", {"assignee": cmd.actor.user}, step=t["step"], task=t["id"])

    def _release(self, w: _Work, cmd: Release) -> None:
        task = self._open_task(w, cmd.task_id)
        if task.get("named"):
            raise NotPermitted(_("this approval was given to you by name; it cannot be released to a pool"))
        if not access.may_release(task, cmd.actor):
            raise NotPermitted(_("only the person who claimed a task can release it"))
        t = w.task(task["id"])
        t["assignee"] = None
        t["last_assignee"] = cmd.actor.user  # whose manager hears of an escalation
        w.event("task:released", {}, step=t["step"], task=t["id"])

    def _reassign(self, w: _Work, cmd: Reassign) -> None:
        task = self._open_task(w, cmd.task_id)
        if not access.may_reassign(task, cmd.actor):
            raise NotPermitted(_("you may not reassign task '{title}': only whoever holds it (role '{role}') "
                                 "or an administrator may", title=titled(self.procedure.steps[task["step"]]),
                                 role=self.procedure.role_title(task["role"], reader_locale())))
        if not cmd.to_user:
            raise CommandRejected(_("say to whom the task is reassigned"))
        t = w.task(task["id"])
        before = t["assignee"]
        t["assignee"] = cmd.to_user
        reassigned: TaskReassigned = {"from": before, "to": cmd.to_user, "reason": cmd.reason}
        w.event("task:reassigned", reassigned, step=t["step"], task=t["id"])

    def _cancel(self, w: _Work, cmd: Cancel) -> None:
        if w.s["status"] != "running":
            raise InstanceClosed(_("the instance is already {status}", status=_(w.s["status"])))
        if not access.may_cancel(w.s, self.procedure, cmd.actor):
            raise NotPermitted(_("only those who may start this procedure (or an admin) may cancel an instance"))
        if not (cmd.reason or "").strip():
            raise CommandRejected(_("say why the instance is cancelled"))
        self._close_open_tasks(w)
        w.s["status"] = "cancelled"
        w.s["ended_at"] = w.at
        w.event("instance:cancelled", {"reason": cmd.reason.strip()})

    def _correct(self, w: _Work, cmd: Correct) -> None:
        """Record a corrected value: the step's data shows the new value; the correction, with
        the old value, who, when and why, is kept in ``corrections`` and in the event. A value
        that a signature covers is corrected only under the corrector's own signature (更正),
        and the correction names the signatures given before it."""
        if cmd.step not in w.s["data"]:
            raise NotFound(_("step '{step}' has no recorded data to correct", step=cmd.step))
        if not (cmd.reason or "").strip():
            raise CommandRejected(_("a correction needs a reason (e.g. 笔误, 复核后更正)"))
        if not access.may_correct(self.procedure, cmd.step, cmd.actor, w.s["status"]):
            if w.s["status"] != "running":
                closed = access.closed_correction_roles(self.procedure)
                if not closed:
                    raise NotPermitted(_("the record is {status}, and this procedure names no role that corrects "
                                         "a closed record (correct_closed:)", status=_(w.s["status"])))
                raise NotPermitted(_("the record is {status}: only {roles} may correct it now",
                                     status=_(w.s["status"]),
                                     roles=", ".join(self.procedure.role_title(r, reader_locale())
                                                     for r in sorted(closed))))
            allowed = access.correction_roles(self.procedure, cmd.step)
            raise NotPermitted(_("corrections to '{step}' are made by {roles}", step=cmd.step,
                                  roles=", ".join(sorted(allowed))))
        self._record_correction(w, cmd.step, cmd.field, cmd.value, cmd.reason, cmd.signature, cmd.locale)

    def _apply_edits(self, w: _Work, step: Step, cmd: CompleteTask | Approve | Reject) -> None:
        """``edit:`` on a step: its actor changes named fields of earlier steps while doing
        the task. Each changed value is a correction (old and new value, who, when, the
        reason), under the correction's signature rules; unchanged values are ignored."""
        if not cmd.edits:
            return
        changed = []
        for ref, value in cmd.edits.items():
            if ref not in step.edit:
                raise NotPermitted(_("step '{title}' may not change '{field}'; it may change: {fields}",
                                     title=titled(step), field=ref, fields=", ".join(step.edit) or _("nothing")))
            sid, _dot, name = ref.partition(".")
            if w.s["data"].get(sid, {}).get(name) != value:
                changed.append((sid, name, value))
        if changed and not (cmd.edit_reason or "").strip():
            raise FormInvalid(_("say why the earlier values are changed"),
                              errors=[{"field": "edit_reason", "message": _("say why the earlier values are changed")}])
        for sid, name, value in changed:
            if sid not in w.s["data"]:
                raise NotFound(_("step '{step}' has no recorded data to change", step=sid))
            try:
                self._record_correction(w, sid, name, value, cmd.edit_reason, cmd.edit_signature, cmd.locale)
            except FormInvalid as exc:  # name the field as the step's edit lists it
                raise FormInvalid(exc.message, errors=[{**e, "field": f"{sid}.{e['field']}"} for e in exc.errors]) from exc

    def _record_correction(self, w: _Work, step_id: str, field: str, value: Any, reason: str,
                           signature: Signature | None, locale: str) -> None:
        """The correction itself, once permission is settled (``_correct``, ``_apply_edits``)."""
        cmd = Correct(w.actor, step_id, field, value, reason, locale, signature)
        form = self.procedure.form_of(cmd.step)
        if form is None or cmd.field not in form.fields or "." in cmd.field:
            known = ", ".join(f for f in (form.fields if form else {}) if "." not in f) or _("none")
            raise FormInvalid(_("'{field}' is not a field of step '{step}'", field=cmd.field, step=cmd.step),
                              errors=[{"field": cmd.field, "message": _("unknown field; fields: {fields}", fields=known)}])
        if form.fields[cmd.field].compute is not None:
            raise FormInvalid(_("'{field}' is computed from other fields; correct the fields it is computed from",
                                field=cmd.field),
                              errors=[{"field": cmd.field, "message": _("computed: {expr}", expr=form.fields[cmd.field].compute)}])
        signed_before = signing.covering(w.s, cmd.step)
        if signed_before and cmd.signature is None:
            # Named as the page shows the field, each signer once (one person may have signed
            # the step twice: a 会签 rejected, then approved).
            signers = dict.fromkeys(w.s["tasks"][t]["signature"]["name"] for t in signed_before)
            raise SignatureInvalid(_("'{field}' is covered by the signature of {names}; correcting it needs your "
                                     "electronic signature ({meaning}): enter your password",
                                     field=form.field_title(cmd.field, reader_locale()), meaning=signing.CORRECTION,
                                     names=", ".join(signers)))
        if cmd.signature is not None and cmd.signature.meaning != signing.CORRECTION:
            raise SignatureInvalid(_("this signature means '{meaning}', not '{given}'",
                                     meaning=signing.CORRECTION, given=cmd.signature.meaning))
        if cmd.signature is not None and cmd.signature.user and cmd.signature.user != cmd.actor.user:
            raise SignatureInvalid(_("a signature must be given by the person who acts"))
        old_data = w.s["data"][cmd.step]
        new_data = {**old_data, cmd.field: cmd.value}
        if form.computed:
            ctx = {**self._context(w), cmd.step: new_data}
            new_data = form.compute(new_data, ctx)
        if self.validate_forms:
            # Only what this correction changes is judged: a value recorded before a bound
            # existed (the default text bounds of 2026-12) must not block correcting another.
            changed = {k for k in new_data if new_data.get(k) != old_data.get(k)} | {cmd.field}
            # A cleared value (null) is judged as absent: an optional field may be cleared, a
            # required one is refused as required (stored as null, as the replay has it).
            judged = {k: v for k, v in new_data.items() if not (k == cmd.field and v is None)}
            errors = [e for e in form.validate(judged, cmd.locale)
                      if e["field"].split(".")[0] in changed or not e["field"]]
            if errors:
                raise FormInvalid(_("the corrected value does not fit the form"), errors=errors)
        w.s["data"][cmd.step] = {**old_data, cmd.field: cmd.value}
        # What the step holds once the computed fields have followed (below): what is signed.
        recomputed = [(comp.name, old_data.get(comp.name), new_data.get(comp.name))
                      for comp in (form.computed or ()) if old_data.get(comp.name) != new_data.get(comp.name)]
        stored = dict(w.s["data"][cmd.step])
        for name, _before, after in recomputed:
            if after is None:
                stored.pop(name, None)
            else:
                stored[name] = after
        entry: Correction = {"step": cmd.step, "field": cmd.field, "old": old_data.get(cmd.field), "new": cmd.value,
                 "by": cmd.actor.user, "at": w.at, "reason": cmd.reason.strip()}
        corrected: DataCorrected = {"field": cmd.field, "old": entry["old"], "new": cmd.value, "reason": entry["reason"]}
        if cmd.signature is not None:
            sig: SignatureRecord = {"user": cmd.actor.user, "name": cmd.signature.name or cmd.actor.display,
                                    "meaning": signing.CORRECTION, "at": w.at,
                                    "data_hash": signing.data_hash({**w.s["data"], cmd.step: stored})}
            if recomputed:
                # the hash covers the recomputed values, whose events follow this one
                # (engine.runtime.replay checks it after them)
                sig["covers_recomputed"] = True
            entry["signature"] = corrected["signature"] = sig
        if signed_before:
            entry["signed_before"] = corrected["signed_before"] = signed_before
        w.s["corrections"] = [*w.s["corrections"], entry]
        w.event("data:corrected", corrected, step=cmd.step)
        # The computed fields that read the corrected value follow it, each recorded as a
        # correction of its own (old and new value, same corrector and reason).
        w.s["data"][cmd.step] = stored
        for name, before, after in recomputed:
            # Kept as a key and values, not translated now: the record is read later, in
            # each reader's language.
            reason, kept = keep("recomputed after correcting '{field}': {reason}", field=cmd.field,
                                reason=entry["reason"])
            w.s["corrections"] = [*w.s["corrections"], {"step": cmd.step, "field": name, "old": before,
                                                         "new": after, "by": cmd.actor.user, "at": w.at,
                                                         "reason": reason, "reason_message": kept}]
            w.event("data:corrected", {"field": name, "old": before, "new": after, "reason": reason,
                                       "reason_message": kept}, step=cmd.step)
        self._reopen_approvals(w, signed_before)

    def _reopen_approvals(self, w: _Work, signed_before: list[str]) -> None:
        """Approvals declaring ``on_correction: reapprove`` whose signature covered the
        corrected value are opened again (once per step while one is open): the approver
        signs the corrected record, or rejects it with a comment."""
        number = len(w.s["corrections"])
        for tid in signed_before:
            step = self.procedure.steps.get(w.s["tasks"][tid]["step"])
            if step is None or step.on_correction != "reapprove":
                continue
            if any(t["step"] == step.id and t["status"] == "open" for t in w.s["tasks"].values()):
                continue
            t = self._new_task(w, step, "approval")
            t["reapproval"] = number
            created: TaskCreated = {"role": step.role, "due_at": None, "reapproval": number}
            w.event("task:created", created, step=step.id, task=t["id"])

    def _tick(self, w: _Work, cmd: Tick) -> None:
        if w.s["status"] != "running":
            return
        w.managers = cmd.managers
        for task in sorted(open_tasks(w.s), key=lambda t: int(t["id"][1:])):
            if task["status"] != "open":
                continue  # closed by an earlier wake-up in this same tick
            if task["kind"] == "wait":
                wake_at = task.get("wake_at")
                if wake_at and _time(wake_at) <= w.now:
                    t = w.task(task["id"])
                    t["status"], t["completed_at"], t["completed_by"] = "done", w.at, w.actor.user
                    w.event("wait:woken", {"wake_at": wake_at}, step=t["step"], task=t["id"])
                    self._leave(w, self.procedure.steps[t["step"]])
                continue
            self._tick_deadline(w, task)

    def _tick_deadline(self, w: _Work, task: Task) -> None:
        step = self.procedure.steps[task["step"]]
        t: Task | None = None
        remind_at = task.get("remind_at")
        if remind_at and not task.get("reminded") and _time(remind_at) <= w.now:
            t = w.task(task["id"])
            t["reminded"] = True
            w.event("deadline:reminder", _notice(t), step=t["step"], task=t["id"])
        due = parse_time(task.get("due_at"))
        if due is None or due > w.now:
            return
        if not task.get("missed"):
            t = t or w.task(task["id"])
            t["missed"] = True
            w.event("deadline:missed", _notice(t), step=t["step"], task=t["id"])
        levels = step.deadline.escalate if step.deadline else ()
        fired = len(task.get("escalated_to", []))
        cal = self._calendar(step.deadline)
        for level in range(fired, len(levels)):
            esc = levels[level]
            if cal.add(due, esc.after) > w.now:
                break
            t = t or w.task(task["id"])
            if esc.to == MANAGER:
                holder = t.get("assignee") or t.get("last_assignee")
                manager = w.managers.get(holder) if holder else None
                escalated: DeadlineEscalated
                if holder and manager:
                    t["escalated_to"] = [*t.get("escalated_to", []), f"user:{manager}"]
                    escalated = {"level": level + 1, "to": "manager", "user": manager, "of": holder, "due_at": t["due_at"]}
                    w.event("deadline:escalated", escalated, step=t["step"], task=t["id"])
                    continue
                role = _fallback_role(levels, level, step)
                t["escalated_to"] = [*t.get("escalated_to", []), role]
                why, why_kept = keep("{holder} has no manager", holder=holder) if holder else keep("nobody held the task")
                escalated = {"level": level + 1, "to": role, "fallback": "manager", "reason": why,
                             "reason_message": why_kept, "due_at": t["due_at"]}
                w.event("deadline:escalated", escalated, step=t["step"], task=t["id"])
                continue
            t["escalated_to"] = [*t.get("escalated_to", []), esc.to]
            escalated = {"level": level + 1, "to": esc.to, "due_at": t["due_at"]}
            w.event("deadline:escalated", escalated, step=t["step"], task=t["id"])

    _handlers: ClassVar[dict[type, Callable[[Runtime, _Work, Any], None]]] = {
        CompleteTask: _complete,
        Approve: _decide,
        Reject: _decide,
        Claim: _claim,
        Release: _release,
        Reassign: _reassign,
        Cancel: _cancel,
        Correct: _correct,
        Tick: _tick,
        AddApprover: _add_approver,
        **actions.HANDLERS,  # 转交、退回、撤回、收回、催办、抄送
    }

    # -- checks -----------------------------------------------------------------------

    def _open_task(self, w: _Work, task_id: str) -> Task:
        task = w.s["tasks"].get(task_id)
        if task is None:
            raise NotFound(_("no task '{task}' in this instance", task=task_id))
        if w.s["status"] != "running" and not (task.get("reapproval") and task["status"] == "open"):
            raise InstanceClosed(_("the instance is {status}; its tasks can no longer be changed",
                                   status=_(w.s["status"])))
        if task["status"] != "open":
            by = _(" by {user}", user=task["completed_by"]) if task.get("completed_by") else ""
            raise TaskClosed(_("task '{title}' is already {status}{by}; reload to see the current state",
                               title=titled(self.procedure.steps[task["step"]]), status=_(task["status"]), by=by))
        return task

    def _actionable(self, w: _Work, task_id: str, actor: Actor, kind: str | None) -> tuple[Task, Step]:
        task = self._open_task(w, task_id)
        step = self.procedure.steps[task["step"]]
        if kind is not None and task["kind"] != kind:
            what = {"approval": N_("step '{title}' is an approval step: it is approved or rejected"),
                    "task": N_("step '{title}' is a task step: it is completed with a form"),
                    "wait": N_("step '{title}' is a wait step: it is woken by the clock")}[task["kind"]]
            raise CommandRejected(_(what, title=titled(step)))
        access.check_act(task, actor, self.procedure)
        access.check_separation(w.s, self.procedure, task, actor)
        access.check_decides_once(w.s, task, actor)
        return task, step

    def _check_form(self, form_id: str | None, data: Mapping[str, Any] | None, locale: str,
                    context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        data = dict(data or {})
        if not form_id:
            if data:
                raise FormInvalid(_("this step has no form; send no data"),
                                  errors=[{"field": k, "message": _("This is an unknown field", locale)} for k in data])
            return {}
        form = self.procedure.forms[form_id]
        # Computed fields (x-compute) are the server's: whatever the client sent for them is
        # replaced by the value worked out from the rest of the data, before validation.
        data = form.compute(data, context)
        if not self.validate_forms:
            return data
        errors, cleaned = form.check(data, locale)
        if errors:
            raise FormInvalid.of(errors, locale)
        return cleaned

    def _check_signature(self, w: _Work, step: Step, sig: Signature | None) -> SignatureRecord | None:
        actor = w.actor
        if step.signature is None:
            return None
        if sig is None:
            raise SignatureInvalid(_("step '{title}' needs your electronic signature ({meaning}): enter your "
                                    "password to sign", title=titled(step), meaning=step.signature))
        if sig.meaning and sig.meaning != step.signature:
            raise SignatureInvalid(_("this signature means '{meaning}', not '{given}'",
                                    meaning=step.signature, given=sig.meaning))
        if sig.user and sig.user != actor.user:
            raise SignatureInvalid(_("a signature must be given by the person who acts"))
        return {"user": actor.user, "name": sig.name or actor.display, "meaning": step.signature, "at": w.at}

    # -- moving through the graph -------------------------------------------------------

    def _finish_task(self, w: _Work, task: Task, step: Step, data: dict[str, Any], sig: SignatureRecord | None,
                     event: EventType, *, party: bool = False) -> None:
        """Record a task done. One approver of a multi-party approval (``party``) records
        their decision on the task and in the event; the step's data is its outcome, recorded
        once certain (``approvals``)."""
        t = w.task(task["id"])
        t["status"], t["completed_at"], t["completed_by"] = "done", w.at, w.actor.user
        if sig:
            t["signature"] = sig
        if "decision" in data:
            t["decision"] = data["decision"]
        if not party:
            w.s["data"][step.id] = data
        finished: TaskFinished = {"data": data}
        if party:
            finished["party"] = True
        if sig:
            # Bound to the data as signed: the step's own and everything recorded before it.
            sig["data_hash"] = signing.data_hash({**w.s["data"], step.id: data})
            finished["signature"] = sig
        due_at = task.get("due_at")
        if due_at:
            finished["on_time"] = _time(due_at) >= w.now
        w.event(event, finished, step=step.id, task=t["id"])

    def _context(self, w: _Work) -> dict[str, Any]:
        ctx: dict[str, Any] = dict(w.s["data"])
        ctx["instance"] = {"id": w.s["id"], "started_at": w.s["started_at"], "started_by": w.s["started_by"], "procedure": w.s["procedure"]}
        ctx["__now__"] = w.now
        ctx["__calendar__"] = self._calendar(None)
        return ctx

    def _eval(self, w: _Work, expr: Expr, step: Step, what: str, **params: Any) -> Any:
        """``expr``'s value; ``what`` (an ``N_`` text, with ``params``) names it in the refusal."""
        try:
            return expr.evaluate(self._context(w))
        except ExpressionError as exc:
            raise CommandRejected(_("step '{title}': the {what} '{expr}' failed: {error}", title=titled(step),
                                    what=_(what, **params), expr=expr.source, error=exc.message)) from exc

    def _route(self, w: _Work, step: Step) -> str:
        for tr in step.next:
            if tr.condition is None:
                chosen = tr.target
                break
            if self._eval(w, tr.condition, step, N_("condition")):
                chosen = tr.target
                break
        else:  # the validator requires an else; a definition built by hand may lack one
            raise CommandRejected(_("step '{step}': no condition of 'next' holds and there is no else; add "
                                    "'- else: STEP' as its last entry", step=step.id))
        if len(step.next) > 1:
            w.event("route:taken", {"to": chosen}, step=step.id)
        return chosen

    def _leave(self, w: _Work, step: Step) -> None:
        self._enter(w, actions.resume_at(w, step) or self._route(w, step))

    def _enter(self, w: _Work, step_id: str) -> None:
        if w.s["status"] != "running":
            return
        w.automatic += 1
        if w.automatic > MAX_AUTOMATIC_STEPS:
            raise CommandRejected(_("more than {n} automatic steps in one command; the procedure loops without "
                                    "waiting: give the loop a task, approval or wait step", n=MAX_AUTOMATIC_STEPS))
        step = self.procedure.steps[step_id]
        w.s["path"].append(step_id)
        kind = step.type
        if kind == "approval" and step.approvers is not None:
            self._after_party(w, step, approvals.enter(self, w, step))
        elif kind in ("task", "approval"):
            self._create_task(w, step)
        elif kind == "decision":
            self._leave(w, step)
        elif kind == "parallel":
            if step.join is None:  # the validator requires a join; a definition built by hand may lack one
                raise CommandRejected(_("step '{step}': a parallel step needs a join", step=step.id))
            w.s["joins"][step.join] = {"expected": len(step.branches), "arrived": 0}
            for b in step.branches:
                self._enter(w, b)
        elif kind == "join":
            j: Join = (w.s["joins"].get(step.id) or {"expected": 1, "arrived": 0}).copy()
            j["arrived"] += 1
            if j["arrived"] < j["expected"]:
                w.s["joins"][step.id] = j
                w.s["path"].pop()  # the join is entered once, when the last branch arrives
                return
            w.s["joins"].pop(step.id, None)
            w.event("join:completed", {"branches": j["expected"]}, step=step.id)
            self._leave(w, step)
        elif kind == "wait":
            self._create_wait(w, step)
        elif kind == "spawn":
            if step.procedure is None:  # as for parallel: the validator requires it
                raise CommandRejected(_("step '{step}': a spawn step needs the procedure it starts", step=step.id))
            if not step.spawn_again and any(link["step"] == step.id for link in w.s["links"]):
                # Entered again through a rework loop: the instance opened the first time is
                # still the linked one (a second CAPA per rejection helps nobody).
                self._leave(w, step)
                return
            data = {k: _jsonable(self._eval(w, e, step, N_("value of '{key}'"), key=k)) for k, e in step.with_}
            link: Link = {"procedure": step.procedure, "step": step.id, "data": data}
            w.s["links"].append(link)
            w.event("spawn:requested", {"procedure": step.procedure, "data": data}, step=step.id)
            self._leave(w, step)
        elif kind == "end":
            self._end(w, step.outcome or "", step.id)

    def _end(self, w: _Work, outcome: str, step_id: str) -> None:
        self._close_open_tasks(w)
        w.s["status"] = "completed"
        w.s["outcome"] = outcome
        w.s["ended_at"] = w.at
        w.event("instance:completed", {"outcome": outcome}, step=step_id)

    def _close_open_tasks(self, w: _Work) -> None:
        for task in open_tasks(w.s):
            t = w.task(task["id"])
            t["status"] = "cancelled"
            t["completed_at"] = w.at
            w.event("task:cancelled", {}, step=t["step"], task=t["id"])

    def _new_task(self, w: _Work, step: Step, kind: TaskKind) -> Task:
        tid = w.new_id()
        t: Task = {
            "id": tid, "step": step.id, "kind": kind, "role": step.role, "status": "open",
            "assignee": None, "created_at": w.at, "due_at": None, "completed_at": None,
            "completed_by": None,
        }
        w.s["tasks"][tid] = t
        return t

    def _create_task(self, w: _Work, step: Step, *, role: str | None = None, assignee: str | None = None) -> str:
        """Open the step's task (a multi-party approval: one approver's, for ``role`` or the
        named ``assignee``); its id."""
        t = self._new_task(w, step, "approval" if step.type == "approval" else "task")
        if role is not None or assignee is not None:
            t["role"] = role
        if assignee is not None:
            t["assignee"] = assignee
            t["named"] = True
        if w.start_due:
            t["due_at"] = w.start_due
            t["missed"] = False
            t["escalated_to"] = []
            if step.deadline and step.deadline.remind_before:
                due = _time(w.start_due)
                t["remind_at"] = iso(self._calendar(step.deadline).subtract(due, step.deadline.remind_before))
                t["reminded"] = False
        elif step.deadline:
            try:
                due = self._due(w, step, step.deadline)
            except _NoDueDate as exc:
                t["problem"], t["problem_message"] = exc.message, exc.stored
            else:
                t["due_at"] = iso(due)
                if step.deadline.remind_before:
                    t["remind_at"] = iso(self._calendar(step.deadline).subtract(due, step.deadline.remind_before))
                    t["reminded"] = False
                t["missed"] = False
                t["escalated_to"] = []
        # A step entered again (a rejection loop) shows what was recorded last time.
        created: TaskCreated = {"role": t["role"], "due_at": t["due_at"]}
        if assignee is not None:
            created["assignee"] = assignee
        if "problem" in t:
            created["problem"] = t["problem"]
            if "problem_message" in t:
                created["problem_message"] = t["problem_message"]
        w.event("task:created", created, step=step.id, task=t["id"])
        return t["id"]

    def _create_wait(self, w: _Work, step: Step) -> None:
        cal = self._calendar(None)
        if step.duration is not None:
            wake = cal.add(w.now, step.duration)
        elif step.until is None:  # as for parallel: the validator requires one of the two
            raise CommandRejected(_("step '{step}': a wait step needs 'duration' or 'until'", step=step.id))
        else:
            value = self._eval(w, step.until, step, N_("wait time"))
            try:
                wake = _as_datetime(value, step, cal)
            except CommandRejected:
                # The date it waits for was not recorded (an optional field left empty). Holding
                # the instance would stall it with nothing left to change that; refusing would
                # block the previous person. It goes on at the next tick, and says why.
                problem, stored = keep("did not wait: 'until: {expr}' gave {value}, not a date",
                                       expr=step.until.source, value=repr(value))
                t = self._new_task(w, step, "wait")
                t["wake_at"] = w.at
                t["problem"], t["problem_message"] = problem, stored
                w.event("task:created", {"role": None, "wake_at": t["wake_at"], "problem": problem,
                                         "problem_message": stored}, step=step.id, task=t["id"])
                return
            if step.offset is not None:
                wake = cal.add(wake, step.offset)
        t = self._new_task(w, step, "wait")
        t["wake_at"] = iso(wake)
        w.event("task:created", {"role": None, "wake_at": t["wake_at"]}, step=step.id, task=t["id"])

    def _calendar(self, deadline: Deadline | None) -> Calendar:
        name = deadline.calendar if deadline else self.procedure.calendar
        return calendar_named(self.calendars, name)

    def _due(self, w: _Work, step: Step, d: Deadline) -> datetime:
        cal = self._calendar(d)
        if d.within is not None:
            return cal.add(w.now, d.within)
        if d.within_cases:
            for cond, dur in d.within_cases:
                if cond is None or self._eval(w, cond, step, N_("deadline condition")):
                    return cal.add(w.now, dur)
        if d.within_expr is not None:
            value = self._eval(w, d.within_expr, step, N_("deadline"))
            try:
                return cal.add(w.now, parse_duration(str(value)))
            except DurationError as exc:
                raise CommandRejected(_("step '{title}': the deadline expression gave {value}: {error}",
                                        title=titled(step), value=repr(value), error=exc.message)) from exc
        if d.due_expr is not None:
            value = self._eval(w, d.due_expr, step, N_("due date"))
            try:
                return _as_datetime(value, step, cal)
            except CommandRejected as exc:
                # The data decides the deadline (an optional date left empty): the task opens
                # without one and says why, rather than refusing the previous submission.
                raise _NoDueDate(*keep("no due time: 'due_expr: {expr}' gave {value}, not a date; "
                                       "correct that field to set one", expr=d.due_expr.source,
                                       value=repr(value))) from exc
        raise CommandRejected(_("step '{step}' has a deadline without a duration; give it 'within', 'within_expr' or "
                                "'due_expr'", step=step.id))

    def _refresh_timer(self, w: _Work) -> None:
        """Keep ``timer_at`` = the earliest moment a tick has something to do."""
        best: datetime | None = None
        if w.s["status"] == "running":
            for t in open_tasks(w.s):
                for when in _task_timers(t, self.procedure.steps[t["step"]], self._calendar):
                    if best is None or when < best:
                        best = when
        w.s["timer_at"] = iso(best) if best else None


def _fallback_role(levels: tuple[Escalation, ...], level: int, step: Step) -> str:
    """For ``to: manager`` without a manager: the level's fallback, else the next role of the
    chain, else an earlier one, else the step's own role."""
    fallback = levels[level].fallback
    if fallback:
        return fallback
    later = [e.to for e in levels[level + 1:] if e.to != MANAGER]
    earlier = [e.to for e in levels[:level] if e.to != MANAGER]
    return (later or earlier[::-1] or [step.role or ""])[0]


def _task_timers(t: Task, step: Step, calendar_of: Callable[[Deadline | None], Calendar]) -> list[datetime]:
    out = []
    if t["kind"] == "wait":
        return [_time(t["wake_at"])]
    remind_at = t.get("remind_at")
    if remind_at and not t.get("reminded"):
        out.append(_time(remind_at))
    due_at = t.get("due_at")
    if due_at:
        due = _time(due_at)
        if not t.get("missed"):
            out.append(due)
        else:
            levels = step.deadline.escalate if step.deadline else ()
            fired = len(t.get("escalated_to", []))
            if fired < len(levels):
                out.append(calendar_of(step.deadline).add(due, levels[fired].after))
    return out


class _NoDueDate(CommandRejected):
    """A deadline whose date comes from data that holds none (the English text, and the
    message kept for each reader's language)."""

    def __init__(self, message: str, stored: StoredMessage) -> None:
        super().__init__(message)
        self.stored = stored


def _as_datetime(value: Any, step: Step, cal: Calendar) -> datetime:
    """Dates from forms are ISO text; a bare date means the start of that day in the calendar's zone."""
    try:
        if isinstance(value, str):
            value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=cal.timezone)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=cal.timezone)
    except ValueError:
        pass
    raise CommandRejected(_("step '{title}': expected a date or date-time, got {value}; check the field it comes "
                            "from", title=titled(step), value=repr(value)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value



def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _notice(t: Task) -> DeadlineNotice:
    return {"due_at": t["due_at"], "role": t["role"], "assignee": t["assignee"]}


# The free texts a command carries beside its form: an approval's comment, the reason of a
# transfer, return, correction, cancellation or edit. Bounded as a form's text field is,
# for the same reason: the events and every page of the record carry them whole.
_FREE_TEXTS = ("comment", "reason", "edit_reason")


def _refuse_long_texts(command: Command) -> None:
    for name in _FREE_TEXTS:
        text = getattr(command, name, None)
        if isinstance(text, str) and len(text) > TEXT_MAX:
            raise FormInvalid(_("the text has {count} characters; at most {n} are kept: shorten it",
                                count=len(text), n=TEXT_MAX),
                              errors=[{"field": name, "message": _("at most {n} characters", n=TEXT_MAX)}])
