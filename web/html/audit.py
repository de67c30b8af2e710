"""Audit pages: the event search, an instance's dossier (page and PDF), the access log of
unmasked sensitive data, and the JSON Lines export of the event trail."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, render_template, request, stream_with_context

from engine.app.access import Reader, readable
from engine.app.masking import mask_event, record_views, sensitive_keys
from engine.errors import NotPermitted
from engine.store.audit_file import export_lines
from engine.store.audit_search import (
    EventQuery,
    access_log,
    export_events,
    search_events,
)
from web.db import reading, services, workflow
from web.errors import BadRequest
from web.html.auth import login_required
from web.html.dossier import build, field_title, step_title
from web.i18n import _
from web.oversight import current_reader, parse_day

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

bp = Blueprint("audit", __name__)

PAGE = 50
EVENT_TYPES = ("instance:started", "task:created", "task:completed", "task:approved",
               "task:rejected", "task:claimed", "task:released", "task:reassigned",
               "task:cancelled", "instance:completed", "instance:cancelled", "data:corrected",
               "deadline:reminder", "deadline:missed", "deadline:escalated", "route:taken",
               "spawn:requested", "join:completed", "wait:woken")
_TEXT = re.compile(r"^[^\x00-\x1f]{0,200}$")



def _reader() -> Reader:
    reader = current_reader()
    assert reader is not None  # login_required ran first
    return reader


def require_overseer(reader: Reader) -> None:
    """Cross-procedure audit tools are for auditors, admins and data officers."""
    if not (reader.reads_everything or reader.cleared):
        raise NotPermitted(_("The audit search is for auditors, administrators and data officers."))


def page_arg(name: str = "page", high: int = 100_000) -> int:
    raw = request.args.get(name) or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise BadRequest(f"'{name}' must be a page number from 1 to {high}",
                         errors=[{"field": name, "message": f"1..{high}"}])
    return int(raw)


def text_arg(name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    if not _TEXT.match(value):
        raise BadRequest(f"'{name}' must be at most 200 characters of text",
                         errors=[{"field": name, "message": "at most 200 characters"}])
    return value


def event_query(session: Session, reader: Reader) -> tuple[EventQuery, dict[str, Any]]:
    """The search filters from the query string, limited to what the reader may read."""
    procs = readable(workflow(), session, reader)
    args = {k: text_arg(k) for k in ("procedure", "step", "actor", "type", "field", "value", "instance")}
    args["from"], args["to"] = request.args.get("from") or "", request.args.get("to") or ""
    if args["procedure"] and args["procedure"] not in procs:
        raise NotPermitted(f"you may not read the records of procedure '{args['procedure']}'")
    q = EventQuery(
        procedures=None if reader.reads_everything else tuple(procs),
        procedure=args["procedure"], step=args["step"], actor=args["actor"], type=args["type"],
        since=parse_day(args["from"], "from"), until=parse_day(args["to"], "to", end=True),
        field=args["field"] if args["value"] else None, value=args["value"], instance=args["instance"])
    return q, {"args": args, "procedures": procs}


def _summary(proc: Any, e: dict) -> str:
    d = e["data"] or {}
    if e["type"] == "data:corrected":
        return f"{field_title(proc, e['step'] or 'start', d.get('field', ''))}: {d.get('old')} → {d.get('new')} · {d.get('reason')}"
    if isinstance(d.get("data"), dict):
        sid = e["step"] or "start"
        parts = [f"{field_title(proc, sid, k)}: {v}" for k, v in d["data"].items()
                 if isinstance(v, str | int | float | bool)][:4]
        return "; ".join(parts)
    for key in ("outcome", "reason", "to", "due_at"):
        if d.get(key):
            return f"{key}: {d[key]}"
    return ""


def event_items(session: Session, reader: Reader, rows: list[Any]) -> tuple[list[dict], list[tuple]]:
    """Rows of the search as display dicts (masked), and the unmasked views to log."""
    wf = workflow()
    items, views = [], []
    keys_cache: dict[int, frozenset[str]] = {}
    for r in rows:
        proc = wf.runtime(session, r.version_id).procedure
        keys = keys_cache.setdefault(r.version_id, sensitive_keys(proc))
        e, shown = mask_event(keys, {"type": r.type, "step": r.step, "data": r.data}, reader)
        views.append((r.instance_id, r.procedure_id, shown))
        items.append({"id": r.id, "instance_id": r.instance_id, "procedure": proc.title,
                      "procedure_id": r.procedure_id, "seq": r.seq, "at": r.at, "type": r.type,
                      "label": _(r.type), "step_id": r.step, "step": step_title(proc, r.step),
                      "actor": r.actor, "summary": _summary(proc, e), "hash": r.hash})
    return items, views


@bp.get("/audit")
@login_required
def search():
    reader = _reader()
    require_overseer(reader)
    page = page_arg()
    with reading() as s:
        q, ctx = event_query(s, reader)
        rows, more = search_events(s, q, limit=PAGE, offset=(page - 1) * PAGE)
        items, views = event_items(s, reader, rows)
        # The searchable fields as declared (reading them off the index would scan it).
        keys = sorted({k for proc, _v in ctx["procedures"].values() for k in proc.records.indexed})
        steps = sorted({(sid, st.title) for proc, _v in ctx["procedures"].values()
                        for sid, st in proc.steps.items() if st.is_human})
    record_views(services().database, reader, views, "search")
    return render_template("audit_search.html", items=items, more=more, page=page,
                           args=ctx["args"], procedures={p: v[0].title for p, v in ctx["procedures"].items()},
                           types=EVENT_TYPES, field_keys=keys, steps=steps)


@bp.get("/audit/instances/<instance_id>")
@login_required
def dossier(instance_id: str):
    reader = _reader()
    with reading() as s:
        d = build(s, reader, instance_id)
    record_views(services().database, reader, [(instance_id, d["procedure"].id, d["unmasked"])], "dossier")
    return render_template("dossier.html", d=d)


@bp.get("/audit/instances/<instance_id>.pdf")
@login_required
def dossier_pdf(instance_id: str):
    from web.dossier_pdf import render

    reader = _reader()
    with reading() as s:
        d = build(s, reader, instance_id)
    record_views(services().database, reader, [(instance_id, d["procedure"].id, d["unmasked"])], "pdf")
    font = workflow().config.get("pdf", "font", default=None)
    return Response(render(d, font=font), mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="dossier-{instance_id}.pdf"'})


@bp.get("/audit/access-log")
@login_required
def access():
    reader = _reader()
    if not reader.reads_everything:
        raise NotPermitted(_("The access log is for auditors and administrators."))
    page = page_arg()
    with reading() as s:
        rows, more = access_log(s, instance_id=text_arg("instance"), username=text_arg("user"),
                                limit=PAGE, offset=(page - 1) * PAGE)
    return render_template("access_log.html", rows=rows, more=more, page=page,
                           args={"instance": request.args.get("instance", ""), "user": request.args.get("user", "")})


def export_response(reader: Reader, q: EventQuery, head: dict[str, Any]) -> Response:
    """The JSON Lines export, streamed from a read session of its own; logged as one view."""
    if not (reader.reads_everything and reader.cleared) and not reader.admin:
        raise NotPermitted(_("The audit export holds every value unmasked: it needs the auditors "
                             "group and clearance (data-officers), or an administrator."))
    record_views(services().database, reader, [("*", q.procedure or "*", ["*"])], "audit-export")

    def generate():
        with reading() as s:
            yield from export_lines(export_events(s, q), now=datetime.now(UTC), **head)

    name = f"audit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.jsonl"
    return Response(stream_with_context(generate()), mimetype="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/audit/export.jsonl")
@login_required
def export():
    reader = _reader()
    with reading() as s:
        q, _ctx = event_query(s, reader)
    return export_response(reader, q, {"since": q.since, "until": q.until, "procedure": q.procedure})
