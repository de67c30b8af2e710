"""The KPI dashboard of one procedure as a page: tiles, tables and SVG charts of the figures
``engine.app.kpis`` computes; every number links to the instances behind it (a drill-down
shown as the procedure's ledger)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, render_template, request, url_for

from engine.app import kpis
from web import charts
from web.charts import Bar
from web.db import services
from web.html.audit import page_arg, text_arg
from web.html.auth import login_required
from web.html.ledgers import ledger_filters, render_ledger
from web.i18n import _, display_zone
from web.oversight import parse_day, signed_in_reader

bp = Blueprint("kpi", __name__)


def _range() -> tuple[datetime, datetime, str, dict[str, str]]:
    """(since, until, period, args) from the query; the last 365 days by month by default."""
    period = request.args.get("period") or "month"
    today = services().now().astimezone(display_zone()).date()  # the reader's today
    start = request.args.get("from") or (today - timedelta(days=364)).isoformat()
    end = request.args.get("to") or today.isoformat()
    since, until = parse_day(start, "from"), parse_day(end, "to", end=True)
    return since, until, period, {"from": start, "to": end, "period": period}


@bp.get("/kpi")
@login_required
def index():
    return render_template("kpi_index.html", items=kpis.procedures(services(), signed_in_reader()))


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.0f}%" if d else "—"


def _h(v: float | None) -> str:
    return "—" if v is None else f"{v:g} h"


def charts_of(d: kpis.Dashboard, period: str, args: dict[str, str]) -> dict[str, Any]:
    """The dashboard's charts and links (every bar links to its drill-down)."""
    proc, k, r = d.procedure, d.kpis, d.procedure.records

    def link(**kw: Any) -> str:
        return url_for("kpi.instances", procedure_id=proc.id, **args, **{k: v for k, v in kw.items() if v is not None})

    labels = [p["period"] for p in k.periods]
    volume = charts.columns(labels, [
        (_("started"), [Bar(p["started"], link(what="started", p=p["period"])) for p in k.periods]),
        (_("completed"), [Bar(p["completed"], link(what="completed", p=p["period"])) for p in k.periods]),
        (_("open"), [Bar(p["open"], link(what="open", p=p["period"])) for p in k.periods]),
    ], title=_("Instances by {period}", period=_(period)))
    durations = charts.columns(labels, [
        (_("median"), [Bar(p["median_h"] or 0, link(what="completed", p=p["period"]), _h(p["median_h"])) for p in k.periods]),
        ("P90", [Bar(p["p90_h"] or 0, link(what="completed", p=p["period"]), _h(p["p90_h"])) for p in k.periods]),
    ], title=_("Duration of completed instances (hours)"))
    on_time = charts.rows([(st["title"], Bar(100 * (st["on_time_rate"] or 0), link(what="late", step=st["step"]),
                                             _pct(st["on_time"], st["with_due"])))
                           for st in d.steps if st["with_due"]], title=_("On-time rate per step"), max_value=100,
                          color=charts.COLORS[1])
    first_pass = None
    if r.first_pass:
        fp = [(p, k.first_pass.get(p, (0, 0))) for p in labels]
        first_pass = charts.columns(labels, [(_("first-pass rate"), [
            Bar(100 * ok / n if n else 0, link(what="first_pass", p=p), _pct(ok, n)) for p, (ok, n) in fp])],
            title=_("First-pass rate ({field} = {value})", field=r.title_of(r.first_pass.field), value=r.first_pass.passed),
            max_value=100)
    breakdowns = [charts.rows([(v, Bar(n, link(what="started", key=key, value=v))) for v, n in k.breakdown.get(key, [])],
                              title=_("By {field}", field=r.title_of(key)), color=charts.COLORS[2])
                  for key in r.breakdown]
    scores = None
    if d.scores:
        table = [{**row, "cells": [(lbl, n, link(what="started", key=row["key"], value=lbl)) for lbl, n in row["counts"]]}
                 for row in d.scores["rows"]]
        top = d.scores["top"]
        scores = {"labels": d.scores["labels"], "rows": table, "chart": charts.rows(
            [(row["title"], Bar(round(row["mean"], 2) if row["mean"] is not None else 0, None,
                                f"{row['mean']:.2f}" if row["mean"] is not None else "—")) for row in table],
            title=_("Mean score (max {top})", top=format(top, "g")), max_value=top, color=charts.COLORS[4])}
    return {"k": k, "steps": d.steps, "volume": volume, "durations": durations, "on_time": on_time,
            "first_pass": first_pass, "fp_total": d.first_pass_total, "breakdowns": breakdowns, "scores": scores,
            "link": link, "pct": _pct, "h": _h}


@bp.get("/kpi/<procedure_id>")
@login_required
def show(procedure_id: str):
    since, until, period, args = _range()
    d = kpis.dashboard(services(), signed_in_reader(), procedure_id, since=since, until=until, period=period)
    return render_template("kpi.html", proc=d.procedure, args=args, periods=kpis.PERIODS,
                           **charts_of(d, period, args))


@bp.get("/kpi/<procedure_id>/instances")
@login_required
def instances(procedure_id: str):
    """The instances behind one number of the dashboard, as a ledger."""
    since, until, period, args = _range()
    page, filters = page_arg(), ledger_filters()
    found = kpis.drill_down(services(), signed_in_reader(), procedure_id, since=since, until=until, period=period,
                            what=request.args.get("what") or "started", at=text_arg("p"),
                            step=text_arg("step"), key=text_arg("key"), value=text_arg("value"),
                            filters=filters, page=page)
    title = _("KPI drill-down") + ": " + " · ".join(found.what) + f" ({args['from']} – {args['to']})"
    return render_ledger(found.page, filters, page, extra={"title": title}, endpoint="kpi.instances")
