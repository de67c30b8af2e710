"""The dossier's presentation: the recorded data of each step under its form's labels
(``forms_render.view_tree``) for the printable page, and as label/text pairs for the PDF.
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


def flat(nodes: list[dict], prefix: str = "") -> list[tuple[str, str]]:
    """view_tree nodes as (label, text) pairs, for the PDF."""
    out = []
    for n in nodes:
        label = f"{prefix}{n['title']}"
        if n["kind"] == "group":
            out += flat(n["children"], label + " / ")
        elif n["kind"] == "table":
            rows = ["; ".join(f"{c}: {cell['text']}" for c, cell in zip(n["columns"], r, strict=False)) for r in n["rows"]]
            out.append((label, "\n".join(rows)))
        elif n["kind"] == "files":
            out.append((label, ", ".join(n["files"])))
        else:
            out.append((label, n.get("text") or ""))
    return out
