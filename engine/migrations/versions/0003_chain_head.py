"""Chain head on the instance row, and an index for filtered instance lists.

Keeping the last event's seq and hash on the instance lets a step append its events
without reading the events table, and lets verification notice events deleted from the
end of a chain (which the chain alone cannot show).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("event_seq", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("event_hash", sa.String(64), nullable=True))
    op.execute(
        "UPDATE instances SET "
        "event_seq = COALESCE((SELECT MAX(e.seq) FROM events e WHERE e.instance_id = instances.id), 0), "
        "event_hash = (SELECT e.hash FROM events e WHERE e.instance_id = instances.id "
        "ORDER BY e.seq DESC LIMIT 1)"
    )
    op.create_index("ix_instances_procedure_status_started", "instances",
                    ["procedure_id", "status", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_instances_procedure_status_started", table_name="instances")
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("event_hash")
        batch.drop_column("event_seq")
