"""Every user on the organisation chart's trail: one ``org:users_recorded`` event.

From here on ``wf audit verify`` compares the users table (who is a user, in which groups,
active or not) with what the chart's hash-chained trail accounts for, so that a group given
by a write to the tables (clearance, say) is found. Users added before the application
recorded each addition (the demo users, anyone added before 0021's user pages) had no event;
this one states every user there is as they stand now, the trail's starting point. An
empty users table gets no event.

Revision ID: 0022_users_on_the_trail
Revises: 0021_must_change_password
Create Date: 2026-12-07
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from engine.store.audit import GENESIS, event_hash, normalise
from engine.store.tables import UTCDateTime

revision = "0022_users_on_the_trail"
down_revision = "0021_must_change_password"
branch_labels = None
depends_on = None

_users = sa.table("users", sa.column("id", sa.Integer), sa.column("username", sa.String),
                  sa.column("active", sa.Boolean))
_groups = sa.table("groups", sa.column("id", sa.Integer), sa.column("name", sa.String))
_members = sa.table("user_groups", sa.column("user_id", sa.Integer), sa.column("group_id", sa.Integer))
_events = sa.table("events", sa.column("instance_id", sa.String), sa.column("seq", sa.Integer),
                   sa.column("type", sa.String), sa.column("step", sa.String), sa.column("task_id", sa.String),
                   sa.column("actor", sa.String), sa.column("at", UTCDateTime), sa.column("data", sa.JSON),
                   sa.column("prev_hash", sa.String), sa.column("hash", sa.String))
_state = sa.table("org_state", sa.column("id", sa.Integer), sa.column("version", sa.BigInteger),
                  sa.column("stamp", sa.String), sa.column("updated_at", UTCDateTime),
                  sa.column("event_seq", sa.Integer), sa.column("event_hash", sa.String))


def upgrade() -> None:
    bind = op.get_bind()
    users = bind.execute(sa.select(_users.c.id, _users.c.username, _users.c.active)).all()
    if not users:
        return
    groups: dict[int, list[str]] = {}
    for user_id, name in bind.execute(sa.select(_members.c.user_id, _groups.c.name)
                                      .join(_groups, _groups.c.id == _members.c.group_id)):
        groups.setdefault(user_id, []).append(name)
    data = normalise({"reason": "baseline", "users": {
        u.username: {"groups": sorted(groups.get(u.id, [])), "active": bool(u.active)} for u in users}})
    state = bind.execute(sa.select(_state.c.version, _state.c.event_seq, _state.c.event_hash)
                         .where(_state.c.id == 1)).first()
    version, seq, prev = (state.version, state.event_seq or 0, state.event_hash or GENESIS) if state else (0, 0, GENESIS)
    seq += 1
    at = datetime.now(UTC)
    digest = event_hash(instance_id="org", seq=seq, type="org:users_recorded", step=None, task=None,
                        actor="system", at=at, data=data, prev_hash=prev)
    bind.execute(_events.insert().values(instance_id="org", seq=seq, type="org:users_recorded", step=None,
                                         task_id=None, actor="system", at=at, data=data, prev_hash=prev,
                                         hash=digest))
    head = {"version": version + 1, "stamp": uuid.uuid4().hex, "updated_at": at, "event_seq": seq,
            "event_hash": digest}
    if state is None:
        bind.execute(_state.insert().values(id=1, **head))
    else:
        bind.execute(_state.update().where(_state.c.id == 1).values(**head))


def downgrade() -> None:
    """The event stays: the trail is append-only, and an older schema reads it as a change it
    does not name."""
