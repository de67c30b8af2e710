"""Use cases of the procedure editor: drafts, validation, try-it, submission, restore,
bundles and export. The caller owns the session and the transaction, as in ``service``.

A procedure version holds the procedure text and the texts of the forms it uses, so a form
edited in one procedure's draft changes that procedure's next version only; procedures
already published keep the forms they were approved with.
"""

from __future__ import annotations

import difflib
import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.app import change_control
from engine.errors import DefinitionInvalid, FormInvalid, NotPermitted, Problem
from engine.language import yaml_source as yamlsrc
from engine.language.forms import Form, parse_form
from engine.language.procedure import Procedure, load_library, parse_procedure
from engine.runtime.simulation import Simulation, simulate
from engine.store import get_version, latest_version_id, versions
from engine.store import users as user_store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.app.service import Workflow
    from engine.store.tables import ProcedureVersion

EDIT_ROLE = change_control.AUTHOR_ROLE


def proc_file(procedure_id: str) -> str:
    return f"procedures/{procedure_id}.yaml"


def form_file(form_id: str) -> str:
    return f"forms/{form_id}.yaml"


@dataclass
class Checked:
    """A draft checked as a whole: the procedure (None if invalid), the form texts it uses
    and every problem, each naming its file (``procedures/ID.yaml`` or ``forms/ID.yaml``)."""

    procedure: Procedure | None
    forms: dict[str, str]
    problems: list[Problem]


class Editor:
    """The editor's use cases around one ``Workflow`` (its config, calendars and runtimes)."""

    def __init__(self, workflow: Workflow) -> None:
        self.wf = workflow
        self._library: dict[str, Form] | None = None

    # -- who may --------------------------------------------------------------------------

    def _groups(self, session: Session, username: str) -> set[str]:
        found = user_store.identity(session, username)
        return set(found[2]) if found and found[1] else set()

    def may_edit(self, session: Session, username: str) -> bool:
        groups = self.wf.config.groups_for_role(change_control.PROCEDURE_ID, EDIT_ROLE)
        return bool(self._groups(session, username) & set(groups))

    def require_editor(self, session: Session, username: str) -> None:
        if not self.may_edit(session, username):
            groups = ", ".join(self.wf.config.groups_for_role(change_control.PROCEDURE_ID, EDIT_ROLE))
            raise NotPermitted(f"only members of the editor group ({groups}) may change procedures; "
                               "ask an administrator to add you (wf user groups)")

    # -- reading ----------------------------------------------------------------------------

    def catalogue(self, session: Session) -> list[dict[str, Any]]:
        """Every procedure: title, current (published) version, status of the newest
        version, and its owner (who saved the newest version; files have none)."""
        out = []
        for pid in versions.procedure_ids(session):
            newest = versions.working_copy(session, pid)
            current_id = latest_version_id(session, pid)
            current = get_version(session, current_id) if current_id else None
            out.append({
                "id": pid, "title": newest.title, "current": versions.label(current) if current else None,
                "newest": versions.label(newest), "status": versions.display_status(newest, current_id),
                "owner": newest.registered_by or (current.registered_by if current else None),
            })
        return out

    def library_forms(self) -> dict[str, Form]:
        """The forms of the configured forms folder (for steps that pick a shared form)."""
        if self._library is None:  # read once: validation runs on every pause in typing
            forms_dir = self.wf.config.path("paths", "forms", default="forms")
            self._library = load_library([], extra_forms=[forms_dir]).forms
        return self._library

    # -- checking and saving -----------------------------------------------------------------

    def check(self, procedure_id: str, source: str, forms: Mapping[str, str]) -> Checked:
        """Validate a draft: its own forms, then the procedure against them (and against the
        forms folder for forms the draft does not carry yet)."""
        problems: list[Problem] = []
        parsed: dict[str, Form] = {}
        for fid, text in forms.items():
            form, errs = parse_form(yamlsrc.load(text, form_file(fid)))
            problems += errs
            if form is not None:
                parsed[fid] = form
        library = self.library_forms()
        available = {**library, **parsed}
        proc, errs = parse_procedure(yamlsrc.load(source, proc_file(procedure_id)), available)
        problems += errs
        used: dict[str, str] = {}
        if proc is not None:
            for fid in proc.forms:
                used[fid] = forms[fid] if fid in forms else Path(library[fid].source_file).read_text(encoding="utf-8")
        return Checked(proc if not problems else None, used, sorted(set(problems)))

    def save(self, session: Session, procedure_id: str, source: str, forms: Mapping[str, str],
             username: str, note: str = "") -> ProcedureVersion:
        """Save a valid draft as the next minor version; ``DefinitionInvalid`` lists every
        problem of an invalid one (nothing is saved then)."""
        self.require_editor(session, username)
        checked = self.check(procedure_id, source, forms)
        if checked.problems:
            raise DefinitionInvalid(checked.problems)
        row, _ = versions.save_draft(session, procedure_id, source, checked.forms,
                                     checked.procedure.title, user=username, note=note)
        return row

    def restore(self, session: Session, version_id: int, username: str) -> ProcedureVersion:
        """An old version's texts saved again as a new draft."""
        self.require_editor(session, username)
        old = get_version(session, version_id)
        row, _ = versions.save_draft(session, old.procedure_id, old.source, old.forms or {}, old.title,
                                     user=username, note=f"restored from {versions.label(old)}")
        return row

    # -- trying -------------------------------------------------------------------------------

    def try_version(self, session: Session, version_id: int, answers: Mapping[str, Any]) -> tuple[Procedure, Simulation]:
        """Run a stored version in memory with sample answers (nothing is written)."""
        proc = self.wf.runtime(session, version_id).procedure
        return proc, simulate(proc, answers, calendars=self.wf.calendars)

    # -- change control -----------------------------------------------------------------------

    def submit(self, session: Session, version_id: int, username: str, reason: str) -> dict:
        """Send a draft for review and approval: starts a ``procedure-change-control``
        instance with the change reason; the draft is in review until it ends."""
        self.require_editor(session, username)
        reason = (reason or "").strip()
        if not reason:
            raise FormInvalid("give the reason for the change (更改原因); it is kept with the version",
                              errors=[{"field": "reason", "message": "required: why the procedure changes"}])
        row = get_version(session, version_id)
        data = {"procedure": row.procedure_id, "version": versions.label(row), "version_id": row.id,
                "reason": reason}
        state = self.wf.start(session, change_control.PROCEDURE_ID, username, data)
        versions.mark_in_review(session, row.id, reason=reason, change_instance=state["id"])
        return state

    # -- bundles and export -------------------------------------------------------------------

    def bundle(self, session: Session, version_id: int) -> str:
        """One YAML file: the procedure, then each form, as separate YAML documents."""
        row = get_version(session, version_id)
        parts = [f"# QualityFlow bundle: {row.procedure_id} {versions.label(row)} ({row.status})\n"
                 + row.source.rstrip("\n") + "\n"]
        for fid in sorted(row.forms or {}):
            parts.append(row.forms[fid].rstrip("\n") + "\n")
        return "---\n".join(parts)

    def import_bundle(self, session: Session, text: str, username: str) -> ProcedureVersion:
        """Save a bundle (procedure document first, then its forms) as a new draft."""
        self.require_editor(session, username)
        return self._import_docs(session, split_bundle(text), username)

    def import_zip(self, session: Session, data: bytes, username: str) -> ProcedureVersion:
        """Save a zip (``procedures/ID.yaml`` and ``forms/*.yaml``, as ``bundle_zip`` writes
        it, or as ``wf procedures export`` lays files out) as a new draft."""
        self.require_editor(session, username)
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                files = {n: zf.read(n).decode("utf-8") for n in zf.namelist() if n.endswith((".yaml", ".yml"))}
        except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise DefinitionInvalid([Problem("bundle.zip", 1, 1, f"not a readable zip of UTF-8 YAML files ({exc}); "
                                             "export one from a procedure's versions page")]) from exc
        procs = [n for n in sorted(files) if n.startswith("procedures/") or "/procedures/" in n]
        if len(procs) != 1:
            raise DefinitionInvalid([Problem("bundle.zip", 1, 1, f"the zip must hold exactly one procedures/ID.yaml, "
                                             f"found {len(procs)}; put its forms under forms/")])
        return self._import_docs(session, [files[procs[0]], *(files[n] for n in sorted(files) if n != procs[0])],
                                 username)

    def bundle_zip(self, session: Session, version_id: int) -> bytes:
        """The version as a zip: ``procedures/ID.yaml`` and ``forms/ID.yaml`` files."""
        row = get_version(session, version_id)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(proc_file(row.procedure_id), row.source)
            for fid, text in sorted((row.forms or {}).items()):
                zf.writestr(form_file(fid), text)
        return out.getvalue()

    def _import_docs(self, session: Session, docs: list[str], username: str) -> ProcedureVersion:
        if not docs:
            raise DefinitionInvalid([Problem("bundle.yaml", 1, 1, "the bundle is empty; export one from a procedure page")])
        forms: dict[str, str] = {}
        for i, doc in enumerate(docs[1:], start=2):
            src = yamlsrc.load(doc, f"bundle.yaml (document {i})")
            fid = src.data.get("id") if isinstance(src.data, dict) else None
            if not fid:
                raise DefinitionInvalid([Problem(f"bundle.yaml (document {i})", 1, 1,
                                                 "every document after the first must be a form with an 'id'")])
            forms[str(fid)] = doc
        head = yamlsrc.load(docs[0], "bundle.yaml (document 1)")
        pid = head.data.get("id") if isinstance(head.data, dict) else None
        if not pid:
            raise DefinitionInvalid([Problem("bundle.yaml (document 1)", 1, 1,
                                             "the first document must be the procedure, with an 'id'")])
        return self.save(session, str(pid), docs[0], forms, username, note="imported")

    def export(self, session: Session, folder: str | Path) -> list[Path]:
        """Write the current published version of every procedure and its forms under
        ``folder/procedures`` and ``folder/forms`` (for keeping them in git)."""
        root = Path(folder)
        written = []
        for pid in versions.procedure_ids(session):
            vid = latest_version_id(session, pid)
            if vid is None:
                continue  # only drafts so far
            row = get_version(session, vid)
            files = {root / proc_file(pid): row.source,
                     **{root / form_file(fid): text for fid, text in (row.forms or {}).items()}}
            for path, text in files.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                written.append(path)
        return sorted(set(written))


_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


def split_bundle(text: str) -> list[str]:
    """The YAML documents of a bundle, comments kept (a leading ``---`` is allowed)."""
    docs = [d.lstrip("\n") for d in _SEPARATOR.split(text)]
    return [d for d in docs if yamlsrc.load(d, "bundle.yaml").data is not None]


def side_by_side(old: str, new: str) -> list[dict[str, Any]]:
    """Rows for a two-column diff: ``{tag, old_no, old, new_no, new}`` (tag: equal, replace,
    delete, insert)."""
    a, b = old.splitlines(), new.splitlines()
    rows: list[dict[str, Any]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            rows.append({"tag": tag,
                         "old_no": i + 1 if i < i2 else None, "old": a[i] if i < i2 else "",
                         "new_no": j + 1 if j < j2 else None, "new": b[j] if j < j2 else ""})
    return rows


# --------------------------------------------------------------------------- sample answers

SAMPLE_USER = "tester"


def sample_value(schema: Mapping[str, Any]) -> Any:
    """A plausible value for one field: the first option, a number inside the limits, ..."""
    typ = schema.get("type")
    typ = next((t for t in typ if t != "null"), None) if isinstance(typ, list) else typ
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if typ in ("number", "integer"):
        lim = schema.get("x-limits") or {}
        low = lim.get("min", schema.get("minimum"))
        high = lim.get("max", schema.get("maximum"))
        value = (low + high) / 2 if low is not None and high is not None else (low if low is not None else (high if high is not None else 1))
        return int(value) if typ == "integer" else value
    if typ == "boolean":
        return schema.get("default", True)
    if typ == "array":
        items = schema.get("items") or {}
        if schema.get("x-widget") == "file":
            return []
        return [sample_value(items)] if items else []
    if typ == "object" or isinstance(schema.get("properties"), Mapping):
        return {k: sample_value(v) for k, v in (schema.get("properties") or {}).items()
                if isinstance(v, Mapping) and v.get("x-widget") != "file"}
    fmt = schema.get("format")
    if fmt == "date":
        return "2026-11-02"
    if fmt == "date-time":
        return "2026-11-02T09:00:00+08:00"
    if fmt == "time":
        return "09:00"
    if fmt == "email":
        return "tester@example.com"
    return "示例"


def sample_answers(proc: Procedure, calendars: Mapping[str, Any] | None = None, *, limit: int = 60) -> dict[str, Any]:
    """Answers that walk ``proc`` from start to end: every task filled with sample values,
    every approval approved, in the order the engine opens them. A starting point for
    "Try it"; people then change values to take other branches."""
    from engine.runtime.commands import Actor, Approve, CompleteTask, Signature, Start
    from engine.runtime.machine import Runtime, open_tasks
    from engine.runtime.simulation import DEFAULT_START, STEP_GAP

    rt = Runtime(proc, calendars)
    start_form = proc.forms.get(proc.start_form) if proc.start_form else None
    start_data = sample_value(start_form.schema) if start_form else {}
    answers: dict[str, Any] = {"procedure": proc.id, "start": {"user": SAMPLE_USER, "data": start_data},
                               "steps": []}
    now = DEFAULT_START
    try:
        state, _ = rt.apply(None, Start(actor=Actor(SAMPLE_USER, frozenset(proc.start_roles), SAMPLE_USER),
                                        data=start_data, instance_id="sample"), now)
        for _i in range(limit):
            tasks = open_tasks(state)
            if state["status"] != "running" or not tasks:
                break
            task = tasks[0]
            step = proc.steps[task["step"]]
            form = proc.forms.get(step.form) if step.form else None
            data = sample_value(form.schema) if form else {}
            actor = Actor(SAMPLE_USER, frozenset({step.role} if step.role else ()), SAMPLE_USER)
            sig = Signature(meaning=step.signature, user=SAMPLE_USER, name=SAMPLE_USER) if step.signature else None
            now += STEP_GAP
            if step.type == "approval":
                cmd: Any = Approve(task["id"], actor, "", data=data, signature=sig)
                entry = {"step": step.id, "user": SAMPLE_USER, "decision": "approve"}
            else:
                cmd = CompleteTask(task["id"], actor, data=data, signature=sig)
                entry = {"step": step.id, "user": SAMPLE_USER}
            if data:
                entry["data"] = data
            state, _ = rt.apply(state, cmd, now)
            answers["steps"].append(entry)
    except Exception:  # noqa: BLE001 - a partial script is still a useful start; Try it shows the error
        pass
    return answers
