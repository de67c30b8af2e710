"""Audit, ledgers and KPIs: the field index, the access log of unmasked sensitive data, and
indexes for searching events, counting instances and tasks by time (covering, so that a
dashboard reads indexes only) and finding the instances an instance spawned.

Revision ID: 0005
Revises: 0003 (another branch adds 0004; re-chained on merge)
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "field_index",
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(150), nullable=False),
        sa.Column("procedure_id", sa.String(100), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("instance_id", "key", name="pk_field_index"),
    )
    op.create_index("ix_field_index_procedure_key_value", "field_index", ["procedure_id", "key", "value"])
    op.create_index("ix_field_index_value", "field_index", ["value"])
    op.create_table(
        "access_log",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("procedure_id", sa.String(100), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("view", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_log"),
    )
    op.create_index("ix_access_log_at", "access_log", ["at"])
    op.create_index("ix_access_log_instance", "access_log", ["instance_id"])
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_actor_at", "events", ["actor", "at"])
    op.create_index("ix_events_type_at", "events", ["type", "at"])
    op.create_index("ix_tasks_procedure_created", "tasks",
                    ["procedure_id", "created_at", "step", "status", "due_at", "completed_at"])
    op.create_index("ix_instances_procedure_started", "instances",
                    ["procedure_id", "started_at", "status", "ended_at"])
    op.create_index("ix_instances_origin_instance", "instances", ["origin_instance"])


def downgrade() -> None:
    op.drop_index("ix_instances_origin_instance", table_name="instances")
    op.drop_index("ix_instances_procedure_started", table_name="instances")
    op.drop_index("ix_tasks_procedure_created", table_name="tasks")
    op.drop_index("ix_events_type_at", table_name="events")
    op.drop_index("ix_events_actor_at", table_name="events")
    op.drop_index("ix_events_at", table_name="events")
    op.drop_table("access_log")
    op.drop_table("field_index")
