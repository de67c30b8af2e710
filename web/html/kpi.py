"""The KPI dashboard of one procedure: started, completed, open, overdue now, on-time rate,
median and 90th-percentile duration, first-pass rate, breakdowns by choice fields, survey
score tables; by week or month; SVG charts; every number links to the instances behind it
(a drill-down shown as the procedure's ledger)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Blueprint, render_template, request, url_for

from engine.app.access import Reader, readable, require_procedure
from engine.store import kpi_rollup
from engine.store.kpi_query import PERIODS, drill, kpis
from web import charts
from web.charts import Bar
from web.db import reading, transaction, workflow
from web.errors import BadRequest
from web.html.audit import text_arg
from web.html.auth import login_required
from web.html.dossier import step_title
from web.html.ledgers import render_ledger
from web.i18n import _
from web.oversight import current_reader, parse_day

if TYPE_CHECKING:
    from engine.language.procedure import Procedure

bp = Blueprint("kpi", __name__)

WHAT = ("started", "completed", "open", "cancelled", "overdue", "late", "on_time", "done", "first_pass")


def _reader() -> Reader:
    reader = current_reader()
    assert reader is not None
    return reader


def _range() -> tuple[datetime, datetime, str, dict[str, str]]:
    """(since, until, period, args) from the query; the last 365 days by month by default."""
    period = request.args.get("period") or "month"
    if period not in PERIODS:
        raise BadRequest(f"'period' must be one of {', '.join(PERIODS)}",
                         errors=[{"field": "period", "message": "week or month"}])
    today = datetime.now(UTC).date()
    start = request.args.get("from") or (today - timedelta(days=364)).isoformat()
    end = request.args.get("to") or today.isoformat()
    since, until = parse_day(start, "from"), parse_day(end, "to", end=True)
    if until <= since:
        raise BadRequest("'to' is before 'from'; swap them", errors=[{"field": "to", "message": "before from"}])
    return since, until, period, {"from": start, "to": end, "period": period}


@bp.get("/kpi")
@login_required
def index():
    with reading() as s:
        procs = readable(workflow(), s, _reader())
    return render_template("kpi_index.html", items=[{"id": pid, "title": p.title} for pid, (p, _v) in sorted(procs.items())])


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.0f}%" if d else "—"


def _h(v: float | None) -> str:
    return "—" if v is None else f"{v:g} h"


def dashboard(proc: Procedure, since: datetime, until: datetime, period: str, args: dict[str, str]) -> dict[str, Any]:
    r = proc.records
    now = datetime.now(UTC)
    wf = workflow()
    with reading() as s:
        current = kpi_rollup.is_current(s, proc.id, wf.kpi_keys(s, proc.id))
    if not current:
        with transaction() as s:
            wf.refresh_kpis(s, proc.id)
    with reading() as s:
        k = kpis(s, proc.id, since, until, period, now,
                 first_pass=(r.first_pass.field, r.first_pass.passed) if r.first_pass else None,
                 breakdown=r.breakdown, scores=r.scores.fields if r.scores else ())

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
    steps = [{**st, "title": step_title(proc, st["step"])} for st in k.steps]
    on_time = charts.rows([(st["title"], Bar(100 * (st["on_time_rate"] or 0), link(what="late", step=st["step"]),
                                             _pct(st["on_time"], st["with_due"])))
                           for st in steps if st["with_due"]], title=_("On-time rate per step"), max_value=100,
                          color=charts.COLORS[1])
    first_pass = None
    if r.first_pass:
        fp = [(p, k.first_pass.get(p, (0, 0))) for p in labels]
        first_pass = charts.columns(labels, [(_("first-pass rate"), [
            Bar(100 * ok / n if n else 0, link(what="started", p=p, key=r.first_pass.field + "@first",
                                               value=r.first_pass.passed), _pct(ok, n)) for p, (ok, n) in fp])],
            title=_("First-pass rate ({field} = {value})", field=r.title_of(r.first_pass.field), value=r.first_pass.passed),
            max_value=100)
    breakdowns = [charts.rows([(v, Bar(n, link(what="started", key=key, value=v))) for v, n in k.breakdown.get(key, [])],
                              title=_("By {field}", field=r.title_of(key)), color=charts.COLORS[2])
                  for key in r.breakdown]
    scores = None
    if r.scores:
        labels_ = [label for label, _v in r.scores.values]
        value_of = dict(r.scores.values)
        table = []
        for key in r.scores.fields:
            counts = k.scores.get(key, {})
            n = sum(counts.get(lbl, 0) for lbl in labels_)
            mean = sum(counts.get(lbl, 0) * value_of[lbl] for lbl in labels_) / n if n else None
            table.append({"key": key, "title": r.title_of(key), "n": n, "mean": mean,
                          "cells": [(lbl, counts.get(lbl, 0), link(what="started", key=key, value=lbl)) for lbl in labels_]})
        top = max(v for _l, v in r.scores.values)
        scores = {"labels": labels_, "rows": table, "chart": charts.rows(
            [(row["title"], Bar(round(row["mean"], 2) if row["mean"] is not None else 0, None,
                                f"{row['mean']:.2f}" if row["mean"] is not None else "—")) for row in table],
            title=_("Mean score (max {top})", top=f"{top:g}"), max_value=top, color=charts.COLORS[4])}
    fp_total = (sum(ok for ok, _n in k.first_pass.values()), sum(n for _ok, n in k.first_pass.values()))
    return {"k": k, "steps": steps, "volume": volume, "durations": durations, "on_time": on_time,
            "first_pass": first_pass, "fp_total": fp_total, "breakdowns": breakdowns, "scores": scores,
            "link": link, "pct": _pct, "h": _h}


@bp.get("/kpi/<procedure_id>")
@login_required
def show(procedure_id: str):
    reader = _reader()
    since, until, period, args = _range()
    with reading() as s:
        proc, _v = require_procedure(workflow(), s, reader, procedure_id)
    return render_template("kpi.html", proc=proc, args=args, periods=PERIODS,
                           **dashboard(proc, since, until, period, args))


@bp.get("/kpi/<procedure_id>/instances")
@login_required
def instances(procedure_id: str):
    """The instances behind one number of the dashboard, as a ledger."""
    reader = _reader()
    since, until, period, args = _range()
    what = request.args.get("what") or "started"
    if what not in WHAT:
        raise BadRequest(f"'what' must be one of {', '.join(WHAT)}", errors=[{"field": "what", "message": "unknown"}])
    step, key, value, p = text_arg("step"), text_arg("key"), text_arg("value"), text_arg("p")
    with reading() as s:
        proc, _v = require_procedure(workflow(), s, reader, procedure_id)
        subset = drill(s, proc.id, what=what, since=since, until=until, period=p, period_kind=period,
                       step=step, key=key, value=value, now=datetime.now(UTC))
    parts = [_(what)] + [x for x in (p, step and step_title(proc, step),
                                     key and f"{proc.records.title_of(key.removesuffix('@first'))} = {value}") if x]
    title = f"{_('KPI drill-down')}: " + " · ".join(parts) + f" ({args['from']} – {args['to']})"
    return render_ledger(proc, reader, subset=subset, extra={"title": title}, endpoint="kpi.instances",
                         endpoint_args={"procedure_id": proc.id})
