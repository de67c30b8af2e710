"""The organisation chart's rows: departments, users' departments and managers, and the one
``org_state`` row (version, stamp, and the head of the chart's audit chain).

Every change here goes through :func:`changed`, which raises the version, draws a new
stamp and appends the change to the chart's own hash chain (chain key ``org`` in
``events``), in the caller's transaction. The rules (what a valid chart is, who may change
it) are the application layer's (``engine.app.org``); this module only reads and writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from engine.store.audit import GENESIS, ORG_CHAIN, event_hash, normalise, parse_time
from engine.store.prepared import Prepared, batch
from engine.store.tables import Department, Event, Group, OrgState, User, user_groups

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


_S = OrgState.__table__
# The cheap check made before every apply: one primary-key read, prepared once.
_STAMP = Prepared(select(_S.c.stamp, _S.c.version).where(_S.c.id == bindparam("b_id")))


#: The check as a ``prepared.batch`` call, for a step to send with its own statements.
STAMP_CALL: tuple[Prepared, list[dict[str, Any]]] = (_STAMP, [{"b_id": 1}])


def stamp_of(rows: list[Any]) -> tuple[str, int] | None:
    """(stamp, version) from the rows of ``STAMP_CALL``; None when the row is missing (a
    database that was not migrated to 0014_org17)."""
    return (rows[0][0], rows[0][1]) if rows else None


def stamp(session: Session) -> tuple[str, int] | None:
    """(stamp, version) of the current chart (see ``stamp_of``)."""
    return stamp_of(batch(session, [STAMP_CALL])[0])


@dataclass(frozen=True)
class DepartmentRow:
    id: str
    name: str
    parent: str | None
    head: str | None


@dataclass(frozen=True)
class PersonRow:
    username: str
    full_name: str
    active: bool
    department: str | None
    manager: str | None


@dataclass(frozen=True)
class Chart:
    """What the rows hold, as read in one transaction."""

    version: int
    stamp: str
    departments: list[DepartmentRow]
    people: list[PersonRow]


def read(session: Session) -> Chart:
    """Every department and every user (with department, manager and activity)."""
    found = stamp(session) or ("", 0)
    deps = [DepartmentRow(*r) for r in session.execute(
        select(Department.id, Department.name, Department.parent, Department.head).order_by(Department.id))]
    people = [PersonRow(r[0], r[1] or "", bool(r[2]), r[3], r[4]) for r in session.execute(
        select(User.username, User.full_name, User.active, User.department, User.manager)
        .order_by(User.username))]
    return Chart(found[1], found[0], deps, people)


def usernames(session: Session) -> dict[str, bool]:
    """{user name: active} of every user."""
    return {u: bool(a) for u, a in session.execute(select(User.username, User.active))}


def get_department(session: Session, dept_id: str) -> DepartmentRow | None:
    row = session.get(Department, dept_id)
    return DepartmentRow(row.id, row.name, row.parent, row.head) if row is not None else None


def replace(session: Session, departments: Iterable[DepartmentRow],
            people: Mapping[str, tuple[str | None, str | None]]) -> None:
    """The whole chart: these departments (others removed) and, for every user, the
    (department, manager) of ``people`` (users not in it get neither)."""
    session.flush()
    session.execute(delete(Department))
    rows = [{"id": d.id, "name": d.name, "parent": d.parent, "head": d.head} for d in departments]
    if rows:
        session.execute(insert(Department), rows)
    session.execute(update(User).values(department=None, manager=None))
    for username, (dept, manager) in people.items():
        if dept or manager:
            session.execute(update(User).where(User.username == username)
                            .values(department=dept or None, manager=manager or None))
    session.expire_all()


def save_department(session: Session, dept: DepartmentRow) -> None:
    """Add or overwrite one department."""
    row = session.get(Department, dept.id)
    if row is None:
        session.add(Department(id=dept.id, name=dept.name, parent=dept.parent, head=dept.head))
    else:
        row.name, row.parent, row.head = dept.name, dept.parent, dept.head
    session.flush()


def set_person(session: Session, username: str, *, department: str | None,
               manager: str | None) -> None:
    """Set one user's department and manager (None clears)."""
    session.execute(update(User).where(User.username == username)
                    .values(department=department or None, manager=manager or None))
    session.expire_all()


def changed(session: Session, actor: str, kind: str, data: Mapping[str, Any], at: datetime) -> int:
    """Record a change of the chart made in this transaction: the version rises, the stamp
    changes, and an event ``org:KIND`` by ``actor`` joins the chart's audit chain. Returns
    the new version. Locks the state row (PostgreSQL) so concurrent changes chain in turn."""
    row = session.execute(select(_S.c.version, _S.c.event_seq, _S.c.event_hash)
                          .where(_S.c.id == 1).with_for_update()).first()
    if row is None:  # not migrated by 0014 (tables made by create_all): start the row
        session.execute(insert(_S).values(id=1, version=0, stamp=uuid.uuid4().hex, event_seq=0))
        version, seq, prev = 0, 0, GENESIS
    else:
        version, seq, prev = row.version, row.event_seq, row.event_hash or GENESIS
    seq += 1
    payload = normalise(dict(data))
    digest = event_hash(instance_id=ORG_CHAIN, seq=seq, type=f"org:{kind}", step=None, task=None,
                        actor=actor, at=at, data=payload, prev_hash=prev)
    session.execute(insert(Event.__table__).values(
        instance_id=ORG_CHAIN, seq=seq, type=f"org:{kind}", step=None, task_id=None, actor=actor,
        at=at, data=payload, prev_hash=prev, hash=digest))
    session.execute(update(_S).where(_S.c.id == 1).values(
        version=version + 1, stamp=uuid.uuid4().hex, updated_at=at, event_seq=seq, event_hash=digest))
    return version + 1


def touch(session: Session) -> None:
    """A change outside the chart's own use cases that alters the snapshot (a user activated
    or deactivated): a new stamp so caches reload, without an event of the chart's own (the
    use case records it as what it is)."""
    session.execute(update(_S).where(_S.c.id == 1).values(version=_S.c.version + 1,
                                                          stamp=uuid.uuid4().hex))


def events(session: Session, *, newest: int | None = None) -> list[Any]:
    """The chart's audit events, oldest first; with ``newest``, only that many, newest first."""
    ev = Event.__table__
    stmt = select(ev).where(ev.c.instance_id == ORG_CHAIN)
    if newest is not None:
        return list(session.execute(stmt.order_by(ev.c.seq.desc()).limit(newest)))
    return list(session.execute(stmt.order_by(ev.c.seq)))


def head_problem(session: Session) -> str | None:
    """What is wrong with the end of the chart's chain (events removed from or added to its
    end, which the links alone cannot show); None when it ends where ``org_state`` says."""
    ev = Event.__table__
    last = session.execute(select(func.max(ev.c.seq)).where(ev.c.instance_id == ORG_CHAIN)).scalar() or 0
    row = session.execute(select(_S.c.event_seq, _S.c.event_hash).where(_S.c.id == 1)).first()
    want_seq, want_hash = (row.event_seq, row.event_hash) if row is not None else (0, None)
    if last != want_seq:
        return (f"the organisation chart records {want_seq} changes, its chain ends at seq {last}: "
                "events were removed from (or added to) its end")
    if last:
        found = session.execute(select(ev.c.hash).where(ev.c.instance_id == ORG_CHAIN, ev.c.seq == last)).scalar()
        if found != want_hash:
            return "the organisation chart's last change differs from the head recorded in org_state"
    return None


# --------------------------------------------------------------------------- who is in which group

@dataclass(frozen=True)
class Member:
    """A user as the chart's trail has them: their groups (sorted) and whether active."""

    groups: tuple[str, ...]
    active: bool


def _member(groups: Iterable[str] | None, active: bool) -> Member:
    return Member(tuple(sorted(set(groups or ()))), bool(active))


def members_on_trail(rows: Iterable[Any]) -> dict[str, Member]:
    """Every user the chart's events (oldest first) account for, as the events leave them.

    ``users_recorded`` (migration 0022) states every user there was when the trail began to
    record them; ``user_added``, the groups of ``user_edited`` and ``user_activated`` /
    ``user_deactivated`` change one user from there."""
    trail: dict[str, Member] = {}
    for row in rows:
        kind, data = row.type.removeprefix("org:"), row.data or {}
        name = data.get("user")
        if kind == "users_recorded":
            for user, held in (data.get("users") or {}).items():
                trail[user] = _member(held.get("groups"), held.get("active", True))
        elif kind == "user_added" and name:
            trail[name] = _member(data.get("groups"), True)
        elif name in trail and kind == "user_edited" and "groups" in (data.get("changes") or {}):
            trail[name] = _member(data["changes"]["groups"].get("after"), trail[name].active)
        elif name in trail and kind in ("user_activated", "user_deactivated"):
            trail[name] = _member(trail[name].groups, kind == "user_activated")
    return trail


def name_changes(session: Session, usernames: Iterable[str]) -> dict[str, list[tuple[datetime, str]]]:
    """Each named user's full-name changes on the chart's trail (``user_edited``), oldest
    first: when, and the name they had until then ("" for none)."""
    wanted = set(usernames)
    out: dict[str, list[tuple[datetime, str]]] = {}
    if not wanted:
        return out
    ev = Event.__table__
    for row in session.execute(select(ev.c.at, ev.c.data).where(
            ev.c.instance_id == ORG_CHAIN, ev.c.type == "org:user_edited").order_by(ev.c.seq)):
        data = row.data or {}
        change = (data.get("changes") or {}).get("full_name")
        if data.get("user") in wanted and isinstance(change, Mapping):
            out.setdefault(data["user"], []).append((parse_time(row.at), str(change.get("before") or "")))
    return out


def stored_members(session: Session) -> dict[str, Member]:
    """Every user of the users table with their groups and whether active, as sign-in and the
    role checks read them."""
    u, g = User.__table__, Group.__table__
    groups: dict[int, list[str]] = {}
    for user_id, name in session.execute(select(user_groups.c.user_id, g.c.name)
                                         .join(g, g.c.id == user_groups.c.group_id)):
        groups.setdefault(user_id, []).append(name)
    return {row.username: _member(groups.get(row.id), row.active)
            for row in session.execute(select(u.c.id, u.c.username, u.c.active))}


def membership_findings(session: Session) -> list[str]:
    """Where the users table differs from what the chart's trail accounts for: a user added,
    a group given or taken, an account activated or deactivated, or a user deleted, by a
    write to the tables rather than through the application (which records each change on
    the trail in the same transaction). One sentence per user, sorted by user name.

    On PostgreSQL each statement of a read sees what was committed when it began, so a user
    added through the pages between reading the trail and reading the tables would look
    added behind the application's back: a finding counts only when a second look finds it
    too (an insider's row stays; a change in flight has landed in both by then)."""
    first = _member_differences(session)
    return [f for f in _member_differences(session) if f in first] if first else []


def _member_differences(session: Session) -> list[str]:
    trail = members_on_trail(events(session))
    stored = stored_members(session)
    found = []
    for name in sorted(stored.keys() | trail.keys()):
        has, was = stored.get(name), trail.get(name)
        if has == was:
            continue
        if was is None:
            assert has is not None
            found.append(f"user '{name}' (groups: {_listed(has.groups)}) is not on the trail: "
                         "it was added to the users table outside the application")
        elif has is None:
            found.append(f"user '{name}' is on the trail but not in the users table: it was deleted "
                         "outside the application")
        else:
            if has.groups != was.groups:
                found.append(f"user '{name}' is in groups {_listed(has.groups)}, the trail gives "
                             f"{_listed(was.groups)}: groups were changed outside the application")
            if has.active != was.active:
                found.append(f"user '{name}' is {'active' if has.active else 'deactivated'}, the trail has "
                             f"them {'active' if was.active else 'deactivated'}: changed outside the application")
    return found


def _listed(groups: tuple[str, ...]) -> str:
    return ", ".join(groups) if groups else "none"
