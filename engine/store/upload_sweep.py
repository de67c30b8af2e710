"""Unbound uploads: files posted with a submission that was refused or never sent, which no
instance and no draft holds. ``engine.app.uploads.sweep`` removes them after a day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from engine.store.db import serialise
from engine.store.tables import Attachment, Draft

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def hold_uploads_of(session: Session, username: str) -> None:
    """Until this transaction ends, ``username``'s other uploads wait (PostgreSQL: a
    transaction-scoped advisory lock on the name; SQLite's writers take turns already), so
    two at the same moment cannot both take the last room under ``pending_bytes``. Only the
    same user's uploads wait, never their steps or anyone else's writes."""
    serialise(session, f"uploads:{username}")


def pending_bytes(session: Session, username: str) -> int:
    """The bytes of the files ``username`` uploaded that no instance holds yet."""
    total = session.execute(select(func.coalesce(func.sum(Attachment.size), 0)).where(
        Attachment.instance_id.is_(None), Attachment.uploaded_by == username)).scalar_one()
    return int(total or 0)


def unbound_before(session: Session, before: datetime, *, limit: int = 1000) -> list[tuple[str, str]]:
    """``(id, storage path)`` of attachments bound to no instance, uploaded before
    ``before`` and held by no saved draft of their uploader (a draft keeps its own files
    until it is sent; an id copied into someone else's draft, which submitting refuses
    anyway, keeps nothing)."""
    rows = session.execute(select(Attachment.id, Attachment.storage_path, Attachment.uploaded_by)
                           .where(Attachment.instance_id.is_(None), Attachment.uploaded_at < before)
                           .order_by(Attachment.uploaded_at).limit(limit)).all()
    if not rows:
        return []
    held = {(user, s) for user, data in session.execute(select(Draft.username, Draft.data))
            for s in _strings(data)}
    return [(r.id, r.storage_path) for r in rows if (r.uploaded_by, r.id) not in held]


def forget(session: Session, ids: list[str]) -> set[str]:
    """Delete the rows of unbound attachments (only while still unbound); the ids deleted. A
    submission may have bound one since the sweep read it: its row and file stay."""
    if not ids:
        return set()
    return set(session.scalars(delete(Attachment).where(Attachment.id.in_(ids), Attachment.instance_id.is_(None))
                               .returning(Attachment.id)))
