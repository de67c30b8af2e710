"""``/api/v1/audit``: the audit search and the JSON Lines export for programs (bearer tokens,
the same rules as the audit pages: see ``engine/app/access.py`` and ``engine/app/masking.py``)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from engine.app.masking import record_views
from engine.store.audit_search import search_events
from web.api.v1 import _authenticate, _int_arg
from web.db import reading, services
from web.html.audit import event_items, event_query, export_response, require_overseer
from web.oversight import api_reader

bp = Blueprint("audit_api", __name__, url_prefix="/api/v1/audit")


@bp.before_request
def _token() -> None:
    g.api_user = _authenticate()


@bp.get("/events")
def events():
    limit = _int_arg("limit", 50, 1, 500)
    offset = _int_arg("offset", 0, 0, 1_000_000)
    with reading() as s:
        reader = api_reader(g.api_user)
        require_overseer(reader)
        q, _ctx = event_query(s, reader)
        rows, more = search_events(s, q, limit=limit, offset=offset)
        items, views = event_items(s, reader, rows)
    record_views(services().database, reader, views, "api-search")
    out = [{"id": e["id"], "instance": e["instance_id"], "procedure": e["procedure_id"],
            "seq": e["seq"], "at": e["at"].isoformat(), "type": e["type"], "step": e["step_id"],
            "actor": e["actor"], "summary": e["summary"], "hash": e["hash"],
            "links": {"dossier": f"/audit/instances/{e['instance_id']}",
                      "instance": f"/api/v1/instances/{e['instance_id']}"}} for e in items]
    return jsonify(items=out, limit=limit, offset=offset, more=more)


@bp.get("/export")
def export():
    with reading() as s:
        reader = api_reader(g.api_user)
        q, _ctx = event_query(s, reader)
    return export_response(reader, q, {"since": q.since, "until": q.until, "procedure": q.procedure})
