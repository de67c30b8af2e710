"""``/api/v1/audit``: the audit search and the JSON Lines export for programs (bearer tokens).
The same use cases as the audit pages (``engine.app.audit``), so the same rules."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, g, jsonify

from engine.app import audit
from web.api.v1 import _authenticate, _int_arg
from web.db import services
from web.html.audit import event_filters, export_response
from web.oversight import api_reader

bp = Blueprint("audit_api", __name__, url_prefix="/api/v1/audit")


@bp.before_request
def _token() -> None:
    g.api_user = _authenticate()


@bp.get("/events")
def events():
    limit = _int_arg("limit", 50, 1, 500)
    offset = _int_arg("offset", 0, 0, 1_000_000)
    filters, _args = event_filters()
    found = audit.search_events(services(), api_reader(g.api_user), filters, limit=limit, offset=offset,
                                view="api-search")
    out = [{"id": e["id"], "instance": e["instance_id"], "procedure": e["procedure_id"],
            "seq": e["seq"], "at": e["at"].isoformat() if isinstance(e["at"], datetime) else str(e["at"]),
            "type": e["type"], "step": e["step_id"],
            "actor": e["actor"], "summary": e["summary"], "hash": e["hash"],
            "links": {"dossier": f"/audit/instances/{e['instance_id']}",
                      "instance": f"/api/v1/instances/{e['instance_id']}"}} for e in found.items]
    return jsonify(items=out, limit=limit, offset=offset, more=found.more)


@bp.get("/export")
def export():
    filters, _args = event_filters()
    return export_response(audit.export_events(services(), api_reader(g.api_user), filters))
