"""Reads for auditors: event search, one instance's chain check, attachments, the access log.

Searching by a form value goes through the field index (``field_index``), never through
the JSON of events or instances, so a search by serial number stays an index look-up at
any number of records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from engine.i18n import StoredMessage, keep
from engine.store.audit import GENESIS, as_stored, decode_events, event_columns, event_hash
from engine.store.tables import AccessLog, Attachment, Event, FieldIndex, Instance

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

VALUE_IDS = 1000


@dataclass(frozen=True)
class EventQuery:
    """Filters of the audit search; None means "any". ``procedures`` limits the search to
    the procedures the reader may see (None: all)."""

    procedures: tuple[str, ...] | None = None
    procedure: str | None = None
    step: str | None = None
    actor: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    field: str | None = None   # STEP.FIELD; with ``value`` only
    value: str | None = None
    instance: str | None = None
    value_ids: tuple[str, ...] | None = None  # the instances holding ``value`` (resolved)
    hidden_keys: tuple[str, ...] = ()  # field keys a search by value must not look in


def _where(stmt: Any, q: EventQuery) -> Any:
    ev, inst = Event.__table__, Instance.__table__
    if q.procedures is not None:
        stmt = stmt.where(inst.c.procedure_id.in_(sorted(q.procedures)))
    if q.procedure:
        stmt = stmt.where(inst.c.procedure_id == q.procedure)
    if q.instance:
        stmt = stmt.where(ev.c.instance_id == q.instance)
    if q.step:
        stmt = stmt.where(ev.c.step == q.step)
    if q.actor:
        stmt = stmt.where(ev.c.actor == q.actor)
    if q.type:
        stmt = stmt.where(ev.c.type == q.type)
    if q.since:
        stmt = stmt.where(ev.c.at >= q.since)
    if q.until:
        stmt = stmt.where(ev.c.at < q.until)
    if q.value:
        stmt = stmt.where(ev.c.instance_id.in_(q.value_ids if q.value_ids is not None else _value_ids(q)))
    return stmt


def _value_ids(q: EventQuery) -> Any:
    fi = FieldIndex.__table__
    ids = select(fi.c.instance_id).where(fi.c.value == q.value)
    if q.field:
        ids = ids.where(fi.c.key == q.field)
    if q.hidden_keys:
        ids = ids.where(fi.c.key.not_in(sorted(q.hidden_keys)))
    if q.procedure:
        ids = ids.where(fi.c.procedure_id == q.procedure)
    return ids


def keys_holding(session: Session, value: str, keys: Iterable[str],
                 procedure: str | None = None) -> list[str]:
    """Which of ``keys`` hold ``value`` in some instance (of ``procedure``)."""
    keys = sorted(keys)
    if not keys:
        return []
    fi = FieldIndex.__table__
    stmt = select(fi.c.key).distinct().where(fi.c.value == value, fi.c.key.in_(keys))
    if procedure:
        stmt = stmt.where(fi.c.procedure_id == procedure)
    return sorted(session.scalars(stmt))


def _with_value_ids(session: Session, q: EventQuery) -> EventQuery:
    """Resolve a search by value to its (few) instance ids first: given a subquery, SQLite
    walks the events by time and tests each one, which is a full scan for a rare value."""
    if not q.value or q.value_ids is not None:
        return q
    ids = list(session.scalars(_value_ids(q).limit(VALUE_IDS + 1)))
    if len(ids) > VALUE_IDS:  # a common value: let the database join
        return q
    return replace(q, value_ids=tuple(ids))


def search_events(session: Session, q: EventQuery, *, limit: int = 50,
                  offset: int = 0) -> tuple[list[Any], bool]:
    """Matching events, newest first: ``(rows, more)``; each row has the event's columns
    plus ``procedure_id``. ``more`` says whether a next page exists (no count: counting
    millions of events for a page number is not worth its time)."""
    q = _with_value_ids(session, q)
    ev, inst = Event.__table__, Instance.__table__
    stmt = (select(*event_columns(), inst.c.procedure_id, inst.c.version_id)
            .join(inst, inst.c.id == ev.c.instance_id))
    stmt = _where(stmt, q).order_by(ev.c.at.desc(), ev.c.id.desc()).limit(limit + 1).offset(offset)
    # Decoded row by row: an event a hand made unreadable is one row that says so
    # (``unreadable``), not a page that fails for every auditor.
    rows = [SimpleNamespace(**{"unreadable": None, **e}) for e in decode_events(session, session.execute(stmt))]
    return rows[:limit], len(rows) > limit


def export_events(session: Session, q: EventQuery, *, batch_size: int = 2000) -> Iterator[Any]:
    """Matching events in (time, id) order, read in keyset pages: bounded memory. Decoded row
    by row, as the search is: an event a hand made unreadable is one row that says so
    (``unreadable``), not the end of the export."""
    q = _with_value_ids(session, q)
    ev, inst = Event.__table__, Instance.__table__
    # The page key is the time as stored: an unreadable one still has its place in the order.
    stored_at = as_stored(ev.c.at)
    last: tuple[Any, int] | None = None
    while True:
        stmt = _where(select(*event_columns(), stored_at.label("stored_at"), inst.c.procedure_id)
                      .join(inst, inst.c.id == ev.c.instance_id), q)
        if last is not None:
            stmt = stmt.where((stored_at > last[0]) | ((stored_at == last[0]) & (ev.c.id > last[1])))
        rows = [SimpleNamespace(**{"unreadable": None, **e}) for e in
                decode_events(session, session.execute(stmt.order_by(ev.c.at, ev.c.id).limit(batch_size)))]
        yield from rows
        if len(rows) < batch_size:
            return
        last = (rows[-1].stored_at, rows[-1].id)


def field_keys(session: Session, procedures: Iterable[str] | None = None) -> list[str]:
    """The searchable field keys in use (for the search form's choice list)."""
    fi = FieldIndex.__table__
    stmt = select(fi.c.key).distinct().order_by(fi.c.key)
    if procedures is not None:
        stmt = stmt.where(fi.c.procedure_id.in_(sorted(procedures)))
    return [k for k in session.scalars(stmt) if "@" not in k]


@dataclass(frozen=True)
class ChainCheck:
    """One instance's chain check. ``message`` is what is broken in English, for logs (or
    the intact chain's summary); ``finding`` the same as a catalogue key with its values
    (``engine.i18n.keep``), which pages show in each reader's language. ``record``: the
    chain is intact, but the record pages show differs from it (``engine.app.audit``)."""

    ok: bool
    events: int
    message: str
    head: str = ""  # the hash the intact chain ends in
    finding: StoredMessage | None = None
    record: bool = False
    # The ``STEP.FIELD`` a record finding names, if any (a reader who sees it in clear has
    # seen a value of it: the access log counts it).
    field: str = ""


def _broken(events: int, message: str, kept: tuple[str, StoredMessage]) -> ChainCheck:
    return ChainCheck(False, events, message, finding=kept[1])


def check_instance(session: Session, instance_id: str) -> ChainCheck:
    """Recompute one instance's chain and compare its end with the head on the instance row.
    An event a hand filled with what cannot be read back breaks the chain there (it does not
    end the check: ``decode_events``)."""
    ev = Event.__table__
    rows = session.execute(select(*event_columns("seq", "type", "step", "task_id", "actor", "at", "data", "hash",
                                                 "prev_hash"))
                           .where(ev.c.instance_id == instance_id).order_by(ev.c.seq))
    events = [{**e, "task": e["task_id"]} for e in decode_events(session, rows)]
    head = session.execute(select(Instance.event_seq, Instance.event_hash)
                           .where(Instance.id == instance_id)).first()
    return check_chain(instance_id, events, tuple(head) if head is not None else None)


def check_chain(instance_id: str, events: Sequence[Mapping[str, Any]],
                head: tuple[int | None, str | None] | None) -> ChainCheck:
    """``check_instance`` on events already read (``seq``, ``type``, ``step``, ``task``,
    ``actor``, ``at``, ``data``, ``hash``, ``prev_hash``, in chain order) and the instance
    row's ``(event_seq, event_hash)``, None without a row: the record page reads a record's
    events once for this check and its replay."""
    prev, expected = GENESIS, 1
    for e in events:
        seq = e["seq"]
        if seq != expected:
            return _broken(len(events), f"seq {expected} is missing before event seq {seq}",
                           keep("event {missing} is missing before event {seq}: it was deleted",
                                missing=expected, seq=seq))
        if e["prev_hash"] != prev:
            return _broken(len(events), f"event seq {seq}: prev_hash does not match its predecessor's hash",
                           keep("event {seq} no longer follows the event before it (the hashes do not link): "
                                "an earlier event was replaced or removed", seq=seq))
        if e.get("unreadable"):
            return _broken(len(events), f"event seq {seq} cannot be read ({e['unreadable']})",
                           keep("event {seq} cannot be read: a value was written into it that the application "
                                "never writes", seq=seq))
        if event_hash(instance_id=instance_id, seq=seq, type=e["type"], step=e["step"], task=e["task"],
                      actor=e["actor"], at=e["at"], data=e["data"], prev_hash=e["prev_hash"]) != e["hash"]:
            return _broken(len(events), f"event seq {seq}: content changed (hash mismatch)",
                           keep("event {seq} was changed after it was recorded (its hash does not match)",
                                seq=seq))
        prev, expected = e["hash"], expected + 1
    recorded, recorded_hash = head if head is not None else (None, None)
    if recorded and (recorded != len(events) or recorded_hash != prev):
        return _broken(len(events), f"the instance records {recorded} events, the chain has {len(events)}: "
                                    "events were removed or added at its end",
                       keep("the record counts {recorded} events, its audit trail holds {found}: events were "
                            "removed from or added to its end", recorded=recorded, found=len(events)))
    return ChainCheck(True, len(events), f"{len(events)} events verified, chain ends in {prev[:16]}…", prev)


def attachments_of(session: Session, instance_id: str) -> list[Attachment]:
    return list(session.scalars(select(Attachment).where(Attachment.instance_id == instance_id)
                                .order_by(Attachment.uploaded_at, Attachment.id)))


def log_access(session: Session, entries: Iterable[tuple[str, str, Iterable[str]]], *,
               username: str, view: str, now: datetime) -> int:
    """Record that ``username`` saw the listed sensitive fields unmasked: entries are
    ``(instance_id, procedure_id, fields)``. Returns the number of rows written."""
    rows = [{"at": now, "username": username, "instance_id": i, "procedure_id": p,
             "fields": ",".join(sorted(set(f))), "view": view} for i, p, f in entries if f]
    if rows:
        session.execute(insert(AccessLog.__table__), rows)
    return len(rows)


def access_log(session: Session, *, instance_id: str | None = None, username: str | None = None,
               limit: int = 50, offset: int = 0) -> tuple[list[Any], bool]:
    """Access log rows (plain rows, usable after the session ends), newest first."""
    log = AccessLog.__table__
    stmt = select(log)
    if instance_id:
        stmt = stmt.where(log.c.instance_id == instance_id)
    if username:
        stmt = stmt.where(log.c.username == username)
    rows = session.execute(stmt.order_by(log.c.at.desc(), log.c.id.desc())
                           .limit(limit + 1).offset(offset)).all()
    return rows[:limit], len(rows) > limit
