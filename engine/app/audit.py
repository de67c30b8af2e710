"""Use cases of the audit tools: the event search, the JSON Lines export of the trail, the
access log of unmasked views, the dossier of one instance (its complete record, with the
result of its hash-chain check) for the page and the PDF. (``wf audit`` exports and checks
the whole trail through ``engine.app.admin``.)

The HTML pages and the audit API call these same functions, so both apply the same rules:
who may search (``require_overseer``), which procedures a reader sees (``access.readable``),
what is masked (``engine.app.masking``) and which unmasked views are logged. Each function
opens its own read session and returns plain data.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.app.access import Reader, readable, require_instance, require_procedure
from engine.app.masking import (
    MASK,
    across_versions,
    file_fields,
    held_file_field,
    log_reading_back,
    mask_corrections,
    mask_data,
    mask_event,
    masked_fields,
    record_views,
    refuse_reading_back,
    sensitive_columns,
    sensitive_keys,
    top_key,
)
from engine.app.people import actor_name, correction_users, correctors_named, names_then
from engine.app.uploads import FILES_RECORDED, file_findings, file_ref, recorded_words
from engine.errors import NotFound, NotPermitted, RecordDamaged
from engine.i18n import N_, _, keep, local_time, reader_locale, stored
from engine.i18n import shown as shown_message
from engine.i18n import worded_apart as said
from engine.language.english import shown as shown_in
from engine.language.forms.messages import LIST_SEPARATOR
from engine.language.records import FIRST
from engine.runtime.access import outcome_words
from engine.runtime.commands import SYSTEM
from engine.runtime.replay import Finding, Replay
from engine.store import audit_search, field_index, get_version, record_rows, spawned_from
from engine.store import version_of as get_version_of
from engine.store import versions as version_store
from engine.store.audit import Break
from engine.store.audit_file import export_lines
from engine.store.audit_search import (
    ChainCheck,
    EventQuery,
    attachments_of,
    check_chain,
    check_instance,
)
from engine.store.users import full_names

if TYPE_CHECKING:
    from datetime import datetime, tzinfo

    from sqlalchemy.orm import Session

    from engine.app.database import Database
    from engine.app.service import Workflow
    from engine.app.services import Services
    from engine.i18n import StoredMessage
    from engine.language.forms import Form
    from engine.language.procedure import Procedure
    from engine.store.record_rows import StoredRecord

_log = logging.getLogger(__name__)

EVENT_TYPES = ("instance:started", "task:created", "task:completed", "task:approved",
               "task:rejected", "task:claimed", "task:released", "task:reassigned",
               "task:cancelled", "instance:completed", "instance:cancelled", "data:corrected",
               "deadline:reminder", "deadline:missed", "deadline:escalated", "route:taken",
               "spawn:requested", "join:completed", "wait:woken",
               "approval:opened", "approval:added", "approval:decided",
               # 转交, 退回, 收回, 催办, 撤回, 抄送, 已阅, and the files a submission recorded
               "task:transferred", "task:returned", "task:recalled", "task:urged", "instance:withdrawn",
               "cc:sent", "cc:read", "files:recorded")
# Events that record or change form data (the field index's first values move with them).
_DATA_EVENTS = frozenset({"instance:started", "task:completed", "task:approved", "task:rejected",
                          "data:corrected", "approval:decided"})


# --------------------------------------------------------------------------- titles


def step_title(proc: Procedure, sid: str | None) -> str:
    """A step as people name it (the start form has no step of its own)."""
    if not sid:
        return ""
    if sid == "start":
        return _("Start form")
    step = proc.steps.get(sid)
    return shown_in(step, "title", reader_locale()) if step else sid


def field_title(proc: Procedure, sid: str, name: str) -> str:
    """A field's label in its step's form (the key itself where the form has no such field)."""
    form = proc.form_of(sid) if sid == "start" or sid in proc.steps else None
    return form.field_title(name, reader_locale()) if form else name


class CurrentProcedures:
    """The current version of procedures met while answering (a spawn step's new record, an
    access log row's procedure), each looked up once; None for one not installed."""

    def __init__(self, wf: Workflow, session: Session) -> None:
        self.wf, self.session = wf, session
        self.found: dict[str, Procedure | None] = {}

    def get(self, pid: str | None) -> Procedure | None:
        if not pid:
            return None
        if pid not in self.found:
            try:
                self.found[pid] = self.wf.procedure(self.session, pid)[0]
            except NotFound:
                self.found[pid] = None
        return self.found[pid]

    def title(self, pid: str) -> str:
        """The procedure's title in the reader's language (its id where it is not installed)."""
        proc = self.get(pid)
        return shown_in(proc, "title", reader_locale()) if proc else pid

    def spawned(self, proc: Procedure, sid: str | None) -> Procedure | None:
        """The procedure a spawn step ``sid`` of ``proc`` opens (None for any other step)."""
        step = proc.steps.get(sid or "")
        return self.get(step.procedure) if step is not None and step.type == "spawn" else None

    def key_title(self, proc: Procedure | None, key: str) -> str:
        """A recorded ``STEP.FIELD`` as people name it: the field's title in its step's form,
        or in the new record's start form for a value a spawn step passes on."""
        if proc is None:
            return key
        sid, _sep, name = key.partition(".")
        spawned = self.spawned(proc, sid)
        title = field_title(spawned, "start", name) if spawned else field_title(proc, sid, name)
        return title if name else key


# --------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class EventFilters:
    """What the audit search asks for; None means "any". ``field`` counts only with a
    ``value`` (a value searched in that field of the forms)."""

    procedure: str | None = None
    step: str | None = None
    actor: str | None = None
    type: str | None = None
    field: str | None = None
    value: str | None = None
    instance: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def require_overseer(reader: Reader) -> None:
    """Cross-procedure audit tools are for auditors, admins and data officers."""
    if not (reader.reads_everything or reader.cleared):
        raise NotPermitted(_("The audit search is for auditors, administrators and data officers."))


def _query(services: Services, session: Session, reader: Reader,
           filters: EventFilters) -> tuple[EventQuery, dict[str, tuple[Procedure, int]], list[str]]:
    """The store's query for ``filters``, limited to the procedures the reader may read, and
    the sensitive fields a cleared reader's search by value found it in (to be logged once
    the read session is over)."""
    procs = readable(services.workflow, session, reader)
    if filters.procedure and filters.procedure not in procs:
        raise NotPermitted(_("you may not read the records of procedure '{id}'; pick a procedure you hold a role in, "
                             "or ask an administrator for one", id=filters.procedure))
    f = filters
    hidden: tuple[str, ...] = ()
    used: list[str] = []
    if f.value:
        # Which instances hold a value tells the value: a search by a sensitive field is
        # for cleared readers (and logged); a search in every field skips the sensitive
        # ones for the others.
        secret = {k: p.records.title_of(k) for p, _v in procs.values()
                  for k in sensitive_columns(across_versions(services.workflow, session, p), p.records.indexed)}
        if f.field:
            used = [f.field] if f.field in secret else []
            refuse_reading_back(reader, used, secret)
        elif not reader.cleared:
            hidden, used = tuple(sorted(secret)), []
        else:  # logged only when the value was found in a sensitive field
            used = audit_search.keys_holding(session, f.value, sorted(secret), f.procedure)
    return EventQuery(
        procedures=None if reader.reads_everything else tuple(procs),
        procedure=f.procedure, step=f.step, actor=f.actor, type=f.type, since=f.since,
        until=f.until, field=f.field if f.value else None, value=f.value,
        instance=f.instance, hidden_keys=hidden), procs, used


def _summary(proc: Procedure, e: dict[str, Any], zone: tzinfo, spawned: Procedure | None = None) -> str:
    """An event's data in short. A spawn step's event holds the new record's start data: it
    is labelled by ``spawned``'s start form (the spawn step has no form of its own)."""
    d = e["data"] or {}
    if e["type"] == "data:corrected":
        return (f"{field_title(proc, e['step'] or 'start', d.get('field', ''))}: "
                f"{d.get('old')} → {d.get('new')} · {stored(d, 'reason')}")
    if e["type"] == FILES_RECORDED:
        return recorded_words(d)
    if isinstance(d.get("data"), dict):
        sid = e["step"] or "start"
        if e["type"] == "spawn:requested":
            def title(k: str) -> str:
                return field_title(spawned, "start", k) if spawned else k
        else:
            def title(k: str) -> str:
                return _data_title(proc, sid, k)
        parts = [f"{title(k)}: {_data_value(k, v)}" for k, v in d["data"].items()
                 if isinstance(v, str | int | float | bool)][:4]
        return "; ".join(parts)
    for key in ("outcome", "reason", "to", "due_at"):
        if d.get(key):
            value = d[key]
            if key == "due_at":
                value = local_time(value, zone, named=True)
            elif key == "reason":
                value = stored(d, "reason")
            elif key == "to" and e["type"] == "route:taken":
                value = step_title(proc, value)
            elif key == "to" and e["type"] == "deadline:escalated" and value in proc.roles:
                value = proc.role_title(value, reader_locale())  # a role by its title, not its id
            elif key == "outcome" and isinstance(value, str):
                value = outcome_words(value)
            return f"{_event_key_title(key)}: {value}"
    return ""


def _data_title(proc: Procedure, sid: str, key: str) -> str:
    """A recorded key's label: the form's title, else an approval's own keys in the reader's
    language (a Chinese page shows no raw ``comment`` or ``decision``)."""
    title = field_title(proc, sid, key)
    if title == key and key in ("comment", "decision"):
        return _("Comment") if key == "comment" else _("decision")
    return title


def _data_value(key: str, value: Any) -> Any:
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if key == "decision" and isinstance(value, str):
        return _(value)  # approve / reject
    return value


def _event_key_title(key: str) -> str:
    return {"outcome": _("Outcome"), "reason": _("Reason"), "to": _("To"), "due_at": _("Due")}[key]


@dataclass
class EventPage:
    """One page of the search: ``items`` (masked, newest first), whether a next page exists,
    and what the search form offers (the procedures, human steps and indexed fields the
    reader may search), each id with its title in the reader's language. The steps are the
    chosen procedure's, else every readable procedure's (an id may then repeat)."""

    items: list[dict[str, Any]]
    more: bool
    procedures: dict[str, str]
    steps: list[tuple[str, str]]
    field_keys: list[str]
    field_titles: dict[str, str] = field(default_factory=dict)


def search_events(services: Services, reader: Reader, filters: EventFilters, *,
                  limit: int = 50, offset: int = 0, view: str = "search") -> EventPage:
    """The audit search (page and API): auditors, admins and data officers only; values
    masked for readers without clearance; the values shown in clear are logged as ``view``."""
    require_overseer(reader)
    wf = services.workflow
    locale = reader_locale()
    items, views = [], []
    with services.database.reading() as s:
        q, procs, used = _query(services, s, reader, filters)
        rows, more = audit_search.search_events(s, q, limit=limit, offset=offset)
        # What the form offers to search by value is what the query lets this reader search.
        secret_of = {pid: across_versions(wf, s, p) for pid, (p, _v) in procs.items()}
        current = CurrentProcedures(wf, s)
        keys_of: dict[int, frozenset[str]] = {}
        for r in rows:
            proc = wf.runtime(s, r.version_id).procedure
            keys = keys_of.setdefault(r.version_id, sensitive_keys(proc))
            hashed = r.hash if reader.cleared or not keys else MASK  # for data that cannot be read
            try:
                e, shown = mask_event(keys, {"type": r.type, "step": r.step, "data": r.data, "hash": r.hash}, reader)
                hashed = e["hash"]
                spawned = current.spawned(proc, r.step) if r.type == "spawn:requested" else None
                summary = _summary(proc, e, services.config.timezone, spawned)
            except UNREADABLE:  # data of a shape no write of the application gives it
                r.unreadable, shown = r.unreadable or "data", set()
            if r.unreadable:
                summary = _("event {seq} cannot be read: a value was written into it that the application "
                            "never writes", seq=r.seq)
            views.append((r.instance_id, r.procedure_id, shown))
            items.append({"id": r.id, "instance_id": r.instance_id, "procedure": shown_in(proc, "title", locale),
                          "procedure_id": r.procedure_id, "seq": r.seq, "at": r.at, "type": r.type,
                          "label": _(r.type), "step_id": r.step, "step": step_title(proc, r.step),
                          "actor": r.actor, "summary": summary, "hash": hashed})
    record_views(services.database, reader, views, view)
    log_reading_back(services.database, reader, filters.procedure or "*", used, "search-value")
    # The searchable fields as declared (reading them off the index would scan it).
    offered = [p for pid, (p, _v) in procs.items() if not filters.procedure or pid == filters.procedure]
    field_titles: dict[str, str] = {}
    for p in offered:
        for k in p.records.indexed:
            if reader.cleared or not sensitive_columns(secret_of[p.id], [k]):
                sid, _sep, name = k.partition(".")
                field_titles.setdefault(k, f"{step_title(p, sid)} · {field_title(p, sid, name)}")
    return EventPage(
        items=items, more=more,
        procedures={pid: shown_in(p, "title", locale) for pid, (p, _v) in procs.items()},
        steps=sorted({(sid, shown_in(st, "title", locale)) for p in offered
                      for sid, st in p.steps.items() if st.is_human}),
        field_keys=sorted(field_titles), field_titles=field_titles)


def export_events(services: Services, reader: Reader, filters: EventFilters) -> Iterator[str]:
    """The lines of the JSON Lines export (``engine.store.audit_file``) for a reader (pages
    and API). It holds every value unmasked, so it needs the auditors group with clearance,
    or an administrator, and is logged as one view of everything. The permission is
    checked now; the lines are read as they are consumed."""
    with services.database.reading() as s:
        q, _procs, _used = _query(services, s, reader, filters)
    if not (reader.reads_everything and reader.cleared) and not reader.admin:
        raise NotPermitted(_("The audit export holds every value unmasked: it needs the auditors "
                             "group and clearance (data-officers), or an administrator."))
    record_views(services.database, reader, [("*", q.procedure or "*", ["*"])], "audit-export")
    return _lines(services.database, q, services.now())


def _lines(database: Database, q: EventQuery, now: datetime) -> Iterator[str]:
    """Export lines read from a read session of their own as they are consumed, so memory
    stays bounded and the caller's request may end first (a streamed download)."""
    with database.reading() as s:
        yield from export_lines(audit_search.export_events(s, q), now=now, since=q.since,
                                until=q.until, procedure=q.procedure)


# --------------------------------------------------------------------------- the access log


# What each ``view`` of the access log names (``engine.app.masking.record_views`` and
# ``log_reading_back``), in words; a view not listed shows as its id.
VIEWS = {
    "task": N_("Task page"), "instance": N_("Record page"), "dossier": N_("Dossier"),
    "pdf": N_("Dossier PDF"), "search": N_("Audit search"), "search-value": N_("Audit search by value"),
    "api": N_("Records API"), "api-search": N_("Audit search API"), "audit-export": N_("Audit export"),
    "ledger": N_("Ledger"), "ledger-filter": N_("Ledger filter"), "ledger-sort": N_("Ledger sort"),
    "ledger-export": N_("Ledger export"), "ledger-export-filter": N_("Ledger export filter"),
    "ledger-export-sort": N_("Ledger export sort"), "kpi": N_("KPIs"), "kpi-drill": N_("KPI drill-down"),
    "file": N_("File download"),
}


def view_title(view: str) -> str:
    """An access log ``view`` in the reader's language."""
    return _(VIEWS[view]) if view in VIEWS else view


def access_log(services: Services, reader: Reader, *, instance: str | None = None,
               user: str | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[dict[str, Any]], bool]:
    """Who saw which sensitive values in clear, newest first: ``(rows, more)``. For auditors
    and administrators only (data officers appear in it; they do not read it). Each row
    holds what the log recorded (``username``, ``instance_id``, ``procedure_id``, ``fields``
    comma-separated, ``view``; ``*`` for every instance, procedure or field) and the same in
    words in the reader's language: ``name`` (the user's full name), ``procedure``,
    ``fields_shown`` and ``view_title``."""
    if not reader.reads_everything:
        raise NotPermitted(_("The access log is for auditors and administrators."))
    out, locale = [], reader_locale()
    with services.database.reading() as s:
        rows, more = audit_search.access_log(s, instance_id=instance, username=user, limit=limit, offset=offset)
        names = full_names(s, {r.username for r in rows})
        current = CurrentProcedures(services.workflow, s)
        for r in rows:
            proc = current.get(r.procedure_id) if r.procedure_id != "*" else None
            keys = [k for k in (r.fields or "").split(",") if k]
            out.append({
                "at": r.at, "username": r.username, "instance_id": r.instance_id,
                "procedure_id": r.procedure_id, "fields": r.fields, "view": r.view,
                "name": names.get(r.username, r.username),
                "procedure": _("All procedures") if r.procedure_id == "*" else current.title(r.procedure_id),
                "fields_shown": LIST_SEPARATOR.get(locale, "、").join(
                    _("All fields") if k == "*" else current.key_title(proc, k) for k in keys),
                "view_title": view_title(r.view)})
    return out, more


# --------------------------------------------------------------------------- the dossier


@dataclass
class Section:
    """The recorded data of one step: its form (None for a step without one) and the data
    as the reader may see it."""

    step: str
    title: str
    form: Form | None
    data: dict[str, Any]


# What the dossier keeps of ``Workflow.instance``: its data, corrections, tasks and links
# are unmasked there, and reach the reader only through the masked sections and lists.
_HEADER = ("id", "serial", "procedure", "title", "version", "status", "outcome", "rev", "started_at",
           "started_by", "ended_at", "origin")


@dataclass
class Dossier:
    """The complete record of one instance, masked for the reader: ``inst`` is the
    instance's heading (id, status, times, origin), its data is in ``sections``.
    ``corrections_by_key`` (``STEP.FIELD``) is what the data sections mark as corrected;
    ``unmasked`` lists the sensitive keys shown in clear (already logged)."""

    inst: dict[str, Any]
    procedure: Procedure
    check: ChainCheck
    version: dict[str, Any]
    started_by: str
    sections: list[Section]
    corrections_by_key: dict[str, list[dict[str, Any]]]
    timeline: list[dict[str, Any]]
    signatures: list[dict[str, Any]]
    corrections: list[dict[str, Any]]
    spawned: list[dict[str, str]]
    attachments: list[dict[str, Any]]
    unmasked: list[str] = field(default_factory=list)
    masked: bool = False
    origin_title: str = ""  # the title of the procedure of the instance that opened this one


def _note(proc: Procedure, e: dict[str, Any], current: CurrentProcedures) -> str:
    d = e["data"] or {}
    if e["type"] == "spawn:requested":
        return current.title(d.get("procedure") or "")
    if e["type"] == "data:corrected":
        return (f"{field_title(proc, e['step'] or 'start', d.get('field', ''))}: {d.get('old')} → "
                f"{d.get('new')} ({_('Reason')}: {stored(d, 'reason')})")
    if e["type"] == "instance:completed":
        return f"{_('Outcome')}: {outcome_words(d.get('outcome'))}"
    if e["type"] == "instance:cancelled":
        return f"{_('Reason')}: {d.get('reason')}"
    if e["type"] in ("task:approved", "task:rejected") and (d.get("data") or {}).get("comment"):
        return f"{_('Comment')}: {d['data']['comment']}"
    if e["type"] == "route:taken":
        return _("to {step}", step=step_title(proc, d.get("to")))
    if e["type"] == "task:returned":
        return f"{_('to {step}', step=step_title(proc, d.get('to')))} ({_('Reason')}: {d.get('reason')})"
    if e["type"] in ("task:transferred", "instance:withdrawn"):
        target = f"{_('to {user}', user=d['to'])} " if d.get("to") else ""
        return f"{target}({_('Reason')}: {d.get('reason')})"
    if e["type"] == "cc:sent":
        return ", ".join(proc.roles.get(r, r) for r in d.get("to") or ())
    if e["type"] == "task:urged" and d.get("note"):
        return str(d["note"])
    if e["type"] == FILES_RECORDED:
        return recorded_words(d)
    return ""


def dossier(services: Services, reader: Reader, instance_id: str, *, view: str = "dossier") -> Dossier:
    """Everything the dossier shows (page, ``view="dossier"``; PDF, ``view="pdf"``), for a
    reader who may read the instance; sensitive values masked unless the reader is cleared,
    and the values shown in clear logged as ``view``."""
    wf = services.workflow
    with services.database.reading(snapshot=True) as s, damage_named(services, s, reader, instance_id):
        inst, proc = require_instance(wf, s, reader, instance_id)
        keys = sensitive_keys(proc)
        unmasked: set[str] = set()
        events = wf.events(s, instance_id)
        attachments = attachments_of(s, instance_id)
        # Who did what by the name they had then (a later rename does not rewrite it): the
        # timeline's actors, who started it, who uploaded, each corrector.
        named = names_then(s, {e["actor"] for e in events} | {inst["started_by"]} | correction_users(inst["corrections"])
                           | {a.uploaded_by for a in attachments})

        def name_at(user: str, at: object) -> str:
            # What the engine did itself is signed "system": named in the reader's language here,
            # so the page and the PDF (which prints these names) both say 系统.
            return _("system") if user == SYSTEM.user else named.at(user, at)

        corrections_by_key, shown = mask_corrections(keys, correctors_named(s, inst["corrections"], named), reader)
        unmasked |= shown
        sections = []
        for sid, data in inst["data"].items():
            masked, shown = mask_data(keys, sid, data, reader)
            unmasked |= shown
            form = proc.form_of(sid) if (sid == "start" or sid in proc.steps) else None
            sections.append(Section(sid, step_title(proc, sid), form, masked))
        current = CurrentProcedures(wf, s)
        timeline, signatures = [], []
        corrected_by: dict[str, list[int]] = {}  # signed task -> later corrections of what it covered
        for raw in events:
            if raw["type"] == "data:corrected":
                for tid in (raw["data"] or {}).get("signed_before", []):
                    corrected_by.setdefault(tid, []).append(raw["seq"])
        for raw in events:
            e, shown = mask_event(keys, raw, reader)
            unmasked |= shown
            d = e["data"] or {}
            timeline.append({"seq": e["seq"], "at": e["at"], "type": e["type"], "label": _(e["type"]),
                             "actor": name_at(e["actor"], e["at"]), "username": e["actor"],
                             "step": step_title(proc, e["step"]), "note": _note(proc, e, current),
                             "hash": e["hash"], "on_time": d.get("on_time"),
                             # what the pages show a correction's values from (in the form's words)
                             **({"correction": {"step_id": e["step"] or "start", "path": d.get("field") or "",
                                                "old": d.get("old"), "new": d.get("new"),
                                                "reason": stored(d, "reason")}}
                                if e["type"] == "data:corrected" else {})})
            sig = d.get("signature")
            if sig:
                signatures.append({"step": step_title(proc, e["step"]), "name": sig.get("name"),
                                   "user": sig.get("user"), "at": sig.get("at") or e["at"],
                                   "meaning": sig.get("meaning"), "event": _(e["type"]),
                                   "seq": e["seq"], "data_hash": sig.get("data_hash"),
                                   "corrected_by": corrected_by.get(e["task"] or "", [])})
        corrections = []
        for key, items in corrections_by_key.items():
            sid, _sep, name = key.partition(".")
            for c in items:
                by = c.get("by") or ""
                corrections.append({"step": step_title(proc, sid), "field": field_title(proc, sid, name),
                                    "step_id": sid, "path": name,
                                    "old": c.get("old"), "new": c.get("new"), "reason": stored(c, "reason"),
                                    "by": c.get("by_name") or by, "username": by,
                                    "at": c.get("at")})
        corrections.sort(key=lambda c: c["at"] or "")
        # A file of a sensitive field by its name and whole SHA-256 confirms a guessed file (an
        # ID card's scan), as its trail entry would: masked as that entry is.
        in_fields = file_fields(keys, events)
        files = []
        for a in attachments:
            top = held_file_field(keys, in_fields, file_ref(a.id))
            masked = top is not None and not reader.cleared
            if top and reader.cleared:
                unmasked.add(top)
            files.append({"id": MASK if masked else a.id, "filename": MASK if masked else a.filename,
                          "size": MASK if masked else a.size, "sha256": MASK if masked else a.sha256,
                          "uploaded_by": name_at(a.uploaded_by, a.uploaded_at), "uploaded_at": a.uploaded_at})
        version = get_version(s, inst["version"]["id"])
        result = Dossier(
            inst={k: inst[k] for k in _HEADER}, procedure=proc,
            check=check_shown(wf, s, instance_id, services.config.timezone, masked_fields(keys, reader)),
            version={"id": inst["version"]["id"], "hash": inst["version"]["hash"],
                     "label": version_store.label(version), "registered_at": version.registered_at},
            started_by=name_at(inst["started_by"], inst["started_at"]),
            sections=sections, corrections_by_key=corrections_by_key, timeline=timeline,
            signatures=signatures, corrections=corrections,
            spawned=[{"id": r.id, "procedure_id": r.procedure_id, "procedure": current.title(r.procedure_id)}
                     for r in spawned_from(s, instance_id)],
            attachments=files,
            unmasked=sorted(unmasked), masked=bool(keys) and not reader.cleared,
            origin_title=current.title(inst["origin"]["procedure"]) if inst["origin"] else "")
    record_views(services.database, reader, [(instance_id, proc.id, result.unmasked)], view)
    return result


# --------------------------------------------------------------------------- what pages show


def record_differences(wf: Workflow, session: Session, rec: StoredRecord) -> list[str]:
    """Where what pages read (the stored state, task rows and field index of ``rec``) differs
    from what its chained events say, each naming the field with stored vs replayed values;
    empty when they agree. The events are replayed by ``engine.runtime.replay``. In English,
    as ``wf audit verify`` prints them (``record_findings`` has their keys)."""
    return [text for text, _kept in record_findings(wf, session, rec)[0]]


def record_findings(wf: Workflow, session: Session, rec: StoredRecord) -> tuple[list[Finding], Replay]:
    """``record_differences`` as findings (English text, catalogue key with values), and the
    replayed record (which names each task's step)."""
    replay = Replay(wf.runtime(session, rec.version_id).procedure)
    procs = [rt.procedure for rt in wf.versions(session, rec.procedure_id)]
    keys, first_keys = field_index.keys_of(procs, rec.procedure_id)
    firsts: dict[str, str] = {}
    for e in rec.events:
        replay.apply(e)
        if first_keys and e["type"] in _DATA_EVENTS:
            for key, text in field_index.rows_for({"data": replay.data}, first_keys).items():
                firsts.setdefault(key, text)
    out = replay.findings(rec.state)
    out += file_findings(rec)
    if rec.serial != replay.serial:
        out.append(said(f"serial column: stored {rec.serial!r}, replayed {replay.serial!r}",
                        keep("the record number that searches and lists read is {stored}, {replayed} in its "
                             "audit trail", stored=repr(rec.serial), replayed=repr(replay.serial))))
    for tid, t in (rec.state.get("tasks") or {}).items():
        row = rec.tasks.get(tid)
        want = (t.get("step"), t.get("status"), t.get("assignee"))
        if row is None:
            out.append(said(f"task row {tid}: stored {row}, state and events {want}",
                            keep("task {task} has no row: the inbox does not show it", task=tid)))
        elif row != want:
            column, have_v, want_v = next((c, h, w) for c, h, w in zip(("step", "status", "assignee"), row, want,
                                                                       strict=True) if h != w)
            out.append(said(f"task row {tid}: stored {row}, state and events {want}",
                            keep("the {column} of task {task} that the inbox reads is {stored}, the record and its "
                                 "audit trail {expected}", column=column, task=tid, stored=repr(have_v),
                                 expected=repr(want_v))))
    for tid in sorted(set(rec.tasks) - set(rec.state.get("tasks") or {})):
        out.append(said(f"task row {tid}: not in the instance's events",
                        keep("task {task} has a row but is not in the record's audit trail", task=tid)))
    # The row columns the ledger, the lists and the inbox read are copies of the state: a
    # hand that edits one (a 结果 of 合格 in the ledger) is named like an edit of the state.
    out += record_rows.column_findings(rec)
    expected = field_index.rows_for({"data": replay.data}, keys)
    expected.update({k + FIRST: v for k, v in firsts.items()})
    for key in sorted(set(expected) | set(rec.index)):
        if rec.index.get(key) != expected.get(key):
            stored, replayed = repr(rec.index.get(key)), repr(expected.get(key))
            out.append(said(f"field index {key}: stored {stored}, replayed {replayed}",
                            keep("the searchable value of {key} is {stored}, {replayed} in its audit trail",
                                 key=key, stored=stored, replayed=replayed)))
    return out, replay


# What reading or replaying a stored record raises when a hand outside the application wrote
# into it what no write of the application puts there (a task kind no enum knows, a state that
# is not an object, an event's data that is a list): the record is named as unreadable.
UNREADABLE = (LookupError, ValueError, TypeError, AttributeError)


def verify_records(wf: Workflow, session: Session, *, batch_size: int = 500,
                   skip: Collection[str] = ()) -> list[Break]:
    """``record_differences`` for every instance but those in ``skip`` (whose chain is
    already broken: their replay would say nothing more), the first difference of each as a
    ``Break``, and the instances whose events outlived their instance row. A batch with a
    record that cannot be read is read again one record at a time, so that one is named and
    the others are still checked."""
    out = [Break(iid, 0, 0, "instance row missing",
                 "the instance has events but no instance row: it was deleted")
           for iid in record_rows.orphan_event_instances(session)]
    for ids in record_rows.instance_ids(session, batch_size=batch_size):
        ids = [iid for iid in ids if iid not in skip]
        try:
            records = [(rec.id, rec) for rec in record_rows.stored_records_of(session, ids)]
        except UNREADABLE:
            records = [(iid, _read_one(session, iid)) for iid in ids]
        for iid, rec in records:
            if isinstance(rec, Exception):
                out.append(Break(iid, 0, 0, "record cannot be read", f"{type(rec).__name__}: {rec}"))
                continue
            try:
                diffs = record_differences(wf, session, rec)
            except UNREADABLE as exc:
                out.append(Break(iid, 0, 0, "record cannot be read", f"{type(exc).__name__}: {exc}"))
                continue
            if diffs:
                more = f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""
                out.append(Break(iid, 0, 0, "record differs from its events", diffs[0] + more))
    return out


def _read_one(session: Session, instance_id: str) -> StoredRecord | Exception:
    try:
        rec = record_rows.stored_record(session, instance_id)
    except UNREADABLE as exc:
        return exc
    return rec if rec is not None else LookupError(f"instance {instance_id} was deleted meanwhile")


def check_shown(wf: Workflow, session: Session, instance_id: str, zone: tzinfo | None = None,
                hidden: frozenset[str] = frozenset()) -> ChainCheck:
    """The dossier's integrity line: the chain check, then whether what the dossier prints
    (state, task rows, field index) is what the chain proves. Its ``finding`` names the
    steps, fields, tasks and columns as the reader names them (``in_words``); the values of
    the fields in ``hidden`` (``STEP.FIELD``: what the reader sees masked) as the mask."""
    try:
        rec = record_rows.stored_record(session, instance_id)
    except UNREADABLE as exc:
        return _unreadable(session, instance_id, exc)
    if rec is None:  # events without their instance row, or no record at all
        return check_instance(session, instance_id)
    chain = check_chain(instance_id, rec.events, rec.head)  # the events read once for both checks
    if not chain.ok:
        return chain
    try:
        found, replay = record_findings(wf, session, rec)
    except UNREADABLE as exc:
        return _unreadable(session, instance_id, exc)
    if not found:
        return chain
    text, kept = found[0]
    proc = wf.runtime(session, rec.version_id).procedure
    steps = {tid: t.get("step") for tid, t in (rec.state.get("tasks") or {}).items()}
    steps.update({tid: t["step"] for tid, t in replay.tasks.items()})
    def person(username: str) -> str:  # asked only for a record that fails its check
        return actor_name(username, full_names(session, [username]))

    return ChainCheck(False, chain.events, f"the record shown differs from its audit trail: {text}",
                      finding=in_words(proc, kept, steps, zone, person, hidden), record=True,
                      field=_field_named(kept.get("params") or {}))


def _unreadable(session: Session, instance_id: str, exc: Exception) -> ChainCheck:
    """A record that cannot be read or replayed: its chain checked on its own (an event a hand
    filled with what cannot be read is named there), else the stored record named."""
    chain = check_instance(session, instance_id)
    if not chain.ok:
        return chain
    return ChainCheck(False, chain.events, f"the record shown cannot be read: {type(exc).__name__}: {exc}",
                      finding=keep("the stored record cannot be read: a value was written into it that the "
                                   "application never writes")[1], record=True)


def integrity(services: Services, session: Any, reader: Reader, proc: Procedure,
              instance_id: str) -> ChainCheck | None:
    """Whether the stored record readers are shown is what its audit trail proves
    (``check_shown``), with what ``reader`` sees masked kept masked in the finding;
    None, logged, when the check cannot run: the record is still shown (the dossier and
    ``wf audit verify`` say more). About 3 ms for a record of 15 events."""
    try:
        return check_shown(services.workflow, session, instance_id, services.config.timezone,
                           masked_fields(sensitive_keys(proc), reader))
    except Exception:
        _log.exception("record %s: the integrity check could not run", instance_id)
        return None


def integrity_words(check: ChainCheck, *, shown: bool = True) -> str:
    """The integrity line in the reader's language: the intact chain's summary, else what is
    broken, where (the event, the step and field, the task, the column) and what the reader
    is to do about it. The dossier prints it always, the record page when broken; ``shown``
    false where the record is refused instead (``damage_named``)."""
    if check.ok:
        return "{}: {}".format(_("intact"), _("{n} events verified; the chain ends in {head}", n=check.events,
                                              head=check.head[:16] + "…"))
    finding = shown_message(check.message, check.finding)
    if check.record and not shown:
        return _("BROKEN: {finding}. The record cannot be shown. Its audit trail is intact: ask an administrator "
                 "to restore the record from a backup.", finding=finding)
    if check.record:
        return _("BROKEN: the record shown differs from its audit trail: {finding}. This page does not show what "
                 "was recorded: go by the timeline (its events are intact) and ask an administrator to restore "
                 "the record from a backup.", finding=finding)
    return _("BROKEN: {finding}. This record cannot be trusted: contact an administrator and check it against "
             "a backup.", finding=finding)


@contextmanager
def damage_named(services: Services, session: Session, reader: Reader, instance_id: str) -> Iterator[None]:
    """Around a read that shows a record: a record a hand outside the application made
    unreadable (``UNREADABLE`` raised while reading or masking it) is refused with what its
    check found (``RecordDamaged``, in the reader's language: which event, what to do), not a
    bare server error. A failure the check does not account for is raised as it was."""
    try:
        yield
    except UNREADABLE as exc:
        wf = services.workflow
        try:
            _inst, proc = require_instance(wf, session, reader, instance_id, history=False)
        except UNREADABLE:
            # The instance row itself cannot be read, so neither can who took part: the record
            # is named to whoever may read the procedure's records (an outsider learns nothing).
            proc = wf.runtime(session, get_version_of(session, instance_id)).procedure
            require_procedure(wf, session, reader, proc.id)
        check = integrity(services, session, reader, proc, instance_id)
        if check is None or check.ok:
            raise
        raise RecordDamaged(integrity_words(check, shown=False), check) from exc


# What a finding's ``attribute`` or ``column`` names (a part of the state, a row's column).
ATTRIBUTES = {
    "status": N_("status"), "outcome": N_("outcome"), "started_by": N_("starter"), "serial": N_("record number"),
    "ended_at": N_("end time"), "cc": N_("copies sent"), "cc_read": N_("copies read"), "step": N_("step"),
    "assignee": N_("assignee"), "completed_by": N_("completer"), "signature": N_("signature"), "role": N_("role"),
    "decision": N_("decision"), "escalated_to": N_("escalation"), "comment": N_("comment"),
    "procedure_id": N_("procedure"), "started_at": N_("start time"), "origin_instance": N_("origin record"),
    "origin_step": N_("origin step"), "kind": N_("kind of task"), "created_at": N_("creation time"),
    "due_at": N_("due time"), "completed_at": N_("completion time"),
}
_VALUES = ("stored", "replayed", "expected")
# A file's content hashes in a finding (``uploads.file_findings``): masked as the field is.
_HASHES = ("held", "recorded")


def _field_named(params: Mapping[str, Any]) -> str:
    """The ``STEP.FIELD`` a finding's values belong to (its step and field, or its field
    index key), or "" for a finding about no field."""
    if params.get("field"):
        return f"{params.get('step', '')}.{params['field']}"
    return str(params["key"]).removesuffix(FIRST) if params.get("key") else ""


def in_words(proc: Procedure, finding: StoredMessage, task_steps: dict[str, Any] | None = None,
             zone: tzinfo | None = None, person: Callable[[str], str] | None = None,
             hidden: frozenset[str] = frozenset()) -> StoredMessage:
    """A finding (``engine.runtime.replay``, ``engine.store.record_rows``) with its ids named
    as the reader names them, in the current reader's language: a step and a field by their
    titles, a task with its step's title, an attribute or column in words, a status or a
    decision translated, a role by its title, a time in ``zone`` (named), a person by
    ``person`` (their full name), nothing as nothing."""
    params = dict(finding.get("params") or {})
    key = finding["key"]
    sid = params.get("step", "")
    what = params.get("attribute") or params.get("column") or ""
    # A value the reader sees masked on the page stays masked in what the check found: the
    # record's (forged or damaged) value and the trail's alike.
    field_key = _field_named(params)
    if field_key and top_key(field_key) in hidden:
        params.update({name: MASK for name in (*_VALUES, *_HASHES) if name in params})
    if "field" in params:
        params["field"] = field_title(proc, sid, params["field"])
    if "key" in params:
        ksid, _sep, name = params["key"].removesuffix(FIRST).partition(".")
        if name:
            params["key"] = _("“{field}” in “{step}”", field=field_title(proc, ksid, name), step=step_title(proc, ksid))
    if sid:
        params["step"] = step_title(proc, sid)
    if "event" in params:
        params["event"] = _(params["event"])
    task_step = (task_steps or {}).get(params.get("task", ""))
    if task_step:
        params["task"] = _("{task} ({step})", task=params["task"], step=step_title(proc, task_step))
    for name in ("attribute", "column"):
        if name in params:
            params[name] = _(ATTRIBUTES.get(what, what))
    for name in _VALUES:
        if name in params and params[name] != MASK:
            params[name] = (_people_words(proc, params[name], person) if what in _PEOPLE and person is not None
                            else _value_words(proc, what, params[name], zone))
    for name in ("stored_step", "replayed_step"):
        if name in params:
            value = params[name]
            params[name] = (_("“{title}”", title=step_title(proc, value[1:-1])) if value[:1] == "'" == value[-1:]
                            else _value_words(proc, "", value))
    return {"key": key, "params": params}


# What names people (user names, ``user:NAME``, role ids): said with full names and role titles.
_PEOPLE = frozenset(("assignee", "completed_by", "started_by", "escalated_to", "cc", "cc_read"))


def _people_words(proc: Procedure, text: str, person: Callable[[str], str]) -> str:
    """A quoted user name, or a list of them (``user:NAME``, role ids, lists of recipients),
    as the reader names them: ``'张三'``, ``'质量经理', '李四'``; nobody as nobody. A value
    cut short for length (``…``) stays as it is."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text

    def names(v: Any) -> list[str]:
        if isinstance(v, list | tuple):
            return [n for x in v for n in names(x)]
        if not isinstance(v, str):
            return [str(v)]
        kind, sep, rest = v.partition(":")
        if sep and kind == "user":
            return [person(rest)]
        if (sep and kind == "role") or v in proc.roles:
            return [proc.role_title(rest if sep else v, reader_locale())]
        return [person(v)]

    if value is None:
        return _("nothing")
    found = names(value)
    return (LIST_SEPARATOR.get(reader_locale(), "、").join(repr(n) for n in dict.fromkeys(found)) if found
            else _("nobody"))


# An instant as the state and the rows keep it (ISO 8601 with its offset).
_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)$")


def _value_words(proc: Procedure, what: str, text: str, zone: tzinfo | None = None) -> str:
    """A quoted value (``repr``) as the reader reads it: a status, decision or role in words,
    a time as a local time with its zone named."""
    if text in ("None", "nothing", "''"):
        return _("nothing")
    if not (len(text) > 1 and text[0] == text[-1] == "'"):
        return text
    inner = text[1:-1]
    if zone is not None and _ISO_TIME.match(inner):
        return repr(local_time(inner, zone, named=True))
    if what in ("status", "decision"):
        return repr(_(inner))
    if what == "role":
        return repr(proc.role_title(inner, reader_locale()))
    return text
