"""The dossier as a PDF, made on the server with fpdf2.

fpdf2 is pure Python (no browser, no system libraries, nothing downloaded at run time) and
embeds a TrueType subset, so the PDF shows Chinese when a CJK font is on the machine: the
first of ``pdf.font`` (config), WenQuanYi Micro Hei (Debian ``fonts-wqy-microhei``) or Noto
Sans CJK. Without one the PDF is still made, with the core Helvetica font and every
character it cannot show replaced by "?", and says so on its first page.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from engine.runtime.access import outcome_words
from web.html.dossier import integrity
from web.i18n import _, fmt_time, shown, zone_label

if TYPE_CHECKING:
    from engine.app.audit import Dossier

# The lines of one cell in one printed row of a grid (4.5 mm each: 180 mm, within any page).
ROW_LINES = 40

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


def _font(configured: str | None) -> str | None:
    for path in ((configured,) if configured else ()) + FONT_CANDIDATES:
        if path and Path(path).is_file():
            return path
    return None


class _Doc(FPDF):
    def __init__(self, font_path: str | None, footer_text: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text
        self.unicode = font_path is not None
        if font_path:
            self.add_font("cjk", fname=font_path)
            self.family = "cjk"
        else:
            self.family = "helvetica"
        self.set_auto_page_break(True, margin=15)
        self.set_margins(15, 15, 15)

    def text_of(self, value: Any) -> str:
        text = "" if value is None else str(value)
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family, size=7)
        self.cell(0, 5, self.text_of(f"{self.footer_text} · {self.page_no()}/{{nb}}"), align="C")

    def heading(self, text: str, size: int = 12) -> None:
        self.ln(2)
        self.set_font(self.family, size=size)
        self.multi_cell(0, size * 0.55, self.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(160, 160, 160)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(1.5)

    def pairs(self, rows: list[tuple[str, Any]]) -> None:
        self.set_font(self.family, size=9)
        label_w = 45
        for label, value in rows:
            y = self.get_y()
            self.multi_cell(label_w, 5, self.text_of(label), new_x=XPos.RIGHT, new_y=YPos.TOP)
            self.multi_cell(0, 5, self.text_of(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_y(max(self.get_y(), y + 5))

    def qr(self, address: str, caption: str, size: float = 24.0) -> None:
        """The QR code of ``address`` (the record's page), ``size`` mm wide, with ``caption``
        beside it: a printout scanned with the header's 扫码 opens the record."""
        import segno

        matrix = [list(row) for row in segno.make_qr(address, error="m").matrix_iter(scale=1, border=0)]
        module = size / len(matrix)
        x0, y0 = self.l_margin, self.get_y() + 4  # the quiet zone above: white paper
        self.set_fill_color(0, 0, 0)
        for r, row in enumerate(matrix):
            c = 0
            while c < len(row):  # one rectangle per run of dark modules
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < len(row) and row[c]:
                    c += 1
                self.rect(x0 + start * module, y0 + r * module, (c - start) * module, module, style="F")
        self.set_fill_color(255, 255, 255)
        self.set_font(self.family, size=8)
        self.set_xy(x0 + size + 4, y0 + size / 2 - 2.5)
        self.cell(0, 5, self.text_of(caption))
        self.set_xy(self.l_margin, y0 + size + 4)

    def grid(self, headings: list[str], rows: list[list[Any]], widths: tuple[int, ...]) -> None:
        if not rows:
            self.set_font(self.family, size=9)
            self.cell(0, 5, self.text_of("—"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            return
        self.set_font(self.family, size=8)
        # Headings shaded rather than bold: the CJK font has one (regular) style.
        with self.table(col_widths=widths, text_align="LEFT", line_height=4.5,
                        first_row_as_headings=True,
                        headings_style=FontFace(emphasis="", fill_color=(230, 234, 240))) as table:
            table.row([self.text_of(h) for h in headings])
            for r in rows:
                for part in self._parts([self.text_of(c) for c in r], widths):
                    table.row(part)

    def _parts(self, cells: list[str], widths: tuple[int, ...]) -> list[list[str]]:
        """A grid row as the rows it is printed in: one, unless a cell holds more than
        ``ROW_LINES`` lines at its width (a long pasted text). fpdf2 refuses a row taller than
        a page, so such a row goes on in the rows below it, ``ROW_LINES`` lines of each cell at
        a time: every character is printed."""
        if all(len(c) <= 100 and c.count("\n") < 10 for c in cells):
            return [cells]
        total = sum(widths)
        lines = [self.multi_cell(max(self.epw * w / total - 2, 2), 4.5, c, dry_run=True, output="LINES")
                 if c else [] for c, w in zip(cells, widths, strict=True)]
        n = max(1, *((len(ls) + ROW_LINES - 1) // ROW_LINES for ls in lines))
        if n == 1:
            return [cells]
        return [["\n".join(ls[i * ROW_LINES:(i + 1) * ROW_LINES]) for ls in lines] for i in range(n)]


def _value(n: dict[str, Any]) -> str:
    """A recorded value as printed: with its unit (in the text), the specification it was
    measured against, and its out-of-specification flags, as the page shows them."""
    text = n.get("text") or ""
    if n.get("spec"):
        text += f"  ({_('Specification')}: {n['spec']})"
    for f in n.get("flags") or ():
        text += f"  ※ {f}"
    return text


def _data(pdf: _Doc, nodes: list[dict[str, Any]], names: dict[str, str], prefix: str = "") -> None:
    """A section's recorded data: fields as label/value pairs, tables as tables (one column
    per column of the form, flagged cells marked), files by their names."""
    pairs: list[tuple[str, Any]] = []
    for n in nodes:
        label = f"{prefix}{n['title']}"
        if n["kind"] == "group":
            pdf.pairs(pairs)
            pairs = []
            _data(pdf, n["children"], names, label + " / ")
        elif n["kind"] == "table":
            pdf.pairs(pairs)
            pairs = []
            pdf.set_font(pdf.family, size=9)
            pdf.cell(0, 5, pdf.text_of(label), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            columns = list(n["columns"])
            width = int((pdf.w - pdf.l_margin - pdf.r_margin) // max(len(columns), 1))
            pdf.grid(columns, [[cell["text"] + "".join(f" ※ {f}" for f in cell.get("flags") or ())
                                for cell in row] for row in n["rows"]], (width,) * len(columns))
        elif n["kind"] == "files":
            pairs.append((label, ", ".join(names.get(f, f) for f in n["files"])))
        else:
            pairs.append((label, _value(n)))
    pdf.pairs(pairs)


def render(d: Dossier, sections: list[dict[str, Any]], *, printed_at: str, font: str | None = None,
           corrections: list[dict[str, Any]], timeline: list[dict[str, Any]],
           address: str | None = None) -> bytes:
    """PDF bytes of a dossier (``engine.app.audit.dossier``) with its data ``sections``
    (``web.html.dossier.sections``), its ``corrections`` and ``timeline`` as shown
    (``web.html.dossier.corrections``, ``.timeline``); with ``address`` (the record's page), its QR code."""
    inst, proc = d.inst, d.procedure
    pdf = _Doc(_font(font), f"{shown(proc)} {inst.get('serial') or inst['id']} · {_('Printed')} {printed_at}")
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.heading(f"{_('Dossier')}: {shown(proc)}", 15)
    if not pdf.unicode:
        pdf.pairs([("Note", "No CJK font found (install fonts-wqy-microhei); Chinese text shows as '?'.")])
    pdf.pairs([
        *([(_("Record number"), inst["serial"])] if inst.get("serial") else []),
        (_("Instance"), inst["id"]),
        (_("Procedure"), f"{shown(proc)} ({proc.id})"),
        (_("Procedure version"), f"v{d.version['label']} #{d.version['id']} {d.version['hash']}"),
        (_("Status"), f"{_(inst['status'])} {outcome_words(inst.get('outcome'))}"),
        (_("Started"), f"{fmt_time(inst['started_at'], named=True)} · {d.started_by}"),
        (_("Ended"), fmt_time(inst.get("ended_at"), named=True)),
        (_("Hash chain"), (("✔ " if d.check.ok else "✘ ") if pdf.unicode else "") + integrity(d)),
    ])
    if d.masked:
        pdf.pairs([(_("Note"), _("Sensitive fields are masked (no clearance)."))])
    if address:
        pdf.qr(address, _("Scan it to open this record."))
    pdf.heading(_("Signatures"))
    zone = zone_label()  # the grids' times are local: their headings name the zone
    pdf.grid([_("Step"), _("Printed name"), f"{_('Date and time')} {zone}", _("Meaning")],
             [[s["step"], f"{s['name']} ({s['user']})", fmt_time(s["at"]),
               s["meaning"] + (f" · {_('signed before correction')} "
                               + " ".join(f"#{n}" for n in s["corrected_by"]) if s["corrected_by"] else "")]
              for s in d.signatures],
             (45, 55, 40, 40))
    pdf.heading(_("Corrections"))
    pdf.grid([_("Field"), _("Old value"), _("New value"), _("Reason"), _("By"), f"{_('Time')} {zone}"],
             [[f"{c['step']} · {c['field']}", c["old"], c["new"], c["reason"], c["by"], fmt_time(c["at"])]
              for c in corrections], (38, 28, 28, 36, 24, 26))
    pdf.heading(_("Attachments"))
    pdf.grid([_("File"), _("Size"), "SHA-256", f"{_('Uploaded')} {zone}"],
             [[a["filename"], f"{a['size']} B", a["sha256"][:16] + "…", f"{a['uploaded_by']} {fmt_time(a['uploaded_at'])}"]
              for a in d.attachments], (55, 20, 45, 60))
    pdf.heading(_("Data"))
    names = {a["id"]: a["filename"] for a in d.attachments}
    for sec in sections:
        pdf.set_font(pdf.family, size=10)
        pdf.cell(0, 6, pdf.text_of(sec["title"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        _data(pdf, sec["nodes"], names)
        pdf.ln(1)
    pdf.heading(_("Timeline"))
    pdf.grid(["#", f"{_('Time')} {zone}", _("Event"), _("Step"), _("Actor"), _("Details")],
             [[e["seq"], fmt_time(e["at"]), e["label"], e["step"], e["actor"], e["note"]] for e in timeline],
             (8, 28, 26, 34, 26, 58))
    return bytes(pdf.output())
