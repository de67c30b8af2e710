"""The stored projection of instances, read for ``wf audit verify`` and the dossier: each
instance's state, its events in chain order, its task rows and its field index rows, a page
of instances at a time (four queries per page, bounded memory at any size)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.store.tables import Event, FieldIndex, Instance, Task

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass
class StoredRecord:
    """One instance as stored: ``events`` are dicts ``{seq, type, step, task, actor, at, data}``;
    ``tasks`` maps a task id to ``(step, status, assignee)`` from the task rows; ``index`` maps
    a field-index key to its value."""

    id: str
    procedure_id: str
    version_id: int
    state: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    index: dict[str, str] = field(default_factory=dict)
    serial: str | None = None  # the column pages search and list by


def _records(session: Session, ids: list[str]) -> list[StoredRecord]:
    inst = Instance.__table__
    out = {r.id: StoredRecord(r.id, r.procedure_id, r.version_id, r.state, serial=r.serial)
           for r in session.execute(select(inst.c.id, inst.c.procedure_id, inst.c.version_id, inst.c.state,
                                           inst.c.serial)
                                    .where(inst.c.id.in_(ids)))}
    ev = Event.__table__
    for e in session.execute(select(ev.c.instance_id, ev.c.seq, ev.c.type, ev.c.step, ev.c.task_id,
                                    ev.c.actor, ev.c.at, ev.c.data)
                             .where(ev.c.instance_id.in_(ids)).order_by(ev.c.instance_id, ev.c.seq)):
        if e.instance_id in out:
            out[e.instance_id].events.append({"seq": e.seq, "type": e.type, "step": e.step, "task": e.task_id,
                                              "actor": e.actor, "at": e.at, "data": e.data})
    ta = Task.__table__
    for t in session.execute(select(ta.c.instance_id, ta.c.task_id, ta.c.step, ta.c.status, ta.c.assignee)
                             .where(ta.c.instance_id.in_(ids))):
        if t.instance_id in out:
            status = getattr(t.status, "value", t.status)
            out[t.instance_id].tasks[t.task_id] = (t.step, str(status), t.assignee)
    fi = FieldIndex.__table__
    for f in session.execute(select(fi.c.instance_id, fi.c.key, fi.c.value).where(fi.c.instance_id.in_(ids))):
        if f.instance_id in out:
            out[f.instance_id].index[f.key] = f.value
    return [out[i] for i in ids if i in out]


def stored_records(session: Session, *, batch_size: int = 500) -> Iterator[StoredRecord]:
    """Every instance in id order, ``batch_size`` at a time."""
    inst = Instance.__table__
    last: str | None = None
    while True:
        stmt = select(inst.c.id).order_by(inst.c.id).limit(batch_size)
        if last is not None:
            stmt = stmt.where(inst.c.id > last)
        ids = list(session.scalars(stmt))
        yield from _records(session, ids)
        if len(ids) < batch_size:
            return
        last = ids[-1]


def stored_record(session: Session, instance_id: str) -> StoredRecord | None:
    """One instance as stored, or None."""
    found = _records(session, [instance_id])
    return found[0] if found else None


def orphan_event_instances(session: Session) -> list[str]:
    """Instances that have events but no instance row: a deleted instance whose trail stayed."""
    ev, inst = Event.__table__, Instance.__table__
    # ``org``: the organisation chart's own chain (``engine.store.org``), not an instance.
    return list(session.scalars(select(ev.c.instance_id).distinct()
                                .where(~ev.c.instance_id.in_(select(inst.c.id)), ev.c.instance_id != "org")
                                .order_by(ev.c.instance_id)))
