"""Pre-aggregated KPI figures: daily counters and duration histograms per procedure, the log
of days whose figures are out of date, the KPI fields each procedure was counted with, and
an index for the open tasks of a procedure by deadline ("overdue now").

Existing data needs no copy here: a procedure without a ``kpi_sources`` row has every day
recomputed by the first rollup (the worker's, or the first dashboard view).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "kpi_counts",
        sa.Column("procedure_id", sa.String(100), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("metric", sa.String(20), nullable=False),
        sa.Column("key", sa.String(150), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("procedure_id", "day", "metric", "key", "value", name="pk_kpi_counts"),
    )
    op.create_table(
        "kpi_pending",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("procedure_id", sa.String(100), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kpi_pending"),
    )
    op.create_table(
        "kpi_sources",
        sa.Column("procedure_id", sa.String(100), nullable=False),
        sa.Column("keys", sa.Text(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("procedure_id", name="pk_kpi_sources"),
    )
    op.create_index("ix_tasks_procedure_status_due", "tasks",
                    ["procedure_id", "status", "due_at", "created_at", "step"])


def downgrade() -> None:
    op.drop_index("ix_tasks_procedure_status_due", table_name="tasks")
    op.drop_table("kpi_sources")
    op.drop_table("kpi_pending")
    op.drop_table("kpi_counts")
