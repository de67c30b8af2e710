"""Drafts: form data a user saved on a task without submitting (one per user and task)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from engine.store.tables import Draft


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
    """Drop the draft once the task is submitted (one statement, nothing loaded)."""
    session.execute(delete(Draft).where(Draft.username == username, Draft.task_id == task_id))
