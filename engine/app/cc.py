"""抄送 (CC): sending an instance to people to read, the list of what was sent to me, and
已阅 (read).

A CC is recorded in the instance (its state and a ``cc:sent`` event: to whom, from which step,
by whom, with the note) and reaches each recipient as an in-app notification of kind ``cc``
(e-mail and webhooks as configured), written in the same transaction. "CC'd to me" is those
notifications: no table of its own. Reading rights follow from the instance (a CC by name
lets that one person read that one instance; ``engine.app.access.require_instance``); 已阅
is an event of the instance (``cc:read``) and marks the notifications read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from engine import store
from engine.app import access, instances
from engine.app.notify import text
from engine.errors import FormInvalid
from engine.i18n import _
from engine.store import timekeeping as tk
from engine.store import users as user_store

if TYPE_CHECKING:
    from engine.app.access import Reader
    from engine.app.services import Services


def send(services: Services, username: str, task_id: str, recipients: Iterable[str], note: str = "", *,
         answer_for: Reader | None = None) -> instances.Answer | None:
    """抄送 from an open task of a step declaring ``cc_add: true`` to role ids and ``user:NAME``."""
    wanted = [r.strip() for r in recipients if r and r.strip()]
    with services.database.writing() as s:
        instance_id = store.task_ref(s, task_id).instance_id
        with access.outsiders_told_nothing(services.workflow, services.config, s, username, task_id):
            services.workflow.cc(s, task_id, username, wanted, note)
        # Told only to someone allowed to send it (the CC went through): a deactivated
        # account gets no notification and cannot sign in, so the CC would reach nobody.
        for r in wanted:
            who = user_store.identity(s, r[5:]) if r.startswith("user:") else None
            if who is not None and not who[1]:
                message = _("'{name}' is deactivated and would never see it; send it to someone else, or ask an "
                            "administrator to activate the account again (Users page)", name=r[5:])
                raise FormInvalid(message, errors=[{"field": "recipients", "message": message}])
        answer = instances.view_in(services, s, answer_for, instance_id, check=False) if answer_for else None
    return instances.log_answer(services, answer_for, answer) if answer_for and answer else None


@dataclass
class Copy:
    """One instance sent to the reader: the latest CC of it, and whether it is still unread."""

    instance: str
    procedure: str
    text: str
    by: str
    note: str
    at: datetime
    unread: bool


def listing(services: Services, username: str, *, locale: str = "zh", limit: int = 200) -> tuple[list[Copy], int]:
    """The instances sent to ``username`` (newest first, one line per instance) and how many
    are unread."""
    with services.database.reading() as s:
        rows = [(n.instance_id, n.kind, n.data, n.created_at, n.read_at) for n in tk.cc_for(s, username, limit=limit)]
    seen: dict[str, Copy] = {}
    for instance_id, kind, data, created_at, read_at in rows:
        unread = read_at is None
        found = seen.get(instance_id or "")
        if found is not None:
            found.unread = found.unread or unread
            continue
        data = data or {}
        seen[instance_id or ""] = Copy(instance_id or "", str(data.get("procedure_title") or ""),
                                       text(kind, data, locale), str(data.get("by") or ""),
                                       str(data.get("note") or ""), created_at, unread)
    items = list(seen.values())
    return items, sum(c.unread for c in items)


def mark_read(services: Services, username: str, instance_id: str, *,
              answer_for: Reader | None = None) -> instances.Answer | None:
    """已阅: record the reading in the instance (once) and mark its CC notifications read.
    Refused (403) to someone the instance was not sent to."""
    with services.database.writing() as s:
        services.workflow.cc_read(s, instance_id, username)
        tk.mark_cc_read(s, username, instance_id, services.now())
        answer = instances.view_in(services, s, answer_for, instance_id, check=False) if answer_for else None
    return instances.log_answer(services, answer_for, answer) if answer_for and answer else None
