"""Instances: start one, list them, read one (page and API alike), cancel, correct.

Every read goes through ``access.require_instance`` (a role in the procedure, or auditors
and admins, who read everything) and ``masking``: the HTML page and the API show the same
instance to the same people with the same values hidden, and both log the values a cleared
reader saw in clear."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine import i18n, store
from engine.app import access, change_control, people, uploads
from engine.app.audit import CurrentProcedures, damage_named, integrity
from engine.app.masking import (
    holds_mask,
    mask_events,
    mask_instance,
    record_views,
    refuse_mask,
    sensitive_keys,
    top_key,
)
from engine.app.people import NamesThen, correctors_named, names_then
from engine.app.service import SPAWN_RULE
from engine.errors import FormInvalid, NotFound, NotPermitted
from engine.i18n import _, reader_locale
from engine.language.english import shown as shown_in
from engine.runtime import signing
from engine.store import serials, timekeeping, versions
from engine.store import users as user_store

if TYPE_CHECKING:
    from engine.app.access import Reader
    from engine.app.services import Services
    from engine.language.procedure import Procedure
    from engine.runtime.commands import Actor
    from engine.store.audit_search import ChainCheck

_log = logging.getLogger(__name__)

STATUSES = ("running", "completed", "cancelled")


# --------------------------------------------------------------------------- start


def startable(services: Services, username: str, procedure_id: str) -> Procedure:
    """The current version of a procedure the user may start; 403 when they may not."""
    wf = services.workflow
    with services.database.reading() as s:
        proc, _vid = wf.procedure(s, procedure_id)
        actor = wf.actor(s, username, proc)
    _refuse_unless_may_start(proc, actor)
    return proc


def _refuse_unless_may_start(proc: Procedure, actor: Actor) -> None:
    if not actor.roles & set(proc.start_roles):
        raise NotPermitted(_("You may not start '{title}'.", title=proc.title))


def start(services: Services, username: str, procedure_id: str, data: Mapping[str, Any], *,
          locale: str = "zh", answer_for: Reader | None = None, history: bool = True) -> dict | Answer:
    """Start an instance with its start form's data (files posted with it were stored by
    ``uploads.store_files``, or ``uploads.upload`` for the API, and are bound to it here:
    only the starter's own, ``uploads.refuse_foreign``); the new instance's state. A
    sensitive value sent as the mask is refused (422)."""
    wf = services.workflow
    # One transaction: who may start is checked (as ``startable`` does) with the version and
    # the actor that the start then uses, and the answer is the state it wrote.
    with services.database.writing() as s:
        proc, version_id = wf.procedure(s, procedure_id)
        actor = wf.actor(s, username, proc)
        _refuse_unless_may_start(proc, actor)
        form = proc.forms.get(proc.start_form) if proc.start_form else None
        if holds_mask(data):
            refuse_mask(sensitive_keys(proc), "start", data)
        files = uploads.file_values(form.schema, data) if form is not None else []
        uploads.refuse_foreign(s, username, None, files, locale)
        people.refuse_unknown_people(s, form, data)
        state = wf.start(s, procedure_id, username, data, locale=locale, actor=actor,
                         pinned=(proc, version_id))
        uploads.bind(s, username, state["id"], files, locale, now=services.now(), step="start")
        if answer_for is not None:
            answer = view_in(services, s, answer_for, state["id"], check=False, history=history,
                             written=(version_id, state))
    return log_answer(services, answer_for, answer) if answer_for is not None else state


# --------------------------------------------------------------------------- lists


# Where a record whose start time cannot be read sorts (last, newest first).
_NEVER = datetime.min.replace(tzinfo=UTC)


def list_instances(services: Services, reader: Reader, procedure_id: str | None = None,
                   status: str | None = None, *, limit: int = 50,
                   offset: int = 0) -> tuple[list[dict], int, dict[str, str]]:
    """Instances of the procedures the reader may read, newest first: ``(items, total,
    {procedure id: title})``. 403 for a procedure the reader may not read."""
    wf = services.workflow
    with services.database.reading() as s:
        readable = access.readable(wf, s, reader)
        if procedure_id is not None:
            access.require_procedure(wf, s, reader, procedure_id)
        titles = {pid: shown_in(proc, "title", i18n.reader_locale()) for pid, (proc, _v) in readable.items()}
        rows: list[Any] = []
        total = 0
        for pid in [procedure_id] if procedure_id else sorted(readable):
            # one query per readable procedure, merged newest first
            rows += store.list_instances(s, pid, status, limit + offset, 0)
            total += store.count_instances(s, pid, status)
        rows.sort(key=lambda r: (r.started_at is not None, r.started_at or _NEVER, r.id), reverse=True)
        items = [_summary(r) for r in rows[offset:offset + limit]]
    return items, total, titles


def find(services: Services, reader: Reader, text: str) -> str | None:
    """The id of the instance a person typed: its record number (流水号, any case, spaces
    around ignored) or its id; None when there is none the reader may read (an unreadable
    record is not told apart from a missing one)."""
    wanted = text.strip()
    if not wanted or len(wanted) > 40:
        return None
    with services.database.reading() as s:
        instance_id = serials.instance_by_serial(s, wanted) or wanted
        try:
            access.require_instance(services.workflow, s, reader, instance_id)
        except (NotFound, NotPermitted):
            return None
    return instance_id


def _summary(row: Any) -> dict:
    return {
        "id": row.id, "serial": row.serial, "procedure": row.procedure_id, "version": {"id": row.version_id},
        "status": str(row.status), "outcome": row.outcome, "rev": row.rev,
        "started_at": row.started_at, "started_by": row.started_by, "ended_at": row.ended_at,
    }


# --------------------------------------------------------------------------- reading one


@dataclass
class Answer:
    """The instance as a reader may see it (masked), its pinned procedure version, and the
    sensitive values it shows in clear (logged once the answer is given)."""

    inst: dict
    procedure: Procedure
    shown: set[str]
    # Whether the record it shows is what its trail proves (``integrity``), where asked.
    integrity: ChainCheck | None = None


def view_in(services: Services, session: Any, reader: Reader, instance_id: str, *,
            check: bool = True, history: bool = True,
            written: tuple[int, Mapping[str, Any]] | None = None) -> Answer:
    """The instance with its tasks and (unless ``history=False``) its history, masked for
    the reader, read in ``session``: a change answers with the instance it changed from
    inside its own transaction, as cheap as a read can be, and from the state it wrote
    (``written``, see ``Workflow.instance``) when it has it. ``check=False`` for the author
    of that change (an escalated manager holds no role but may act, and sees what they
    changed)."""
    wf = services.workflow
    if check:
        inst, proc = access.require_instance(wf, session, reader, instance_id, history=history)
    else:
        inst = wf.instance(session, instance_id, history=history, written=written)
        proc = wf.runtime(session, inst["version"]["id"]).procedure
    out, shown = mask_instance(sensitive_keys(proc), inst, reader)
    return Answer(out, proc, shown)


def log_answer(services: Services, reader: Reader, answer: Answer) -> Answer:
    """Log the values in clear an answer shows (after its transaction: the log is a write)."""
    record_views(services.database, reader, [(answer.inst["id"], answer.procedure.id, answer.shown)], "api")
    return answer


def read(services: Services, reader: Reader, instance_id: str, *, history: bool = True,
         checked: bool = False) -> Answer:
    """The instance as ``view_in`` shows it, for a reader who may read it (values shown in
    clear are logged as ``api``); ``checked`` adds whether it is what its trail proves
    (``integrity``), as the record page says."""
    with services.database.reading(snapshot=checked) as s:
        with damage_named(services, s, reader, instance_id):
            answer = view_in(services, s, reader, instance_id, history=history)
        if checked:
            answer.integrity = integrity(services, s, reader, answer.procedure, instance_id)
            answer.shown |= integrity_shown(answer.procedure, reader, answer.integrity)
    return log_answer(services, reader, answer)


def integrity_shown(proc: Procedure, reader: Reader, check: ChainCheck | None) -> set[str]:
    """The sensitive field a failed check's finding shows ``reader`` in clear (its stored and
    recorded values), for the access log: a cleared reader of ``?history=false`` saw it there
    and nowhere else."""
    if check is None or check.ok or not check.field or not reader.cleared:
        return set()  # a reader without clearance was shown the mask (``masked_fields``)
    field_key = top_key(check.field)
    return {field_key} if field_key in {top_key(k) for k in sensitive_keys(proc)} else set()


def events(services: Services, reader: Reader, instance_id: str) -> list[dict]:
    """The instance's events, masked for the reader (logged as ``api``)."""
    wf = services.workflow
    with services.database.reading() as s, damage_named(services, s, reader, instance_id):
        _inst, proc = access.require_instance(wf, s, reader, instance_id)
        items, shown = mask_events(sensitive_keys(proc), wf.events(s, instance_id), reader)
    record_views(services.database, reader, [(instance_id, proc.id, shown)], "api")
    return items


@dataclass
class Page:
    """What the instance page shows, masked for its reader."""

    inst: dict
    procedure: Procedure
    actor: Actor
    events: list[dict]
    names: dict[str, str]
    version_label: str
    spawned: list[Any]
    open_tasks: list[dict]
    correctable: list[tuple[str, str, Any, Any]]  # (step, field path, FieldInfo, current value)
    # Steps whose values a signature covers: a correction there asks for the password (更正).
    signed_steps: set[str]
    may_cancel: bool
    masked: bool
    shown: set[str] = field(default_factory=set)
    # Titles of the procedures of its origin and of the records it opened, in the reader's language.
    procedure_titles: dict[str, str] = field(default_factory=dict)
    # Procedures its spawn steps could not open yet (the worker retries; the reason is logged).
    spawn_failures: list[str] = field(default_factory=list)
    # Why its timer could not fire at the last try (the worker tries again every 5 minutes).
    stalled: str | None = None
    # Whether what the page shows is what the record's trail proves (``audit.check_shown``).
    integrity: ChainCheck | None = None
    # The (masked) corrections with each corrector's name when they made it (``by_name``).
    corrections: dict[str, list[dict]] = field(default_factory=dict)
    # The names people on the record had when they acted (``named.at(user, event time)``);
    # ``names`` holds today's, for the people the data names.
    named: NamesThen = field(default_factory=lambda: NamesThen({}, {}))


def page(services: Services, reader: Reader, instance_id: str) -> Page:
    """The instance page: data, timeline, open tasks (with whether the reader may act on
    each), what the reader may correct or cancel. Sensitive values stay masked here even for
    someone working on an open task (they see them on that task's page); a cleared reader's
    view is logged as ``instance``."""
    wf = services.workflow
    with services.database.reading(snapshot=True) as s, damage_named(services, s, reader, instance_id):
        inst, proc = access.require_instance(wf, s, reader, instance_id)
        actor = wf.actor(s, reader.username, proc)
        keys = sensitive_keys(proc)
        inst, shown = mask_instance(keys, inst, reader)
        raw_events = wf.events(s, instance_id)
        people = [e["actor"] for e in raw_events] + [inst["started_by"]]
        people += [c["by"] for cs in inst["corrections"].values() for c in cs if c.get("by")]
        people += [e["data"]["to"] for e in raw_events if e["type"] == "task:transferred"]
        people += [r[5:] for c in inst.get("cc", []) for r in c["to"] if r.startswith("user:")]
        people += list(inst.get("cc_read") or {})
        names = user_store.full_names(s, people)
        # Who did what is named as they were named then: the timeline's actors, the people its
        # events name and the correctors, from the chart's renames read once for the page.
        named = names_then(s, people)
        corrections = correctors_named(s, inst["corrections"], named)
        label = versions.label(store.get_version(s, inst["version"]["id"]))
        spawned = store.spawned_from(s, instance_id)
        # The procedures of the records this one came from and opened, by their titles.
        current = CurrentProcedures(wf, s)
        titles = {pid: current.title(pid) for pid in
                  {sp.procedure_id for sp in spawned} | {(inst.get("origin") or {}).get("procedure") or ""} if pid}
        spawn_failures = timekeeping.failed_spawns_of(s, instance_id, SPAWN_RULE)
        stalled = timekeeping.stalled_reason(s, instance_id)
        # The page prints the stored record: an insider's edit of it (outside the chain) is said
        # here as on the dossier.
        checked = integrity(services, s, reader, proc, instance_id)
        shown |= integrity_shown(proc, reader, checked)
        masked_events, unmasked = mask_events(keys, raw_events, reader)
        shown |= unmasked
    now = services.now()
    open_tasks = [{**t, "mine": access.may_act(t, actor),
                   # why it needs attention, in the reader's language (stored English before keys)
                   "problem": i18n.shown(t.get("problem"), t.get("problem_message")),
                   # overdue as soon as the due time passes, before the worker records the miss
                   "overdue": bool(t.get("missed") or (t.get("due_at")
                                                       and datetime.fromisoformat(t["due_at"]) < now)),
                   "escalations": len(t.get("escalated_to") or [])}
                  for t in inst["tasks"] if t["status"] == "open"]
    out = Page(inst=inst, procedure=proc, actor=actor, events=masked_events, names=names,
               version_label=label, spawned=spawned, open_tasks=open_tasks, procedure_titles=titles,
               correctable=correctable(proc, inst, actor),
               signed_steps={sid for sid in inst["data"] if signing.covering(inst, sid)},
               may_cancel=access.may_cancel(inst, proc, actor), masked=bool(keys) and not reader.cleared,
               shown=shown, spawn_failures=spawn_failures, stalled=stalled, integrity=checked,
               corrections=corrections, named=named)
    record_views(services.database, reader, [(instance_id, proc.id, shown)], "instance")
    return out


def correctable(proc: Procedure, inst: Mapping[str, Any], actor: Actor) -> list[tuple[str, str, Any, Any]]:
    """The single values this actor may correct: ``(step, field path, field, current)``;
    none on a change request (``change_control.refuse_correction``)."""
    if proc.id == change_control.PROCEDURE_ID:
        return []
    out = []
    for sid, data in inst["data"].items():
        if not access.may_correct(proc, sid, actor, inst["status"]):
            continue
        form = proc.form_of(sid) if (sid == "start" or sid in proc.steps) else None
        if form is None:
            continue
        for path, info in form.fields.items():
            if "." in path or info.widget in ("table", "file", "signature", "group") or info.compute:
                continue  # computed values follow the fields they are computed from
            out.append((sid, path, info, data.get(path)))
    return out


# --------------------------------------------------------------------------- changes


def cancel(services: Services, username: str, instance_id: str, reason: str, *,
           answer_for: Reader | None = None, history: bool = True) -> Answer | None:
    with services.database.writing() as s:
        services.workflow.cancel(s, instance_id, username, reason)
        answer = view_in(services, s, answer_for, instance_id, check=False,
                         history=history) if answer_for else None
    return log_answer(services, answer_for, answer) if answer_for and answer else None


def correct(services: Services, username: str, instance_id: str, step: str, field_path: str,
            value: Any, reason: str, *, password: str | None = None, locale: str = "zh",
            answer_for: Reader | None = None, history: bool = True,
            expected_rev: int | None = None) -> Answer | None:
    """Correct one recorded value (the old value, who, when and why are kept), signed with
    ``password`` (更正) where a signature covers it. A sensitive value sent as the mask is
    refused: it stands for a value the user was not shown. ``expected_rev``: the version of
    the record the corrector read; ``Conflict`` (409) when it has moved on since, so nobody
    replaces a correction they never saw."""
    wf = services.workflow
    verified = None
    if password:
        # scrypt is slow on purpose: checked before the write transaction, never under its lock
        with services.database.reading() as s:
            verified = wf.verify_password(s, username, password)
    with services.database.writing() as s:
        # Whoever may not read the record is told that, not which of its steps hold data.
        reader = access.reader_named(services.config, s, username)
        inst, proc = access.require_instance(wf, s, reader, instance_id)
        check_target(proc, step, field_path)
        refuse_unchanged(proc, inst, reader, step, field_path, value)
        refuse_hidden(proc, inst, step, field_path, value)
        if holds_mask(value):
            refuse_mask(sensitive_keys(proc), step, {field_path: value})
        form = proc.form_of(step)
        # a file put in by a correction: the corrector's own upload, or one of this record
        files = uploads.file_values(form.schema, {field_path: value}) if form is not None else []
        uploads.refuse_foreign(s, username, instance_id, files, locale)
        people.refuse_unknown_people(s, form, value, under=field_path, at="value")
        wf.correct(s, instance_id, username, step, field_path, value, reason, password=verified,
                   locale=locale, expected_rev=expected_rev)
        uploads.bind(s, username, instance_id, files, locale, now=services.now(), step=step)
        answer = view_in(services, s, answer_for, instance_id, check=False,
                         history=history) if answer_for else None
    return log_answer(services, answer_for, answer) if answer_for and answer else None


def check_target(proc: Procedure, step: str, field_path: str) -> None:
    """Refuse (422, with the fix) a correction of a step or field the procedure does not
    have: an unknown target is the user's mistake (a stale or forged form), not a 500."""
    form = proc.form_of(step) if (step == "start" or step in proc.steps) else None
    if form is None or field_path not in form.fields:
        target = f"{step}:{field_path}"[:120]
        message = _("'{target}' is not a recorded value of this procedure; choose the value to "
                    "correct from the list.", target=target)
        raise FormInvalid(message, errors=[{"field": "target", "message": message}])


def refuse_unchanged(proc: Procedure, inst: Mapping[str, Any], reader: Reader, step: str, field_path: str,
                     value: Any) -> None:
    """Refuse (422, at the value) a correction to the value already recorded: it changes
    nothing, yet it would stand in the record as a signed correction and mark every earlier
    signature "signed before correction" (and reopen an approval that re-approves). A
    sensitive value the reader sees masked is not compared: the refusal would confirm a guess."""
    recorded = inst["data"].get(step)
    if not isinstance(recorded, Mapping) or recorded.get(field_path) != value:
        return
    if f"{step}.{field_path}" in {top_key(k) for k in sensitive_keys(proc)} and not reader.cleared:
        return
    title = proc.form_of(step).field_title(field_path, reader_locale())  # check_target: it has the field
    message = _("'{field}' already holds this value; nothing is corrected. Enter the new value, or leave "
                "the record as it is.", field=title)
    raise FormInvalid(message, errors=[{"field": "value", "message": message}])


def refuse_hidden(proc: Procedure, inst: Mapping[str, Any], step: str, field_path: str, value: Any,
                  at: str = "value") -> None:
    """Refuse (422, at the value: ``at``) a value for a field the form hides on this record
    (``x-visible-if`` false for its recorded values): validation leaves hidden fields out, so
    any value (a number for a text, 20,000 characters) would be stored and shown unchecked.
    Clearing one (``None``) is let through: a value left behind by an earlier correction.
    The one rule for a correction and for an earlier value a step changes (``edit:``)."""
    form = proc.form_of(step)
    recorded = inst["data"].get(step)
    if value is None or form is None or not isinstance(recorded, Mapping):
        return
    if field_path in form.clean({**recorded, field_path: value}):
        return
    info = form.fields[field_path]
    message = _("'{field}' does not apply to this record: the form asks for it only when {condition}. "
                "Correct the value it depends on first.",
                field=form.field_title(field_path, reader_locale()), condition=info.visible_if or "")
    raise FormInvalid(message, errors=[{"field": at, "message": message}])


def pinned(services: Services, instance_id: str) -> Procedure:
    """The procedure version an instance runs on."""
    with services.database.reading() as s:
        return services.workflow.runtime(s, store.load_instance(s, instance_id).version_id).procedure

