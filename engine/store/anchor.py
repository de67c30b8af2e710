"""Chain heads anchored outside the database: an append-only JSON Lines file that
``wf audit verify`` reads.

The hash chain alone has no secret: someone who can write the database can rewrite an
instance's events and recompute every hash, or delete an instance with its events, and the
chain still verifies. ``anchor`` appends one line with the head (last seq and its hash) of
every instance whose chain grew since the previous line; ``check`` then requires, for each
anchored head, that the event at that seq still exists with that hash. A rewritten or
forged event at or before an anchored head, a shortened chain and a deleted instance are
all named. Events added after the last anchor are protected from the next one on, so anchor
often (``wf audit anchor`` from cron or a timer) and keep the file where the database's
users cannot write (another host, an append-only mount, WORM storage).

Each line carries ``prev``, the SHA-256 of the previous line, so an edited, removed or
reordered line of the file is named too, and ``database``, the id of the database it anchors
(``database_identity``, migration 0023): a file of another database is named as such, once,
and nothing is added to it. Lines written before 0023 name none.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select, tuple_

from engine.store.audit import Break, canonical_json, format_time
from engine.store.tables import DatabaseIdentity, Event

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

FORMAT = "qualityflow-audit-anchors/1"
_GENESIS = "0" * 64


@dataclass
class Anchors:
    """What an anchor file says: the latest anchored head of each instance, when it was
    anchored, and the file's own problems (``file:line: ...``)."""

    heads: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # id -> (seq, hash, at)
    databases: set[str] = field(default_factory=set)  # the databases its lines name
    lines: int = 0
    last_digest: str = _GENESIS
    problems: list[str] = field(default_factory=list)


def read(path: Path) -> Anchors:
    """Read and check an anchor file (an absent file: no anchors)."""
    out = Anchors()
    if not path.exists():
        return out
    with path.open(encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(raw)
            except ValueError:
                out.problems.append(f"{where}: not valid JSON; the anchor file was damaged")
                continue
            if not isinstance(obj, dict) or obj.get("format") != FORMAT:
                out.problems.append(f"{where}: not an anchor line of {FORMAT}")
                continue
            if obj.get("prev") != out.last_digest:
                out.problems.append(f"{where}: 'prev' is not the hash of the line before it: lines of the "
                                    "anchor file were changed, removed or reordered")
            out.last_digest = hashlib.sha256(raw.rstrip("\n").encode("utf-8")).hexdigest()
            out.lines += 1
            if isinstance(obj.get("database"), str):
                out.databases.add(obj["database"])
            for iid, (seq, digest) in (obj.get("heads") or {}).items():
                out.heads[iid] = (int(seq), str(digest), str(obj.get("at")))
    return out


class ForeignFile(ValueError):
    """The anchor file anchors another database: nothing may be added to it from this one."""


def database_id(session: Session) -> str | None:
    """This database's id (None: a schema made without migrations, as some tests make)."""
    return session.scalar(select(DatabaseIdentity.uuid).where(DatabaseIdentity.id == 1))


def foreign(anchors: Anchors, path: Path, here: str | None) -> str | None:
    """What is wrong when the file anchors another database than ``here`` (this one's id),
    else None."""
    others = sorted(anchors.databases - {here}) if here is not None else []
    if not others:
        return None
    return (f"{path} anchors another database ({', '.join(others)}), not this one ({here}): either the "
            "file is another database's (each database keeps its own: audit.anchors in config.yaml, or "
            "WF_AUDIT_ANCHORS; point it at this database's file), or this database's id "
            "(database_identity) was changed; keep the file either way")


def _current_heads(session: Session) -> dict[str, tuple[int, str]]:
    """Each instance's last event (seq, hash), read from the events themselves."""
    ev = Event.__table__
    last = select(ev.c.instance_id, func.max(ev.c.seq).label("seq")).group_by(ev.c.instance_id).subquery()
    rows = session.execute(select(ev.c.instance_id, ev.c.seq, ev.c.hash)
                           .join(last, (last.c.instance_id == ev.c.instance_id) & (last.c.seq == ev.c.seq)))
    return {r.instance_id: (r.seq, r.hash) for r in rows}


def anchor(session: Session, path: Path, now: datetime) -> int:
    """Append one line with the heads that moved since the file's last line; the number of
    instances anchored (0: nothing new, nothing written)."""
    known = read(path)
    if known.problems:
        raise ValueError(known.problems[0])
    here = database_id(session)
    problem = foreign(known, path, here)
    if problem:
        raise ForeignFile(problem)
    moved = {iid: [seq, digest] for iid, (seq, digest) in _current_heads(session).items()
             if known.heads.get(iid, (0, ""))[:2] != (seq, digest)}
    if not moved:
        return 0
    line = canonical_json({"format": FORMAT, "at": format_time(now), "prev": known.last_digest,
                           "heads": moved, **({"database": here} if here is not None else {})})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
    return len(moved)


def verify(session: Session, anchors: Anchors, path: Path, *,
           held_until: datetime | None = None) -> tuple[list[Break], int, list[str]]:
    """``check``, and the file's problems with it (``anchors.problems``, and a file naming
    another database). When not one anchored head is in this database and the file names
    another, it is that database's file: one problem, not "anchored event missing" for every
    instance. Otherwise every head is compared whatever the id says: the id is a row of the
    database an insider owns, and changing it must hide no rewritten chain."""
    breaks, later = check(session, anchors, held_until=held_until)
    other = foreign(anchors, path, database_id(session))
    if other is None:
        return breaks, later, list(anchors.problems)
    if breaks and len(breaks) == len(anchors.heads) and all(b.problem == "anchored event missing" for b in breaks):
        return [], 0, [*anchors.problems, other]
    return breaks, later, [*anchors.problems, other]


def check(session: Session, anchors: Anchors, *, batch_size: int = 500,
          held_until: datetime | None = None) -> tuple[list[Break], int]:
    """Every anchored head that the database no longer holds, as a ``Break``, and how many
    missing heads were anchored after ``held_until``: a restored backup's last event, whose
    database never held heads anchored later (they are counted apart, not broken; a head it
    holds with another hash is broken whenever it was anchored)."""
    out = []
    later = 0
    until = format_time(held_until) if held_until is not None else None
    items = sorted(anchors.heads.items())
    ev = Event.__table__
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        found = {(r.instance_id, r.seq): r.hash for r in session.execute(
            select(ev.c.instance_id, ev.c.seq, ev.c.hash)
            .where(tuple_(ev.c.instance_id, ev.c.seq).in_([(iid, seq) for iid, (seq, _h, _a) in chunk])))}
        for iid, (seq, digest, at) in chunk:
            stored = found.get((iid, seq))
            if stored is None and until is not None and at > until:
                later += 1
            elif stored is None:
                out.append(Break(iid, seq, 0, "anchored event missing",
                                 f"the head anchored at {at} (seq {seq}) is gone: the instance was deleted "
                                 "or its chain cut"))
            elif stored != digest:
                out.append(Break(iid, seq, 0, "anchored head differs",
                                 f"anchored at {at} as {digest[:12]}…, now {stored[:12]}…: events up to seq "
                                 f"{seq} were rewritten after they were anchored"))
    return out, later

