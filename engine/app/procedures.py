"""Use cases around stored procedure versions: the editor's catalogue, a version opened for
reading, the list of versions, their difference, bundles to download and to import.

Everyone signed in may read procedures (what they say is no secret inside the company);
importing saves a draft and so needs the editor group (``engine.app.editor``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.app import change_control
from engine.app.editor import (
    Version,
    editor_of,
    form_file,
    proc_file,
    side_by_side,
    stored_version,
    version_of,
)
from engine.errors import NotFound
from engine.store import latest_version_id, versions_of
from engine.store import versions as version_store

if TYPE_CHECKING:
    from engine.app.services import Services
    from engine.language.procedure import Procedure


# --------------------------------------------------------------------------- reading


def catalogue(services: Services) -> list[dict[str, Any]]:
    """Every procedure: title, current (published) version, status of the newest version,
    and its owner (who saved the newest version; files have none)."""
    with services.database.reading() as session:
        return editor_of(services.workflow).catalogue(session)


@dataclass(frozen=True)
class Opened:
    version: Version
    procedure: Procedure


def open_version(services: Services, procedure_id: str, version_id: int | None = None) -> Opened:
    """A version (default: the working copy) with its parsed procedure."""
    with services.database.reading() as session:
        row = stored_version(session, procedure_id, version_id)
        proc = services.workflow.runtime(session, row.id).procedure
        return Opened(version_of(row, latest_version_id(session, procedure_id)), proc)


def versions(services: Services, procedure_id: str) -> list[Version]:
    """Every version of a procedure, newest first; ``NotFound`` for an unknown procedure."""
    with services.database.reading() as session:
        current = latest_version_id(session, procedure_id)
        found = [version_of(r, current) for r in reversed(versions_of(session, procedure_id))]
    if not found:
        raise NotFound(f"there is no procedure '{procedure_id}'; pick one from the catalogue")
    return found


@dataclass(frozen=True)
class Difference:
    old: Version
    new: Version
    files: list[dict[str, Any]]  # {file, rows (side_by_side), same}


def difference(services: Services, procedure_id: str, old_id: int, new_id: int) -> Difference:
    """Two versions side by side: the procedure file, then every form either one carries."""
    with services.database.reading() as session:
        current = latest_version_id(session, procedure_id)
        old = version_of(stored_version(session, procedure_id, old_id), current)
        new = version_of(stored_version(session, procedure_id, new_id), current)
    texts = [(proc_file(procedure_id), old.source, new.source)]
    for fid in sorted(set(old.forms) | set(new.forms)):
        texts.append((form_file(fid), old.forms.get(fid, ""), new.forms.get(fid, "")))
    return Difference(old, new, [{"file": name, "rows": side_by_side(a, b), "same": a == b}
                                 for name, a, b in texts])


def change_comparison(services: Services, instance: Mapping[str, Any]) -> tuple[str, int | None, int] | None:
    """For a change-control instance: ``(procedure, old version, new version)`` that its
    reviewers judge (the draft against the version current when it was sent, or the one it
    replaced once published; None as old when there is nothing to compare with). None for
    any other instance."""
    if instance.get("procedure") != change_control.PROCEDURE_ID:
        return None
    start = (instance.get("data") or {}).get("start") or {}
    vid, pid = start.get("version_id"), start.get("procedure")
    if not vid or not pid:
        return None
    with services.database.reading() as session:
        current = latest_version_id(session, pid)
        if current == vid:  # already published: compare with the version it replaced
            older = [v.id for v in reversed(versions_of(session, pid))
                     if v.status == version_store.PUBLISHED and v.id < vid]
            current = older[0] if older else None
    return pid, current, vid


# --------------------------------------------------------------------------- bundles


def bundle(services: Services, procedure_id: str, version_id: int) -> tuple[str, str]:
    """``(YAML bundle, version label)``: the procedure, then each form, as YAML documents."""
    with services.database.reading() as session:
        row = stored_version(session, procedure_id, version_id)
        return editor_of(services.workflow).bundle(session, row.id), version_store.label(row)


def bundle_zip(services: Services, procedure_id: str, version_id: int) -> tuple[bytes, str]:
    """``(zip, version label)``: ``procedures/ID.yaml`` and ``forms/ID.yaml`` files."""
    with services.database.reading() as session:
        row = stored_version(session, procedure_id, version_id)
        return editor_of(services.workflow).bundle_zip(session, row.id), version_store.label(row)


def import_bundle(services: Services, username: str, data: bytes) -> tuple[str, str]:
    """Save a bundle (YAML documents, or a zip as ``bundle_zip`` writes it) as a new draft;
    ``(procedure id, draft label)``. ``DefinitionInvalid`` lists every problem."""
    editor = editor_of(services.workflow)
    with services.database.writing() as session:
        if data.startswith(b"PK"):  # a zip archive
            row = editor.import_zip(session, data, username)
        else:
            row = editor.import_bundle(session, data.decode("utf-8", errors="replace"), username)
        return row.procedure_id, version_store.label(row)
