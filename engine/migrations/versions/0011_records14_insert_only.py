"""Audit events are insert-only, enforced by the database: triggers refuse UPDATE and DELETE
of ``events`` (and TRUNCATE on PostgreSQL). See ``engine/store/insert_only.py``.

Revision ID: 0011_records14_insert_only
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from engine.store import insert_only

revision = "0011_records14_insert_only"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    insert_only.install(op.get_bind())


def downgrade() -> None:
    insert_only.remove(op.get_bind())
