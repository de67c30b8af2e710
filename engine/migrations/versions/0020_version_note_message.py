"""The editor's note on a draft as a stored message (procedure_versions.note_message).

The note the editor writes on a draft it saves (``step + double_check``) stays as it was, for
logs and scripts; beside it, its catalogue key and parameters (``engine.i18n.keep``), so the
versions and procedure pages read it in each reader's language. Rows saved before have none
and show their note as stored.

Revision ID: 0020_version_note_message
Revises: 0019_start_firings_by_subject
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_version_note_message"
down_revision = "0019_start_firings_by_subject"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("procedure_versions") as batch:
        batch.add_column(sa.Column("note_message", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("procedure_versions") as batch:
        batch.drop_column("note_message")
