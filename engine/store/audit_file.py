"""Audit exports as JSON Lines, and their offline verification.

An export is a header line, one line per event (every stored field, the hashes included,
in (time, id) order) and a footer with the number of events and a SHA-256 over their
hashes in order. ``verify_lines`` needs nothing but the file: it recomputes each event's
hash from its content, checks each event's ``prev_hash`` against the previous event of the
same instance in the file, flags gaps in an instance's seqs, and checks the footer, so a
changed, removed, reordered or inserted line is caught. An export of a date range starts
chains in the middle; the first exported event of such a chain is anchored by its own
``prev_hash`` (compare it with the database, ``wf audit verify``, to close the loop).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.store.audit import GENESIS, canonical_json, event_hash, format_time

FORMAT = "qualityflow-audit-export/1"


def header(*, since: datetime | None, until: datetime | None, procedure: str | None,
           now: datetime) -> str:
    return canonical_json({"kind": "header", "format": FORMAT, "from": since and format_time(since),
                           "to": until and format_time(until), "procedure": procedure,
                           "exported_at": format_time(now)})


def event_line(row: Any) -> str:
    if getattr(row, "unreadable", None):
        # What a hand wrote there is not the event's content, and may not even be text: the
        # line names the event and what could not be read, and the file's check reports it.
        return canonical_json({
            "kind": "event", "id": row.id, "instance_id": row.instance_id,
            "procedure": getattr(row, "procedure_id", None), "seq": row.seq, "type": row.type,
            "step": row.step, "task": row.task_id, "actor": row.actor,
            "at": format_time(row.at) if isinstance(row.at, datetime) else None,
            "data": None, "unreadable": str(row.unreadable)[:300], "prev_hash": row.prev_hash,
            "hash": row.hash})
    return canonical_json({
        "kind": "event", "id": row.id, "instance_id": row.instance_id,
        "procedure": getattr(row, "procedure_id", None), "seq": row.seq, "type": row.type,
        "step": row.step, "task": row.task_id, "actor": row.actor, "at": format_time(row.at),
        "data": row.data, "prev_hash": row.prev_hash, "hash": row.hash})


def export_lines(rows: Iterable[Any], **head: Any) -> Iterator[str]:
    """The lines of an export (each ending in a newline) for the given event rows."""
    yield header(**head) + "\n"
    digest = hashlib.sha256()
    count = 0
    for row in rows:
        digest.update(row.hash.encode("ascii"))
        count += 1
        yield event_line(row) + "\n"
    yield canonical_json({"kind": "footer", "events": count, "digest": digest.hexdigest()}) + "\n"


@dataclass
class FileReport:
    events: int = 0
    instances: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_lines(lines: Iterable[str], name: str = "export") -> FileReport:
    """Check an export offline; every problem names the file and line (first one first)."""
    report = FileReport()
    heads: dict[str, tuple[int, str]] = {}
    digest = hashlib.sha256()
    saw_header = saw_footer = False
    lineno = 0
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            report.problems.append(f"{where}: not valid JSON ({exc.msg}); the line was damaged")
            continue
        kind = obj.get("kind") if isinstance(obj, dict) else None
        if saw_footer:
            report.problems.append(f"{where}: a line after the footer; lines were appended")
            continue
        if kind == "header":
            if saw_header or lineno != 1:
                report.problems.append(f"{where}: a second header; files were concatenated or edited")
            saw_header = True
            if obj.get("format") != FORMAT:
                report.problems.append(f"{where}: unknown format {obj.get('format')!r}, expected {FORMAT}")
            continue
        if kind == "footer":
            saw_footer = True
            if obj.get("events") != report.events:
                report.problems.append(f"{where}: the footer counts {obj.get('events')} events, the file has {report.events}: lines were removed or added")
            elif obj.get("digest") != digest.hexdigest():
                report.problems.append(f"{where}: the footer digest does not match the events' hashes: lines were changed, removed or reordered")
            continue
        if kind != "event":
            report.problems.append(f"{where}: unknown line kind {kind!r}")
            continue
        problem = _check_event(obj, heads)
        report.events += 1
        if isinstance(obj.get("hash"), str):
            digest.update(obj["hash"].encode("ascii", "replace"))
        if problem:
            report.problems.append(f"{where}: instance {obj.get('instance_id')} seq {obj.get('seq')}: {problem}")
    if not saw_header:
        report.problems.append(f"{name}:1: no header line; this is not a complete audit export")
    if not saw_footer:
        report.problems.append(f"{name}:{lineno}: no footer line; the file was cut short")
    report.instances = len(heads)
    return report


def _check_event(obj: dict, heads: dict[str, tuple[int, str]]) -> str | None:
    if obj.get("unreadable"):
        if isinstance(obj.get("instance_id"), str) and isinstance(obj.get("hash"), str):
            heads[obj["instance_id"]] = (obj.get("seq"), obj["hash"])  # the events after it still link
        return (f"the event could not be read from the database ({obj['unreadable']}): a hand wrote "
                "there what the server never writes; `wf audit verify` names the record")
    try:
        recomputed = event_hash(instance_id=obj["instance_id"], seq=obj["seq"], type=obj["type"],
                                step=obj["step"], task=obj["task"], actor=obj["actor"],
                                at=obj["at"].replace("Z", "+00:00"), data=obj["data"],
                                prev_hash=obj["prev_hash"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return f"missing or malformed field ({exc}); the line was damaged"
    instance, seq = obj["instance_id"], obj["seq"]
    previous = heads.get(instance)
    heads[instance] = (seq, obj["hash"])
    if recomputed != obj["hash"]:
        return (f"hash mismatch: stored {str(obj['hash'])[:12]}…, recomputed {recomputed[:12]}…: "
                "the event's content was changed")
    if previous is None:
        if seq == 1 and obj["prev_hash"] != GENESIS:
            return "the first event of a chain must have prev_hash 000…0"
        return None
    if seq != previous[0] + 1:
        return f"seq {previous[0] + 1} is missing before this event (an event was removed)"
    if obj["prev_hash"] != previous[1]:
        return "prev_hash does not match the hash of the instance's previous event"
    return None
