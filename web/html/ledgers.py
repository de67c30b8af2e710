"""Ledgers (台帐): per procedure, the columns its YAML declares (``ledger:``), filterable and
sortable, 50 rows a page, exported as CSV or XLSX.

Exports stream: CSV row by row; XLSX through XlsxWriter's ``constant_memory`` mode, which
flushes each row to a temporary file as it is written, so memory stays flat whatever the
number of rows; the finished file is then sent in chunks and deleted.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, render_template, request, stream_with_context

from engine.app.access import Reader, readable, require_procedure
from engine.app.masking import MASK, record_views, sensitive_columns, sensitive_keys, top_key
from engine.errors import NotFound
from engine.language.records import INSTANCE_COLUMNS, Column, Ledger
from engine.store.ledger_query import LedgerQuery, ledger_page, ledger_rows
from web.db import reading, services, workflow
from web.errors import BadRequest
from web.html.audit import page_arg, text_arg
from web.html.auth import login_required
from web.i18n import _, fmt_time
from web.oversight import current_reader, parse_day

if TYPE_CHECKING:
    from engine.language.procedure import Procedure

bp = Blueprint("ledgers", __name__)

PAGE = 50
STATUSES = ("running", "completed", "cancelled")


def _reader() -> Reader:
    reader = current_reader()
    assert reader is not None
    return reader


@bp.get("/ledgers")
@login_required
def index():
    with reading() as s:
        procs = readable(workflow(), s, _reader())
    items = [{"id": pid, "title": p.records.ledger.title or p.title, "procedure": p.title,
              "columns": len(p.records.ledger.columns)}
             for pid, (p, _v) in sorted(procs.items()) if p.records.ledger]
    return render_template("ledgers.html", items=items)


DEFAULT_LEDGER = Ledger("", tuple(Column(f, INSTANCE_COLUMNS[f]) for f in (
    "instance.id", "instance.started_at", "instance.started_by", "instance.status",
    "instance.outcome", "instance.ended_at")))


def ledger_of(proc: Procedure, *, fallback: bool = False) -> Ledger:
    if proc.records.ledger is not None:
        return proc.records.ledger
    if fallback:
        return DEFAULT_LEDGER
    raise NotFound(f"procedure '{proc.id}' declares no ledger; add 'ledger:' to its YAML "
                   "(see docs/procedure-language.md)")


def ledger_query(proc: Procedure, *, subset: Any = None) -> tuple[LedgerQuery, dict[str, Any]]:
    """The ledger's query from the request: ``f.COLUMN`` filters, status, from/to, sort, dir."""
    columns = [c.field for c in ledger_of(proc, fallback=subset is not None).columns]
    filters = {c: v for c in columns if (v := text_arg(f"f.{c}"))}
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"'status' must be one of {', '.join(STATUSES)}",
                         errors=[{"field": "status", "message": "unknown status"}])
    sort = request.args.get("sort") or "instance.started_at"
    if sort not in columns and sort != "instance.started_at":
        raise BadRequest(f"cannot sort by '{sort}': sort by one of the ledger's columns ({', '.join(columns)})",
                         errors=[{"field": "sort", "message": "not a column"}])
    descending = (request.args.get("dir") or "desc") != "asc"
    q = LedgerQuery(proc.id, columns, filters=filters, status=status,
                    since=parse_day(request.args.get("from"), "from"),
                    until=parse_day(request.args.get("to"), "to", end=True),
                    sort=sort, descending=descending, subset=subset)
    return q, {"filters": filters, "status": status or "", "sort": sort,
               "dir": "desc" if descending else "asc", "from": request.args.get("from") or "",
               "to": request.args.get("to") or ""}


def shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return fmt_time(value)
    return _(value) if value in STATUSES else str(value)


def masked_rows(rows: list[dict], keys: frozenset[str], reader: Reader) -> tuple[list[dict], list[tuple]]:
    """Rows with sensitive columns masked for readers without clearance; views to log (by
    the field at the top of the form: ``visit.site`` for a column ``visit.site.mobile``)."""
    views = []
    for r in rows:
        hit = [k for k in keys if r["cells"].get(k) not in (None, "")]
        if reader.cleared:
            views.append((r["id"], "", {top_key(k) for k in hit}))
        else:
            for k in hit:
                r["cells"][k] = MASK
    return rows, views


def render_ledger(proc: Procedure, reader: Reader, *, subset: Any = None, extra: dict | None = None,
                  endpoint: str = "ledgers.show", endpoint_args: dict | None = None):
    q, state = ledger_query(proc, subset=subset)
    page = page_arg()
    keys = sensitive_columns(sensitive_keys(proc), q.columns)
    with reading() as s:
        rows, more = ledger_page(s, q, limit=PAGE, offset=(page - 1) * PAGE)
    rows, views = masked_rows(rows, keys, reader)
    record_views(services().database, reader, [(i, proc.id, f) for i, _p, f in views], "ledger")
    for r in rows:
        r["text"] = {c: shown(v) for c, v in r["cells"].items()}
    return render_template("ledger.html", proc=proc, ledger=ledger_of(proc, fallback=True), rows=rows,
                           more=more, page=page, state=state, statuses=STATUSES, extra=extra or {},
                           endpoint=endpoint, endpoint_args=endpoint_args or {"procedure_id": proc.id},
                           masked=bool(keys) and not reader.cleared)


@bp.get("/ledgers/<procedure_id>")
@login_required
def show(procedure_id: str):
    reader = _reader()
    with reading() as s:
        proc, _v = require_procedure(workflow(), s, reader, procedure_id)
    return render_ledger(proc, reader)


def _export_rows(proc: Procedure, reader: Reader) -> tuple[list[str], Iterator[list[Any]]]:
    """Headings and a generator of cell lists (masked as on screen) for an export."""
    q, _state = ledger_query(proc)
    keys = sensitive_columns(sensitive_keys(proc), q.columns)
    headings = [c.title for c in ledger_of(proc).columns]
    if keys and reader.cleared:
        record_views(services().database, reader, [("*", proc.id, sorted({top_key(k) for k in keys}))], "ledger-export")

    def rows() -> Iterator[list[Any]]:
        with reading() as s:
            for r in ledger_rows(s, q):
                yield [MASK if (k in keys and not reader.cleared and r["cells"][k] not in (None, ""))
                       else _cell(r["cells"][k]) for k in q.columns]

    return headings, rows()


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return fmt_time(value)
    return "" if value is None else value


def _filename(proc: Procedure, ext: str) -> str:
    from urllib.parse import quote

    name = f"{proc.records.ledger.title or proc.title}-{datetime.now():%Y%m%d}.{ext}"
    return f"attachment; filename=\"ledger-{proc.id}.{ext}\"; filename*=UTF-8''{quote(name)}"


@bp.get("/ledgers/<procedure_id>.csv")
@login_required
def export_csv(procedure_id: str):
    reader = _reader()
    with reading() as s:
        proc, _v = require_procedure(workflow(), s, reader, procedure_id)
    headings, rows = _export_rows(proc, reader)

    def generate() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        buf.write("\ufeff")  # BOM: Excel then opens the UTF-8 file with Chinese intact
        writer.writerow(headings)
        for i, row in enumerate(rows, start=1):
            writer.writerow(row)
            if i % 500 == 0:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    return Response(stream_with_context(generate()), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": _filename(proc, "csv")})


def write_xlsx(path: str, title: str, headings: list[str], rows: Iterator[list[Any]]) -> int:
    """Write an XLSX file row by row in constant memory; returns the number of data rows."""
    import xlsxwriter

    book = xlsxwriter.Workbook(path, {"constant_memory": True, "tmpdir": os.path.dirname(path)})
    sheet = book.add_worksheet((title or "ledger")[:31])
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, headings, bold)
    sheet.freeze_panes(1, 0)
    n = 0
    for n, row in enumerate(rows, start=1):
        sheet.write_row(n, 0, row)
    book.close()
    return n


@bp.get("/ledgers/<procedure_id>.xlsx")
@login_required
def export_xlsx(procedure_id: str):
    reader = _reader()
    with reading() as s:
        proc, _v = require_procedure(workflow(), s, reader, procedure_id)
    headings, rows = _export_rows(proc, reader)
    tmpdir = tempfile.mkdtemp(prefix="ledger-")
    path = os.path.join(tmpdir, "ledger.xlsx")
    write_xlsx(path, proc.records.ledger.title or proc.title, headings, rows)

    def generate() -> Iterator[bytes]:
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(64 * 1024):
                    yield chunk
        finally:
            os.unlink(path)
            os.rmdir(tmpdir)

    return Response(generate(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": _filename(proc, "xlsx"),
                             "Content-Length": str(os.path.getsize(path))})
