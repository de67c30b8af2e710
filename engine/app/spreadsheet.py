"""Cells of the files people open in a spreadsheet program: the ledger's CSV and XLSX
exports, the organisation chart's CSV (export and import).

A text that an operator typed into a form reaches a quality manager's Excel through the
ledger export. Excel runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula
(``=HYPERLINK("http://…?"&A2, "查看")`` sends the row away on a click; DDE formulas start
programs). So:

* CSV: such a text is written with a ``'`` before it, which Excel shows as text and hides
  (OWASP's advice); ``from_csv`` takes it off again when the file is read back. A text that
  starts with apostrophes before a formula's start (``'=1+1``, typed so in Excel) gets one
  more, so the round trip gives back exactly what was written.
* XLSX: strings are written as strings, never turned into formulas, links or numbers
  (``XLSX_OPTIONS``; xlsxwriter turns a string starting with ``=`` into a formula by default).

Numbers stay numbers: only text is guarded.
"""

from __future__ import annotations

from typing import Any

# What makes Excel (and LibreOffice) read a cell as a formula; tab and CR start one too.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: Workbook options of every XLSX the application writes.
XLSX_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


# What Excel refuses in a sheet's name (and it is at most 31 characters, with no apostrophe
# at either end): a ledger titled 售后/维修台帐 made its XLSX export fail.
_NOT_IN_SHEET_NAMES = str.maketrans({c: "_" for c in "[]:*?/\\"})


def sheet_name(title: str, default: str = "ledger") -> str:
    """``title`` as the name of a worksheet: what Excel refuses in one replaced by ``_``,
    apostrophes taken off its ends, cut to 31 characters; ``default`` when nothing is left."""
    name = title.translate(_NOT_IN_SHEET_NAMES).strip("'")[:31].strip("'").strip()
    return name or default


def _guarded(text: str) -> bool:
    """Whether a text gets the guard: one that would be a formula, and one that reads as
    guarded already (``'=1+1``, apostrophes before a formula's start), whose own apostrophe
    ``from_csv`` would otherwise take off."""
    return text.lstrip("'").startswith(FORMULA_START)


def to_csv(cell: Any) -> Any:
    """The cell as a CSV file holds it: text that would be a formula gets a leading ``'``
    (and so does text that starts with apostrophes before one: ``from_csv`` undoes exactly
    that guard, so every text comes back as it was)."""
    return f"'{cell}" if isinstance(cell, str) and _guarded(cell) else cell


def from_csv(cell: str) -> str:
    """A cell of a CSV file this application wrote (or that Excel saved), guard removed:
    one ``'`` before what would be a formula (``'=x`` is ``=x``, ``''=x`` is ``'=x``)."""
    return cell[1:] if cell.startswith("'") and _guarded(cell) else cell
