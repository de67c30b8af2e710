"""The dossier's presentation: the recorded data of each step under its form's labels
(``forms_render.view_tree``) and its integrity line, for the printable page and the PDF
(``web.dossier_pdf``). What the dossier holds, and what is masked, is
``engine.app.audit.dossier``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.i18n import _, shown
from web import forms_render as fr
from web.html.instances import named_corrections

if TYPE_CHECKING:
    from engine.app.audit import Dossier


def sections(d: Dossier) -> list[dict[str, Any]]:
    """Each step's data as ``view_tree`` nodes, corrected fields marked with who corrected
    them by name (every corrector is the actor of a ``data:corrected`` event of the timeline,
    whose names the dossier has read already)."""
    names = {e["username"]: e["actor"] for e in d.timeline}
    corrections = named_corrections(d.corrections_by_key, names)
    return [{"step": sec.step, "title": sec.title,
             "nodes": fr.view_tree(sec.form, sec.data, corrections=corrections, step=sec.step)}
            for sec in d.sections]


def integrity(d: Dossier) -> str:
    """The integrity line in the reader's language: the intact chain's summary, else what is
    broken, where (the event, the step and field, the task, the column) and what the reader
    is to do about it."""
    check = d.check
    if check.ok:
        return "{}: {}".format(_("intact"), _("{n} events verified; the chain ends in {head}", n=check.events,
                                              head=check.head[:16] + "…"))
    finding = shown(check.message, check.finding)
    if check.record:
        return _("BROKEN: the record shown differs from its audit trail: {finding}. This page does not show what "
                 "was recorded: go by the timeline (its events are intact) and ask an administrator to restore "
                 "the record from a backup.", finding=finding)
    return _("BROKEN: {finding}. This record cannot be trusted: contact an administrator and check it against "
             "a backup.", finding=finding)
