"""A random id naming the database: ``database_identity`` (one row).

Anchor files (``wf audit anchor``) record it on every line from here on, so that a file
pointed at another database (a new installation, a test copy, the wrong ``WF_DATABASE_URL``)
is named as such by ``wf audit verify``, instead of every instance reading "anchored event
missing". A backup restored keeps it: it is data.

Revision ID: 0023_database_identity
Revises: 0022_users_on_the_trail
Create Date: 2026-12-07
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from engine.store.tables import UTCDateTime

revision = "0023_database_identity"
down_revision = "0022_users_on_the_trail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "database_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_database_identity"),
    )
    op.bulk_insert(table, [{"id": 1, "uuid": uuid.uuid4().hex, "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("database_identity")
