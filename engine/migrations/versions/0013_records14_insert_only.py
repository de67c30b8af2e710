"""Audit events are insert-only, enforced by the database: triggers refuse UPDATE and DELETE
of ``events`` (and TRUNCATE on PostgreSQL). See ``engine/store/insert_only.py``.

Revision ID: 0013_records14_insert_only
Revises: 0012_access15
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from engine.store import insert_only

revision = "0013_records14_insert_only"
down_revision = "0012_access15"
branch_labels = None
depends_on = None


def upgrade() -> None:
    insert_only.install(op.get_bind())


def downgrade() -> None:
    insert_only.remove(op.get_bind())
