"""The dossier's presentation: the recorded data of each step under its form's labels
(``forms_render.view_tree``) and its integrity line, for the printable page and the PDF
(``web.dossier_pdf``), corrections with their values as the record page shows them. What the dossier holds, and what is masked, is
``engine.app.audit.dossier``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.app.audit import field_title, integrity_words
from engine.i18n import _
from web import forms_render as fr

if TYPE_CHECKING:
    from engine.app.audit import Dossier


def sections(d: Dossier) -> list[dict[str, Any]]:
    """Each step's data as ``view_tree`` nodes, corrected fields marked with who corrected
    them by name and a 会签's approvers by theirs (every corrector and approver is the actor of
    an event of the timeline, whose names the dossier has read already)."""
    names = {e["username"]: e["actor"] for e in d.timeline}
    corrections = d.corrections_by_key  # each with its corrector's name then (by_name)
    return [{"step": sec.step, "title": sec.title,
             "nodes": fr.view_tree(sec.form, sec.data, corrections=corrections, step=sec.step, names=names)}
            for sec in d.sections]


def corrections(d: Dossier) -> list[dict[str, Any]]:
    """The corrections table, each old and new value as the record page shows it
    (``forms_render.display_at``: 是/否, a list's items, a time in the display zone), not as
    Python writes the stored value (False, ['质量部'], 2026-11-03T10:00:00+08:00)."""
    proc = d.procedure
    rows = []
    for c in d.corrections:
        sid = c.get("step_id") or ""
        form = proc.form_of(sid) if sid == "start" or sid in proc.steps else None
        rows.append({**c, "old": fr.display_at(form, c.get("path") or "", c.get("old")),
                     "new": fr.display_at(form, c.get("path") or "", c.get("new"))})
    return rows


def timeline(d: Dossier) -> list[dict[str, Any]]:
    """The timeline, a correction's note with its values as the record page shows them
    (as ``corrections``)."""
    proc = d.procedure
    rows = []
    for e in d.timeline:
        c = e.get("correction")
        if c:
            sid, path = c["step_id"], c["path"]
            form = proc.form_of(sid) if sid == "start" or sid in proc.steps else None
            e = {**e, "note": f"{field_title(proc, sid, path)}: {fr.display_at(form, path, c['old'])} → "
                              f"{fr.display_at(form, path, c['new'])} ({_('Reason')}: {c['reason']})"}
        rows.append(e)
    return rows


def integrity(d: Dossier) -> str:
    """The dossier's integrity line (``integrity_words``)."""
    return integrity_words(d.check)
