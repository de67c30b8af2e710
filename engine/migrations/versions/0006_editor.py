"""Procedure editor: change note, change reason and change-control instance per version;
major numbers for the versions published so far.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("procedure_versions") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("change_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("change_instance", sa.String(40), nullable=True))
    # Versions registered before the editor were all published from files: number them
    # 1.0, 2.0, ... per procedure in registration order.
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, procedure_id FROM procedure_versions "
                                "WHERE major IS NULL ORDER BY id")).all()
    seen: dict[str, int] = {}
    for vid, pid in rows:
        seen[pid] = seen.get(pid, 0) + 1
        conn.execute(sa.text("UPDATE procedure_versions SET major = :m, minor = 0 WHERE id = :i"),
                     {"m": seen[pid], "i": vid})


def downgrade() -> None:
    with op.batch_alter_table("procedure_versions") as batch:
        batch.drop_column("change_instance")
        batch.drop_column("change_reason")
        batch.drop_column("note")
