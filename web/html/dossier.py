"""The dossier of one instance: its complete record, as one structure for the printable
page and the PDF: procedure version, data under form labels, every signature (printed name,
time, meaning), every correction (old, new, reason, who, when), attachments, the event
trail and the result of the hash-chain check. Sensitive fields are masked for readers
without clearance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.app.access import Reader, require_instance
from engine.app.masking import mask_corrections, mask_data, mask_event, sensitive_keys
from engine.store import versions
from engine.store.audit_search import attachments_of, check_instance
from engine.store.tables import Instance, ProcedureVersion, User
from web import forms_render as fr
from web.db import workflow
from web.i18n import _, fmt_time

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.language.procedure import Procedure


def _names(session: Session, usernames: set[str]) -> dict[str, str]:
    names = {u for u in usernames if u}
    if not names:
        return {}
    rows = session.execute(select(User.username, User.full_name).where(User.username.in_(sorted(names))))
    return {u: (n or u) for u, n in rows}


def step_title(proc: Procedure, sid: str | None) -> str:
    if not sid:
        return ""
    if sid == "start":
        return _("Start form")
    step = proc.steps.get(sid)
    return step.title if step else sid


def field_title(proc: Procedure, sid: str, field: str) -> str:
    form = proc.form_of(sid) if sid == "start" or sid in proc.steps else None
    info = form.fields.get(field) if form else None
    return info.title if info else field


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


def build(session: Session, reader: Reader, instance_id: str) -> dict[str, Any]:
    """Everything the dossier shows; ``unmasked`` lists the sensitive keys shown in clear."""

    inst, proc = require_instance(workflow(), session, reader, instance_id)
    keys = sensitive_keys(proc)
    unmasked: set[str] = set()
    events = workflow().events(session, instance_id)
    names = _names(session, {e["actor"] for e in events} | {inst["started_by"]}
                   | {c["by"] for cs in inst["corrections"].values() for c in cs})
    corrections_by_key, shown = mask_corrections(keys, inst["corrections"], reader)
    unmasked |= shown
    sections = []
    for sid, data in inst["data"].items():
        masked, shown = mask_data(keys, sid, data, reader)
        unmasked |= shown
        form = proc.form_of(sid) if (sid == "start" or sid in proc.steps) else None
        nodes = fr.view_tree(form, masked, corrections=corrections_by_key, step=sid)
        sections.append({"step": sid, "title": step_title(proc, sid), "nodes": nodes})
    timeline, signatures = [], []
    for raw in events:
        e, shown = mask_event(keys, raw, reader)
        unmasked |= shown
        d = e["data"] or {}
        note = ""
        if e["type"] == "data:corrected":
            note = f"{field_title(proc, e['step'] or 'start', d.get('field', ''))}: {d.get('old')} → {d.get('new')} ({_('Reason')}: {d.get('reason')})"
        elif e["type"] == "instance:completed":
            note = f"{_('Outcome')}: {d.get('outcome')}"
        elif e["type"] == "instance:cancelled":
            note = f"{_('Reason')}: {d.get('reason')}"
        elif e["type"] in ("task:approved", "task:rejected") and (d.get("data") or {}).get("comment"):
            note = f"{_('Comment')}: {d['data']['comment']}"
        elif e["type"] == "route:taken":
            note = _("to {step}", step=step_title(proc, d.get("to")))
        timeline.append({"seq": e["seq"], "at": e["at"], "type": e["type"], "label": _(e["type"]),
                         "actor": names.get(e["actor"], e["actor"]), "username": e["actor"],
                         "step": step_title(proc, e["step"]), "note": note, "hash": e["hash"],
                         "on_time": d.get("on_time")})
        sig = d.get("signature")
        if sig:
            signatures.append({"step": step_title(proc, e["step"]), "name": sig.get("name"),
                               "user": sig.get("user"), "at": sig.get("at") or e["at"],
                               "meaning": sig.get("meaning"), "event": _(e["type"])})
    corrections = []
    for key, items in corrections_by_key.items():
        sid, _sep, field = key.partition(".")
        for c in items:
            corrections.append({"step": step_title(proc, sid), "field": field_title(proc, sid, field),
                                "old": c.get("old"), "new": c.get("new"), "reason": c.get("reason"),
                                "by": names.get(c.get("by"), c.get("by")), "at": c.get("at")})
    corrections.sort(key=lambda c: c["at"] or "")
    version = session.get(ProcedureVersion, inst["version"]["id"])
    spawned = list(session.execute(select(Instance.id, Instance.procedure_id)
                                   .where(Instance.origin_instance == instance_id)))
    return {
        "inst": inst, "procedure": proc, "check": check_instance(session, instance_id),
        "version": {"id": inst["version"]["id"], "hash": inst["version"]["hash"],
                    "label": versions.label(version) if version else "",
                    "registered_at": version.registered_at if version else None},
        "started_by": names.get(inst["started_by"], inst["started_by"]),
        "sections": sections, "timeline": timeline, "signatures": signatures,
        "corrections": corrections, "spawned": spawned,
        "attachments": [{"id": a.id, "filename": a.filename, "size": a.size, "sha256": a.sha256,
                         "uploaded_by": names.get(a.uploaded_by, a.uploaded_by),
                         "uploaded_at": a.uploaded_at} for a in attachments_of(session, instance_id)],
        "unmasked": sorted(unmasked), "masked": bool(keys) and not reader.cleared,
        "printed_at": fmt_time(_now()),
    }


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)
