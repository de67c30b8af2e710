"""A session version per user: every session cookie and API token carries the version it
was issued under, and bumping it (sign-out, password change, deactivation, an admin's
``wf user tokens --revoke``) ends them all at once.

Revision ID: 0011_access15
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_access15"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_version")
