"""A password an administrator set is temporary: ``users.must_change_password``.

When an administrator adds a user or resets a password in the browser (/admin/users), the
user must choose their own at the next sign-in (``engine.app.people.password_expired``);
changing it clears the flag. Existing users keep the passwords they have (false).

Revision ID: 0021_must_change_password
Revises: 0020_version_note_message
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_must_change_password"
down_revision = "0020_version_note_message"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("must_change_password")
