"""Readable record numbers (流水号) such as ASI-202612-0007: a counter per prefix and month,
and the number on each instance.

Instances started before this revision keep no number: their state and events (which the
hash chain covers) never had one, and writing one in now would be a rewrite of the record.

Revision ID: 0017_serials18
Revises: 0013_records14_insert_only
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_serials18"
down_revision = "0013_records14_insert_only"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "serial_counters",
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "period", name="pk_serial_counters"),
    )
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("serial", sa.String(40), nullable=True))
        batch.create_index("ix_instances_serial", ["serial"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_index("ix_instances_serial")
        batch.drop_column("serial")
    op.drop_table("serial_counters")
