"""Use cases of the KPI dashboards: the procedures a reader may see figures of, one
procedure's figures over a range (started, completed, open, overdue now, on-time rate,
durations, first-pass rate, breakdowns, survey scores; by week or month), and the
instances behind one figure (a drill-down, shown as the procedure's ledger).

A drill-down by a field's value (``key``/``value``) lists the instances holding that
value, so it tells the value: it is limited to the fields the dashboard counts (breakdowns,
scores, the first-pass field) and, on a sensitive field, refused without clearance and
logged with it. A breakdown on a sensitive field (validate refuses new ones; an installed
older version may still declare one) shows its values masked to readers without clearance.

The figures are read from daily aggregates (``engine.store.kpi_rollup``); a dashboard
first brings those of its procedure up to date when a step has changed them since.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.app.access import Reader, readable, require_procedure
from engine.app.audit import step_title
from engine.app.ledgers import LedgerFilters, LedgerPage, rows_page
from engine.app.masking import (
    MASK,
    across_versions,
    log_reading_back,
    record_views,
    refuse_reading_back,
    sensitive_columns,
)
from engine.errors import QueryInvalid
from engine.i18n import _
from engine.language.english import titled
from engine.store import kpi_rollup
from engine.store.kpi_query import PERIODS, Kpis, drill, kpis

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from sqlalchemy.orm import Session

    from engine.app.services import Services
    from engine.language.procedure import Procedure

__all__ = ["PERIODS", "WHAT", "Dashboard", "DrillDown", "dashboard", "drill_down", "procedures"]

# The figures a drill-down can list the instances of.
WHAT = ("started", "completed", "open", "cancelled", "overdue", "late", "on_time", "done", "first_pass")


def procedures(services: Services, reader: Reader) -> list[dict[str, str]]:
    """The procedures whose dashboards the reader may see, by id, titled in the reader's language."""
    with services.database.reading() as s:
        procs = readable(services.workflow, s, reader)
    return [{"id": pid, "title": titled(p)} for pid, (p, _v) in sorted(procs.items())]


def _check_range(since: datetime, until: datetime, period: str) -> None:
    if period not in PERIODS:
        raise QueryInvalid(_("'period' must be one of {choices}", choices=", ".join(PERIODS)),
                           errors=[{"field": "period", "message": _("week or month")}])
    if until <= since:
        raise QueryInvalid(_("'to' is before 'from'; swap them"),
                           errors=[{"field": "to", "message": _("before 'from'")}])


def _titles(services: Services, session: Session, proc: Procedure) -> Callable[[str | None], str]:
    """A step's title as people read it: the current version's, else that of the latest
    version that had the step (a step renamed or removed keeps its records' tasks, counted
    under its id, and they were shown as the bare id "verify")."""
    older = [rt.procedure for rt in reversed(services.workflow.versions(session, proc.id))]

    def title(sid: str | None) -> str:
        if sid and sid not in proc.steps and sid != "start":
            for old in older:
                if sid in old.steps:
                    return step_title(old, sid)
        return step_title(proc, sid)
    return title


@dataclass
class Dashboard:
    """The figures of one procedure: ``kpis`` as the store counts them, the steps with their
    titles, the first-pass total ``(passed, all)`` and the survey score table (``None``
    unless the procedure declares ``scores``: labels, the highest value, and per item its
    counts per label, answers and mean)."""

    procedure: Procedure
    kpis: Kpis
    steps: list[dict[str, Any]]
    first_pass_total: tuple[int, int]
    scores: dict[str, Any] | None


def _scores(proc: Procedure, k: Kpis) -> dict[str, Any] | None:
    r = proc.records
    if not r.scores:
        return None
    labels = [label for label, _v in r.scores.values]
    value_of = dict(r.scores.values)
    rows = []
    for key in r.scores.fields:
        counts = k.scores.get(key, {})
        n = sum(counts.get(lbl, 0) for lbl in labels)
        mean = sum(counts.get(lbl, 0) * value_of[lbl] for lbl in labels) / n if n else None
        rows.append({"key": key, "title": r.title_of(key), "n": n, "mean": mean,
                     "counts": [(lbl, counts.get(lbl, 0)) for lbl in labels]})
    return {"labels": labels, "rows": rows, "top": max(v for _l, v in r.scores.values)}


def dashboard(services: Services, reader: Reader, procedure_id: str, *, since: datetime,
              until: datetime, period: str) -> Dashboard:
    """The dashboard of a procedure the reader may read, over ``[since, until)`` by
    ``period`` (week or month)."""
    _check_range(since, until, period)
    wf = services.workflow
    with services.database.reading() as s:
        proc, _v = require_procedure(wf, s, reader, procedure_id)
        every = across_versions(wf, s, proc)
        title = _titles(services, s, proc)
        current = kpi_rollup.is_current(s, proc.id, wf.kpi_keys(s, proc.id), services.config.timezone)
        judged = wf.first_pass_of(s, proc.id) if proc.records.first_pass else {}
    if not current:
        with services.database.writing() as s:
            wf.refresh_kpis(s, proc.id)
    r = proc.records
    secret = sensitive_columns(every, r.breakdown)
    with services.database.reading() as s:
        k = kpis(s, proc.id, since, until, period, services.now(), services.config.timezone,
                 first_pass=(r.first_pass.field, r.first_pass.passed) if r.first_pass else None, first_pass_of=judged,
                 breakdown=r.breakdown, scores=r.scores.fields if r.scores else ())
    for key in secret & set(k.breakdown):
        if not reader.cleared:
            k.breakdown[key] = [(MASK, sum(n for _v, n in k.breakdown[key]))] if k.breakdown[key] else []
    if reader.cleared and secret:
        record_views(services.database, reader, [("*", proc.id, sorted(secret))], "kpi")
    return Dashboard(
        procedure=proc, kpis=k,
        steps=[{**st, "title": title(st["step"])} for st in k.steps],
        first_pass_total=(sum(ok for ok, _n in k.first_pass.values()), sum(n for _ok, n in k.first_pass.values())),
        scores=_scores(proc, k))


@dataclass
class DrillDown:
    """The instances behind one figure, as a ledger page, and what the figure is (its name,
    period, step and field value as people read them)."""

    page: LedgerPage
    what: list[str]


def drill_down(services: Services, reader: Reader, procedure_id: str, *, since: datetime,
               until: datetime, period: str, what: str, at: str | None = None, step: str | None = None,
               key: str | None = None, value: str | None = None, filters: LedgerFilters,
               page: int = 1) -> DrillDown:
    """The instances counted in one figure of the dashboard: ``what`` (``WHAT``) in the
    period labelled ``at`` (all of the range when None), of ``step``, with ``key`` (a field,
    ``FIELD@first`` for its first answer) equal to ``value``; masked and logged as the
    ledger is."""
    _check_range(since, until, period)
    if what not in WHAT:
        raise QueryInvalid(_("'what' must be one of {choices}", choices=", ".join(WHAT)),
                           errors=[{"field": "what", "message": _("unknown value")}])
    with services.database.reading() as s:
        proc, _v = require_procedure(services.workflow, s, reader, procedure_id)
        every = across_versions(services.workflow, s, proc)
        title = _titles(services, s, proc)
    if key is not None:
        field = key.removesuffix("@first")
        if key not in proc.records.kpi_keys and field not in proc.records.kpi_keys:
            counted = ", ".join(sorted(proc.records.kpi_keys)) or _("none")
            raise QueryInvalid(_("'key' must be a field the dashboard counts ({counted}), not '{key}'",
                                 counted=counted, key=key),
                               errors=[{"field": "key", "message": _("not a counted field")}])
        secret = sensitive_columns(every, [field])
        refuse_reading_back(reader, secret, {field: proc.records.title_of(field)})
        log_reading_back(services.database, reader, proc.id, secret, "kpi-drill")
    with services.database.reading() as s:
        fp = proc.records.first_pass
        subset = drill(s, proc.id, what=what, since=since, until=until, period=at, period_kind=period,
                       step=step, key=key, value=value, now=services.now(),
                       zone=services.config.timezone, first_pass=(fp.field, fp.passed) if fp else None,
                       first_pass_of=services.workflow.first_pass_of(s, proc.id) if fp else None)
    parts = [_(what)] + [x for x in (at, step and title(step),
                                     key and f"{proc.records.title_of(key.removesuffix('@first'))} = {value}") if x]
    return DrillDown(rows_page(services, reader, proc, filters, page=page, subset=subset), parts)
