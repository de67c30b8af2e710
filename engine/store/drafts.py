"""Drafts: form data a user saved on a task without submitting (one per user and task)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from engine.store.prepared import Prepared, batch
from engine.store.tables import Draft

_D = Draft.__table__
_DISCARD = Prepared(delete(_D).where(_D.c.username == bindparam("b_user"),
                                     _D.c.task_id == bindparam("b_task")))


def get(session: Session, username: str, task_id: str) -> tuple[dict[str, Any], datetime] | None:
    draft = session.get(Draft, (username, task_id))
    return (dict(draft.data), draft.saved_at) if draft is not None else None


def save(session: Session, username: str, task_id: str, data: dict[str, Any], now: datetime) -> None:
    draft = session.get(Draft, (username, task_id))
    if draft is None:
        session.add(Draft(username=username, task_id=task_id, data=data, saved_at=now))
    else:
        draft.data = data
        draft.saved_at = now


def discard(session: Session, username: str, task_id: str) -> None:
    """Drop the draft once the task is submitted: one prepared statement on every submission,
    so it must cost next to nothing (no ORM, nothing loaded)."""
    batch(session, [(_DISCARD, [{"b_user": username, "b_task": task_id}])])


def any_on(session: Session, task_ids: Iterable[str]) -> bool:
    """Whether anyone saved a draft on any of ``task_ids`` (a recall must not discard one)."""
    ids = sorted(set(task_ids))
    if not ids:
        return False
    return session.scalar(select(Draft.task_id).where(Draft.task_id.in_(ids)).limit(1)) is not None
