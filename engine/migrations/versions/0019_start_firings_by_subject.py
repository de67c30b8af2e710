"""An index on start_firings(rule, subject).

The instance page asks for the instance's failed spawns and its stalled timer by rule and
subject (the instance), and every worker pass clears the stalls of the instances it ticked;
the table's key starts with the procedure, so each of those read the whole table, which keeps
a row per fired schedule occurrence and per triggered record (issue 20, cheaper steps).

Revision ID: 0019_start_firings_by_subject
Revises: 0018_user_groups_by_group
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0019_start_firings_by_subject"
down_revision = "0018_user_groups_by_group"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_start_firings_rule_subject", "start_firings", ["rule", "subject"])


def downgrade() -> None:
    op.drop_index("ix_start_firings_rule_subject", table_name="start_firings")
