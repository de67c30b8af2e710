"""Instances: the list (by procedure and status) and one instance's page: timeline of every
event with actor, time, data under form labels, signatures, corrections and deadlines; the
procedure version; links to spawned and origin instances; correction and cancel forms.

Sensitive values are masked here for everybody without clearance, also for a user working
on one of the instance's open tasks (they see them on that task's page); a cleared user's
view is logged as ``instance`` (see ``web.oversight``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine import store
from engine.app.access import Reader
from engine.app.masking import mask_event, mask_instance, record_views, refuse_mask, sensitive_keys
from engine.errors import FormInvalid, NotPermitted
from engine.store import users as user_store
from engine.store import versions
from web import forms_render as fr
from web.db import reading, services, transaction, workflow
from web.html.auth import current_user, login_required
from web.html.inbox import accesses, instance_access, may_act
from web.i18n import _, get_locale
from web.oversight import current_reader

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.language.procedure import Procedure
    from engine.runtime.commands import Actor

bp = Blueprint("instances", __name__)

STATUSES = ("running", "completed", "cancelled")


@bp.get("/instances")
@login_required
def index():
    user = current_user()
    procedure = request.args.get("procedure") or None
    status = request.args.get("status") or None
    if status not in STATUSES:
        status = None
    with reading() as s:
        visible = [a for a in accesses(s, user.username) if a.may_see]
        titles = {a.procedure.id: a.procedure.title for a in visible}
        if procedure is not None and procedure not in titles:
            raise NotPermitted(_("You do not hold a role in this procedure.") + f" ({procedure})")
        rows = []
        for pid in [procedure] if procedure else sorted(titles):
            rows += store.list_instances(s, pid, status, limit=200)
        rows.sort(key=lambda r: (r.started_at, r.id), reverse=True)
        items = [{"id": r.id, "procedure": titles.get(r.procedure_id, r.procedure_id),
                  "status": r.status.value, "outcome": r.outcome, "started_at": r.started_at,
                  "started_by": r.started_by, "ended_at": r.ended_at} for r in rows[:200]]
    return render_template("instances.html", items=items, procedures=titles,
                           procedure=procedure, status=status, statuses=STATUSES)


def _step_title(proc: Procedure, sid: str | None) -> str:
    if not sid:
        return ""
    if sid == "start":
        return _("Start form")
    step = proc.steps.get(sid)
    return step.title if step else sid


def _timeline(s: Session, inst: dict, proc: Procedure, reader: Reader,
              keys: frozenset[str], shown: set[str]) -> list[dict]:
    """The events for display, sensitive values masked for ``reader``; the keys of those
    shown in clear are added to ``shown``."""
    events = workflow().events(s, inst["id"])
    names = user_store.full_names(s, (e["actor"] for e in events))
    out = []
    for raw in events:
        e, unmasked = mask_event(keys, raw, reader)
        shown |= unmasked
        d = e["data"] or {}
        sid = e["step"]
        item: dict[str, Any] = {
            "seq": e["seq"], "type": e["type"], "label": _(e["type"]), "at": e["at"],
            "actor": names.get(e["actor"], e["actor"]), "username": e["actor"],
            "step": _step_title(proc, sid), "step_id": sid, "nodes": [], "notes": [],
            "signature": d.get("signature"), "on_time": d.get("on_time"),
        }
        if e["type"] in ("task:completed", "task:approved", "task:rejected", "instance:started"):
            form = proc.form_of(sid if sid else "start") if (sid in proc.steps or not sid) else None
            item["nodes"] = fr.view_tree(form, d.get("data") or {})
        elif e["type"] == "data:corrected":
            form = proc.form_of(sid) if sid and (sid == "start" or sid in proc.steps) else None
            info = form.fields.get(d.get("field", "")) if form else None
            label = info.title if info else d.get("field")
            item["correction"] = {"field": label, "old": d.get("old"), "new": d.get("new"),
                                  "reason": d.get("reason")}
        elif e["type"] == "route:taken":
            item["notes"].append(_("to {step}", step=_step_title(proc, d.get("to"))))
        elif e["type"] in ("deadline:missed", "deadline:reminder"):
            item["notes"].append(_("was due {time}", time=_fmt(d.get("due_at"))))
        elif e["type"] == "deadline:escalated" and d.get("user"):
            item["notes"].append(_("Escalated to {user}, manager of {holder} (level {level})",
                                   user=names.get(d["user"], d["user"]), holder=d.get("of"), level=d.get("level")))
        elif e["type"] == "deadline:escalated":
            role = proc.roles.get(d.get("to"), d.get("to"))
            item["notes"].append(_("Escalated to {role} (level {level})", role=role, level=d.get("level")))
            if d.get("fallback"):
                item["notes"].append(_("no manager known: escalated to {role} instead ({reason})",
                                       role=role, reason=d.get("reason", "")))
        elif e["type"] == "task:reassigned":
            item["notes"].append(f"{d.get('from') or '-'} → {d.get('to')} {d.get('reason') or ''}")
        elif e["type"] == "task:claimed":
            item["notes"].append(names.get(d.get("assignee"), d.get("assignee") or ""))
        elif e["type"] == "instance:cancelled":
            item["notes"].append(f"{_('Reason')}: {d.get('reason')}")
        elif e["type"] == "instance:completed":
            item["notes"].append(f"{_('Outcome')}: {d.get('outcome')}")
        elif e["type"] == "spawn:requested":
            item["notes"].append(str(d.get("procedure")))
        out.append(item)
    return out


def _fmt(value: Any) -> str:
    from web.i18n import fmt_time

    return fmt_time(value)


def _correctable(proc: Procedure, inst: dict, actor: Actor) -> list[dict]:
    """(step, field) pairs this actor may correct: the step's role, start roles for the
    start form, or admin (the runtime checks the same)."""
    out = []
    for sid, data in inst["data"].items():
        step = proc.steps.get(sid)
        allowed = {"admin"} | ({step.role} if step and step.role else set(proc.start_roles))
        if not actor.roles & allowed:
            continue
        form = proc.form_of(sid) if (sid == "start" or sid in proc.steps) else None
        if form is None:
            continue
        for path, info in form.fields.items():
            if "." in path or info.widget in ("table", "file", "signature", "group"):
                continue
            out.append({"value": f"{sid}:{path}", "label": f"{_step_title(proc, sid)} · {info.title}",
                        "current": data.get(path)})
    return out


def _page(instance_id: str, *, errors: list[dict] | None = None, status: int = 200,
          form_values: dict | None = None):
    user = current_user()
    reader = current_reader()
    assert reader is not None  # login_required ran first
    with reading() as s:
        inst, actor, proc = instance_access(s, instance_id, user.username)
        keys = sensitive_keys(proc)
        inst, shown = mask_instance(keys, inst, reader)  # data, corrections, links
        timeline = _timeline(s, inst, proc, reader, keys, shown)
        version_label = versions.label(store.get_version(s, inst["version"]["id"]))  # pinned version
        spawned = store.spawned_from(s, instance_id)
        now = workflow().clock()
        tasks = [{**t, "step_title": _step_title(proc, t["step"]),
                  "role_title": proc.roles.get(t.get("role") or "", t.get("role")),
                  "mine": may_act(t, actor),
                  # Overdue as soon as the due time passes, even before the worker records the miss.
                  "overdue": bool(t.get("missed") or (t.get("due_at") and datetime.fromisoformat(t["due_at"]) < now)),
                  "escalations": len(t.get("escalated_to") or [])}
                 for t in inst["tasks"] if t["status"] == "open"]
        correctable = _correctable(proc, inst, actor) if inst["status"] == "running" or "admin" in actor.roles else []
        may_cancel = inst["status"] == "running" and bool(actor.roles & ({"admin"} | set(proc.start_roles)))
        data_sections = [{"step": sid, "title": _step_title(proc, sid),
                          "nodes": fr.view_tree(proc.form_of(sid) if (sid == "start" or sid in proc.steps) else None,
                                                d, corrections=inst["corrections"], step=sid)}
                         for sid, d in inst["data"].items()]
    record_views(services().database, reader, [(instance_id, proc.id, shown)], "instance")
    return render_template(
        "instance.html", inst=inst, procedure=proc, timeline=timeline, spawned=spawned,
        tasks=tasks, correctable=correctable, may_cancel=may_cancel, sections=data_sections,
        errors=errors or [], values=form_values or {}, version_label=version_label,
        masked=bool(keys) and not reader.cleared,
    ), status


@bp.get("/instances/<instance_id>")
@login_required
def show(instance_id: str):
    return _page(instance_id)


def _typed(proc: Procedure, sid: str, field: str, raw: str) -> Any:
    form = proc.form_of(sid)
    sub = fr.schema_at(form.schema, field.split(".")) if form else None
    if sub is None:
        return raw
    return fr._parse_field(sub, _One(raw), "v", {})


class _One(dict):
    """A one-value stand-in for the posted form, for parsing a single corrected value."""

    def __init__(self, raw: str) -> None:
        super().__init__(v=raw)

    def getlist(self, key: str) -> list[str]:
        return [self[key]] if key in self else []


@bp.post("/instances/<instance_id>/correct")
@login_required
def correct(instance_id: str):
    user = current_user()
    target = request.form.get("target", "")
    sid, _sep, field = target.partition(":")
    raw = request.form.get("value", "")
    reason = request.form.get("reason", "").strip()
    values = {"target": target, "value": raw, "reason": reason}
    if not reason:
        msg = "更正必须填写原因" if get_locale() == "zh" else "Write the reason for the correction"
        return _page(instance_id, errors=[{"field": "reason", "message": msg}], status=422,
                     form_values=values)
    try:
        with transaction() as s:
            inst, _actor, proc = instance_access(s, instance_id, user.username)
            value = _typed(proc, sid, field, raw)
            refuse_mask(sensitive_keys(proc), sid, {field: value})
            workflow().correct(s, instance_id, user.username, sid, field, value, reason,
                               locale=get_locale())
    except FormInvalid as exc:
        return _page(instance_id, errors=[{"field": "value", "message": e["message"]} for e in exc.errors]
                     or [{"field": "value", "message": exc.message}], status=422, form_values=values)
    flash(_("Value corrected."), "ok")
    return redirect(url_for("instances.show", instance_id=instance_id))


@bp.post("/instances/<instance_id>/cancel")
@login_required
def cancel(instance_id: str):
    user = current_user()
    reason = request.form.get("reason", "").strip()
    if not reason:
        msg = "取消流程必须填写原因" if get_locale() == "zh" else "Write the reason for cancelling"
        return _page(instance_id, errors=[{"field": "cancel_reason", "message": msg}], status=422)
    with transaction() as s:
        instance_access(s, instance_id, user.username)
        workflow().cancel(s, instance_id, user.username, reason)
    flash(_("Instance cancelled."), "ok")
    return redirect(url_for("instances.show", instance_id=instance_id))
