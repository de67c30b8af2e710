"""Procedure versions written by the editor: drafts (minor versions), review and publication.

Files loaded from disk register published versions through ``repo.register_procedure_version``
(idempotent by text). Editor drafts are numbered ``MAJOR.MINOR`` on top of the latest
published major; publishing promotes the reviewed draft row to the next major version, so the
version an instance pins is exactly the text that was approved. Every row, draft or not,
carries the one version hash (``repo.content_hash``), the one its instances will record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from engine.errors import Conflict
from engine.i18n import _
from engine.store.db import serialise
from engine.store.repo import content_hash, get_version, latest_version_id
from engine.store.tables import ProcedureVersion

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

DRAFT, IN_REVIEW, PUBLISHED, RETIRED = "draft", "in_review", "published", "retired"


def label(row: ProcedureVersion) -> str:
    """``"2.1"``: the number people use for a version."""
    return f"{row.major or 0}.{row.minor or 0}"


def display_status(row: ProcedureVersion, current_id: int | None) -> str:
    """Published versions other than the current one are shown as retired (running
    instances may still use them)."""
    if row.status == PUBLISHED and row.id != current_id:
        return RETIRED
    return row.status


def working_copy(session: Session, procedure_id: str) -> ProcedureVersion | None:
    """What the editor opens: the newest version, draft, in review or the current one; a
    published version that is not current (retired, or registered from a file while a
    change was in review and approved after it) never is."""
    current = latest_version_id(session, procedure_id)
    return session.scalars(select(ProcedureVersion)
                           .where(ProcedureVersion.procedure_id == procedure_id,
                                  (ProcedureVersion.status != PUBLISHED) | (ProcedureVersion.id == current))
                           .order_by(ProcedureVersion.id.desc()).limit(1)).first()


def procedure_ids(session: Session) -> list[str]:
    return list(session.scalars(select(ProcedureVersion.procedure_id).distinct()
                                .order_by(ProcedureVersion.procedure_id)))


def _max(session: Session, column, *where) -> int:
    return session.scalar(select(func.max(column)).where(*where)) or 0


def save_draft(session: Session, procedure_id: str, source: str, forms: Mapping[str, str],
               title: str, *, user: str, note: str = "", now: datetime | None = None,
               definition_hash: str | None = None,
               note_message: Mapping[str, Any] | None = None) -> tuple[ProcedureVersion, bool]:
    """A new draft row numbered ``major.(minor+1)``; ``(row, created)``. Saving the same
    text as the newest draft creates nothing. ``definition_hash`` is the compiled draft's
    ``content_hash`` (computed from the texts when not given); ``note_message`` the note as
    a stored message (``engine.i18n.keep``), shown in each reader's language."""
    serialise(session, f"versions:{procedure_id}")  # two editors saving at once get 1.1 and 1.2
    latest = working_copy(session, procedure_id)
    if (latest is not None and latest.status == DRAFT and latest.source == source
            and (latest.forms or {}) == dict(forms)):
        return latest, False
    digest = definition_hash or content_hash(source, forms, procedure_id)
    major = _max(session, ProcedureVersion.major, ProcedureVersion.procedure_id == procedure_id,
                 ProcedureVersion.status == PUBLISHED)
    minor = _max(session, ProcedureVersion.minor, ProcedureVersion.procedure_id == procedure_id,
                 ProcedureVersion.major == major) + 1
    row = ProcedureVersion(
        procedure_id=procedure_id, content_hash=digest,
        source=source, forms=dict(forms), title=title, registered_at=now or datetime.now(UTC),
        registered_by=user, status=DRAFT, major=major, minor=minor, note=note or None,
        note_message=dict(note_message) if note and note_message else None)
    session.add(row)
    session.flush()
    return row, True


def mark_in_review(session: Session, version_id: int, *, reason: str, change_instance: str) -> ProcedureVersion:
    row = get_version(session, version_id)
    if row.status != DRAFT:
        raise Conflict(_("version {version} of {procedure} is {status}, not a draft; only a draft can be sent "
                         "for approval", version=label(row), procedure=row.procedure_id, status=_(row.status)))
    row.status = IN_REVIEW
    row.change_reason = reason
    row.change_instance = change_instance
    session.flush()
    return row


def back_to_draft(session: Session, version_id: int) -> ProcedureVersion:
    """A rejected change: the version is a draft again (the reason and run stay recorded)."""
    row = get_version(session, version_id)
    if row.status == IN_REVIEW:
        row.status = DRAFT
        session.flush()
    return row


def publish(session: Session, version_id: int, *, now: datetime | None = None) -> ProcedureVersion:
    """Promote a version in review to the next major version (``N+1.0``, above every
    published one): the current version from now on (``repo.CURRENT_ORDER``), even when a
    file version was registered while it was in review."""
    row = get_version(session, version_id)
    serialise(session, f"versions:{row.procedure_id}")
    if row.status != IN_REVIEW:
        raise Conflict(_("version {version} of {procedure} is {status}; only a version in review can be "
                         "published", version=label(row), procedure=row.procedure_id, status=_(row.status)))
    major = _max(session, ProcedureVersion.major, ProcedureVersion.procedure_id == row.procedure_id,
                 ProcedureVersion.status == PUBLISHED) + 1
    row.note = ((row.note + " · ") if row.note else "") + f"draft {label(row)}"
    row.status, row.major, row.minor = PUBLISHED, major, 0
    row.registered_at = now or datetime.now(UTC)
    session.flush()
    return row
