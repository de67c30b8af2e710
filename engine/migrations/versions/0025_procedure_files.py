"""Which version each procedure's file was last loaded as: ``procedure_files`` (one row a
procedure).

Loading the files registers a text by looking it up, so a file put back to an earlier text
found the earlier row and that row stayed behind the current one: the change in the file did
not take effect. From here on, a text other than the one last loaded becomes current (see
``engine.store.repo.load_file_version``), and the same text loaded again changes nothing, so a
version published in the editor is not undone by a restart. The table starts empty: what was
loaded before cannot be told from the versions, and with no row the first load after the
upgrade finds the version by its text, as before.

Revision ID: 0025_procedure_files
Revises: 0024_files_on_the_trail
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.store.tables import UTCDateTime

revision = "0025_procedure_files"
down_revision = "0024_files_on_the_trail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "procedure_files",
        sa.Column("procedure_id", sa.String(length=100), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["procedure_versions.id"],
                                name="fk_procedure_files_version_id_procedure_versions"),
        sa.PrimaryKeyConstraint("procedure_id", name="pk_procedure_files"),
    )


def downgrade() -> None:
    op.drop_table("procedure_files")
