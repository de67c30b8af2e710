"""KPI days and months cut at local midnight: ``kpi_sources`` remembers the time zone its
figures were counted in. Rows from before (counted in UTC days) have none, so the next
refresh (the worker's pass, a dashboard, or ``wf audit kpis``) recounts every day of each
procedure in the configured zone. The figures are recomputed from the instances and
tasks; nothing recorded changes.

Revision ID: 0016_kpi_local_days
Revises: 0014_org17 (written against 0013_records14_insert_only; moved after main merged 0017 and 0014)
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_kpi_local_days"
down_revision = "0014_org17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kpi_sources") as batch:
        batch.add_column(sa.Column("zone", sa.String(64), nullable=True))


def downgrade() -> None:
    # The figures were counted in local days: forget what they were counted with, so the
    # older code's next refresh recounts them in UTC days.
    op.execute(sa.text("DELETE FROM kpi_sources"))
    with op.batch_alter_table("kpi_sources") as batch:
        batch.drop_column("zone")
