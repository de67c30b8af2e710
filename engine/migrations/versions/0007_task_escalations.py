"""Escalations on task rows, so the inbox of an escalation role or manager lists the task.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("escalated_to", sa.String(500), nullable=True))
    # Open tasks escalated before this column existed: copy their escalations from the state.
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, state FROM instances WHERE status = 'running'"))
    updates = []
    for instance_id, state in rows:
        state = json.loads(state) if isinstance(state, str | bytes) else state
        for key, task in (state.get("tasks") or {}).items():
            if task.get("status") == "open" and task.get("escalated_to"):
                updates.append({"id": f"{instance_id}.{task.get('id') or key}",
                                "to": " " + " ".join(task["escalated_to"]) + " "})
    if updates:
        conn.execute(sa.text("UPDATE tasks SET escalated_to = :to WHERE id = :id"), updates)


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("escalated_to")
