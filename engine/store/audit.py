"""The audit chain: one hash chain of events per instance, and its verification.

Each event's ``hash`` is the SHA-256 (hex) of the canonical JSON of
``{instance_id, seq, type, step, task, actor, at, data, prev_hash}``; the first event of an
instance has ``prev_hash`` ``"0" * 64``. ``at`` enters the hash as a fixed-format UTC string
with microseconds, and ``data`` is normalised through canonical JSON *before* it is stored, so
what is read back from SQLite or PostgreSQL hashes exactly as what was written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, tuple_, type_coerce
from sqlalchemy.types import NullType

from engine.i18n import _
from engine.store.tables import Event, Instance

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

GENESIS = "0" * 64
#: The chain key of the organisation chart's events (``engine.store.org``); no instance has
#: this id (ids are generated with a date prefix).
ORG_CHAIN = "org"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text; NaN and infinities are refused."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def normalise(data: Any) -> Any:
    """``data`` as it will read back from a JSON column (tuples -> lists, keys -> str...)."""
    return json.loads(canonical_json(data))


def parse_time(value: str | datetime) -> datetime:
    """An ISO string or datetime as aware UTC; naive values are taken to be UTC."""
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def format_time(value: datetime) -> str:
    """The one textual form of a time in the chain: ``2026-05-01T08:00:00.000000Z``."""
    dt = parse_time(value)
    if dt.year < 1000:  # strftime writes such a year without leading zeros; hashes keep that
        return dt.strftime(TIME_FORMAT)
    # The same text as TIME_FORMAT, at a fifth of strftime's cost (each event formats its time)
    return dt.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def event_hash(*, instance_id: str, seq: int, type: str, step: str | None, task: str | None,
               actor: str, at: datetime | str, data: Any, prev_hash: str) -> str:
    payload = {"instance_id": instance_id, "seq": seq, "type": type, "step": step,
               "task": task, "actor": actor, "at": format_time(parse_time(at)), "data": data,
               "prev_hash": prev_hash}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def hash_of(row: Any) -> str:
    """Recompute the hash of an ``Event`` (or a raw events row) from its stored fields."""
    return event_hash(instance_id=row.instance_id, seq=row.seq, type=row.type, step=row.step,
                      task=row.task_id, actor=row.actor, at=row.at, data=row.data,
                      prev_hash=row.prev_hash)


@dataclass(frozen=True)
class Break:
    """The first broken link of one instance's chain."""

    instance_id: str
    seq: int
    event_id: int
    problem: str  # "hash mismatch" | "prev_hash mismatch" | "missing seq"
    detail: str

    def __str__(self) -> str:
        return (f"{self.instance_id}: event seq {self.seq} (id {self.event_id}): "
                f"{self.problem}: {self.detail}")


@dataclass
class Report:
    events: int = 0
    instances: int = 0
    breaks: list[Break] = field(default_factory=list)
    # The anchor file read (``engine.store.anchor``), the heads it anchors, its own problems.
    anchor_file: str | None = None
    anchored: int = 0
    anchor_problems: list[str] = field(default_factory=list)
    # Heads anchored after a restored backup's last event, which it cannot hold (the drill).
    anchored_later: int = 0
    held_until: datetime | None = None

    # The organisation chart's chain was among them (not counted as an instance).
    chart: bool = False
    # Files read from disk and compared with their records (``wf audit verify --files``).
    files: int | None = None

    @property
    def ok(self) -> bool:
        return not self.breaks and not self.anchor_problems

    def counted(self) -> str:
        """What was checked, for the command line: ``N events in M instances`` (and the chart)."""
        return (_("{events} events in {instances} instances", events=self.events, instances=self.instances)
                + (_(" and the organisation chart") if self.chart else "")
                + (_(", {n} files read", n=self.files) if self.files is not None else ""))


# The columns a hand outside the application can fill with what no type reads back: on SQLite,
# text that is not JSON in ``data``, a time that is not one in ``at`` (PostgreSQL's types refuse
# both). They are read as the driver gives them and decoded one row at a time
# (``decode_events``), so one such row is named as unreadable instead of ending the read.
_UNTYPED = ("data", "at")


def as_stored(column: Any) -> Any:
    """``column`` read as the driver gives it, under its own name: a value a hand wrote there
    that its type cannot read reaches Python, to be decoded one row at a time (``stored_reader``)
    instead of failing the whole read."""
    return type_coerce(column, NullType()).label(column.key)


def stored_reader(session: Session, column: Any) -> Callable[[Any], Any]:
    """What ``column``'s type makes of a value read ``as_stored``; it raises ``ValueError`` or
    ``TypeError`` for one it cannot read."""
    read = column.type._cached_result_processor(session.get_bind().dialect, None)
    return read if read is not None else (lambda value: value)


def event_columns(*names: str) -> list[Any]:
    """The events table's columns ``names`` (all when none) for ``decode_events``."""
    table = Event.__table__
    return [as_stored(table.c[name]) if name in _UNTYPED else table.c[name]
            for name in (names or table.c.keys())]


def decode_events(session: Session, rows: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Rows read with ``event_columns`` as mappings with ``data`` and ``at`` as their types
    read them; a row one of them cannot be read from has ``unreadable`` (the column and what
    was wrong) and the raw value."""
    table = Event.__table__
    readers = [(name, stored_reader(session, table.c[name])) for name in _UNTYPED]
    for row in rows:
        out = dict(row._mapping)
        for name, read in readers:
            if name not in out:
                continue
            try:
                out[name] = read(out[name])
            except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError among them
                out["unreadable"] = f"{name}: {type(exc).__name__}: {exc}"
        if "unreadable" not in out and "at" in out and not isinstance(out["at"], datetime):
            out["unreadable"] = f"at: not a time: {out['at']!r}"
        yield out


def _rows(session: Session, batch_size: int) -> Iterator[dict[str, Any]]:
    """Every event in (instance_id, seq) order, by keyset pages: bounded memory at any size,
    decoded by ``decode_events``.

    Plain rows, not ORM objects, so nothing accumulates in the session's identity map.
    """
    table = Event.__table__
    last: tuple[str, int] | None = None
    while True:
        stmt = select(*event_columns()).order_by(table.c.instance_id, table.c.seq).limit(batch_size)
        if last is not None:
            stmt = stmt.where(tuple_(table.c.instance_id, table.c.seq) > tuple_(*last))
        rows = list(decode_events(session, session.execute(stmt)))
        yield from rows
        if len(rows) < batch_size:
            return
        last = (rows[-1]["instance_id"], rows[-1]["seq"])


def last_event_at(session: Session) -> datetime | None:
    """When the latest event of any chain was recorded (None in an empty database): the time
    a restored backup holds the trail up to."""
    found = session.scalar(select(func.max(Event.at)))
    return parse_time(found) if found is not None else None


def verify_chains(session: Session, *, batch_size: int = 5000) -> Report:
    """Recompute every chain; report the first broken link per instance."""
    report = Report()
    current: str | None = None
    expected_seq, prev_hash, broken = 1, GENESIS, False
    for row in _rows(session, batch_size):
        report.events += 1
        if row["instance_id"] != current:
            current, expected_seq, prev_hash, broken = row["instance_id"], 1, GENESIS, False
            if current == ORG_CHAIN:
                report.chart = True
            else:
                report.instances += 1
        if broken:
            continue
        problem = None
        if row["seq"] != expected_seq:
            missing = (f"seq {expected_seq}" if row["seq"] == expected_seq + 1
                       else f"seqs {expected_seq}..{row['seq'] - 1}")
            problem = ("missing seq", f"{missing} missing before this event")
        elif row["prev_hash"] != prev_hash:
            problem = ("prev_hash mismatch",
                       f"stored prev_hash {row['prev_hash'][:12]}…, predecessor's hash is "
                       f"{prev_hash[:12]}…")
        elif "unreadable" in row:
            problem = ("unreadable", f"the event cannot be read ({row['unreadable']}): a value was written "
                                     "into it that the application never writes")
        else:
            recomputed = event_hash(instance_id=row["instance_id"], seq=row["seq"], type=row["type"],
                                    step=row["step"], task=row["task_id"], actor=row["actor"], at=row["at"],
                                    data=row["data"], prev_hash=row["prev_hash"])
            if recomputed != row["hash"]:
                problem = ("hash mismatch",
                           f"stored {row['hash'][:12]}…, recomputed {recomputed[:12]}…: "
                           f"the event's content was changed")
        if problem:
            report.breaks.append(Break(row["instance_id"], row["seq"], row["id"], *problem))
            broken = True
            continue
        expected_seq, prev_hash = row["seq"] + 1, row["hash"]
    report.breaks.extend(_head_breaks(session, {b.instance_id for b in report.breaks}))
    return report


def _head_breaks(session: Session, already: set[str]) -> list[Break]:
    """Chains whose end differs from the head kept on the instance row: events deleted (or
    added) at the end of a chain, which the links alone cannot show."""
    ev = Event.__table__
    last = (select(ev.c.instance_id, func.max(ev.c.seq).label("seq"))
            .group_by(ev.c.instance_id).subquery())
    inst = Instance.__table__
    rows = session.execute(
        select(inst.c.id, inst.c.event_seq, inst.c.event_hash, last.c.seq, ev.c.hash, ev.c.id.label("event_id"))
        .outerjoin(last, last.c.instance_id == inst.c.id)
        .outerjoin(ev, (ev.c.instance_id == inst.c.id) & (ev.c.seq == last.c.seq))
        .where(inst.c.event_seq > 0)
        .where((func.coalesce(last.c.seq, 0) != inst.c.event_seq) | (ev.c.hash != inst.c.event_hash))
    ).all()
    return [
        Break(r.id, r.seq or 0, r.event_id or 0, "chain end mismatch",
              f"the instance records {r.event_seq} events ending in {(r.event_hash or '')[:12]}…, "
              f"the chain ends at seq {r.seq or 0}: events were removed from (or added to) its end")
        for r in rows if r.id not in already
    ]


def verify(session: Session, *, batch_size: int = 5000) -> list[Break]:
    """The first broken link of every instance whose chain does not verify (empty: all good)."""
    return verify_chains(session, batch_size=batch_size).breaks


def count_events(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Event)) or 0
