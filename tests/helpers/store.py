"""The smallest valid procedure, for store tests that need a version row to pin instances to.

A version's key is the definition hash of its compiled texts, so even a test of the store
registers a procedure the language accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NOTE_FORM = """id: note
title: 记录
schema:
  type: object
  properties:
    result: {type: string, title: 结果}
"""


def procedure_text(procedure_id: str = "complaint", title: str = "客户投诉处理", comment: str = "") -> str:
    """A one-step procedure ``procedure_id`` using the form ``note``; ``comment`` is added as a
    YAML comment (a new text with the same steps)."""
    return (f"id: {procedure_id}\ntitle: {title}\nroles:\n  inspector: 检验员\n"
            "start: {roles: [inspector], step: review}\n"
            "steps:\n  review:\n    title: 复核\n    role: inspector\n    form: note\n    next: done\n"
            "  done: {type: end, title: 结束, outcome: 已处理}\n"
            + (f"# {comment}\n" if comment else ""))


FORMS = {"note": NOTE_FORM}


def add_colleagues(session: Any, count: int, groups: int, also_in: Sequence[str] = ()) -> None:
    """``count`` active users in ``groups`` other groups (``team-N``), written in bulk with no
    password to hash: a company's user table, among which a step finds the few it notifies.
    The first ones are also in ``also_in`` (one group each, existing groups), as some of a
    company's people hold the roles at hand (bench/store_bench.py uses it too)."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from engine.store.tables import Group, User, user_groups

    names = [f"team-{g}" for g in range(groups)]
    session.execute(Group.__table__.insert(), [{"name": g} for g in names])
    session.execute(User.__table__.insert(), [
        {"username": f"colleague{i:05d}", "full_name": "同事", "password_hash": "!", "active": True,
         "created_at": datetime(2026, 1, 5, tzinfo=UTC), "session_version": 0} for i in range(count)])
    ids = dict(session.execute(select(Group.__table__.c.name, Group.__table__.c.id)).all())
    people = session.scalars(select(User.__table__.c.id).where(User.__table__.c.username.like("colleague%"))
                             .order_by(User.__table__.c.id)).all()
    session.execute(user_groups.insert(), [{"user_id": u, "group_id": ids[names[i % groups]]}
                                           for i, u in enumerate(people)]
                    + [{"user_id": u, "group_id": ids[g]} for u, g in zip(people, also_in, strict=False)])
