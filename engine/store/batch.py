"""Writing a whole worker batch at once: the tick results of many locked instances.

The same rows as ``repo.save_step`` writes for one instance (new state under an optimistic
rev check, changed task rows, events chained after the stored head), but as one executemany
per table for the batch, so that a worker keeps up with a large backlog.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, update

from engine.errors import Conflict
from engine.store.audit import GENESIS
from engine.store.repo import _chain, _instance_columns, _task_columns
from engine.store.tables import Event, Instance, Task

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_INSTANCE_COLS = ("state", "rev", "next_timer_at", "updated_at", "event_seq", "event_hash",
                  "status", "outcome", "ended_at")
_TASK_COLS = ("step", "kind", "role", "status", "assignee", "created_at", "due_at",
              "completed_at", "completed_by")


def save_many(session: Session, items: Sequence[tuple[Instance, Mapping[str, Any], list[dict], datetime | None]]) -> None:
    """Write ``(loaded row, new state, events, next timer)`` for each instance of a batch.

    Raises ``Conflict`` (the caller rolls the batch back) if any row moved on meanwhile.
    """
    if not items:
        return
    now = datetime.now(UTC)
    inst_params, task_params, event_rows = [], [], []
    for row, state, events, timer in items:
        rows, seq, head = _chain(row.id, events, row.event_seq, row.event_hash or GENESIS)
        event_rows += rows
        new_rev = row.rev + 1
        cols = _instance_columns(state)
        inst_params.append({
            "_id": row.id, "_rev": row.rev, "state": {**state, "rev": new_rev}, "rev": new_rev,
            "next_timer_at": timer, "updated_at": now, "event_seq": seq, "event_hash": head,
            "status": cols["status"], "outcome": cols["outcome"], "ended_at": cols["ended_at"]})
        old = (row.state or {}).get("tasks") or {}
        for key, task in (state.get("tasks") or {}).items():
            before = old.get(key)
            if before == task:
                continue
            if before is None:  # a task opened by a tick (a wait woke up): rare, written alone
                session.execute(insert(Task.__table__).values(
                    id=f"{row.id}.{task.get('id') or key}", instance_id=row.id,
                    task_id=str(task.get("id") or key), procedure_id=row.procedure_id,
                    **_task_columns(task, now)))
                continue
            task_params.append({"_id": f"{row.id}.{task.get('id') or key}", **_task_columns(task, now)})
    table = Instance.__table__
    result = session.execute(
        update(table).where(table.c.id == bindparam("_id"), table.c.rev == bindparam("_rev"))
        .values({c: bindparam(c) for c in _INSTANCE_COLS}), inst_params)
    if result.rowcount != len(inst_params):
        raise Conflict("an instance of this batch was changed by someone else; the batch is retried")
    if task_params:
        tasks = Task.__table__
        session.execute(update(tasks).where(tasks.c.id == bindparam("_id"))
                        .values({c: bindparam(c) for c in _TASK_COLS}), task_params)
    if event_rows:
        session.execute(insert(Event.__table__), event_rows)


def postpone(session: Session, instance_ids: Sequence[str], until: datetime) -> None:
    """Move the timer of instances whose tick failed to ``until`` (their state is unchanged)."""
    if instance_ids:
        table = Instance.__table__
        session.execute(update(table).where(table.c.id.in_(list(instance_ids))).values(next_timer_at=until))
