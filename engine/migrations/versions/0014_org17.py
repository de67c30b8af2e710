"""The organisation chart: departments (a tree with heads), each user's department, and the
one ``org_state`` row whose version and stamp say when the chart last changed (so the
application layer caches its snapshot) and which holds the head of the chart's audit chain.

Revision ID: 0014_org17
Revises: 0017_serials18 (written on 0013_records14_insert_only; moved after main merged 0017)
Create Date: 2026-12-06
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

from engine.store.tables import UTCDateTime

revision = "0014_org17"
down_revision = "0017_serials18"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("parent", sa.String(64), nullable=True),
        sa.Column("head", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_departments"),
    )
    org_state = op.create_table(
        "org_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("stamp", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.Column("event_seq", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("event_hash", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_org_state"),
    )
    # A random stamp: two databases never share one, so a process caching the chart of one
    # never serves it for another.
    op.bulk_insert(org_state, [{"id": 1, "version": 0, "stamp": uuid.uuid4().hex, "event_seq": 0}])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("department", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("department")
    op.drop_table("org_state")
    op.drop_table("departments")
