"""Use cases of the ledgers (台帐): the list of ledgers a reader may open, one page of a
procedure's ledger (its declared columns, filtered and sorted) and the rows of an export.

Sensitive columns are masked for readers without clearance, on the page and in exports
alike; a cleared reader's view of them is logged (``engine.app.masking``). Filtering or
sorting by a sensitive column would tell its values through which rows match (or in which
order), so it is refused for readers without clearance and logged for cleared ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from engine.app.access import Reader, readable, require_procedure
from engine.app.instances import STATUSES
from engine.app.masking import (
    MASK,
    across_versions,
    log_reading_back,
    record_views,
    refuse_reading_back,
    sensitive_columns,
    top_key,
)
from engine.errors import NotFound, QueryInvalid
from engine.i18n import _, current_locale, reader_locale
from engine.language.english import titled
from engine.language.forms.formats import instant_of, names_instant
from engine.language.records import INSTANCE_COLUMNS, INSTANCE_TIMES, Column, Ledger
from engine.store import ledger_query
from engine.store.ledger_query import LedgerQuery

if TYPE_CHECKING:
    from engine.app.services import Services
    from engine.language.procedure import Procedure

PAGE = 50
DEFAULT_SORT = "instance.started_at"


MATCHES = ledger_query.MATCHES


@dataclass(frozen=True)
class LedgerFilters:
    """How to narrow and order a ledger: ``columns`` maps a column (``STEP.FIELD`` or
    ``instance.COLUMN``) to the text its values contain (or start with, or equal: ``match``);
    filters on columns the ledger does not show are ignored."""

    columns: Mapping[str, str] = field(default_factory=dict)
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sort: str = DEFAULT_SORT
    descending: bool = True
    match: str = "contains"


DEFAULT_LEDGER = Ledger("", tuple(Column(f, INSTANCE_COLUMNS[f]) for f in (
    "instance.id", "instance.started_at", "instance.started_by", "instance.status",
    "instance.outcome", "instance.ended_at")))


def ledger_of(proc: Procedure, *, fallback: bool = False) -> Ledger:
    """The ledger the procedure declares; the instance columns for a KPI drill-down
    (``fallback``) of a procedure that declares none."""
    if proc.records.ledger is not None:
        return proc.records.ledger
    if fallback:
        return DEFAULT_LEDGER
    raise NotFound(_("procedure '{id}' declares no ledger; add 'ledger:' to its YAML "
                     "(see docs/procedure-language.md)", id=proc.id))


def ledgers(services: Services, reader: Reader) -> list[dict[str, Any]]:
    """The ledgers of the procedures the reader may read, by procedure id, titled in the
    reader's language (a ledger's own title has no English: an English page names it by its
    procedure's English title where the procedure gives one)."""
    with services.database.reading() as s:
        procs = readable(services.workflow, s, reader)
    return [{"id": pid, "title": _ledger_title(p), "procedure": titled(p),
             "columns": len(p.records.ledger.columns)}
            for pid, (p, _v) in sorted(procs.items()) if p.records.ledger]


def _ledger_title(proc: Procedure) -> str:
    english = titled(proc) if reader_locale() == "en" else proc.title
    if english != proc.title:
        return english
    return (proc.records.ledger.title if proc.records.ledger else "") or proc.title


def column_kinds(proc: Procedure, columns: Iterable[str]) -> dict[str, str]:
    """The form columns whose values are no plain text, by what they hold: ``number`` (a
    number or integer field), ``boolean`` or ``date-time``. The field index keeps every value
    as text; ``typed`` gives such a value back its type for the page and the exports."""
    kinds = {}
    for column in columns:
        sid, _sep, path = column.partition(".")
        form = proc.form_of(sid) if sid == "start" or sid in proc.steps else None
        info = form.fields.get(path) if form else None
        if info is None:
            continue
        if info.type in ("number", "integer"):
            kinds[column] = "number"
        elif info.type == "boolean":
            kinds[column] = "boolean"
        elif info.type == "string" and info.widget == "datetime":  # format: date-time
            kinds[column] = "date-time"
    return kinds


_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def typed(kind: str | None, value: Any) -> Any:
    """An indexed text of a column of ``kind`` (``column_kinds``) as what it was recorded as:
    a number (a spreadsheet sums it; the guard against formulas leaves -5 alone), yes/no, or
    an instant (shown in the display zone, as every time; a date-time typed without a zone
    is the wall time people typed). A text that does not read so (recorded under an older
    version whose field was text) stays as it is."""
    if kind is None or not isinstance(value, str):
        return value
    if kind == "number" and _NUMBER.match(value):
        number = float(value)
        if math.isfinite(number):
            return int(value) if value.lstrip("-").isdigit() else number
    elif kind == "boolean" and value in ("true", "false"):
        return value == "true"
    elif kind == "date-time" and "T" in value:
        if not names_instant(value):
            return value.replace("T", " ")
        return instant_of(value) or value
    return value


_SPAN = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?)?)?$")


def time_span(column: str, title: str, text: str, zone: tzinfo) -> tuple[datetime, datetime]:
    """A filter on a time column (登记时间, or a form's date-time field) as the span of local
    time it names, in UTC: the page shows ``2026-12-01 00:30`` in the display zone, so
    ``2026-12-01`` is that local day (not the UTC text the database holds), ``2026-12`` the
    month, ``2026`` the year, ``2026-12-01 00:30`` the minute."""
    m = _SPAN.match(text.strip())
    try:
        if m is None:
            raise ValueError(text)
        y, mo, d, h, mi = (int(g) if g else None for g in m.groups())
        start = datetime(y, mo or 1, d or 1, h or 0, mi or 0)  # type: ignore[arg-type]
        if mi is not None:
            end = start + timedelta(minutes=1)
        elif d is not None:
            end = start + timedelta(days=1)
        elif mo is not None:
            end = datetime(y + (mo == 12), mo % 12 + 1, 1)  # type: ignore[operator]
        else:
            end = datetime(y + 1, 1, 1)  # type: ignore[operator]
    except (ValueError, OverflowError) as exc:
        raise QueryInvalid(_("'{title}' is a time: filter it by a day written YYYY-MM-DD (or a month "
                             "YYYY-MM, a year YYYY, a minute YYYY-MM-DD HH:MM), not '{value}'",
                             title=title, value=text),
                           errors=[{"field": f"f.{column}", "message": _("a date written YYYY-MM-DD")}]) from exc
    return (start.replace(tzinfo=zone).astimezone(UTC), end.replace(tzinfo=zone).astimezone(UTC))


def _query(proc: Procedure, ledger: Ledger, filters: LedgerFilters, subset: Any = None,
           zone: tzinfo = UTC) -> LedgerQuery:
    columns = [c.field for c in ledger.columns]
    titles = {c.field: c.title for c in ledger.columns}
    kinds = column_kinds(proc, columns)
    if filters.status is not None and filters.status not in STATUSES:
        raise QueryInvalid(_("'status' must be one of {choices}", choices=", ".join(STATUSES)),
                           errors=[{"field": "status", "message": _("unknown status")}])
    if filters.sort not in columns and filters.sort != DEFAULT_SORT:
        raise QueryInvalid(_("cannot sort by '{sort}': sort by one of the ledger's columns ({columns})",
                             sort=filters.sort, columns=", ".join(columns)),
                           errors=[{"field": "sort", "message": _("not a column")}])
    return LedgerQuery(proc.id, columns, filters={c: v for c, v in filters.columns.items() if c in columns and v},
                       status=filters.status, since=filters.since, until=filters.until,
                       sort=filters.sort, descending=filters.descending, subset=subset, match=filters.match,
                       numeric=frozenset(c for c, k in kinds.items() if k == "number"),
                       spans={c: time_span(c, titles[c], v, zone) for c, v in filters.columns.items()
                              if c in INSTANCE_TIMES and c in columns and v and v.strip()},
                       instants={c: time_span(c, titles[c], v, zone) for c, v in filters.columns.items()
                                 if kinds.get(c) == "date-time" and c in columns and v and v.strip()},
                       zone=zone)


def _guard(services: Services, reader: Reader, proc: Procedure, ledger: Ledger, q: LedgerQuery,
           sensitive: frozenset[str], view: str) -> None:
    """Refuse (no clearance) or log (cleared) the filters and the sort on sensitive columns."""
    titles = {c.field: c.title for c in ledger.columns}
    filtered = [c for c in q.filters if c in sensitive]
    sorted_by = [q.sort] if q.sort in sensitive else []
    refuse_reading_back(reader, [*filtered, *sorted_by], titles)
    log_reading_back(services.database, reader, proc.id, filtered, f"{view}-filter")
    log_reading_back(services.database, reader, proc.id, sorted_by, f"{view}-sort")


def cell_words(proc: Procedure, column: str, value: Any, locale: str | None = None) -> Any:
    """A cell as people read it, on the page and in the exports alike: a record's status and an
    approval's decision (stored as ``completed``, ``approve``...) in the reader's language (or
    ``locale``: an export is written after its request has ended); every other value as
    recorded (a yes/no field's value, given back its type by ``typed``, as a word)."""
    if isinstance(value, bool):
        return _("yes", locale) if value else _("no", locale)
    if column == "instance.status" and value in STATUSES:
        return _(value, locale)
    sid, _sep, name = column.partition(".")
    step = proc.steps.get(sid)
    if name == "decision" and step is not None and step.type == "approval" and value in ("approve", "reject"):
        return _(value, locale)
    return value


@dataclass
class LedgerPage:
    """One page of a ledger: rows ``{id, cells: {column: value}}`` (sensitive cells masked
    unless the reader is cleared), whether a next page exists, and whether anything is
    masked for this reader."""

    procedure: Procedure
    ledger: Ledger
    rows: list[dict[str, Any]]
    more: bool
    masked: bool
    filters: dict[str, str]


def rows_page(services: Services, reader: Reader, proc: Procedure, filters: LedgerFilters, *,
              page: int, subset: Any = None) -> LedgerPage:
    """A page of ``proc``'s ledger, restricted to the instance ids of ``subset`` (a KPI
    drill-down) when given; for a procedure the reader may read (checked by the caller)."""
    ledger = ledger_of(proc, fallback=subset is not None)
    q = _query(proc, ledger, filters, subset, services.config.timezone)
    with services.database.reading() as s:
        keys = sensitive_columns(across_versions(services.workflow, s, proc), q.columns)
    _guard(services, reader, proc, ledger, q, keys, "ledger")
    with services.database.reading() as s:
        rows, more = ledger_query.ledger_page(s, q, limit=PAGE, offset=(page - 1) * PAGE)
    kinds = column_kinds(proc, q.columns)
    views = []
    for r in rows:
        for k, kind in kinds.items():
            r["cells"][k] = typed(kind, r["cells"].get(k))
        hit = [k for k in keys if r["cells"].get(k) not in (None, "")]
        if reader.cleared:
            # logged by the field at the top of the form: visit.site for visit.site.mobile
            views.append((r["id"], proc.id, {top_key(k) for k in hit}))
        else:
            for k in hit:
                r["cells"][k] = MASK
    record_views(services.database, reader, views, "ledger")
    return LedgerPage(proc, ledger, rows, more, masked=bool(keys) and not reader.cleared,
                      filters=dict(q.filters))


def ledger_page(services: Services, reader: Reader, procedure_id: str, filters: LedgerFilters, *,
                page: int = 1) -> LedgerPage:
    """One page of a procedure's ledger (50 rows), for a reader who may read the procedure."""
    with services.database.reading() as s:
        proc, _v = require_procedure(services.workflow, s, reader, procedure_id)
    return rows_page(services, reader, proc, filters, page=page)


@dataclass
class LedgerExport:
    """An export: the sheet's title, the column headings (a column of times names the zone
    its cells are written in: ``登记时间 (Asia/Shanghai)``) and the rows (lists of values,
    masked as on screen; times as instants, for the writer to show in that zone), read from
    the database as they are consumed."""

    procedure: Procedure
    title: str
    headings: list[str]
    rows: Iterator[list[Any]]


def export_ledger(services: Services, reader: Reader, procedure_id: str,
                  filters: LedgerFilters) -> LedgerExport:
    """Every row of the ledger that ``filters`` match, for CSV or XLSX. A cleared reader's
    export is logged once, as a view of every sensitive column of every instance."""
    with services.database.reading() as s:
        proc, _v = require_procedure(services.workflow, s, reader, procedure_id)
        every = across_versions(services.workflow, s, proc)
    ledger = ledger_of(proc)
    q = _query(proc, ledger, filters, zone=services.config.timezone)
    keys = sensitive_columns(every, q.columns)
    _guard(services, reader, proc, ledger, q, keys, "ledger-export")
    if keys and reader.cleared:
        record_views(services.database, reader, [("*", proc.id, sorted({top_key(k) for k in keys}))],
                     "ledger-export")

    locale = current_locale()
    kinds = column_kinds(proc, q.columns)

    def rows() -> Iterator[list[Any]]:
        with services.database.reading() as s:
            for r in ledger_query.ledger_rows(s, q):
                yield [MASK if (k in keys and not reader.cleared and r["cells"][k] not in (None, ""))
                       else cell_words(proc, k, typed(kinds.get(k), r["cells"][k]), locale) for k in q.columns]

    zone = services.config.timezone.key
    headings = [f"{c.title} ({zone})" if c.field in INSTANCE_TIMES or kinds.get(c.field) == "date-time"
                else c.title for c in ledger.columns]
    return LedgerExport(proc, ledger.title or proc.title, headings, rows())
