"""Use cases around stored procedure versions: the editor's catalogue, a version opened for
reading, the list of versions, their difference, bundles to download and to import.

Everyone signed in may read procedures (what they say is no secret inside the company);
importing saves a draft and so needs the editor group (``engine.app.editor``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    written,
)
from engine.errors import Conflict, DefinitionInvalid, FormInvalid, NotFound
from engine.i18n import _, keep
from engine.language import yaml_edit
from engine.language.change_summary import summarize
from engine.language.procedure import KEBAB_ID
from engine.store import latest_version, latest_version_id, versions_of
from engine.store import versions as version_store
from engine.store.users import full_names

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
        names = full_names(session, [row.registered_by] if row.registered_by else [])
        return Opened(version_of(row, latest_version_id(session, procedure_id), names), proc)


def versions(services: Services, procedure_id: str) -> list[Version]:
    """Every version of a procedure, newest first; ``NotFound`` for an unknown procedure."""
    with services.database.reading() as session:
        current = latest_version_id(session, procedure_id)
        rows = versions_of(session, procedure_id)
        names = full_names(session, {r.registered_by for r in rows if r.registered_by})
        found = [version_of(r, current, names) for r in reversed(rows)]
    if not found:
        raise NotFound(_("there is no procedure '{id}'; pick one from the catalogue", id=procedure_id))
    return found


@dataclass(frozen=True)
class Difference:
    old: Version
    new: Version
    files: list[dict[str, Any]]  # {file, rows (side_by_side), same}
    summary: list[str] = field(default_factory=list)  # what changed, in words (change_summary)


def difference(services: Services, procedure_id: str, old_id: int, new_id: int) -> Difference:
    """Two versions side by side: the procedure file, then every form either one carries."""
    with services.database.reading() as session:
        current = latest_version_id(session, procedure_id)
        old = version_of(stored_version(session, procedure_id, old_id), current)
        new = version_of(stored_version(session, procedure_id, new_id), current)
        summary = _summary(services, session, old.id, new.id)
    texts = [(proc_file(procedure_id), old.source, new.source)]
    for fid in sorted(set(old.forms) | set(new.forms)):
        texts.append((form_file(fid), old.forms.get(fid, ""), new.forms.get(fid, "")))
    return Difference(old, new, [{"file": name, "rows": side_by_side(a, b), "same": a == b}
                                 for name, a, b in texts], summary)


def _summary(services: Services, session: Any, old_id: int | None, new_id: int) -> list[str]:
    """The change from version ``old_id`` (None: nothing before it) to ``new_id`` in words."""
    wf = services.workflow
    try:
        old = wf.runtime(session, old_id).procedure if old_id is not None else None
        new = wf.runtime(session, new_id).procedure
    except DefinitionInvalid:  # a stored version that no longer compiles: the text diff still shows it
        return []
    return summarize(old, new)


def change_summary(services: Services, instance: Mapping[str, Any],
                   comparison: tuple[str, int | None, int] | None = None) -> list[str] | None:
    """For a change-control instance: what its draft changes, in words (None for others).
    ``comparison`` is its :func:`change_comparison` when the caller has it already."""
    found = comparison or change_comparison(services, instance)
    if found is None:
        return None
    _pid, old, new = found
    with services.database.reading() as session:
        return _summary(services, session, old, new)


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


BLANK_PROCEDURE = '''# {title}：在此写明流程的用途、适用范围和依据的公司文件。
id: {id}
title: {title}
description: 在此用一两句话说明这个流程做什么、由谁来做。
roles:
  inspector: 经办人
  qa_supervisor: 审核人
start:
  roles: [inspector]
  step: record
steps:
  record:
    title: 记录
    role: inspector
    form: {id}-record
    deadline:
      within: 2wd                  # 默认值，可按公司规定调整
    next: review
  review:
    type: approval
    title: 审核
    role: qa_supervisor
    signature: 审核
    on_reject: record
    next: done
  done: {{type: end, title: 完成, outcome: 完成}}
'''

BLANK_FORM = '''# {title}的记录表：在表单编辑器中增加、修改字段。
id: {id}-record
title: {title}记录
schema:
  type: object
  required: [content]
  properties:
    content: {{type: string, title: 记录内容, x-widget: textarea}}
    remark: {{type: string, title: 备注}}
'''


def new_procedure(services: Services, username: str, procedure_id: str, title: str,
                  template: str | None = None) -> tuple[str, str]:
    """A new procedure saved as its first draft: from a blank page (two steps, a record and
    its review, with a form of its own to build on) or as a copy of an installed procedure
    (its current text with the new id and title; the copy uses the same forms).
    ``(procedure id, draft label)``; ``Conflict`` for an id in use, ``DefinitionInvalid``
    for an id or title the language refuses, named at the field."""
    procedure_id, title = procedure_id.strip(), title.strip()
    field_problems = []
    if not KEBAB_ID.match(procedure_id):
        field_problems.append({"field": "id", "message": _(
            "write the id in lower-case words joined by '-', e.g. incoming-inspection")})
    if not title:
        field_problems.append({"field": "title", "message": _("give the procedure a title, e.g. 来料检验")})
    if field_problems:
        raise FormInvalid(field_problems[0]["message"], errors=field_problems)
    editor = editor_of(services.workflow)
    with services.database.writing() as session:
        if version_store.working_copy(session, procedure_id) is not None:
            raise Conflict(_("a procedure '{id}' exists already; choose another id or open it", id=procedure_id))
        if template:
            source = latest_version(session, template) or version_store.working_copy(session, template)
            if source is None:
                raise NotFound(_("no procedure '{id}' to copy", id=template))
            text = yaml_edit.set_top(source.source, id=procedure_id, title=title)
            row = editor.save(session, procedure_id, text, {}, username, note=written(f"copied from {template}",
                                                                          keep("copied from {procedure}",
                                                                               procedure=template)))
        else:
            forms = {f"{procedure_id}-record": BLANK_FORM.format(id=procedure_id, title=title)}
            row = editor.save(session, procedure_id, BLANK_PROCEDURE.format(id=procedure_id, title=title),
                              forms, username, note=written("new", keep("new procedure")))
        return row.procedure_id, version_store.label(row)


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
