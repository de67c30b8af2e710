"""Audit pages: the event search, an instance's dossier (page and PDF), the access log of
unmasked sensitive data, and the JSON Lines export of the event trail. Each view parses its
request and calls one use case of ``engine.app.audit``, which applies the rules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context, url_for

from engine.app import audit
from engine.i18n import _
from web.db import services
from web.errors import BadRequest
from web.html import dossier as dossier_view
from web.html.auth import login_required, plain_number
from web.i18n import fmt_time
from web.oversight import parse_day, signed_in_reader

bp = Blueprint("audit", __name__)

PAGE = 50
_TEXT = re.compile(r"^[^\x00-\x1f]{0,200}$")


def page_arg(name: str = "page", high: int = 100_000) -> int:
    raw = request.args.get(name) or "1"
    number = plain_number(raw, len(str(high)))
    if number is None or not 1 <= number <= high:
        raise BadRequest(_("'{name}' must be a page number from 1 to {high}", name=name, high=high),
                         errors=[{"field": name, "message": _("{low} to {high}", low=1, high=high)}])
    return number


def text_arg(name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    if not _TEXT.match(value):
        raise BadRequest(_("'{name}' must be at most {n} characters of text, without line breaks or "
                           "control characters", name=name, n=200),
                         errors=[{"field": name, "message": _("at most {n} characters", n=200)}])
    return value


def event_filters() -> tuple[audit.EventFilters, dict[str, Any]]:
    """The search filters of the query string (pages and API alike), and the values as
    typed, for the search form."""
    args: dict[str, Any] = {k: text_arg(k) for k in
                            ("procedure", "step", "actor", "type", "field", "value", "instance")}
    args["from"], args["to"] = request.args.get("from") or "", request.args.get("to") or ""
    filters = audit.EventFilters(
        procedure=args["procedure"], step=args["step"], actor=args["actor"], type=args["type"],
        field=args["field"], value=args["value"], instance=args["instance"],
        since=parse_day(args["from"], "from"), until=parse_day(args["to"], "to", end=True))
    return filters, args


@bp.get("/audit")
@login_required
def search():
    page = page_arg()
    filters, args = event_filters()
    found = audit.search_events(services(), signed_in_reader(), filters, limit=PAGE, offset=(page - 1) * PAGE)
    return render_template("audit_search.html", items=found.items, more=found.more, page=page,
                           args=args, procedures=found.procedures, types=audit.EVENT_TYPES,
                           field_keys=found.field_keys, field_titles=found.field_titles, steps=found.steps)


@bp.get("/audit/instances/<instance_id>")
@login_required
def dossier(instance_id: str):
    d = audit.dossier(services(), signed_in_reader(), instance_id, view="dossier")
    return render_template("dossier.html", d=d, sections=dossier_view.sections(d),
                           corrections=dossier_view.corrections(d), timeline=dossier_view.timeline(d),
                           integrity=dossier_view.integrity(d), printed_at=fmt_time(services().now(), named=True))


@bp.get("/audit/instances/<instance_id>.pdf")
@login_required
def dossier_pdf(instance_id: str):
    from web.dossier_pdf import render

    d = audit.dossier(services(), signed_in_reader(), instance_id, view="pdf")
    font = services().config.get("pdf", "font", default=None)
    pdf = render(d, dossier_view.sections(d), corrections=dossier_view.corrections(d),
                 timeline=dossier_view.timeline(d),
                 printed_at=fmt_time(services().now(), named=True), font=font,
                 address=url_for("instances.show", instance_id=instance_id, _external=True))
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="dossier-{instance_id}.pdf"'})


@bp.get("/audit/access-log")
@login_required
def access():
    page = page_arg()
    rows, more = audit.access_log(services(), signed_in_reader(), instance=text_arg("instance"), user=text_arg("user"),
                                  limit=PAGE, offset=(page - 1) * PAGE)
    return render_template("access_log.html", rows=rows, more=more, page=page,
                           args={"instance": request.args.get("instance", ""), "user": request.args.get("user", "")})


def export_response(lines: Iterator[str]) -> Response:
    """The JSON Lines export as a streamed download."""
    name = f"audit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.jsonl"
    return Response(stream_with_context(lines), mimetype="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/audit/export.jsonl")
@login_required
def export():
    filters, _args = event_filters()
    return export_response(audit.export_events(services(), signed_in_reader(), filters))
