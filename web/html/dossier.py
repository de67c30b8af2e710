"""The dossier's presentation: the recorded data of each step under its form's labels
(``forms_render.view_tree``) for the printable page and the PDF (``web.dossier_pdf``).
What the dossier holds, and what is masked, is ``engine.app.audit.dossier``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from web import forms_render as fr

if TYPE_CHECKING:
    from engine.app.audit import Dossier


def sections(d: Dossier) -> list[dict[str, Any]]:
    """Each step's data as ``view_tree`` nodes, corrected fields marked."""
    return [{"step": sec.step, "title": sec.title,
             "nodes": fr.view_tree(sec.form, sec.data, corrections=d.corrections_by_key, step=sec.step)}
            for sec in d.sections]


