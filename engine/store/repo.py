"""Repositories for procedure versions, instances, tasks and events.

Every function takes the caller's ``Session`` and neither commits nor rolls back: the service
layer owns the transaction (one per use case). The runtime's state and events are plain JSON
data; this module copies the columns it needs out of them and keeps the rest opaque.

Instances, their task rows and their events have one write path, the one every step takes:
``create_instance``, ``save_step`` and ``save_steps`` (prepared statements, see prepared.py).
Tests write through it too, so what they check is what the server does.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import JSON, and_, bindparam, false, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from engine.errors import Conflict, NotFound
from engine.i18n import _, keep
from engine.store import kpi_rollup
from engine.store.audit import GENESIS, as_stored, event_hash, normalise, parse_time, stored_reader
from engine.store.db import serialise
from engine.store.prepared import Prepared, batch
from engine.store.tables import (
    Attachment,
    Event,
    Group,
    Instance,
    InstanceStatus,
    OrgState,
    ProcedureFile,
    ProcedureVersion,
    Task,
    TaskKind,
    TaskStatus,
    User,
    user_groups,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(now: datetime | None = None) -> str:
    """A 26-character ULID-like id: millisecond time then 80 random bits, so ids sort by age."""
    ms = int((now.timestamp() if now else time.time()) * 1000)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _now() -> datetime:
    return datetime.now(UTC)


def _time(value: Any) -> datetime | None:
    return None if value in (None, "") else parse_time(value)


# --- procedure versions ---------------------------------------------------------------------

def content_hash(source_text: str, forms: Mapping[str, str], procedure_id: str | None = None) -> str:
    """The version hash of these texts: ``Procedure.content_hash`` (the procedure text and
    what its forms define), the hash every instance records when it starts and pages show.

    The texts are compiled by the procedure language (and kept compiled: the server's
    ``Workflow.runtime`` finds them again), so they must be a valid procedure; callers that
    hold the compiled ``Procedure`` pass its hash instead. ``DefinitionInvalid`` otherwise.
    """
    from engine.language.procedure import compile_stored

    key = hashlib.sha256(repr((procedure_id, source_text, sorted(forms.items()))).encode()).digest()
    found = _definition_hashes.get(key)
    if found is None:
        file = f"{procedure_id}.yaml" if procedure_id else "stored"  # no .yaml: any id will do
        found = _definition_hashes[key] = compile_stored(source_text, file, forms).content_hash
    return found


# Texts already hashed by this process. Compiling takes tens of milliseconds a procedure, and
# the language keeps only the last few dozen compiled; a server or a test session registers
# the same library again and again. 32 bytes a text, however many versions there are.
_definition_hashes: dict[bytes, str] = {}


def register_procedure_version(
    session: Session, procedure_id: str, source_text: str, forms: Mapping[str, str],
    title: str, *, registered_by: str | None = None, status: str = "published",
    now: datetime | None = None, definition_hash: str | None = None,
) -> tuple[ProcedureVersion, bool]:
    """The version row for this exact text, created if new: ``(row, created)``.

    Found by its definition hash (``definition_hash``, the compiled procedure's
    ``content_hash``; computed from the texts when not given), and idempotent also when two
    workers register the same text at once: the second waits for the first's lock.
    """
    digest = definition_hash or content_hash(source_text, forms, procedure_id)
    found = _same_text(session, procedure_id, digest, source_text, forms, status)
    if found is not None:
        return found, False
    serialise(session, f"versions:{procedure_id}")  # the next major number is taken once
    found = _same_text(session, procedure_id, digest, source_text, forms, status)
    if found is not None:  # registered by someone else while we waited for the lock
        return found, False
    return _new_major(session, procedure_id, digest, source_text, forms, title, registered_by=registered_by,
                      status=status, now=now), True


def _new_major(session: Session, procedure_id: str, digest: str, source_text: str, forms: Mapping[str, str],
               title: str, *, registered_by: str | None = None, status: str = "published",
               now: datetime | None = None, note: tuple[str, Mapping[str, Any]] | None = None) -> ProcedureVersion:
    """A new row numbered above every version of the procedure (the caller holds its lock)."""
    major = (session.scalar(select(func.max(ProcedureVersion.major))
                            .where(ProcedureVersion.procedure_id == procedure_id)) or 0) + 1
    row = ProcedureVersion(procedure_id=procedure_id, content_hash=digest, source=source_text,
                           forms=dict(forms), title=title, registered_at=now or _now(),
                           registered_by=registered_by, status=status, major=major, minor=0,
                           note=note[0] if note else None, note_message=dict(note[1]) if note else None)
    session.add(row)
    session.flush()
    return row


def load_file_version(session: Session, procedure_id: str, source_text: str, forms: Mapping[str, str],
                      title: str, *, now: datetime | None = None,
                      definition_hash: str | None = None) -> tuple[ProcedureVersion, bool]:
    """The version a procedure file (with its forms) is loaded as: ``(row, created)``.

    A server loads its files at every start, and a version published in the editor since
    must survive that; yet a file changed on purpose, even back to an earlier text, must take
    effect. What tells them apart is the text the files were last loaded as
    (``ProcedureFile``): the same text again changes nothing; another text becomes current.
    An earlier version's text becomes current as a new version numbered above all others,
    noted as restoring it: the earlier row keeps its number and the instances pinned to it,
    and the history reads in the order things happened. No record yet (the first load after
    migration 0025): the version with this text, as ``register_procedure_version`` finds it.
    """
    last = _file_version_id(session, procedure_id)
    if last is not None and _has_text(get_version(session, last), source_text, forms):
        return get_version(session, last), False  # the usual start: files unchanged
    serialise(session, f"versions:{procedure_id}")
    last = _file_version_id(session, procedure_id)  # another worker may have loaded it meanwhile
    if last is None:
        row, created = register_procedure_version(session, procedure_id, source_text, forms, title, now=now,
                                                  definition_hash=definition_hash)
    elif _has_text(earlier := get_version(session, last), source_text, forms):
        return earlier, False
    else:
        current = latest_version(session, procedure_id)
        if current is not None and _has_text(current, source_text, forms):
            row, created = current, False  # the files now say what is current already
        else:
            digest = definition_hash or content_hash(source_text, forms, procedure_id)
            restored = _same_text(session, procedure_id, digest, source_text, forms, "published")
            number = f"{restored.major or 0}.{restored.minor or 0}" if restored else ""  # versions.label
            note = keep("restored from v{version} (the procedure file was put back to its text)",
                        version=number) if restored else None
            row, created = _new_major(session, procedure_id, digest, source_text, forms, title, now=now,
                                      note=note), True
    record = session.get(ProcedureFile, procedure_id, populate_existing=True)
    if record is None:
        session.add(ProcedureFile(procedure_id=procedure_id, version_id=row.id, loaded_at=now or _now()))
    else:
        record.version_id, record.loaded_at = row.id, now or _now()
    session.flush()
    return row, created


def _file_version_id(session: Session, procedure_id: str) -> int | None:
    return session.scalar(select(ProcedureFile.version_id).where(ProcedureFile.procedure_id == procedure_id))


def _has_text(row: ProcedureVersion, source_text: str, forms: Mapping[str, str]) -> bool:
    return row.source == source_text and (row.forms or {}) == dict(forms)


def _same_text(session: Session, procedure_id: str, digest: str, source_text: str,
               forms: Mapping[str, str], status: str) -> ProcedureVersion | None:
    """The oldest version of ``status`` with this hash and exactly these texts (a form
    whose only change is a comment has the same definition, but is a new text to keep)."""
    for row in session.scalars(select(ProcedureVersion).where(
            ProcedureVersion.procedure_id == procedure_id, ProcedureVersion.content_hash == digest,
            ProcedureVersion.status == status).order_by(ProcedureVersion.id)):
        if row.source == source_text and (row.forms or {}) == dict(forms):
            return row
    return None


def version_by_hash(session: Session, procedure_id: str, digest: str) -> ProcedureVersion | None:
    """The version with this definition hash: the oldest published one, else the oldest."""
    return session.scalars(select(ProcedureVersion).where(
        ProcedureVersion.procedure_id == procedure_id,
        ProcedureVersion.content_hash == digest)
        .order_by(ProcedureVersion.status != "published", ProcedureVersion.id)).first()


def latest_version(session: Session, procedure_id: str, *,
                   status: str | None = "published") -> ProcedureVersion | None:
    """The current version (``status`` published, the default: see :data:`CURRENT_ORDER`);
    with another ``status``, or None for any, the most recently registered one."""
    stmt = select(ProcedureVersion).where(ProcedureVersion.procedure_id == procedure_id)
    if status is not None:
        stmt = stmt.where(ProcedureVersion.status == status)
    order = CURRENT_ORDER if status == "published" else (ProcedureVersion.id.desc(),)
    return session.scalars(stmt.order_by(*order).limit(1)).first()


#: Which published version is current: the one with the highest number. Publication numbers
#: every version above all published ones (a file registered ``N+1.0``, an approved draft
#: ``max+1.0``), so the last one published is current even when its row is older: a draft
#: approved after a file version was registered while it was in review. Pinned instances
#: keep their row (its id), and the trail keeps every row as written.
CURRENT_ORDER = (ProcedureVersion.major.desc(), ProcedureVersion.id.desc())

_LATEST_VERSION_ID = Prepared(
    select(ProcedureVersion.__table__.c.id)
    .where(ProcedureVersion.__table__.c.procedure_id == bindparam("b_procedure"),
           ProcedureVersion.__table__.c.status == "published")
    .order_by(*CURRENT_ORDER).limit(1))


def latest_version_id(session: Session, procedure_id: str) -> int | None:
    """The id of ``latest_version(session, procedure_id)`` (each start asks it)."""
    rows = batch(session, [(_LATEST_VERSION_ID, [{"b_procedure": procedure_id}])])[0]
    return rows[0][0] if rows else None


def running_version_ids(session: Session, procedure_ids: Iterable[str]) -> list[int]:
    """The versions that running instances of ``procedure_ids`` are pinned to (read through
    the (procedure, status) index: never all the instances)."""
    ids = sorted(set(procedure_ids))
    if not ids:
        return []
    stmt = (select(_I.c.version_id).distinct()
            .where(_I.c.procedure_id.in_(ids), _I.c.status == InstanceStatus.RUNNING))
    return sorted(session.scalars(stmt))


def latest_version_ids(session: Session) -> dict[str, int]:
    """``latest_version_id`` of every procedure with a published version, by id, in one read
    (a page listing what a user may do asked it once per procedure)."""
    t = ProcedureVersion.__table__
    published = t.c.status == "published"
    top = (select(t.c.procedure_id, func.max(t.c.major).label("major")).where(published)
           .group_by(t.c.procedure_id).subquery())
    stmt = (select(t.c.procedure_id, func.max(t.c.id))
            .join(top, (t.c.procedure_id == top.c.procedure_id) & (t.c.major == top.c.major))
            .where(published).group_by(t.c.procedure_id).order_by(t.c.procedure_id))
    return {pid: vid for pid, vid in session.execute(stmt)}


def get_version(session: Session, version_id: int) -> ProcedureVersion:
    row = session.get(ProcedureVersion, version_id)
    if row is None:
        raise NotFound(_("Procedure version {id} does not exist.", id=version_id))
    return row


def procedure_ids(session: Session, status: str = "published") -> list[str]:
    """Every procedure with a version of ``status``, by id."""
    return list(session.scalars(select(ProcedureVersion.procedure_id)
                                .where(ProcedureVersion.status == status)
                                .distinct().order_by(ProcedureVersion.procedure_id)))


def versions_of(session: Session, procedure_id: str) -> list[ProcedureVersion]:
    """Every registered version of a procedure, oldest first."""
    return list(session.scalars(select(ProcedureVersion)
                                .where(ProcedureVersion.procedure_id == procedure_id)
                                .order_by(ProcedureVersion.id)))


# --- instances and tasks --------------------------------------------------------------------

def _instance_columns(state: Mapping[str, Any]) -> dict[str, Any]:
    origin = state.get("origin") or {}
    return {
        "procedure_id": state["procedure"],
        "status": InstanceStatus(state.get("status", "running")),
        "outcome": state.get("outcome"),
        "started_at": parse_time(state["started_at"]),
        "started_by": state.get("started_by") or "",
        "ended_at": _time(state.get("ended_at")),
        "origin_instance": origin.get("instance"),
        "origin_step": origin.get("step"),
        "serial": state.get("serial"),
    }


def _task_columns(task: Mapping[str, Any], fallback_time: datetime) -> dict[str, Any]:
    return {
        "step": task["step"],
        "kind": TaskKind(task.get("kind", "task")),
        "role": task.get("role"),
        "status": TaskStatus(task.get("status", "open")),
        "assignee": task.get("assignee"),
        "created_at": _time(task.get("created_at")) or fallback_time,
        "due_at": _time(task.get("due_at")),
        "completed_at": _time(task.get("completed_at")),
        "completed_by": task.get("completed_by"),
        "escalated_to": (" " + " ".join(task["escalated_to"]) + " ") if task.get("escalated_to") else None,
    }


# The hot path (load, write, append of one step) runs prepared statements (see prepared.py).
_I = Instance.__table__
_T = Task.__table__
_E = Event.__table__
_INSTANCE_COLUMNS = ["procedure_id", "status", "outcome", "started_at", "started_by",
                     "ended_at", "origin_instance", "origin_step", "serial"]  # _instance_columns()
_STEP_WRITE = ["state", "rev", "next_timer_at", "updated_at", "event_seq", "event_hash",
               *_INSTANCE_COLUMNS]
_TASK_COLUMNS = ["step", "kind", "role", "status", "assignee", "created_at", "due_at",
                 "completed_at", "completed_by", "escalated_to"]  # _task_columns()
# The columns a step always writes; the others (``_INDEXED``) are written only when their
# value changes. Most carry an index, and SQLite rewrites an index entry whenever its column
# is SET, even to the same value: a step that set them all dirtied about a quarter of the
# pages it wrote (6 of 27 on a form step of the shipped after-sales inspection) for nothing.
# Whether one changes is told from the state it is copied from (``_instance_columns``): the
# stored state is the one the row's columns were written from, by this module alone; only
# the timer is also moved without the state (``postpone_timers``), so its stored value is
# read with the row.
_ALWAYS = ["state", "rev", "updated_at", "event_seq", "event_hash"]
_INDEXED = ["next_timer_at", *_INSTANCE_COLUMNS]
# Each of _INSTANCE_COLUMNS and the state key it is copied from.
_FROM_STATE = {"procedure_id": "procedure", "status": "status", "outcome": "outcome",
               "started_at": "started_at", "started_by": "started_by", "ended_at": "ended_at",
               "origin_instance": "origin", "origin_step": "origin", "serial": "serial"}


class _NamesArray(FunctionElement[Any]):
    """The names aggregated as one JSON array (``[]`` or NULL when there are none)."""

    type = JSON()
    inherit_cache = True


@compiles(_NamesArray, "sqlite")
def _names_array_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


@compiles(_NamesArray, "postgresql")
def _names_array_pg(element: Any, compiler: Any, **kw: Any) -> str:
    return f"json_agg({compiler.process(element.clauses, **kw)})"


_U, _G, _OS = User.__table__, Group.__table__, OrgState.__table__
# A step's one read: the instance row (locked on PostgreSQL until the transaction ends), the
# organisation chart's stamp and the acting user's identity (``users.identity``). Three
# statements before; each cost a step on SQLite its own execution and result, about 3 % of it.
_LOAD_FOR_STEP = Prepared(
    select(_I.c.id, _I.c.version_id, _I.c.procedure_id, _I.c.status, _I.c.state, _I.c.rev,
           _I.c.event_seq, _I.c.event_hash,
           _OS.c.stamp.label("org_stamp"), _OS.c.version.label("org_version"),
           _U.c.id.label("user_id"), _U.c.full_name, _U.c.active,
           select(_NamesArray(_G.c.name)).select_from(user_groups.join(_G, _G.c.id == user_groups.c.group_id))
           .where(user_groups.c.user_id == _U.c.id).scalar_subquery().label("groups"),
           _I.c.next_timer_at)
    .select_from(_I.outerjoin(_OS, _OS.c.id == 1).outerjoin(_U, _U.c.username == bindparam("b_username")))
    .where(_I.c.id == bindparam("b_id")).with_for_update(of=_I))
_INSERT_INSTANCE = Prepared(insert(_I), ["id", "version_id", *_STEP_WRITE])
_INSERT_TASKS = Prepared(insert(_T), ["id", "instance_id", "task_id", "procedure_id",
                                      *_TASK_COLUMNS])


def _cached(cache: dict[tuple[str, ...], Prepared], columns: tuple[str, ...], make: Any) -> Prepared:
    found = cache.get(columns)
    if found is None:
        found = cache[columns] = make(columns)
    return found


# One UPDATE per set of columns a write changes (a handful occur: compiled once each).
_INSTANCE_UPDATES: dict[tuple[str, ...], Prepared] = {}
_TASK_UPDATES: dict[tuple[str, ...], Prepared] = {}


def _update_instance(columns: tuple[str, ...]) -> Prepared:
    return _cached(_INSTANCE_UPDATES, columns, lambda cols: Prepared(
        update(_I).where(_I.c.id == bindparam("b_id"), _I.c.rev == bindparam("b_rev")),
        [*_ALWAYS, *cols]))


def _update_task(columns: tuple[str, ...]) -> Prepared:
    return _cached(_TASK_UPDATES, columns, lambda cols: Prepared(
        update(_T).where(_T.c.id == bindparam("b_id")), list(cols)))
_INSERT_EVENTS = Prepared(insert(_E), ["instance_id", "seq", "task_id", "prev_hash", "hash",
                                       "type", "step", "actor", "at", "data"])


class StepRow(NamedTuple):
    """What a step needs of its instance row."""

    id: str
    version_id: int
    procedure_id: str
    status: InstanceStatus
    state: dict[str, Any]
    rev: int
    event_seq: int
    event_hash: str | None
    user: tuple[str, bool, list[str]] | None = None  # the acting user's identity, if asked
    # The organisation chart's (stamp, version), read in the same round trip, so checking the
    # cached chart (``engine.app.org.current_org``) costs the step no extra one.
    org_stamp: tuple[str, int] | None = None
    # The stored timer (a write sets it only when it changes; see ``_INDEXED``).
    next_timer_at: datetime | None = None


def load_for_step(session: Session, instance_id: str, username: str | None = None) -> StepRow:
    """The instance's row for a step, locked on PostgreSQL until the transaction ends (on
    SQLite the transaction already holds the write lock), with the identity of the acting
    user (``users.identity``) fetched in the same round trip. ``NotFound`` if unknown."""
    [found] = batch(session, [(_LOAD_FOR_STEP, [{"b_id": instance_id, "b_username": username}])])
    if not found:
        raise NotFound(_("Instance {id} does not exist; check the record number or search for it.", id=instance_id))
    *values, stamp, version, user_id, full_name, active, groups, timer = found[0]
    user = (full_name, active, sorted(g for g in groups or () if g)) if user_id is not None else None
    # No org_state row: a database not migrated to 0014_org17 (``org.stamp_of``).
    return StepRow(*values, user, (stamp, version) if stamp is not None else None, timer)


class RecordRow(NamedTuple):
    """An instance as readers see it (the columns of ``load_record``)."""

    id: str
    procedure_id: str
    version_id: int
    status: InstanceStatus
    outcome: str | None
    rev: int
    state: dict[str, Any]


class EventRow(NamedTuple):
    seq: int
    type: str
    step: str | None
    task_id: str | None
    actor: str
    at: datetime
    data: Any
    hash: str
    prev_hash: str


_LOAD_RECORD = Prepared(select(*(_I.c[name] for name in RecordRow._fields))
                        .where(_I.c.id == bindparam("b_id")))
_EVENTS_OF = Prepared(select(*(_E.c[name] for name in EventRow._fields))
                      .where(_E.c.instance_id == bindparam("b_id")).order_by(_E.c.seq))


def load_record(session: Session, instance_id: str, *,
                events: bool = False) -> tuple[RecordRow, list[EventRow]]:
    """The instance and (with ``events``) its events in chain order, in one round trip;
    ``NotFound`` if unknown."""
    calls = [(_LOAD_RECORD, [{"b_id": instance_id}])]
    if events:
        calls.append((_EVENTS_OF, [{"b_id": instance_id}]))
    found, *rest = batch(session, calls)
    if not found:
        raise NotFound(_("Instance {id} does not exist; check the record number or search for it.", id=instance_id))
    return RecordRow(*found[0]), [EventRow(*e) for e in (rest[0] if rest else [])]


def event_rows(session: Session, instance_id: str) -> list[EventRow]:
    """The instance's events in chain order (``load_record``'s, without the instance)."""
    return [EventRow(*e) for e in batch(session, [(_EVENTS_OF, [{"b_id": instance_id}])])[0]]


def load_instance(session: Session, instance_id: str, *, for_update: bool = False) -> Instance:
    """The instance row (fresh from the database); ``for_update`` locks it on PostgreSQL."""
    stmt = select(Instance).where(Instance.id == instance_id).execution_options(
        populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(_("Instance {id} does not exist; check the record number or search for it.", id=instance_id))
    return row


def instance_states(session: Session, instance_ids: Iterable[str]) -> dict[str, tuple[int, dict[str, Any]]]:
    """Instance id -> (pinned version id, state) of each instance named, in one read per 500
    (a page listing many tasks reads their instances together, not one by one); ids that do
    not exist are left out."""
    return _with_version(session, instance_ids, Instance.state)


def instance_heads(session: Session, instance_ids: Iterable[str]) -> dict[str, tuple[int, str | None]]:
    """Instance id -> (pinned version id, record number) of each instance named, as
    ``instance_states`` but without the state (a list of tasks needs no more of most)."""
    return _with_version(session, instance_ids, Instance.serial)


def _with_version(session: Session, instance_ids: Iterable[str], column: Any) -> dict[str, tuple[int, Any]]:
    ids = list(dict.fromkeys(instance_ids))
    found: dict[str, tuple[int, Any]] = {}
    for start in range(0, len(ids), 500):
        stmt = select(Instance.id, Instance.version_id, column).where(Instance.id.in_(ids[start:start + 500]))
        for iid, version_id, value in session.execute(stmt):
            found[iid] = (version_id, value)
    return found


# What a list shows of an instance: its columns, never its state. A list of 200 read the whole
# state of each (forms, history of tasks) to show ten columns, and one state a hand made
# unreadable ended the list for everyone.
_SUMMARY = ("id", "serial", "procedure_id", "version_id", "status", "outcome", "rev", "started_at",
            "started_by", "ended_at")


class ListedInstance(NamedTuple):
    """An instance's list columns (``_SUMMARY``); a time a hand made unreadable is None."""

    id: str
    serial: str | None
    procedure_id: str
    version_id: int
    status: Any
    outcome: str | None
    rev: int
    started_at: datetime | None
    started_by: str | None
    ended_at: datetime | None


_LIST_TIMES = ("started_at", "ended_at")


def list_instances(session: Session, procedure_id: str | None = None,
                   status: str | None = None, limit: int = 50, offset: int = 0) -> list[ListedInstance]:
    """Instances' list columns (``_SUMMARY``), newest first. The times are read as stored and
    decoded row by row: one a hand made unreadable (SQLite stores any text) is None, and the
    list goes on; opening that record shows what the integrity check finds."""
    stmt = _filtered(select(*(as_stored(_I.c[name]) if name in _LIST_TIMES else _I.c[name]
                              for name in _SUMMARY)), procedure_id, status)
    rows = session.execute(stmt.order_by(_I.c.started_at.desc(), _I.c.id.desc()).limit(limit).offset(offset))
    readers = {name: stored_reader(session, _I.c[name]) for name in _LIST_TIMES}
    out = []
    for row in rows:
        values = row._asdict()
        for name, read in readers.items():
            try:
                value = read(values[name]) if values[name] is not None else None
            except (ValueError, TypeError):
                value = None
            values[name] = value if isinstance(value, datetime) else None
        out.append(ListedInstance(**values))
    return out


def count_instances(session: Session, procedure_id: str | None = None,
                    status: str | None = None) -> int:
    return session.scalar(_filtered(select(func.count(Instance.id)), procedure_id, status)) or 0


def _filtered(stmt: Any, procedure_id: str | None, status: str | None) -> Any:
    if procedure_id is not None:
        stmt = stmt.where(Instance.procedure_id == procedure_id)
    if status is not None:
        stmt = stmt.where(Instance.status == InstanceStatus(status))
    return stmt


def spawned_from(session: Session, instance_id: str) -> list[Any]:
    """Rows ``(id, procedure_id, status, origin_step)`` of the instances that steps of
    ``instance_id`` opened, oldest first."""
    return list(session.execute(
        select(Instance.id, Instance.procedure_id, Instance.status, Instance.origin_step)
        .where(Instance.origin_instance == instance_id).order_by(Instance.started_at, Instance.id)))


def due_instances(session: Session, now: datetime, limit: int = 100) -> list[Instance]:
    """Running instances whose next timer is due, oldest first, locked for this transaction.

    On PostgreSQL the rows are claimed with ``FOR UPDATE SKIP LOCKED``, so several workers
    ticking at once each get different instances. (SQLite has a single writer anyway.)
    """
    stmt = (select(Instance)
            .where(Instance.status == InstanceStatus.RUNNING, Instance.next_timer_at <= now)
            .order_by(Instance.next_timer_at).limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True))
    return list(session.scalars(stmt))


class TaskRef(NamedTuple):
    instance_id: str
    step: str
    kind: TaskKind


_TASK_REF = Prepared(select(_T.c.instance_id, _T.c.step, _T.c.kind)
                     .where(_T.c.id == bindparam("b_id")))


_VERSION_OF = Prepared(select(_I.c.version_id).where(_I.c.id == bindparam("b_id")))


def version_of(session: Session, instance_id: str) -> int:
    """The procedure version an instance is pinned to (one indexed read, no state loaded)."""
    found = batch(session, [(_VERSION_OF, [{"b_id": instance_id}])])[0]
    if not found:
        raise NotFound(_("Instance {id} does not exist; check the record number or search for it.", id=instance_id))
    return int(found[0][0])


_TASK_ROUTE = Prepared(select(_T.c.instance_id, _T.c.step, _T.c.kind, _I.c.version_id)
                       .select_from(_T.join(_I, _I.c.id == _T.c.instance_id))
                       .where(_T.c.id == bindparam("b_id")))


def task_route(session: Session, task_id: str) -> tuple[TaskRef, int]:
    """``task_ref`` and the version its instance is pinned to (``version_of``), in one read
    (a submission asks both)."""
    found = batch(session, [(_TASK_ROUTE, [{"b_id": task_id}])])[0]
    if not found:
        raise NotFound(_("Task {id} does not exist; it may have been withdrawn or the link is mistyped.", id=task_id))
    *ref, version_id = found[0]
    return TaskRef(*ref), int(version_id)


def task_ref(session: Session, task_id: str) -> TaskRef:
    """Instance, step and kind of a task (what a submission needs to be routed)."""
    found = batch(session, [(_TASK_REF, [{"b_id": task_id}])])[0]
    if not found:
        raise NotFound(_("Task {id} does not exist; it may have been withdrawn or the link is mistyped.", id=task_id))
    return TaskRef(*found[0])


def get_task(session: Session, task_id: str) -> Task:
    """A task by its global id ``f"{instance_id}.{local_id}"``."""
    row = session.get(Task, task_id)
    if row is None:
        raise NotFound(_("Task {id} does not exist; it may have been withdrawn or the link is mistyped.", id=task_id))
    return row


def tasks_of(session: Session, instance_id: str) -> list[Task]:
    return list(session.scalars(select(Task).where(Task.instance_id == instance_id)
                                .order_by(Task.created_at, Task.id)))


_INBOX_COLUMNS = ("id", "instance_id", "task_id", "procedure_id", "step", "kind", "role", "status",
                  "assignee", "created_at", "due_at")


def open_tasks_for(session: Session, roles: Iterable[str], username: str, *,
                   exclude: Iterable[str] = (), procedure_id: str | None = None,
                   limit: int = 200) -> list[Any]:
    """The inbox: open tasks assigned to ``username``, unclaimed or own tasks of ``roles``,
    and overdue tasks escalated to one of ``roles`` or to ``username`` (claimed or not: the
    escalation asks them to step in).

    A role ``"inspector"`` matches that role in every procedure; ``"complaint.inspector"``
    only in procedure ``complaint``; ``exclude`` takes ``"procedure.role"`` pairs the user
    does not hold although a plain role would match (a procedure-specific override).
    Ordered by due time (none last), then age.
    """
    plain: set[str] = set()
    qualified: set[tuple[str, str]] = set()
    for role in roles:
        if "." in role:
            proc, _, name = role.partition(".")
            qualified.add((proc, name))
        else:
            plain.add(role)
    matches = ([Task.role.in_(sorted(plain))] if plain else []) + [
        and_(Task.procedure_id == p, Task.role == r) for p, r in sorted(qualified)]
    by_role = or_(*matches) if matches else false()
    for p, _, r in sorted(e.partition(".") for e in exclude):
        by_role = and_(by_role, ~and_(Task.procedure_id == p, Task.role == r))
    pool = and_(by_role, or_(Task.assignee.is_(None), Task.assignee == username))
    escalated = [Task.escalated_to.contains(f" user:{username} ", autoescape=True)]
    escalated += [Task.escalated_to.contains(f" {r} ", autoescape=True) for r in sorted(plain)]
    escalated += [and_(Task.procedure_id == p, Task.escalated_to.contains(f" {r} ", autoescape=True))
                  for p, r in sorted(qualified)]
    # Rows, not ORM objects: a shared role's queue is hundreds of them on every inbox page.
    stmt = select(*(Task.__table__.c[name] for name in _INBOX_COLUMNS)).where(
        Task.status == TaskStatus.OPEN, or_(Task.assignee == username, pool, *escalated))
    if procedure_id is not None:
        stmt = stmt.where(Task.procedure_id == procedure_id)
    stmt = stmt.order_by(Task.due_at.is_(None), Task.due_at, Task.created_at, Task.id)
    return list(session.execute(stmt.limit(limit)))


# --- one step in one pass ------------------------------------------------------------------

def _chain(instance_id: str, events: Iterable[Mapping[str, Any]], seq: int,
           prev_hash: str) -> tuple[list[dict[str, Any]], int, str]:
    """Event rows chained after (seq, prev_hash); returns the rows and the new chain head."""
    rows = []
    for event in events:
        seq += 1
        data = normalise(event.get("data") or {})
        task = event.get("task", event.get("task_id"))
        fields = {"type": event["type"], "step": event.get("step"), "actor": event["actor"],
                  "at": parse_time(event["at"]), "data": data}
        digest = event_hash(instance_id=instance_id, seq=seq, task=task, prev_hash=prev_hash,
                            **fields)
        rows.append({"instance_id": instance_id, "seq": seq, "task_id": task,
                     "prev_hash": prev_hash, "hash": digest, **fields})
        prev_hash = digest
    return rows, seq, prev_hash


def _task_writes(instance_id: str, procedure_id: str, old: Mapping[str, Mapping[str, Any]],
                 new: Mapping[str, Mapping[str, Any]]) -> tuple[list[tuple[Prepared, list[dict]]], set[str]]:
    """Statements that insert new task rows and update changed ones (the runtime never
    removes a task), and the creation days of those tasks (their KPI figures change)."""
    now = _now()
    added = []
    changed: dict[tuple[str, ...], list[dict]] = {}
    days = set()
    for key, task in new.items():
        before = old.get(key)
        if before == task:
            continue
        task_id = str(task.get("id") or key)
        values = _task_columns(task, now)
        days.add(kpi_rollup.day_of(values["created_at"]))
        if before is None:
            added.append({"id": f"{instance_id}.{task_id}", "instance_id": instance_id,
                          "task_id": task_id, "procedure_id": procedure_id, **values})
        else:
            # Only the columns that change (most are indexed; see ``_ALWAYS``): the row was
            # written from ``before`` by this same function, and each column is copied from
            # the task's key of the same name.
            cols = tuple(c for c in _TASK_COLUMNS if task.get(c) != before.get(c))
            if cols:
                changed.setdefault(cols, []).append(
                    {"b_id": f"{instance_id}.{task_id}", **{c: values[c] for c in cols}})
    calls = [(_update_task(cols), rows) for cols, rows in changed.items()]
    return [*calls, *([(_INSERT_TASKS, added)] if added else [])], days


def _kpi_days(started_at: datetime, task_days: set[str]) -> set[str]:
    """The days whose dashboard figures a write changes: the instance's start day and the
    creation days of the tasks it wrote."""
    return {kpi_rollup.day_of(started_at), *task_days}


def create_instance(session: Session, state: Mapping[str, Any], version_id: int,
                    events: Iterable[Mapping[str, Any]],
                    next_timer_at: datetime | None = None, also: Sequence[Any] = ()) -> None:
    """Store a new instance with its tasks and its first events, in the caller's transaction,
    together with the writes ``also`` (``prepared.batch`` calls) in the same round trip."""
    instance_id = state["id"]
    rows, seq, head = _chain(instance_id, events, 0, GENESIS)
    rev = int(state.get("rev") or 0)
    columns = _instance_columns(state)
    row = {"id": instance_id, "version_id": version_id, "state": {**state, "rev": rev},
           "rev": rev, "next_timer_at": next_timer_at, "updated_at": _now(),
           "event_seq": seq, "event_hash": head, **columns}
    task_calls, task_days = _task_writes(instance_id, state["procedure"], {}, state.get("tasks") or {})
    calls = [(_INSERT_INSTANCE, [row]), *task_calls]
    if rows:
        calls.append((_INSERT_EVENTS, rows))
    calls += kpi_rollup.pending_writes(state["procedure"], _kpi_days(columns["started_at"], task_days))
    try:
        batch(session, [*calls, *also])
    except IntegrityError as exc:
        if session.connection().dialect.name == "postgresql":
            duplicate = "pk_instances" in str(exc.orig)
        else:
            duplicate = "instances.id" in str(exc.orig)
        if duplicate:
            raise Conflict(_("Instance {id} already exists.", id=instance_id)) from exc
        raise


def _step_writes(instance: Instance | StepRow, state: Mapping[str, Any],
                 events: Iterable[Mapping[str, Any]], next_timer_at: datetime | None,
                 now: datetime) -> list[tuple[Prepared, list[dict]]]:
    """The writes of one command's result: the instance update (under its rev check) first,
    then changed task rows, the events chained after the stored head and, when anything
    was recorded, the days whose KPI figures are now out of date."""
    rows, seq, head = _chain(instance.id, events, instance.event_seq,
                             instance.event_hash or GENESIS)
    new_rev = instance.rev + 1
    task_calls, task_days = _task_writes(instance.id, instance.procedure_id,
                                         (instance.state or {}).get("tasks") or {}, state.get("tasks") or {})
    columns = _instance_columns(state)
    written = {"next_timer_at": next_timer_at, **columns}
    before = instance.state or {}
    cols = tuple(c for c in _INSTANCE_COLUMNS if state.get(_FROM_STATE[c]) != before.get(_FROM_STATE[c]))
    if next_timer_at != instance.next_timer_at:
        cols = ("next_timer_at", *cols)
    calls = [(_update_instance(cols), [{
        "b_id": instance.id, "b_rev": instance.rev, "state": {**state, "rev": new_rev},
        "rev": new_rev, "updated_at": now, "event_seq": seq, "event_hash": head,
        **{c: written[c] for c in cols}}]), *task_calls]
    if rows:
        calls.append((_INSERT_EVENTS, rows))
    if rows or task_calls:
        calls += kpi_rollup.pending_writes(instance.procedure_id, _kpi_days(columns["started_at"], task_days))
    return calls


def save_step(session: Session, instance: Instance | StepRow, state: Mapping[str, Any],
              events: Iterable[Mapping[str, Any]], next_timer_at: datetime | None = None,
              also: Sequence[Any] = ()) -> int:
    """Write one command's result on an instance the caller loaded (and locked): the new
    state with an optimistic rev check, the changed task rows, the events chained after
    the stored chain head, and the writes ``also`` (``prepared.batch`` calls), in one round
    trip. Returns the new rev; raises ``Conflict`` when the row moved on, and the caller
    must then roll its transaction back."""
    calls = _step_writes(instance, state, events, next_timer_at, _now())
    # One round trip: the rev check is read afterwards; on a mismatch the caller's
    # transaction (which must then roll back) holds the only copy of the other writes. A
    # writer that got there first may also have taken the next event numbers.
    try:
        updated = batch(session, [*calls, *also])[0]
    except IntegrityError as exc:
        raise _moved(instance) from exc
    if updated != 1:
        raise _moved(instance)
    return instance.rev + 1


def _moved(instance: Instance | StepRow) -> Conflict:
    """``save_step``'s refusal when the row moved on, in the reader's language (made only then)."""
    return Conflict(_("Instance {id} was changed by someone else (you had version {rev}); reload it and "
                      "try again.", id=instance.id, rev=instance.rev))


def save_steps(session: Session, items: Sequence[tuple[Instance | StepRow, Mapping[str, Any],
                                                      list[dict], datetime | None]]) -> None:
    """``save_step`` for ``(loaded row, new state, events, next timer)`` of many instances (a
    worker batch): one executemany per statement for the whole batch. Raises ``Conflict``
    (the caller rolls the batch back) if any row moved on meanwhile."""
    if not items:
        return
    now = _now()
    # statement -> rows, in first-seen order; the instance updates (one statement per set of
    # changed columns) go first, and their row counts together must cover every instance
    updates: dict[Prepared, list[dict]] = {}
    merged: dict[Prepared, list[dict]] = {}
    for row, state, events, timer in items:
        (first, rows), *rest = _step_writes(row, state, events, timer, now)
        updates.setdefault(first, []).extend(rows)
        for stmt, more in rest:
            merged.setdefault(stmt, []).extend(more)
    moved = _("an instance of this batch was changed by someone else; the batch is retried")
    try:
        counts = batch(session, [*updates.items(), *merged.items()])
    except IntegrityError as exc:
        raise Conflict(moved) from exc
    if sum(counts[:len(updates)]) != len(items):
        raise Conflict(moved)


def append_events(session: Session, instance_id: str, events: Iterable[Mapping[str, Any]]) -> None:
    """Chain ``events`` after the instance's stored head and move the head, in the caller's
    transaction (which holds the instance: a step's, right after ``save_step`` or
    ``create_instance``). For what the application records beside the runtime's own events
    (``engine.app.uploads``: the content of the files a submission bound); the state and its
    rev are unchanged."""
    head = session.execute(select(_I.c.event_seq, _I.c.event_hash).where(_I.c.id == instance_id)).one()
    rows, seq, digest = _chain(instance_id, events, head.event_seq or 0, head.event_hash or GENESIS)
    if rows:
        batch(session, [(_INSERT_EVENTS, rows)])
        session.execute(update(_I).where(_I.c.id == instance_id).values(event_seq=seq, event_hash=digest))


def postpone_timers(session: Session, instance_ids: Sequence[str], until: datetime) -> None:
    """Move the timer of instances whose tick failed to ``until`` (their state is unchanged)."""
    if instance_ids:
        session.execute(update(_I).where(_I.c.id.in_(list(instance_ids)))
                        .values(next_timer_at=until))


# --- events ---------------------------------------------------------------------------------

def events_of(session: Session, instance_id: str) -> list[Event]:
    """The instance's events in chain order."""
    return list(session.scalars(select(Event).where(Event.instance_id == instance_id)
                                .order_by(Event.seq)))


def events_of_type(session: Session, instance_id: str, kind: str) -> list[Event]:
    """The instance's events of one type (``files:recorded``), in chain order."""
    return list(session.scalars(select(Event).where(Event.instance_id == instance_id, Event.type == kind)
                                .order_by(Event.seq)))


# --- attachments ----------------------------------------------------------------------------

def add_attachment(session: Session, *, filename: str, content_type: str, size: int,
                   sha256: str, storage_path: str, uploaded_by: str,
                   now: datetime | None = None) -> Attachment:
    """Record an uploaded file (not yet part of any instance)."""
    row = Attachment(id=new_id(), filename=filename, content_type=content_type, size=size,
                     sha256=sha256, storage_path=storage_path, uploaded_by=uploaded_by,
                     uploaded_at=now or _now())
    session.add(row)
    session.flush()
    return row


def get_attachment(session: Session, attachment_id: str) -> Attachment:
    row = session.get(Attachment, attachment_id)
    if row is None:
        raise NotFound(_("File {id} does not exist.", id=attachment_id))
    return row


def attachments_beside(session: Session, attachment_id: str) -> list[Attachment]:
    """The file and every other file of its instance, in one query: pages that list an
    instance's photos look each up by id, and one read for all of them beats one per photo."""
    row = session.get(Attachment, attachment_id)
    if row is None or row.instance_id is None:
        return [row] if row is not None else []
    return list(session.scalars(select(Attachment).where(Attachment.instance_id == row.instance_id)))


def attach(session: Session, attachment_ids: Iterable[str], instance_id: str, *, uploaded_by: str) -> set[str]:
    """Bind uploaded files to the instance whose submission referenced them: only files
    ``uploaded_by`` posted that no instance holds yet; the ids bound now. Another user's
    pending upload, or a file of another instance, is left alone (``engine.app.uploads.bind``
    then refuses it): whoever learns an id cannot put that file into their own record."""
    ids = list(attachment_ids)
    if not ids:
        return set()
    return set(session.scalars(update(Attachment)
                               .where(Attachment.id.in_(ids), Attachment.uploaded_by == uploaded_by,
                                      Attachment.instance_id.is_(None))
                               .values(instance_id=instance_id)
                               .returning(Attachment.id)
                               .execution_options(synchronize_session="fetch")))


def bound_attachments(session: Session, *, batch_size: int = 500) -> Iterator[Any]:
    """Every file a record holds, ``(id, instance_id, filename, sha256, size, storage_path)``,
    in id order, ``batch_size`` rows a query (``wf audit verify --files``)."""
    last = ""
    while True:
        rows = session.execute(select(Attachment.id, Attachment.instance_id, Attachment.filename, Attachment.sha256,
                                      Attachment.size, Attachment.storage_path)
                               .where(Attachment.instance_id.is_not(None), Attachment.id > last)
                               .order_by(Attachment.id).limit(batch_size)).all()
        yield from rows
        if len(rows) < batch_size:
            return
        last = rows[-1].id


def attachments_named(session: Session, attachment_ids: Iterable[str]) -> dict[str, Any]:
    """Who uploaded each of these files, the instance holding it, its name, type, size and
    SHA-256, as the database has them now (one query; an id naming no file is missing)."""
    ids = list(attachment_ids)
    if not ids:
        return {}
    rows = session.execute(select(Attachment.id, Attachment.uploaded_by, Attachment.instance_id,
                                  Attachment.filename, Attachment.content_type, Attachment.size,
                                  Attachment.sha256)
                           .where(Attachment.id.in_(ids)))
    return {row.id: row for row in rows}
