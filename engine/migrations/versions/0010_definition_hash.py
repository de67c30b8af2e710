"""One version hash: procedure versions are keyed by the definition hash instances record.

Until now a version row carried a hash of its raw texts (and a draft that hash salted with
its number, so that it could repeat an older text), while every instance recorded the
definition hash (``Procedure.content_hash``: the procedure text and what its forms define)
and pages showed that one. Every row now carries the definition hash. Several rows may share
it (a draft that restores an older text, a form whose only change is a comment), so the
unique constraint becomes an index; ``repo.register_procedure_version`` keeps registration
idempotent under its per-procedure lock instead.

The hash is computed by compiling the stored texts with the procedure language, as the
server does when it loads a version. A row whose texts no longer compile keeps the hash its
first instance recorded, or, with no instance, its old hash (it cannot run either way).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_UNIQUE = "uq_procedure_versions_procedure_id_content_hash"
_INDEX = "ix_procedure_versions_procedure_id_content_hash"

_versions = sa.table(
    "procedure_versions",
    sa.column("id", sa.Integer), sa.column("procedure_id", sa.String), sa.column("content_hash", sa.String),
    sa.column("source", sa.Text), sa.column("forms", sa.JSON), sa.column("status", sa.String),
    sa.column("major", sa.Integer), sa.column("minor", sa.Integer))
_instances = sa.table("instances", sa.column("id", sa.String), sa.column("version_id", sa.Integer))
_events = sa.table("events", sa.column("instance_id", sa.String), sa.column("seq", sa.Integer),
                   sa.column("type", sa.String), sa.column("data", sa.JSON))


def _rows(conn: sa.Connection) -> list:
    return list(conn.execute(sa.select(_versions).order_by(_versions.c.id)))


def _set_hashes(conn: sa.Connection, hashes: dict[int, str]) -> None:
    for version_id, digest in hashes.items():
        conn.execute(sa.update(_versions).where(_versions.c.id == version_id).values(content_hash=digest))


def _recorded_hash(conn: sa.Connection, version_id: int) -> str | None:
    """The definition hash the first instance of a version recorded when it started."""
    data = conn.scalar(
        sa.select(_events.c.data)
        .join(_instances, _instances.c.id == _events.c.instance_id)
        .where(_instances.c.version_id == version_id, _events.c.type == "instance:started")
        .order_by(_events.c.instance_id).limit(1))
    version = (data or {}).get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) and len(version) == 64 else None


def upgrade() -> None:
    from engine.errors import WorkflowError
    from engine.language.procedure import compile_stored

    conn = op.get_bind()
    with op.batch_alter_table("procedure_versions") as batch:
        batch.drop_constraint(_UNIQUE, type_="unique")
        batch.create_index(_INDEX, ["procedure_id", "content_hash"])
    hashes = {}
    for row in _rows(conn):
        try:
            digest = compile_stored(row.source, f"{row.procedure_id}.yaml", row.forms or {}).content_hash
        except WorkflowError:
            digest = _recorded_hash(conn, row.id) or row.content_hash
        if digest != row.content_hash:
            hashes[row.id] = digest
    _set_hashes(conn, hashes)


def _text_hash(source: str, forms: dict[str, str]) -> str:
    """The raw-text hash of revisions up to 0009."""
    digest = hashlib.sha256()
    digest.update(b"procedure\0" + source.encode("utf-8") + b"\0")
    for form_id in sorted(forms):
        digest.update(b"form\0" + form_id.encode("utf-8") + b"\0" + forms[form_id].encode("utf-8") + b"\0")
    return digest.hexdigest()


def downgrade() -> None:
    conn = op.get_bind()
    hashes = {}
    taken: set[tuple[str, str]] = set()
    for row in _rows(conn):
        digest = _text_hash(row.source, row.forms or {})
        # As 0009 wrote them: drafts, and any later row repeating a text, carry a salted hash.
        if row.status in ("draft", "in_review") or (row.procedure_id, digest) in taken:
            digest = hashlib.sha256(f"{digest}\0draft {row.major or 0}.{row.minor or 0}\0{row.id}"
                                    .encode()).hexdigest()
        taken.add((row.procedure_id, digest))
        hashes[row.id] = digest
    _set_hashes(conn, hashes)
    with op.batch_alter_table("procedure_versions") as batch:
        batch.drop_index(_INDEX)
        batch.create_unique_constraint(_UNIQUE, ["procedure_id", "content_hash"])
