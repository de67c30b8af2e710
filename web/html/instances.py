"""Instances: the list (by procedure and status) and one instance's page: timeline of every
event with actor, time, data under form labels, signatures, corrections and deadlines; the
procedure version; links to spawned and origin instances; correction and cancel forms.

Thin views over ``engine.app.instances``: who may read, what is masked (for everybody
without clearance, also a user working on an open task) and the access log are decided
there, the same as for the API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine import i18n
from engine.app import instances, search, task_actions, uploads
from engine.app.audit import field_title, integrity_words, step_title
from engine.errors import Conflict, FormInvalid, QueryInvalid, SignatureInvalid
from engine.runtime.access import outcome_words
from web import forms_render as fr
from web.db import services
from web.html.auth import current_user, login_required, plain_number
from web.i18n import _, fmt_time, get_locale
from web.integrity import unverified_words
from web.oversight import signed_in_reader

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.language.procedure import Procedure

bp = Blueprint("instances", __name__)


@bp.get("/instances")
@login_required
def index():
    q = (request.args.get("q") or "").strip()
    if q:  # links from before there was one search: a number opens its record, text searches
        return redirect(url_for("instances.find", q=q))
    procedure = request.args.get("procedure") or None
    status = request.args.get("status") or None
    if status not in instances.STATUSES:
        status = None
    rows, _total, titles = instances.list_instances(services(), signed_in_reader(), procedure, status, limit=200)
    items = [{**r, "procedure": titles.get(r["procedure"], r["procedure"])} for r in rows]
    return render_template("instances.html", items=items, procedures=titles, q=q,
                           procedure=procedure, status=status, statuses=instances.STATUSES)


@bp.get("/search")
@login_required
def find():
    """The search box: a record number opens that record; any other text lists the records
    whose indexed fields contain it."""
    q = (request.args.get("q") or "").strip()
    hits: list[search.Hit] = []
    error = None
    if q:
        exact = instances.find(services(), signed_in_reader(), q)
        if exact is not None:
            return redirect(url_for("instances.show", instance_id=exact))
        try:
            hits = search.search(services(), signed_in_reader(), q)
        except QueryInvalid as exc:
            error = exc.message
    return render_template("search.html", q=q, hits=hits, error=error), 400 if error else 200


def _timeline(page: instances.Page) -> list[dict]:
    """The (already masked) events for display; a signature followed by a correction of a
    value it covered links to that correction (``corrected_by``: event seqs)."""
    proc, names, then = page.procedure, page.names, page.named
    corrected_by: dict[str, list[int]] = {}
    for e in page.events:
        if e["type"] == "data:corrected":
            for tid in (e["data"] or {}).get("signed_before", []):
                corrected_by.setdefault(tid, []).append(e["seq"])
    out = []
    for e in page.events:
        d = e["data"] or {}
        sid = e["step"]

        def who(user: Any, at: str = e["at"]) -> str:
            return then.at(str(user or ""), at)

        item: dict[str, Any] = {
            "seq": e["seq"], "type": e["type"], "label": _(e["type"]), "at": e["at"],
            "actor": who(e["actor"]), "username": e["actor"],
            "step": step_title(proc, sid), "step_id": sid, "nodes": [], "notes": [],
            "signature": d.get("signature"), "on_time": d.get("on_time"),
            "corrected_by": corrected_by.get(e["task"] or "", []) if d.get("signature") else [],
        }
        if e["type"] in ("task:completed", "task:approved", "task:rejected", "instance:started"):
            form = proc.form_of(sid if sid else "start") if (sid in proc.steps or not sid) else None
            item["nodes"] = fr.view_tree(form, d.get("data") or {}, names=names)
        elif e["type"] == "data:corrected":
            form = proc.form_of(sid) if sid and (sid == "start" or sid in proc.steps) else None
            label = form.field_title(d.get("field", ""), get_locale()) if form else d.get("field")
            item["correction"] = {"field": label, "old": fr.display_at(form, d.get("field", ""), d.get("old")),
                                  "new": fr.display_at(form, d.get("field", ""), d.get("new")),
                                  "reason": i18n.stored(d, "reason")}
        elif e["type"] == "route:taken":
            item["notes"].append(_("to {step}", step=step_title(proc, d.get("to"))))
        elif e["type"] in ("deadline:missed", "deadline:reminder"):
            item["notes"].append(_("was due {time}", time=_fmt(d.get("due_at"))))
        elif e["type"] == "deadline:escalated" and d.get("user"):
            item["notes"].append(_("Escalated to {user}, manager of {holder} (level {level})",
                                   user=who(d["user"]), holder=d.get("of"), level=d.get("level")))
        elif e["type"] == "deadline:escalated":
            role = proc.roles.get(d.get("to"), d.get("to"))
            item["notes"].append(_("Escalated to {role} (level {level})", role=role, level=d.get("level")))
            if d.get("fallback"):
                item["notes"].append(_("no manager known: escalated to {role} instead ({reason})",
                                       role=role, reason=i18n.shown(d.get("reason"), d.get("reason_message"))))
        elif e["type"] == "task:transferred":
            item["notes"].append(_("to {user}", user=who(d.get("to"))))
            item["notes"].append(f"{_('Reason')}: {d.get('reason')}")
        elif e["type"] == "task:returned":
            item["notes"].append(_("to {step}", step=step_title(proc, d.get("to"))))
            item["notes"].append(f"{_('Reason')}: {d.get('reason')}")
            if d.get("resume") == "here":
                item["notes"].append(_("comes straight back here once redone"))
        elif e["type"] == "task:urged":
            if d.get("note"):
                item["notes"].append(d["note"])
        elif e["type"] == "instance:withdrawn":
            item["notes"].append(f"{_('Reason')}: {d.get('reason')}")
        elif e["type"] == "cc:sent":
            item["notes"].append(", ".join(_recipient(proc, who, r) for r in d.get("to") or ()))
            if d.get("note"):
                item["notes"].append(d["note"])
        elif e["type"] == "task:reassigned":
            item["notes"].append(f"{d.get('from') or '-'} → {d.get('to')} {d.get('reason') or ''}")
        elif e["type"] == "files:recorded":  # the content of the files a submission bound
            item["notes"].append(uploads.recorded_words(d))
        elif e["type"] == "task:claimed":
            item["notes"].append(who(d.get("assignee")))
        elif e["type"] == "approval:decided":  # a multi-party approval (issue 17)
            item["notes"].append(f"{_(d.get('decision', ''))}: " + _(
                "{approvals} of {need} approvals needed, {rejections} rejection(s)",
                approvals=d.get("approvals"), need=d.get("need"), rejections=d.get("rejections")))
        elif e["type"] == "approval:added":
            item["notes"].append(_("{user} added {position}: {reason}", user=who(d.get("user")),
                                   position=_(d.get("position", "")), reason=d.get("reason", "")))
        elif e["type"] == "approval:opened":
            item["notes"] += [_nobody_found(proc, sid, n) for n in d.get("nobody", [])]
            item["notes"] += [_("skipped {user}: {reason}", user=k.get("user"), reason=i18n.stored(k, "reason"))
                              for k in d.get("skipped", [])]
        elif e["type"] == "task:cancelled" and d.get("reason"):
            item["notes"].append(f"{_('Reason')}: {i18n.stored(d, 'reason')}")
        elif e["type"] == "instance:cancelled":
            item["notes"].append(f"{_('Reason')}: {d.get('reason')}")
        elif e["type"] == "instance:completed":
            item["notes"].append(f"{_('Outcome')}: {outcome_words(d.get('outcome'))}")
        elif e["type"] == "spawn:requested":  # the procedure it opens by its title, in the reader's language
            item["notes"].append(page.procedure_titles.get(str(d.get("procedure")), str(d.get("procedure"))))
        out.append(item)
    return out


def _nobody_found(proc: Procedure, sid: str | None, nobody: dict) -> str:
    """An approver who resolved to nobody (no manager in the chart...), and where their
    approval went, in the reader's words: the record keeps the source as the YAML wrote it
    (``manager: starter``) and ``to`` as a role id, ``admin`` or ``approve``."""
    step = proc.steps.get(sid or "")
    sources = {s.describe(): s for s in step.approvers.sources} if step and step.approvers else {}
    found = sources.get(nobody.get("source", ""))

    def role(r: str) -> str:
        return proc.role_title(r, get_locale())

    source = found.shown(role) if found else nobody.get("source", "")
    reason = i18n.stored(nobody, "reason")
    to = nobody.get("to")
    if to == "approve":
        return _("no approver found for {source}: {reason}; counted as approved", source=source, reason=reason)
    where = _("the administrators") if to == "admin" else role(str(to))
    return _("no approver found for {source}: {reason}; the approval went to {to}", source=source,
             reason=reason, to=where)


def _recipient(proc: Procedure, named: Callable[[str], str], who: str) -> str:
    """A CC recipient as people read it: the role's title, or the user's full name then."""
    if who.startswith("user:"):
        return named(who[5:])
    return proc.roles.get(who, who)


def _fmt(value: Any) -> str:
    return fmt_time(value)


def _page(instance_id: str, *, errors: list[dict] | None = None, status: int = 200,
          form_values: dict | None = None):
    page = instances.page(services(), signed_in_reader(), instance_id)
    proc, inst = page.procedure, page.inst
    tasks = [{**t, "step_title": step_title(proc, t["step"]),
              "role_title": proc.role_title(t.get("role"), get_locale()) if t.get("role") else t.get("role")}
             for t in page.open_tasks]
    correctable = [{"value": f"{sid}:{path}", "label": f"{step_title(proc, sid)} · {field_title(proc, sid, path)}",
                    "current": (fr.display_at(proc.form_of(sid), path, current) if current is not None else None),
                    "signed": sid in page.signed_steps}
                   for sid, path, info, current in page.correctable]
    corrections = page.corrections
    sections = [{"step": sid, "title": step_title(proc, sid),
                 "nodes": fr.view_tree(proc.form_of(sid) if (sid == "start" or sid in proc.steps) else None,
                                       d, corrections=corrections, step=sid, names=page.names)}
                for sid, d in inst["data"].items()]
    return render_template(
        "instance.html", inst=inst, procedure=proc, timeline=_timeline(page), spawned=page.spawned,
        spawn_failures=page.spawn_failures, stalled=page.stalled,
        tasks=tasks, correctable=correctable, may_cancel=page.may_cancel, sections=sections,
        errors=errors or [], values=form_values or {}, version_label=page.version_label,
        masked=page.masked, offers=task_actions.instance_offers(services(), current_user().username, instance_id),
        names=page.names, procedure_titles=page.procedure_titles,
        named=page.named, started_by=page.named.at(inst["started_by"], inst["started_at"]),
        broken=(unverified_words() if page.integrity is None
                else integrity_words(page.integrity) if not page.integrity.ok else None),
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
    password = request.form.get("password") or None
    values = {"target": target, "value": raw, "reason": reason}
    if not reason:
        msg = _("Write the reason for the correction")
        return _page(instance_id, errors=[{"field": "reason", "message": msg}], status=422,
                     form_values=values)
    try:
        proc = instances.pinned(services(), instance_id)
        instances.check_target(proc, sid, field)
        value = _typed(proc, sid, field, raw)
        instances.correct(services(), user.username, instance_id, sid, field, value, reason,
                          password=password, locale=get_locale(),
                          expected_rev=plain_number(request.form.get("rev", "")))  # the version the page read
    except Conflict as exc:  # the record moved on since the page was read: shown as it is now
        return _page(instance_id, errors=[{"field": "value", "message": exc.message}], status=409,
                     form_values=values)
    except SignatureInvalid as exc:
        return _page(instance_id, errors=[{"field": "password", "message": exc.message}], status=422,
                     form_values=values)
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
        msg = _("Write the reason for cancelling")
        return _page(instance_id, errors=[{"field": "cancel_reason", "message": msg}], status=422)
    instances.cancel(services(), user.username, instance_id, reason)
    flash(_("Instance cancelled."), "ok")
    return redirect(url_for("instances.show", instance_id=instance_id))
