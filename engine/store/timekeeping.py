"""Repositories for what the worker keeps: automatic-start firings, notifications, deliveries.

Claims that several workers race for are made in SQL: a fired start is a row under a unique
key inserted with ON CONFLICT DO NOTHING (the loser sees no row inserted and skips), and due
deliveries are leased with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    String,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from engine.store.listed import postgresql_one_of, sqlite_one_of
from engine.store.prepared import Prepared, batch
from engine.store.tables import (
    Delivery,
    DeliveryAttempt,
    Group,
    Instance,
    InstanceStatus,
    Notification,
    ProcedureVersion,
    StartFiring,
    StartRule,
    User,
    user_groups,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _insert_ignore(session: Session, table: Any, values: Mapping[str, Any]) -> Any:
    """INSERT that does nothing on a unique conflict; the new row's primary key, or None when
    the row existed (RETURNING, since rowcount is not reliable here with every driver)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - only the two supported databases
        raise NotImplementedError(name)
    stmt = dialect_insert(table).values(**values).on_conflict_do_nothing()
    return session.execute(stmt.returning(*table.primary_key.columns)).first()


# --- automatic starts -----------------------------------------------------------------------

_VERSIONS, _FIRINGS, _INSTANCES = ProcedureVersion.__table__, StartFiring.__table__, Instance.__table__
_PUBLISHED_STAMP = Prepared(
    select(_VERSIONS.c.procedure_id, func.count(), func.max(_VERSIONS.c.id)).where(_VERSIONS.c.status == "published")
    .group_by(_VERSIONS.c.procedure_id).order_by(_VERSIONS.c.procedure_id))


def published_stamp(session: Session) -> tuple:
    """What changes whenever a procedure gets a published version (a file loaded, a draft
    approved): per procedure, how many published versions and the highest version id.
    Published rows are never removed nor unpublished, so an equal stamp means the same
    published versions (the worker keeps what it read of them while it stays equal; asked
    on every pass, so prepared: ``engine.store.prepared``)."""
    return tuple(tuple(r) for r in batch(session, [(_PUBLISHED_STAMP, [{}])])[0])


def start_rule_since(session: Session, procedure_id: str, rule: str, kind: str,
                     since: datetime) -> datetime:
    """When the rule was first seen (recorded now as ``since`` if it is new)."""
    _insert_ignore(session, StartRule.__table__,
                   {"procedure_id": procedure_id, "rule": rule, "kind": kind, "since": since})
    return session.scalar(select(StartRule.since).where(
        StartRule.procedure_id == procedure_id, StartRule.rule == rule))


def last_firing(session: Session, procedure_id: str, rule: str) -> datetime | None:
    return session.scalar(select(func.max(StartFiring.due_at)).where(
        StartFiring.procedure_id == procedure_id, StartFiring.rule == rule))


def published_versions(session: Session, procedure_id: str) -> list[tuple[int, datetime]]:
    """``(id, registered_at)`` of the published versions of a procedure, in the order they
    became current (``repo.CURRENT_ORDER`` reversed); without their texts, read on every
    pass of the worker."""
    v = ProcedureVersion
    return [(r[0], r[1]) for r in session.execute(
        select(v.id, v.registered_at).where(v.procedure_id == procedure_id, v.status == "published")
        .order_by(v.major, v.id))]


def started_by_any(session: Session, procedure_id: str, rules: Iterable[str], subject: str) -> bool:
    """Whether one of ``rules`` started an instance for ``subject`` (by the unique key)."""
    rules = list(rules)
    return bool(rules) and session.scalar(select(StartFiring.id).where(
        StartFiring.procedure_id == procedure_id, StartFiring.rule.in_(rules),
        StartFiring.subject == subject, StartFiring.instance_id.is_not(None)).limit(1)) is not None


def claim_firing(session: Session, procedure_id: str, rule: str, subject: str,
                 due_at: datetime, now: datetime) -> int | None:
    """Record that (rule, subject) fires; the row id, or None if another worker did already."""
    row = _insert_ignore(session, StartFiring.__table__, {
        "procedure_id": procedure_id, "rule": rule, "subject": subject, "due_at": due_at,
        "fired_at": now})
    return None if row is None else row[0]


def finish_firing(session: Session, firing_id: int, instance_id: str | None,
                  error: str | None = None) -> None:
    session.execute(update(StartFiring.__table__).where(StartFiring.__table__.c.id == firing_id)
                    .values(instance_id=instance_id, error=error))


def firings(session: Session, procedure_id: str | None = None) -> list[StartFiring]:
    stmt = select(StartFiring).order_by(StartFiring.due_at, StartFiring.id)
    if procedure_id is not None:
        stmt = stmt.where(StartFiring.procedure_id == procedure_id)
    return list(session.scalars(stmt))


def failed_firings(session: Session, rule: str, limit: int) -> list[StartFiring]:
    """Firings of ``rule`` that started nothing yet (with the error why), oldest first."""
    return list(session.scalars(
        select(StartFiring).where(StartFiring.rule == rule, StartFiring.instance_id.is_(None),
                                  StartFiring.error.is_not(None)).order_by(StartFiring.id).limit(limit)))


_RETRIES_DUE = Prepared(
    select(_FIRINGS.c.id, _FIRINGS.c.procedure_id, _FIRINGS.c.subject, _FIRINGS.c.due_at, _FIRINGS.c.fired_at)
    .where(_FIRINGS.c.rule == bindparam("b_rule"), _FIRINGS.c.instance_id.is_(None),
           _FIRINGS.c.error.is_not(None),
           or_(_FIRINGS.c.due_at <= bindparam("b_due_by"),
               exists().where(_VERSIONS.c.procedure_id == _FIRINGS.c.procedure_id,
                              _VERSIONS.c.registered_at > _FIRINGS.c.fired_at)))
    .order_by(_FIRINGS.c.due_at, _FIRINGS.c.id).limit(bindparam("b_limit")))


def failed_firings_due(session: Session, rule: str, limit: int,
                       due_by: datetime) -> list[tuple[int, str, str, datetime, datetime]]:
    """(id, procedure, subject, due_at, fired_at) of the ``failed_firings`` whose next try
    (``due_at``) has come by ``due_by`` or whose procedure has had a new version since the
    last try (``fired_at``), the longest waiting first. Prepared (``engine.store.prepared``):
    the worker asks it on every pass, and building the statement cost more than running it."""
    rows = batch(session, [(_RETRIES_DUE, [{"b_rule": rule, "b_due_by": due_by, "b_limit": limit}])])[0]
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def postpone_firing(session: Session, firing_id: int, tried: datetime, at: datetime) -> None:
    """A failed firing tried again at ``tried`` (its ``fired_at``), next at ``at`` (its
    ``due_at``), for the firings retried (spawns)."""
    session.execute(update(StartFiring.__table__).where(StartFiring.__table__.c.id == firing_id)
                    .values(fired_at=tried, due_at=at))


def failed_spawns_of(session: Session, instance_id: str, rule: str) -> list[str]:
    """The procedures that spawn steps of ``instance_id`` could not open yet (see
    ``failed_firings``: their subject is ``INSTANCE:LINK``)."""
    return list(session.scalars(
        select(StartFiring.procedure_id).where(
            StartFiring.rule == rule, StartFiring.instance_id.is_(None),
            StartFiring.subject.like(f"{instance_id}:%")).order_by(StartFiring.id)))


# An instance whose timer could not fire (a condition after a wait failing on its data): one
# row per instance, its reason in ``error``, shown on the instance page until a tick succeeds.
STALLED = "timer:stalled"


def mark_stalled(session: Session, items: Iterable[tuple[str, str, str]], now: datetime) -> None:
    """Record (instance id, procedure id, why) of instances whose timer failed; kept fresh."""
    for instance_id, procedure_id, why in items:
        row = _insert_ignore(session, StartFiring.__table__, {
            "procedure_id": procedure_id, "rule": STALLED, "subject": instance_id, "due_at": now,
            "fired_at": now, "error": why})
        if row is None:
            t = StartFiring.__table__
            session.execute(update(t).where(t.c.rule == STALLED, t.c.subject == instance_id)
                            .values(error=why, fired_at=now))


def clear_stalled(session: Session, instance_ids: Iterable[str]) -> None:
    """The instances' timers fired: what said they could not is gone."""
    ids = list(instance_ids)
    if ids:
        t = StartFiring.__table__
        session.execute(delete(t).where(t.c.rule == STALLED, t.c.subject.in_(ids)))


def stalled_reason(session: Session, instance_id: str) -> str | None:
    """Why the instance's timer could not fire at its last try, or None."""
    return session.scalar(select(StartFiring.error).where(
        StartFiring.rule == STALLED, StartFiring.subject == instance_id))


_UNFIRED_REVS = Prepared(
    select(_INSTANCES.c.id, _INSTANCES.c.rev)
    .where(_INSTANCES.c.procedure_id == bindparam("b_watched"), _INSTANCES.c.status != InstanceStatus.CANCELLED,
           _INSTANCES.c.id > bindparam("b_after"),
           ~exists().where(_FIRINGS.c.procedure_id == bindparam("b_procedure"), _FIRINGS.c.rule == bindparam("b_rule"),
                           _FIRINGS.c.subject == _INSTANCES.c.id))
    .order_by(_INSTANCES.c.id).limit(bindparam("b_limit")))


def unfired_revs(session: Session, watched: str, procedure_id: str, rule: str,
                 limit: int = 1000, after_id: str = "") -> list[tuple[str, int]]:
    """(id, rev) of records of ``watched`` (not cancelled) the rule has not fired for yet, in
    id order after ``after_id`` (for paging through a large backlog). Without their states,
    and prepared (``engine.store.prepared``: building the statement cost more than running
    it): read for each trigger on every pass of the worker, which reads the states
    (``record_states``) of only those changed or due since it last did."""
    rows = batch(session, [(_UNFIRED_REVS, [{"b_watched": watched, "b_procedure": procedure_id, "b_rule": rule,
                                             "b_after": after_id, "b_limit": limit}])])[0]
    return [(r[0], r[1]) for r in rows]


def record_states(session: Session, ids: list[str]) -> list[tuple[str, int, dict]]:
    """(id, rev, state) of the instances ``ids``, in id order."""
    if not ids:
        return []
    stmt = select(Instance.id, Instance.rev, Instance.state).where(Instance.id.in_(ids)).order_by(Instance.id)
    return [(r.id, r.rev, r.state) for r in session.execute(stmt)]


# --- people ---------------------------------------------------------------------------------

_USERS = User.__table__
_MEMBERS = Prepared(
    select(_USERS.c.username, _USERS.c.email)
    .select_from(_USERS.join(user_groups).join(Group.__table__))
    .where(Group.__table__.c.name == bindparam("b_group"), _USERS.c.active.is_(True))
    .order_by(_USERS.c.username))
_CONTACT = Prepared(select(_USERS.c.username, _USERS.c.email)
                    .where(_USERS.c.username == bindparam("b_username"), _USERS.c.active.is_(True)))


def members(session: Session, groups: Iterable[str]) -> dict[str, list[tuple[str, str | None]]]:
    """Active users of each group: {group: [(username, email)]}, in one round trip (a step
    that opens a task asks it)."""
    wanted = sorted(set(groups))
    found = batch(session, [(_MEMBERS, [{"b_group": g}]) for g in wanted]) if wanted else []
    return {g: [(u, e) for u, e in rows] for g, rows in zip(wanted, found, strict=True)}


def contacts(session: Session, usernames: Iterable[str]) -> dict[str, str | None]:
    """E-mail address of each active user (None when they have none)."""
    names = sorted(set(usernames))
    found = batch(session, [(_CONTACT, [{"b_username": u}]) for u in names]) if names else []
    return {u: e for rows in found for u, e in rows}


# --- notifications --------------------------------------------------------------------------

_INSERT_NOTIFICATIONS = Prepared(insert(Notification.__table__),
                                 ["username", "kind", "instance_id", "task_id", "data",
                                  "created_at", "read_at"])
_INSERT_DELIVERIES = Prepared(insert(Delivery.__table__),
                              ["channel", "target", "kind", "payload", "status", "attempts",
                               "next_attempt_at", "last_error", "created_at", "sent_at"])


def _to_people(one_of: Any) -> Any:
    """The notification rows for the active users named in the JSON list ``b_users`` or
    belonging to a group named in ``b_groups``, each user once, in username order.
    ``one_of(column, param)`` is the condition "``column`` is one of the JSON list ``param``"
    and ``one_of(column, select)``, "one of what ``select`` reads"; each is looked up by
    index (``user_groups.group_id`` has one since 0018): every step that opens a task asks
    this, and read as a scan it cost 0.8 ms of such a step on SQLite and 1.1 ms on
    PostgreSQL with 5,000 users (issue 20)."""
    n, groups = Notification.__table__, Group.__table__
    group_ids = select(groups.c.id).where(one_of(groups.c.name, bindparam("b_groups", type_=String)))
    members = select(user_groups.c.user_id).where(one_of(user_groups.c.group_id, group_ids))
    people = (select(_USERS.c.username, cast(bindparam("kind"), n.c.kind.type),
                     cast(bindparam("instance_id"), n.c.instance_id.type),
                     cast(bindparam("task_id"), n.c.task_id.type),
                     bindparam("data", type_=n.c.data.type),
                     bindparam("created_at", type_=n.c.created_at.type))
              .where(_USERS.c.active.is_(True),
                     or_(one_of(_USERS.c.username, bindparam("b_users", type_=String)),
                         one_of(_USERS.c.id, members)))
              .order_by(_USERS.c.username))
    return insert(n).from_select(["username", "kind", "instance_id", "task_id", "data", "created_at"],
                                 people)


_NOTIFY_PEOPLE = Prepared({"sqlite": _to_people(sqlite_one_of),
                           "postgresql": _to_people(postgresql_one_of)})


def notify_people_writes(notices: list[dict[str, Any]]) -> list[tuple[Prepared, list[dict]]]:
    """The inserts of notifications that name their people (``users``: usernames,
    ``groups``: group names) instead of listing the rows: the database finds who they are
    (active users, each once) as it inserts, so a step needs no look-up of its own before.
    Each notice also has ``kind``, ``instance_id``, ``task_id``, ``data``, ``created_at``."""
    rows = [{"b_users": json.dumps(sorted(x["users"])), "b_groups": json.dumps(sorted(x["groups"])),
             **{k: x[k] for k in ("kind", "instance_id", "task_id", "data", "created_at")}}
            for x in notices if x["users"] or x["groups"]]
    return [(_NOTIFY_PEOPLE, rows)] if rows else []


def notification_writes(notifications: list[dict[str, Any]],
                        deliveries: list[dict[str, Any]]) -> list[tuple[Prepared, list[dict]]]:
    """The inserts of these notification and delivery rows, for ``prepared.batch`` (a step
    sends them with its own writes)."""
    return [(stmt, rows) for stmt, rows in ((_INSERT_NOTIFICATIONS, notifications),
                                            (_INSERT_DELIVERIES, deliveries)) if rows]


def notifications_for(session: Session, username: str, *, unread_only: bool = False,
                      limit: int = 100, offset: int = 0) -> list[Notification]:
    """The user's notifications, unread first, newest first."""
    stmt = select(Notification).where(Notification.username == username)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    stmt = stmt.order_by(Notification.read_at.is_not(None), Notification.id.desc())
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def unread_count(session: Session, username: str) -> int:
    return session.scalar(select(func.count(Notification.id)).where(
        Notification.username == username, Notification.read_at.is_(None))) or 0


def mark_read(session: Session, username: str, ids: Iterable[int] | None, now: datetime) -> int:
    """Mark the user's notifications ``ids`` (None: all) read; returns how many changed."""
    stmt = update(Notification.__table__).where(Notification.__table__.c.username == username,
                                                Notification.__table__.c.read_at.is_(None))
    if ids is not None:
        # An id no BIGINT can hold names no notification (and the database would refuse it).
        ids = [i for i in ids if 0 < i < 2**63]
        if not ids:
            return 0
        stmt = stmt.where(Notification.__table__.c.id.in_(ids))
    return session.execute(stmt.values(read_at=now)).rowcount


# --- deliveries -----------------------------------------------------------------------------

def lease_deliveries(session: Session, now: datetime, limit: int, lease: timedelta, *,
                     skip_targets: Iterable[str] = (), skip_channels: Iterable[str] = ()) -> list[dict]:
    """Take up to ``limit`` due deliveries (but none to ``skip_targets`` nor of
    ``skip_channels``): each is pushed ``lease`` into the future and its attempt counted
    before the caller commits and sends. A worker that dies while sending leaves the row to
    be retried when the lease runs out (at-least-once)."""
    table = Delivery.__table__
    query = select(table).where(table.c.status == "pending", table.c.next_attempt_at <= now)
    if skip_targets := sorted(set(skip_targets)):
        query = query.where(table.c.target.not_in(skip_targets))
    if skip_channels := sorted(set(skip_channels)):
        query = query.where(table.c.channel.not_in(skip_channels))
    rows = session.execute(
        query.order_by(table.c.next_attempt_at, table.c.id).limit(limit)
        .with_for_update(skip_locked=True)).mappings().all()
    if rows:
        session.execute(update(table).where(table.c.id.in_([r["id"] for r in rows]))
                        .values(next_attempt_at=now + lease, attempts=table.c.attempts + 1))
    return [dict(r, attempts=r["attempts"] + 1) for r in rows]


def release_deliveries(session: Session, items: Iterable[tuple[int, datetime]]) -> None:
    """Give back leased deliveries unsent: each due again at its time, its try not counted."""
    table = Delivery.__table__
    for delivery_id, at in items:
        session.execute(update(table).where(table.c.id == delivery_id, table.c.status == "pending")
                        .values(next_attempt_at=at, attempts=table.c.attempts - 1))


def finish_delivery(session: Session, delivery_id: int, *, ok: bool, detail: str, now: datetime,
                    retry_at: datetime | None) -> None:
    """Log one attempt; sent, retried at ``retry_at``, or (no retry left) failed for good."""
    status = "sent" if ok else ("pending" if retry_at else "failed")
    session.execute(update(Delivery.__table__).where(Delivery.__table__.c.id == delivery_id).values(
        status=status, sent_at=now if ok else None, next_attempt_at=None if ok else retry_at,
        last_error=None if ok else detail[:2000]))
    session.execute(insert(DeliveryAttempt.__table__).values(
        delivery_id=delivery_id, at=now, ok=ok, detail=detail[:2000]))


def deliveries(session: Session, *, status: str | None = None, limit: int = 100) -> list[Delivery]:
    stmt = select(Delivery).order_by(Delivery.id.desc())
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    return list(session.scalars(stmt.limit(limit)))


def attempts_of(session: Session, delivery_id: int) -> list[DeliveryAttempt]:
    return list(session.scalars(select(DeliveryAttempt).where(
        DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.id)))


def retry_failed(session: Session, now: datetime, ids: Iterable[int] | None = None) -> int:
    """Put given-up deliveries back in the queue (after the cause was fixed)."""
    table = Delivery.__table__
    stmt = update(table).where(table.c.status == "failed")
    if ids is not None:
        stmt = stmt.where(table.c.id.in_(list(ids)))
    return session.execute(stmt.values(status="pending", next_attempt_at=now, attempts=0)).rowcount


# --------------------------------------------------------------------------- 抄送 (CC)

#: The notification kind of a CC: the list of "CC'd to me" is these notifications.
CC_KIND = "cc"


def cc_for(session: Session, username: str, *, limit: int = 200) -> list[Notification]:
    """The CC notifications of ``username``, newest first (several per instance when it was
    sent more than once)."""
    stmt = (select(Notification).where(Notification.username == username, Notification.kind == CC_KIND)
            .order_by(Notification.id.desc()).limit(limit))
    return list(session.scalars(stmt))


def mark_cc_read(session: Session, username: str, instance_id: str, now: datetime) -> int:
    """Mark the user's CC notifications of one instance read (已阅); how many changed."""
    t = Notification.__table__
    return session.execute(update(t).where(t.c.username == username, t.c.instance_id == instance_id,
                                           t.c.kind == CC_KIND, t.c.read_at.is_(None))
                           .values(read_at=now)).rowcount
