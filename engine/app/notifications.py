"""In-app notifications of a user, and (for admins) the deliveries still pending or given up,
so that nothing fails silently."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.app.notify import text
from engine.errors import NotPermitted
from engine.i18n import _
from engine.store import serials
from engine.store import timekeeping as tk

if TYPE_CHECKING:
    from engine.app.services import Services


def unread(services: Services, username: str) -> int:
    with services.database.reading() as s:
        return tk.unread_count(s, username)


def listing(services: Services, username: str, *, unread_only: bool = False, limit: int = 200,
            locale: str = "zh") -> tuple[list[dict[str, Any]], int]:
    """The user's notifications, newest first, with their text in ``locale`` and their
    record's number (流水号); and the unread count."""
    with services.database.reading() as s:
        rows = tk.notifications_for(s, username, unread_only=unread_only, limit=limit)
        numbers = serials.serials_of(s, {n.instance_id for n in rows if n.instance_id})
        items = [{"id": n.id, "kind": n.kind, "instance": n.instance_id, "task": n.task_id,
                  "serial": numbers.get(n.instance_id or ""),
                  "text": text(n.kind, n.data, locale), "data": n.data,
                  "created_at": n.created_at, "read_at": n.read_at} for n in rows]
        return items, tk.unread_count(s, username)


def mark_read(services: Services, username: str, ids: Sequence[int] | None) -> tuple[int, int]:
    """Mark the user's notifications read (all when ``ids`` is None); (marked, unread)."""
    with services.database.writing() as s:
        marked = tk.mark_read(s, username, list(ids) if ids is not None else None, services.now())
        return marked, tk.unread_count(s, username)


def is_admin(services: Services, groups: Sequence[str]) -> bool:
    from engine.app.access import special_groups

    return bool(set(groups) & special_groups(services.config).admins)


def deliveries(services: Services, groups: Sequence[str]) -> list[dict[str, Any]]:
    """E-mail and webhook deliveries that failed or still wait (admins only; else none)."""
    if not is_admin(services, groups):
        return []
    with services.database.reading() as s:
        return [{"id": d.id, "channel": d.channel, "target": d.target, "status": d.status,
                 "attempts": d.attempts, "next_attempt_at": d.next_attempt_at,
                 "last_error": d.last_error}
                for status in ("failed", "pending") for d in tk.deliveries(s, status=status, limit=100)]


def retry_failed(services: Services, groups: Sequence[str]) -> int:
    if not is_admin(services, groups):
        raise NotPermitted(_("Only administrators may retry deliveries."))
    with services.database.writing() as s:
        return tk.retry_failed(s, services.now())
