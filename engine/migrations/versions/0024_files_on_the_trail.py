"""Every file a record holds on that record's trail: one ``files:recorded`` event each.

From here on a submission that binds files records their content (SHA-256 and size) in the
record's hash-chained trail (``engine.app.uploads.bind``), and ``wf audit verify`` and the
record's integrity check compare the files table with it, so that a photo or a drawn signature
replaced later is found. Files bound before had no such event; this one states each record's
files as they stand now, the trail's starting point (by ``system``, with the file's name, as
the field that holds it is not stored beside the file). A record without files gets none.

Revision ID: 0024_files_on_the_trail
Revises: 0023_database_identity
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from engine.store.audit import GENESIS, event_hash, normalise
from engine.store.tables import UTCDateTime

revision = "0024_files_on_the_trail"
down_revision = "0023_database_identity"
branch_labels = None
depends_on = None

_files = sa.table("attachments", sa.column("id", sa.String), sa.column("instance_id", sa.String),
                  sa.column("filename", sa.String), sa.column("sha256", sa.String), sa.column("size", sa.Integer))
_instances = sa.table("instances", sa.column("id", sa.String), sa.column("event_seq", sa.Integer),
                      sa.column("event_hash", sa.String))
_events = sa.table("events", sa.column("instance_id", sa.String), sa.column("seq", sa.Integer),
                   sa.column("type", sa.String), sa.column("step", sa.String), sa.column("task_id", sa.String),
                   sa.column("actor", sa.String), sa.column("at", UTCDateTime), sa.column("data", sa.JSON),
                   sa.column("prev_hash", sa.String), sa.column("hash", sa.String))


def upgrade() -> None:
    bind = op.get_bind()
    held: dict[str, list[dict]] = {}
    for row in bind.execute(sa.select(_files.c.instance_id, _files.c.id, _files.c.filename, _files.c.sha256,
                                      _files.c.size).where(_files.c.instance_id.is_not(None))
                            .order_by(_files.c.instance_id, _files.c.id)):
        # engine.app.uploads.file_ref: the trail names a file by the hash of its id
        held.setdefault(row.instance_id, []).append(
            {"field": "", "name": row.filename, "file": hashlib.sha256(row.id.encode("utf-8")).hexdigest(),
             "sha256": row.sha256, "size": row.size})
    at = datetime.now(UTC)
    for instance_id, files in held.items():
        head = bind.execute(sa.select(_instances.c.event_seq, _instances.c.event_hash)
                            .where(_instances.c.id == instance_id)).first()
        if head is None:
            continue  # a file of a deleted record: wf audit verify names the record
        seq, prev = (head.event_seq or 0) + 1, head.event_hash or GENESIS
        data = normalise({"reason": "baseline", "files": files})
        digest = event_hash(instance_id=instance_id, seq=seq, type="files:recorded", step=None, task=None,
                            actor="system", at=at, data=data, prev_hash=prev)
        bind.execute(_events.insert().values(instance_id=instance_id, seq=seq, type="files:recorded", step=None,
                                             task_id=None, actor="system", at=at, data=data, prev_hash=prev,
                                             hash=digest))
        bind.execute(_instances.update().where(_instances.c.id == instance_id)
                     .values(event_seq=seq, event_hash=digest))


def downgrade() -> None:
    """The events stay: the trail is append-only, and an older schema reads them as events it
    does not name."""
