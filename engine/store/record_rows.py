"""The stored projection of instances, read for ``wf audit verify`` and the dossier: each
instance's state, its events in chain order, its task rows, its field index rows and its
files, a page of instances at a time (five queries per page, bounded memory at any size)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, select

from engine.i18n import StoredMessage, keep
from engine.store.prepared import Prepared, batch
from engine.store.tables import Attachment, Event, FieldIndex, Instance, Task

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass
class StoredRecord:
    """One instance as stored: ``events`` are dicts ``{seq, type, step, task, actor, at, data,
    hash, prev_hash}``;
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
    # The instance row's columns copied from the state (``repo._instance_columns``: status,
    # outcome, started_by, ended_at... the ledger and the lists read these, not the state),
    # and each task row's (``repo._task_columns``: the inbox reads role, due_at, escalated_to).
    columns: dict[str, Any] = field(default_factory=dict)
    task_columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The chain head the instance row records, ``(event_seq, event_hash)``.
    head: tuple[int | None, str | None] = (None, None)
    # The files it holds (the files table): id -> (file name, SHA-256, size).
    files: dict[str, tuple[str, str, int]] = field(default_factory=dict)


def column_differences(rec: StoredRecord) -> list[str]:
    """Where the instance row's and the task rows' columns are not those the stored state
    gives them (the one mapping the write path uses), naming column, stored and expected."""
    return [text for text, _kept in column_findings(rec)]


def column_findings(rec: StoredRecord) -> list[tuple[str, StoredMessage]]:
    """``column_differences``, each as its English text and its catalogue key with values
    (``engine.i18n.keep``), which pages show in the reader's language."""
    from engine.store.repo import _instance_columns, _task_columns

    out = []
    for key, want in _instance_columns(rec.state).items():
        have = rec.columns.get(key)
        if _value(have) != _value(want):
            stored, expected = _shown(have), _shown(want)
            out.append((f"instance column {key}: stored {stored}, state {expected}",
                        keep("the {column} that lists and ledgers read is {stored}, the record's {expected}",
                             column=key, stored=stored, expected=expected)[1]))
    for tid, t in (rec.state.get("tasks") or {}).items():
        row = rec.task_columns.get(tid)
        if row is None:
            continue  # named with the task rows (``tasks``)
        for key, want in _task_columns(t, row["created_at"]).items():
            if _value(row.get(key)) != _value(want):
                stored, expected = _shown(row.get(key)), _shown(want)
                out.append((f"task row {tid} column {key}: stored {stored}, state {expected}",
                            keep("the {column} of task {task} that the inbox reads is {stored}, the record's "
                                 "{expected}", column=key, task=tid, stored=stored, expected=expected)[1]))
    return out


def _shown(value: Any) -> str:
    """A column's value as findings quote it: times as ISO text (not a ``datetime(...)``)."""
    value = _value(value)
    return repr(value.isoformat() if isinstance(value, datetime) else value)


def _value(value: Any) -> Any:
    """Column values as they compare: enums by value, times as aware UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return getattr(value, "value", value)


def _statements(instance_is: Callable[[Any], Any]) -> tuple[Select, ...]:
    """The reads of ``StoredRecord``s: the instance rows, their events in chain order, their
    task rows, their field index rows and their files, of the instances ``instance_is`` picks."""
    from engine.store.repo import _INSTANCE_COLUMNS, _TASK_COLUMNS

    inst, ev, ta, fi = Instance.__table__, Event.__table__, Task.__table__, FieldIndex.__table__
    at = Attachment.__table__
    return (select(inst.c.id, inst.c.procedure_id, inst.c.version_id, inst.c.state, inst.c.event_seq,
                   inst.c.event_hash, *(inst.c[k] for k in _INSTANCE_COLUMNS if k != "procedure_id"))
            .where(instance_is(inst.c.id)),
            select(ev.c.instance_id, ev.c.seq, ev.c.type, ev.c.step, ev.c.task_id, ev.c.actor, ev.c.at,
                   ev.c.data, ev.c.hash, ev.c.prev_hash)
            .where(instance_is(ev.c.instance_id)).order_by(ev.c.instance_id, ev.c.seq),
            select(ta.c.instance_id, ta.c.task_id, *(ta.c[k] for k in _TASK_COLUMNS))
            .where(instance_is(ta.c.instance_id)),
            select(fi.c.instance_id, fi.c.key, fi.c.value).where(instance_is(fi.c.instance_id)),
            select(at.c.instance_id, at.c.id, at.c.filename, at.c.sha256, at.c.size)
            .where(instance_is(at.c.instance_id)))


def _assemble(ids: list[str], reads: tuple[Select, ...], found: list[list[Sequence[Any]]]) -> list[StoredRecord]:
    """``StoredRecord``s of ``ids`` from the rows of ``_statements`` (as tuples in the order of
    each statement's columns)."""
    from engine.store.repo import _INSTANCE_COLUMNS, _TASK_COLUMNS

    named = [[dict(zip(stmt.selected_columns.keys(), row, strict=True)) for row in rows]
             for stmt, rows in zip(reads, found, strict=True)]
    instances, events, tasks, index, files = named
    out = {r["id"]: StoredRecord(r["id"], r["procedure_id"], r["version_id"], r["state"], serial=r["serial"],
                                 columns={k: r[k] for k in _INSTANCE_COLUMNS},
                                 head=(r["event_seq"], r["event_hash"]))
           for r in instances}
    for e in events:
        if e["instance_id"] in out:
            out[e["instance_id"]].events.append({"seq": e["seq"], "type": e["type"], "step": e["step"],
                                                 "task": e["task_id"], "actor": e["actor"], "at": e["at"],
                                                 "data": e["data"], "hash": e["hash"], "prev_hash": e["prev_hash"]})
    for t in tasks:
        if t["instance_id"] in out:
            status = getattr(t["status"], "value", t["status"])
            out[t["instance_id"]].tasks[t["task_id"]] = (t["step"], str(status), t["assignee"])
            out[t["instance_id"]].task_columns[t["task_id"]] = {k: t[k] for k in _TASK_COLUMNS}
    for f in index:
        if f["instance_id"] in out:
            out[f["instance_id"]].index[f["key"]] = f["value"]
    for a in files:
        if a["instance_id"] in out:
            out[a["instance_id"]].files[a["id"]] = (a["filename"], a["sha256"], a["size"])
    return [out[i] for i in ids if i in out]


def _records(session: Session, ids: list[str]) -> list[StoredRecord]:
    reads = _statements(lambda column: column.in_(ids))
    return _assemble(ids, reads, [list(session.execute(stmt)) for stmt in reads])


@cache
def _one_record_reads() -> tuple[tuple[Select, ...], tuple[Prepared, ...]]:
    """One record's reads, compiled once (``engine.store.prepared``): the record page and the
    API's instance answer run them on every read, and building the five selects each time
    cost more than running them."""
    reads = _statements(lambda column: column == bindparam("b_id"))
    return reads, tuple(Prepared(stmt) for stmt in reads)


def _one_record(session: Session, instance_id: str) -> list[StoredRecord]:
    reads, prepared = _one_record_reads()
    found = batch(session, [(p, [{"b_id": instance_id}]) for p in prepared])
    return _assemble([instance_id], reads, found)


def instance_ids(session: Session, *, batch_size: int = 500) -> Iterator[list[str]]:
    """Every instance id in order, ``batch_size`` at a time (for ``stored_records_of``)."""
    inst = Instance.__table__
    last: str | None = None
    while True:
        stmt = select(inst.c.id).order_by(inst.c.id).limit(batch_size)
        if last is not None:
            stmt = stmt.where(inst.c.id > last)
        ids = list(session.scalars(stmt))
        yield ids
        if len(ids) < batch_size:
            return
        last = ids[-1]


def stored_records_of(session: Session, ids: list[str]) -> list[StoredRecord]:
    """These instances as stored (in one set of reads)."""
    return _records(session, ids) if ids else []


def stored_record(session: Session, instance_id: str) -> StoredRecord | None:
    """One instance as stored, or None."""
    found = _one_record(session, instance_id)
    return found[0] if found else None


def orphan_event_instances(session: Session) -> list[str]:
    """Instances that have events but no instance row: a deleted instance whose trail stayed."""
    ev, inst = Event.__table__, Instance.__table__
    # ``org``: the organisation chart's own chain (``engine.store.org``), not an instance.
    return list(session.scalars(select(ev.c.instance_id).distinct()
                                .where(~ev.c.instance_id.in_(select(inst.c.id)), ev.c.instance_id != "org")
                                .order_by(ev.c.instance_id)))
