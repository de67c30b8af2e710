"""Ledgers (台帐): per procedure, the columns its YAML declares (``ledger:``), filterable and
sortable, 50 rows a page, exported as CSV or XLSX. The rows, and what is masked in them,
come from ``engine.app.ledgers``; this module parses the query and writes the pages and files.

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
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context

from engine.app import ledgers, spreadsheet
from engine.app.ledgers import STATUSES, LedgerExport, LedgerFilters, LedgerPage
from web.db import services
from web.html.audit import page_arg, text_arg
from web.html.auth import login_required
from web.i18n import display_zone, fmt_time
from web.oversight import parse_day, signed_in_reader

bp = Blueprint("ledgers", __name__)


@bp.get("/ledgers")
@login_required
def index():
    return render_template("ledgers.html", items=ledgers.ledgers(services(), signed_in_reader()))


def ledger_filters() -> LedgerFilters:
    """``f.COLUMN`` filters, status, from/to (days of the start), sort and dir of the query."""
    return LedgerFilters(
        columns={k[2:]: v for k in request.args if k.startswith("f.") and (v := text_arg(k))},
        status=request.args.get("status") or None,
        since=parse_day(request.args.get("from"), "from"),
        until=parse_day(request.args.get("to"), "to", end=True),
        sort=request.args.get("sort") or ledgers.DEFAULT_SORT,
        descending=(request.args.get("dir") or "desc") != "asc",
        match=m if (m := request.args.get("match")) in ledgers.MATCHES else "contains")


def shown(proc: Any, column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return fmt_time(value)
    return str(ledgers.cell_words(proc, column, value))


def render_ledger(found: LedgerPage, filters: LedgerFilters, page: int, *, extra: dict | None = None,
                  endpoint: str = "ledgers.show"):
    """The ledger page (also the KPI drill-down's, with its ``extra`` title and ``endpoint``)."""
    for r in found.rows:
        r["text"] = {c: shown(found.procedure, c, v) for c, v in r["cells"].items()}
    state = {"filters": found.filters, "status": filters.status or "", "sort": filters.sort,
             "dir": "desc" if filters.descending else "asc", "from": request.args.get("from") or "",
             "to": request.args.get("to") or "", "match": filters.match}
    return render_template("ledger.html", proc=found.procedure, ledger=found.ledger, rows=found.rows,
                           more=found.more, page=page, state=state, statuses=STATUSES, extra=extra or {},
                           matches=ledgers.MATCHES,
                           endpoint=endpoint, endpoint_args={"procedure_id": found.procedure.id},
                           masked=found.masked)


@bp.get("/ledgers/<procedure_id>")
@login_required
def show(procedure_id: str):
    page, filters = page_arg(), ledger_filters()
    return render_ledger(ledgers.ledger_page(services(), signed_in_reader(), procedure_id, filters, page=page),
                         filters, page)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return fmt_time(value)
    return "" if value is None else value


def _filename(export: LedgerExport, ext: str) -> str:
    from urllib.parse import quote

    name = f"{export.title}-{services().now().astimezone(display_zone()):%Y%m%d}.{ext}"  # the local date
    return f"attachment; filename=\"ledger-{export.procedure.id}.{ext}\"; filename*=UTF-8''{quote(name)}"


@bp.get("/ledgers/<procedure_id>.csv")
@login_required
def export_csv(procedure_id: str):
    export = ledgers.export_ledger(services(), signed_in_reader(), procedure_id, ledger_filters())

    def generate() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        buf.write("\ufeff")  # BOM: Excel then opens the UTF-8 file with Chinese intact
        writer.writerow([spreadsheet.to_csv(h) for h in export.headings])
        for i, row in enumerate(export.rows, start=1):
            writer.writerow([spreadsheet.to_csv(_cell(v)) for v in row])
            if i % 500 == 0:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    return Response(stream_with_context(generate()), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": _filename(export, "csv")})


def write_xlsx(path: str, title: str, headings: list[str], rows: Iterator[list[Any]]) -> int:
    """Write an XLSX file row by row in constant memory; returns the number of data rows."""
    import xlsxwriter

    book = xlsxwriter.Workbook(path, {"constant_memory": True, "tmpdir": os.path.dirname(path),
                                      **spreadsheet.XLSX_OPTIONS})
    sheet = book.add_worksheet(spreadsheet.sheet_name(title))
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
    export = ledgers.export_ledger(services(), signed_in_reader(), procedure_id, ledger_filters())
    tmpdir = tempfile.mkdtemp(prefix="ledger-")
    path = os.path.join(tmpdir, "ledger.xlsx")
    write_xlsx(path, export.title, export.headings, ([_cell(v) for v in row] for row in export.rows))

    def generate() -> Iterator[bytes]:
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(64 * 1024):
                    yield chunk
        finally:
            os.unlink(path)
            os.rmdir(tmpdir)

    return Response(generate(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": _filename(export, "xlsx"),
                             "Content-Length": str(os.path.getsize(path))})
