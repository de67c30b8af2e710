"""Initial schema: procedure versions, instances, tasks, audit events, users, attachments.

Written against plain SQLAlchemy types (not the models) so it never changes when they do.
Times are naive UTC; enums are VARCHAR(20) holding the enum's value.

Revision ID: 0001
Revises:
Create Date: 2026-05-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "procedure_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("procedure_id", sa.String(100), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("forms", sa.JSON(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("registered_by", sa.String(100), nullable=True),
        sa.Column("major", sa.Integer(), nullable=True),
        sa.Column("minor", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_versions"),
        sa.UniqueConstraint("procedure_id", "content_hash",
                            name="uq_procedure_versions_procedure_id_content_hash"),
    )
    op.create_index("ix_procedure_versions_procedure_id", "procedure_versions", ["procedure_id"])

    op.create_table(
        "instances",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("procedure_id", sa.String(100), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(100), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("started_by", sa.String(100), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("state", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                  "postgresql"), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("next_timer_at", sa.DateTime(), nullable=True),
        sa.Column("origin_instance", sa.String(40), nullable=True),
        sa.Column("origin_step", sa.String(100), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["procedure_versions.id"],
                                name="fk_instances_version_id_procedure_versions"),
        sa.PrimaryKeyConstraint("id", name="pk_instances"),
    )
    op.create_index("ix_instances_procedure_id", "instances", ["procedure_id"])
    op.create_index("ix_instances_procedure_id_status", "instances", ["procedure_id", "status"])
    op.create_index("ix_instances_next_timer_at", "instances", ["next_timer_at"])

    op.create_table(
        "tasks",
        sa.Column("id", sa.String(60), nullable=False),
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("task_id", sa.String(20), nullable=False),
        sa.Column("procedure_id", sa.String(100), nullable=False),
        sa.Column("step", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("role", sa.String(100), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("assignee", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("completed_by", sa.String(100), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["instances.id"],
                                name="fk_tasks_instance_id_instances"),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.UniqueConstraint("instance_id", "task_id", name="uq_tasks_instance_id_task_id"),
    )
    op.create_index("ix_tasks_status_role", "tasks", ["status", "role"])
    op.create_index("ix_tasks_assignee_status", "tasks", ["assignee", "status"])

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("step", sa.String(100), nullable=True),
        sa.Column("task_id", sa.String(20), nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("instance_id", "seq", name="uq_events_instance_id_seq"),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("email", sa.String(200), nullable=True),
        sa.Column("locale", sa.String(10), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
        sa.UniqueConstraint("name", name="uq_groups_name"),
    )
    op.create_table(
        "user_groups",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_user_groups_user_id_users",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"],
                                name="fk_user_groups_group_id_groups", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "group_id", name="pk_user_groups"),
    )

    op.create_table(
        "attachments",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("instance_id", sa.String(40), nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_path", sa.String(500), nullable=False),
        sa.Column("uploaded_by", sa.String(100), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instances.id"],
                                name="fk_attachments_instance_id_instances"),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
    )
    op.create_index("ix_attachments_instance_id", "attachments", ["instance_id"])


def downgrade() -> None:
    op.drop_table("attachments")
    op.drop_table("user_groups")
    op.drop_table("groups")
    op.drop_table("users")
    op.drop_table("events")
    op.drop_table("tasks")
    op.drop_table("instances")
    op.drop_table("procedure_versions")
