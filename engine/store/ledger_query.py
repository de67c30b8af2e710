"""Ledger (台帐) reads: one page of a procedure's instances with its declared columns,
filtered and sorted, and a bounded-memory stream of all matching rows for exports.

Form columns come from the field index, instance columns from the instances table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from sqlalchemy import Float, and_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from engine.language.forms.formats import instant_of, names_instant
from engine.language.records import FIRST
from engine.store.audit import as_stored, stored_reader
from engine.store.field_index import MAX_VALUE, value_at, whole_text_of
from engine.store.listed import one_of
from engine.store.tables import FieldIndex, Instance, InstanceStatus

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

INSTANCE_SORT = {"instance.id": "id", "instance.serial": "serial", "instance.started_at": "started_at",
                 "instance.ended_at": "ended_at", "instance.status": "status",
                 "instance.outcome": "outcome", "instance.started_by": "started_by",
                 "instance.procedure": "procedure_id"}


@dataclass(frozen=True)
class LedgerQuery:
    procedure: str
    columns: Sequence[str]                       # STEP.FIELD or instance.COLUMN
    filters: Mapping[str, str] = field(default_factory=dict)  # column -> text, matched as ``match`` says
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sort: str = "instance.started_at"
    descending: bool = True
    subset: Any = None  # a SELECT of instance ids (a KPI drill-down, see kpi_query.drill)
    # How a filter's text matches a value: "contains" (血液 finds 某市血液中心), "prefix"
    # (SN2026 finds SN20260001, and only prefix uses the index) or "exact".
    match: str = "contains"
    # Columns of numbers (a form's number or integer field): sorted as numbers, not as the
    # text the field index holds (100 after 9, not before).
    numeric: frozenset[str] = frozenset()
    # Instance times filtered by a span ``[start, end)`` (a local day, month... in UTC).
    spans: Mapping[str, tuple[datetime, datetime]] = field(default_factory=dict)
    # Form columns of date-times filtered by such a span: the instant each value names (one
    # without a zone is wall time in ``zone``) lies in it, whatever offset it was written with.
    instants: Mapping[str, tuple[datetime, datetime]] = field(default_factory=dict)
    zone: tzinfo = UTC


MATCHES = ("contains", "prefix", "exact")


class _AsNumber(FunctionElement):
    """An indexed text as the number it writes, so that a number column sorts as numbers; a
    text that is none (recorded under an older version whose field was text) is NULL on
    PostgreSQL and 0 on SQLite, and never an error."""

    type = Float()
    inherit_cache = True


@compiles(_AsNumber)
def _as_number(element: Any, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS REAL)"


@compiles(_AsNumber, "postgresql")
def _as_number_pg(element: Any, compiler: Any, **kw: Any) -> str:
    # PostgreSQL refuses to cast a text that is no number: only numbers are cast.
    value = compiler.process(element.clauses, **kw)
    return (f"CASE WHEN {value} ~ '^-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$' "
            f"THEN CAST({value} AS DOUBLE PRECISION) END")


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _matching(column: Any, text: str, match: str) -> Any:
    if match == "exact":
        return column == text
    pattern = escape_like(text) + "%"
    return column.like(pattern if match == "prefix" else "%" + pattern, escape="\\")


def _instant_in(text: str, start: datetime, end: datetime, zone: tzinfo) -> bool:
    """Whether a recorded date-time names an instant in ``[start, end)``: one with Z or an
    offset as written, one without as wall time in ``zone``; a text that reads as no time
    (recorded under an older version whose field was text) is in no span."""
    if names_instant(text):
        at = instant_of(text)
    else:
        try:
            at = datetime.fromisoformat(text).replace(tzinfo=zone)
        except ValueError:
            at = None
    return at is not None and start <= at < end


def _within(session: Session, q: LedgerQuery) -> dict[str, list[str]]:
    """The instances whose value of each ``instants`` column lies in its span. The index
    holds the text as recorded, whose date is that of its own offset (at most a day from
    the UTC one, either way): the rows a day around the span are read, and each is judged
    as the instant it names."""
    fi = FieldIndex.__table__
    out = {}
    for col, (start, end) in q.instants.items():
        low = (start.astimezone(UTC) - timedelta(days=1)).date().isoformat()
        high = (end.astimezone(UTC) + timedelta(days=2)).date().isoformat()
        rows = session.execute(select(fi.c.instance_id, fi.c.value).where(
            fi.c.procedure_id == q.procedure, fi.c.key == col, fi.c.value >= low, fi.c.value < high))
        out[col] = sorted({r.instance_id for r in rows if r.value and _instant_in(r.value, start, end, q.zone)})
    return out


def _base(q: LedgerQuery, within: Mapping[str, list[str]] | None = None, dialect: str = "sqlite") -> Any:
    inst, fi = Instance.__table__, FieldIndex.__table__
    stmt = select(inst.c.id, inst.c.serial, inst.c.procedure_id, inst.c.status, inst.c.outcome,
                  inst.c.started_at, inst.c.started_by, inst.c.ended_at).where(
        inst.c.procedure_id == q.procedure)
    if q.status:
        stmt = stmt.where(inst.c.status == InstanceStatus(q.status))
    if q.since:
        stmt = stmt.where(inst.c.started_at >= q.since)
    if q.until:
        stmt = stmt.where(inst.c.started_at < q.until)
    if q.subset is not None:
        stmt = stmt.where(inst.c.id.in_(q.subset))
    for col, (start, end) in q.spans.items():
        stmt = stmt.where(inst.c[INSTANCE_SORT[col]] >= start, inst.c[INSTANCE_SORT[col]] < end)
    for ids in (within or {}).values():
        # As one JSON parameter: a year of a busy desk matches more records than SQLite takes
        # parameters in a statement (32,766), one parameter per id was refused.
        stmt = stmt.where(one_of(dialect, inst.c.id, ids))
    for col, text in q.filters.items():
        if col in q.spans or col in q.instants:
            continue
        text = (text or "").strip()
        if not text:
            continue
        if col in INSTANCE_SORT:
            stmt = stmt.where(_matching(inst.c[INSTANCE_SORT[col]], text, q.match))
            continue
        stmt = stmt.where(inst.c.id.in_(select(fi.c.instance_id).where(
            fi.c.procedure_id == q.procedure, fi.c.key == col, _matching(fi.c.value, text, q.match))))
    if q.sort in INSTANCE_SORT:
        key = inst.c[INSTANCE_SORT[q.sort]]
        order = [key.desc(), inst.c.id.desc()] if q.descending else [key, inst.c.id]
    else:
        sort = fi.alias("sort")
        stmt = stmt.outerjoin(sort, and_(sort.c.instance_id == inst.c.id, sort.c.key == q.sort))
        value = _AsNumber(sort.c.value) if q.sort in q.numeric else sort.c.value
        order = ([value.desc(), inst.c.id.desc()] if q.descending
                 else [value, inst.c.id])
    return stmt.order_by(*order)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _values(session: Session, ids: Sequence[str], columns: Sequence[str]) -> dict[str, dict[str, str]]:
    keys = [c for c in columns if c not in INSTANCE_SORT]
    out: dict[str, dict[str, str]] = {i: {} for i in ids}
    if ids and keys:
        fi = FieldIndex.__table__
        for row in session.execute(select(fi.c.instance_id, fi.c.key, fi.c.value).where(
                one_of(_dialect(session), fi.c.instance_id, ids), fi.c.key.in_(keys))):
            out[row.instance_id][row.key] = row.value
        # The index keeps a text's first MAX_VALUE characters (enough to search and sort by);
        # a ledger shows and exports it whole, read from the record where it was cut.
        cut = {i: keys for i, cells in out.items()
               if (keys := [k for k, v in cells.items() if v is not None and len(v) >= MAX_VALUE and FIRST not in k])}
        if cut:
            inst = Instance.__table__
            read = stored_reader(session, inst.c.state)
            for row in session.execute(select(inst.c.id, as_stored(inst.c.state)).where(
                    one_of(_dialect(session), inst.c.id, sorted(cut)))):
                try:  # a state a hand made unreadable keeps the index's text
                    data = read(row.state).get("data")
                except (ValueError, TypeError, AttributeError):
                    continue
                if not isinstance(data, Mapping):
                    continue
                cells = out[row.id]
                for k in cut[row.id]:
                    whole = whole_text_of(value_at(data, k))
                    if whole is not None and whole.startswith(cells[k]):
                        cells[k] = whole
    return out


def _row(inst: Any, values: Mapping[str, str], columns: Sequence[str]) -> dict[str, Any]:
    own = {"instance.id": inst.id, "instance.serial": inst.serial, "instance.procedure": inst.procedure_id,
           "instance.status": getattr(inst.status, "value", inst.status),
           "instance.outcome": inst.outcome, "instance.started_at": inst.started_at,
           "instance.started_by": inst.started_by, "instance.ended_at": inst.ended_at}
    return {"id": inst.id, "cells": {c: own[c] if c in own else values.get(c) for c in columns}}


def ledger_page(session: Session, q: LedgerQuery, *, limit: int = 50,
                offset: int = 0) -> tuple[list[dict[str, Any]], bool]:
    """One page: ``([{id, cells: {column: value}}], more)``."""
    rows = session.execute(_base(q, _within(session, q), _dialect(session)).limit(limit + 1).offset(offset)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    values = _values(session, [r.id for r in rows], q.columns)
    return [_row(r, values[r.id], q.columns) for r in rows], more


def ledger_rows(session: Session, q: LedgerQuery, *, batch_size: int = 2000) -> Iterator[dict[str, Any]]:
    """Every matching row in ledger order, read page by page (a server-side cursor on
    PostgreSQL, ``yield_per`` batches elsewhere), so memory stays flat at any size."""
    result = session.execute(_base(q, _within(session, q), _dialect(session)).execution_options(yield_per=batch_size))
    for part in result.partitions(batch_size):
        values = _values(session, [r.id for r in part], q.columns)
        for r in part:
            yield _row(r, values[r.id], q.columns)
