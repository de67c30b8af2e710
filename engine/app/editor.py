"""Use cases of the procedure editor: a draft opened for editing, live validation, saving
(text, form builder, step editor), Try it, restore and submission to change control.

The module-level functions are the use cases the HTML views call: each takes ``Services``,
the caller and plain arguments, runs in its own transaction and returns plain data.
``Editor`` holds what they share and works inside a session the caller opened
(``engine.app.procedures`` uses it too).

A procedure version holds the procedure text and the texts of the forms it uses, so a form
edited in one procedure's draft changes that procedure's next version only; procedures
already published keep the forms they were approved with.
"""

from __future__ import annotations

import difflib
import io
import re
import weakref
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from engine.app import change_control
from engine.errors import (
    DefinitionInvalid,
    FormInvalid,
    InputTooLarge,
    NotFound,
    NotPermitted,
    Problem,
    WorkflowError,
)
from engine.i18n import StoredMessage, _, keep, reader_locale, shown
from engine.i18n import worded_apart as written
from engine.language import yaml_edit
from engine.language import yaml_source as yamlsrc
from engine.language.deployment import check_config
from engine.language.english import titled
from engine.language.forms import Form, parse_form
from engine.language.procedure import Procedure, load_library, parse_procedure
from engine.language.spawns import Outline, check_spawns
from engine.language.starts import Trigger, check_triggers
from engine.runtime.simulation import Simulation, simulate
from engine.store import get_version, latest_version_id, latest_version_ids, versions
from engine.store import users as user_store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.app.service import Workflow
    from engine.app.services import Services
    from engine.config import Config
    from engine.store.tables import ProcedureVersion

EDIT_ROLE = change_control.AUTHOR_ROLE

# A version's note: the words a person typed, or one the editor writes, ``(stored, message)``:
# the text as it has always been stored (``step + double_check``: logs, scripts, older
# readers) and the same as a stored message (``engine.i18n.keep``) that each reader reads in
# their language (增加步骤 复核 (double_check)).
Note = str | tuple[str, StoredMessage]


def named(title: str | None, ident: str) -> str:
    """A step, form or field in a note: its title as written, then its id in brackets (the
    step editor's way), so the note still names it once the title changes."""
    return f"{title} ({ident})" if title and title != ident else ident


def step_named(proc: Procedure | None, step_id: str) -> str:
    step = proc.steps.get(step_id) if proc is not None else None
    return named(step.title if step else None, step_id)


def form_named(proc: Procedure | None, form_id: str) -> str:
    """A form by its title as written (its id when the procedure does not use it)."""
    form = proc.forms.get(form_id) if proc is not None else None
    return form.title if form is not None and form.title else form_id


def field_named(proc: Procedure | None, form_id: str, name: str, title: str | None = None) -> str:
    form = proc.forms.get(form_id) if proc is not None else None
    return named(title or (form.field_title(name, "zh") if form is not None else None), name)


def proc_file(procedure_id: str) -> str:
    return f"procedures/{procedure_id}.yaml"


def form_file(form_id: str) -> str:
    return f"forms/{form_id}.yaml"


def may_edit(config: Config, groups: Iterable[str]) -> bool:
    """The one rule of who may change procedures: members of the groups holding the author
    role of the change-control procedure (config.yaml). An inactive user has no groups here
    (``Editor`` looks them up), so may not."""
    return bool(set(groups) & set(config.groups_for_role(change_control.PROCEDURE_ID, EDIT_ROLE)))


def require_editor(config: Config, groups: Iterable[str]) -> None:
    if not may_edit(config, groups):
        names = ", ".join(config.groups_for_role(change_control.PROCEDURE_ID, EDIT_ROLE))
        raise NotPermitted(_("only members of the editor group ({names}) may change procedures; "
                             "ask an administrator to add you (wf user groups)", names=names))


@dataclass
class Checked:
    """A draft checked as a whole: the procedure (None if invalid), the form texts it uses
    and every problem, each naming its file (``procedures/ID.yaml`` or ``forms/ID.yaml``)."""

    procedure: Procedure | None
    forms: dict[str, str]
    problems: list[Problem]


class Editor:
    """The editor's steps inside a session the caller opened, around one ``Workflow`` (its
    config, calendars and runtimes)."""

    def __init__(self, workflow: Workflow) -> None:
        self.wf = workflow
        self._library: dict[str, Form] | None = None

    # -- who may --------------------------------------------------------------------------

    def _groups(self, session: Session, username: str) -> set[str]:
        found = user_store.identity(session, username)
        return set(found[2]) if found and found[1] else set()

    def may_edit(self, session: Session, username: str) -> bool:
        return may_edit(self.wf.config, self._groups(session, username))

    def require_editor(self, session: Session, username: str) -> None:
        require_editor(self.wf.config, self._groups(session, username))

    # -- reading ----------------------------------------------------------------------------

    def catalogue(self, session: Session) -> list[dict[str, Any]]:
        """Every procedure: title, current (published) version, status of the newest
        version, and its owner (who saved the newest version; files have none). The title is
        the newest version's, in English on an English page where the published version gives
        one and the draft kept its title."""
        out = []
        for pid in versions.procedure_ids(session):
            newest = versions.working_copy(session, pid)
            current_id = latest_version_id(session, pid)
            current = get_version(session, current_id) if current_id else None
            out.append({
                "id": pid, "title": self._title(session, newest, current), "current": versions.label(current) if current else None,
                "newest": versions.label(newest), "status": versions.display_status(newest, current_id),
                "owner": newest.registered_by or (current.registered_by if current else None),
            })
        return out

    def _title(self, session: Session, newest: Any, current: Any) -> str:
        if reader_locale() != "en" or current is None or current.title != newest.title:
            return newest.title
        try:
            return titled(self.wf.runtime(session, current.id).procedure)
        except DefinitionInvalid:  # a stored version that no longer compiles: as written
            return newest.title

    def library_forms(self) -> dict[str, Form]:
        """The forms of the configured forms folder (for steps that pick a shared form)."""
        if self._library is None:  # read once: validation runs on every pause in typing
            forms_dir = self.wf.config.path("paths", "forms", default="forms")
            self._library = load_library([], extra_forms=[forms_dir]).forms
        return self._library

    # -- checking and saving -----------------------------------------------------------------

    def installed(self, session: Session) -> dict[str, Procedure]:
        """The published version of every installed procedure (what a spawn step opens), by
        id; a stored version that no longer compiles is left out."""
        out: dict[str, Procedure] = {}
        for pid, vid in latest_version_ids(session).items():
            try:
                out[pid] = self.wf.runtime(session, vid).procedure
            except DefinitionInvalid:
                continue
        return out

    def problems_now(self, session: Session, row: Any) -> list[Problem]:
        """``check`` of a stored version (``row``) against the procedures installed now: when
        it is sent for approval and again when the approval publishes it
        (``change_control.after_decision``)."""
        return self.check(row.procedure_id, row.source, row.forms or {}, self.installed(session)).problems

    def check(self, procedure_id: str, source: str, forms: Mapping[str, str],
              installed: Mapping[str, Procedure] | None = None) -> Checked:
        """Validate a draft: its own forms, then the procedure against them (and against the
        forms folder for forms the draft does not carry yet), then against the server's
        configuration as ``wf validate`` does (roles without groups, unknown calendars), and,
        given the ``installed`` procedures, its spawn steps against them and theirs against it
        (``spawn_problems``)."""
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
        if proc is not None:
            problems += check_config([proc], self.wf.config)
            problems += change_control.draft_problems(proc)
            if installed is not None:
                problems += spawn_problems(proc, installed)
        used: dict[str, str] = {}
        if proc is not None:
            for fid in proc.forms:
                used[fid] = forms[fid] if fid in forms else Path(library[fid].source_file).read_text(encoding="utf-8")
        return Checked(proc if not problems else None, used, sorted(set(problems)))

    def save(self, session: Session, procedure_id: str, source: str, forms: Mapping[str, str],
             username: str, note: Note = "") -> ProcedureVersion:
        """Save a valid draft as the next minor version; ``DefinitionInvalid`` lists every
        problem of an invalid one (nothing is saved then)."""
        self.require_editor(session, username)
        checked = self.check(procedure_id, source, forms, self.installed(session))
        if checked.problems:
            raise DefinitionInvalid(checked.problems)
        text, message = note if isinstance(note, tuple) else (note, None)
        row, _ = versions.save_draft(session, procedure_id, source, checked.forms,
                                     checked.procedure.title, user=username, note=text, note_message=message,
                                     definition_hash=checked.procedure.content_hash)
        return row

    def restore(self, session: Session, version_id: int, username: str) -> ProcedureVersion:
        """An old version's texts saved again as a new draft."""
        self.require_editor(session, username)
        old = get_version(session, version_id)
        row, _ = versions.save_draft(session, old.procedure_id, old.source, old.forms or {}, old.title,
                                     user=username, note=f"restored from {versions.label(old)}",
                                     note_message=keep("restored from v{version}", version=versions.label(old))[1])
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
            raise _no_reason()
        row = get_version(session, version_id)
        change_control.check_sender(self.wf.config, row.registered_by, username)
        # What it opens, or what opens it, may have changed since the draft was saved.
        problems = self.problems_now(session, row)
        if problems:
            raise DefinitionInvalid(problems)
        data = change_control.request_data(row, reason)
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
        if len(text) > ZIP_MAX_TOTAL:
            raise InputTooLarge(_("the bundle has {n} characters; at most {limit} are read "
                                  "(a procedure and its forms are a few KB)",
                                  n=format(len(text), ","), limit=format(ZIP_MAX_TOTAL, ",")))
        docs = split_bundle(text)
        if len(docs) > ZIP_MAX_ENTRIES:
            raise InputTooLarge(_("the bundle holds {n} documents; at most {limit}; "
                                  "import one procedure and its forms at a time", n=len(docs), limit=ZIP_MAX_ENTRIES))
        return self._import_docs(session, docs, username)

    def import_zip(self, session: Session, data: bytes, username: str) -> ProcedureVersion:
        """Save a zip (``procedures/ID.yaml`` and ``forms/*.yaml``, as ``bundle_zip`` writes
        it, or as ``wf procedures export`` lays files out) as a new draft."""
        self.require_editor(session, username)
        try:
            files = _read_zip(data)
        except (zipfile.BadZipFile, UnicodeDecodeError, NotImplementedError, OSError, EOFError) as exc:
            raise DefinitionInvalid([Problem("bundle.zip", 1, 1, _(
                "not a readable zip of UTF-8 YAML files ({error}); export one from a procedure's versions page",
                error=exc))]) from exc
        procs = [n for n in sorted(files) if n.startswith("procedures/") or "/procedures/" in n]
        if len(procs) != 1:
            raise DefinitionInvalid([Problem("bundle.zip", 1, 1, _(
                "the zip must hold exactly one procedures/ID.yaml, found {n}; put its forms under forms/",
                n=len(procs)))])
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
            raise DefinitionInvalid([Problem("bundle.yaml", 1, 1, _("the bundle is empty; export one from a procedure page"))])
        forms: dict[str, str] = {}
        for i, doc in enumerate(docs[1:], start=2):
            src = yamlsrc.load(doc, f"bundle.yaml (document {i})")
            if src.data is None and src.problems:  # not YAML, or beyond the bounds: say why
                raise DefinitionInvalid(src.problems)
            fid = src.data.get("id") if isinstance(src.data, dict) else None
            if not fid:
                raise DefinitionInvalid([Problem(f"bundle.yaml (document {i})", 1, 1,
                                                 _("every document after the first must be a form with an 'id'"))])
            forms[str(fid)] = doc
        head = yamlsrc.load(docs[0], "bundle.yaml (document 1)")
        if head.data is None and head.problems:
            raise DefinitionInvalid(head.problems)
        pid = head.data.get("id") if isinstance(head.data, dict) else None
        if not pid:
            raise DefinitionInvalid([Problem("bundle.yaml (document 1)", 1, 1,
                                             _("the first document must be the procedure, with an 'id'"))])
        return self.save(session, str(pid), docs[0], forms, username, note=written("imported", keep("imported")))

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


# Bounds on an uploaded bundle zip: a real one holds a procedure and a few forms of some
# KB each. Sizes are counted on the bytes actually inflated, not on what the zip's headers
# claim, so a 64 KiB zip of 64 MiB stops after the first MiB.
ZIP_MAX_ENTRIES = 200
ZIP_MAX_FILE = yamlsrc.MAX_CHARS  # bytes of one inflated file (UTF-8: at least that many characters)
ZIP_MAX_TOTAL = 8 * yamlsrc.MAX_CHARS


def _read_zip(data: bytes) -> dict[str, str]:
    """The YAML files of a bundle zip, read within the bounds (``InputTooLarge`` beyond)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        if len(infos) > ZIP_MAX_ENTRIES:
            raise InputTooLarge(_("the zip holds {n} entries; a bundle holds at most {limit} "
                                  "(one procedures/ID.yaml and its forms/*.yaml)", n=len(infos), limit=ZIP_MAX_ENTRIES))
        files, total = {}, 0
        for info in infos:
            if info.is_dir() or not info.filename.endswith((".yaml", ".yml")):
                continue
            with zf.open(info) as fh:
                raw = fh.read(ZIP_MAX_FILE + 1)
            total += len(raw)
            if len(raw) > ZIP_MAX_FILE or total > ZIP_MAX_TOTAL:
                raise InputTooLarge(_("'{name}' inflates beyond {mb} MB; a bundle of a procedure and its forms "
                                      "is a few KB", name=info.filename, mb=ZIP_MAX_FILE // 1_000_000)
                                    if len(raw) > ZIP_MAX_FILE else
                                    _("the zip inflates beyond {mb} MB in all; a bundle of a procedure and its forms "
                                      "is a few KB", mb=ZIP_MAX_TOTAL // 1_000_000))
            files[info.filename] = raw.decode("utf-8")
        return files


def _no_reason() -> FormInvalid:
    return FormInvalid(_("give the reason for the change; it is kept with the version"),
                       errors=[{"field": "reason", "message": _("required: why the procedure changes")}])


_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


def _outline(pid: str, proc: Procedure, *, spawns: bool = True) -> Outline:
    targets = tuple(s.procedure for s in proc.steps.values() if s.type == "spawn" and s.procedure) if spawns else ()
    return Outline(pid, proc.start_form, targets, proc_file(pid))


def _start_forms(procs: Mapping[str, Procedure], targets: Iterable[str]) -> dict[str, Form]:
    out: dict[str, Form] = {}
    for target in targets:
        proc = procs.get(target)
        if proc is not None and proc.start_form and proc.start_form in proc.forms:
            out.setdefault(proc.start_form, proc.forms[proc.start_form])
    return out


def spawn_problems(draft: Procedure, installed: Mapping[str, Procedure]) -> list[Problem]:
    """A draft's spawn steps against the procedures installed on the server (each opens the
    published version of its target), and the installed procedures that open the draft's
    procedure against its start form, as ``wf validate`` checks them across a folder: a
    mistyped target, a cycle, a field handed over that the start form lacks or a required one
    it does not get. A spawner's problem is said at its own file and line, and only when the
    draft brings it (one it already had is not the draft's)."""
    pid = draft.id
    others = {k: _outline(k, p) for k, p in installed.items() if k != pid}
    mine = [s.procedure for s in draft.steps.values() if s.type == "spawn" and s.procedure]
    problems = check_spawns({pid: draft}, others, _start_forms({**installed, pid: draft}, mine))
    before = installed.get(pid)
    for other, proc in sorted(installed.items()):
        steps = [s for s in proc.steps.values() if s.type == "spawn" and s.procedure == pid]
        if other == pid or not steps:
            continue
        # Cycles through the draft are the draft's own problem (above): the draft outlined
        # without its spawns, so that only its start form can make a difference here.
        rest = {k: o for k, o in others.items() if k != other}
        targets = [s.procedure or "" for s in proc.steps.values() if s.type == "spawn"]
        old = set() if before is None else {
            (p.line, p.col, p.message) for p in check_spawns(
                {other: proc}, {**rest, pid: _outline(pid, before, spawns=False)},
                _start_forms(installed, targets))}
        new = check_spawns({other: proc}, {**rest, pid: _outline(pid, draft, spawns=False)},
                           _start_forms({**installed, pid: draft}, targets))
        src = yamlsrc.load(proc.text, proc.file)
        for p in new:
            if (p.line, p.col, p.message) in old:
                continue
            above = [(src.where(("steps", s.id), key=True)[0], s.id) for s in steps]
            step = max((a for a in above if a[0] <= p.line), default=above[0])[1]
            problems.append(Problem(proc_file(other), p.line, p.col, _(
                "procedure '{other}' opens this one (step '{step}') and would be refused: {problem}; "
                "change this draft so that it accepts what '{other}' hands over, or change '{other}' first",
                other=other, step=step, problem=p.message)))
    return problems + trigger_problems(draft, installed)


def trigger_problems(draft: Procedure, installed: Mapping[str, Procedure]) -> list[Problem]:
    """A draft's triggers against the installed procedures they watch, and the installed
    procedures whose triggers watch the draft's procedure against it, as ``wf validate``
    checks them across a folder: a trigger whose watched field a new version renames or
    removes finds no date in the new records and never fires for them, without a word."""
    pid = draft.id
    problems = check_triggers(draft, {**installed, pid: draft})
    for other, proc in sorted(installed.items()):
        if other == pid or not any(isinstance(t, Trigger) and t.procedure == pid for t in proc.starts):
            continue
        old = {(p.line, p.col, p.message) for p in check_triggers(proc, installed)}
        for p in check_triggers(proc, {**installed, pid: draft}):
            if (p.line, p.col, p.message) not in old:
                problems.append(Problem(proc_file(other), p.line, p.col, _(
                    "procedure '{other}' starts from this one's records (starts: trigger) and would "
                    "no longer find what it reads: {problem}; keep the field in this draft, or change "
                    "'{other}' first", other=other, problem=p.message)))
    return problems


def split_bundle(text: str) -> list[str]:
    """The YAML documents of a bundle, comments kept (a leading ``---`` is allowed)."""
    docs = [d.lstrip("\n") for d in _SEPARATOR.split(text)]
    # Only empty documents (blank lines and comments) are left out: one that does not load
    # stays, so that importing it names its problem.
    return [d for d in docs if any(line.strip() and not line.lstrip().startswith("#")
                                   for line in d.splitlines())]


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


def sample_value(schema: Mapping[str, Any], again: int = 0) -> Any:
    """A plausible value for one field: the first option, a number inside the limits, ...
    ``again``: how often the step came round before; a loop back to the same step (a daily
    report until ``finished``) is left by taking the next option and the other yes/no."""
    typ = schema.get("type")
    typ = next((t for t in typ if t != "null"), None) if isinstance(typ, list) else typ
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][again % len(schema["enum"])]
    if typ in ("number", "integer"):
        lim = schema.get("x-limits") or {}
        low = lim.get("min", schema.get("minimum"))
        high = lim.get("max", schema.get("maximum"))
        value = (low + high) / 2 if low is not None and high is not None else (low if low is not None else (high if high is not None else 1))
        return int(value) if typ == "integer" else value
    if typ == "boolean":
        first = schema.get("default", True)
        return first if again % 2 == 0 else not first
    if schema.get("x-widget") in ("file", "signature"):
        return _sample_files(schema)
    if typ == "array":
        items = schema.get("items") or {}
        return [sample_value(items, again)] if items else []
    if typ == "object" or isinstance(schema.get("properties"), Mapping):
        required = set(schema.get("required") or [])
        # A file only where the form asks for one: Try it names files, it cannot attach them.
        return {k: sample_value(v, again) for k, v in (schema.get("properties") or {}).items()
                if isinstance(v, Mapping) and (v.get("x-widget") not in ("file", "signature")
                                               or k in required or _int(v.get("minItems")) > 0)}
    fmt = schema.get("format")
    if fmt == "date":
        return "2026-11-02"
    if fmt == "date-time":
        return "2026-11-02T09:00:00+08:00"
    if fmt == "time":
        return "09:00"
    if fmt == "email":
        return "tester@example.com"
    # As long as minLength asks (a 5-character problem description refused "示例", and the
    # sample stopped at the start form), no longer than maxLength.
    low = _int(schema.get("minLength"))
    text = ("示例" * (low // 2 + 1))[:low] if low > 2 else "示例"
    high = schema.get("maxLength")
    return text[:high] if _int(high) > 0 else text


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _sample_files(schema: Mapping[str, Any]) -> Any:
    """File names, as answers files give them (Try it and simulations attach nothing): one,
    or as many as ``minItems`` asks; a photo where the field takes only images."""
    accept = [str(a).lower() for a in schema.get("x-accept") or []]
    photo = schema.get("x-widget") == "signature" or (
        bool(accept) and all(a.startswith("image/") or a in (".jpg", ".jpeg", ".png") for a in accept))
    name = "示例.jpg" if photo else "示例.pdf"
    if schema.get("type") != "array":
        return name
    return [name if n == 0 else f"示例{n + 1}{name[2:]}" for n in range(max(1, _int(schema.get("minItems"))))]


def sample_answers(proc: Procedure, calendars: Mapping[str, Any] | None = None, *, limit: int = 60) -> dict[str, Any]:
    """Answers that walk ``proc`` from start to end: every task filled with sample values,
    every approval approved, in the order the engine opens them. A starting point for
    "Try it"; people then change values to take other branches."""
    from engine.runtime.commands import Actor, Approve, CompleteTask, Signature, Start, Tick
    from engine.runtime.machine import Runtime, iso, open_tasks, parse_time
    from engine.runtime.simulation import DEFAULT_START, STEP_GAP

    rt = Runtime(proc, calendars)
    start_form = proc.forms.get(proc.start_form) if proc.start_form else None
    start_data = sample_value(start_form.schema) if start_form else {}
    answers: dict[str, Any] = {"procedure": proc.id, "start": {"user": SAMPLE_USER, "data": start_data},
                               "steps": []}
    now = DEFAULT_START
    rounds: Counter[str] = Counter()
    try:
        state, _ = rt.apply(None, Start(actor=Actor(SAMPLE_USER, frozenset(proc.start_roles), SAMPLE_USER),
                                        data=start_data, instance_id="sample"), now)
        for n in range(limit):
            tasks = open_tasks(state)
            if state["status"] != "running" or not tasks:
                break
            task = next((t for t in tasks if t["kind"] != "wait"), tasks[0])
            if task["kind"] == "wait":  # woken by the clock: let time pass up to it, as the worker does
                now = max(now, parse_time(task["wake_at"])) + STEP_GAP
                state, _ = rt.apply(state, Tick(), now)
                answers["steps"].append({"advance_to": iso(now)})
                continue
            step = proc.steps[task["step"]]
            form = proc.forms.get(step.form) if step.form else None
            data = sample_value(form.schema, rounds[step.id]) if form else {}
            rounds[step.id] += 1
            # A multi-party approval's task is for its own role, or for a named approver. Each
            # other task is done by another tester: approvers of one 会签 decide once each, and
            # a step kept apart from another (separate_from) needs another person.
            user = task.get("assignee") or f"{SAMPLE_USER}{n + 2}"
            role = task["role"] or step.role
            actor = Actor(user, frozenset({role} if role else ()), user)
            sig = Signature(meaning=step.signature, user=user, name=user) if step.signature else None
            now += STEP_GAP
            if step.type == "approval":
                cmd: Any = Approve(task["id"], actor, "", data=data, signature=sig)
                entry = {"step": step.id, "user": user, "decision": "approve"}
                if step.approvers is not None and task["role"] and not task.get("assignee"):
                    entry["role"] = task["role"]
            else:
                cmd = CompleteTask(task["id"], actor, data=data, signature=sig)
                entry = {"step": step.id, "user": user}
            if data:
                entry["data"] = data
            state, _ = rt.apply(state, cmd, now)
            answers["steps"].append(entry)
    except Exception:  # noqa: BLE001 - a partial script is still a useful start; Try it shows the error
        pass
    return answers


# --------------------------------------------------------------------------- use cases

_editors: weakref.WeakKeyDictionary[Workflow, Editor] = weakref.WeakKeyDictionary()


def editor_of(workflow: Workflow) -> Editor:
    """The process's ``Editor`` of ``workflow``: it keeps the forms folder read once, since
    validation runs on every pause in typing."""
    found = _editors.get(workflow)
    if found is None:
        found = _editors[workflow] = Editor(workflow)
    return found


@dataclass(frozen=True)
class Version:
    """One stored version as pages show it."""

    id: int
    procedure_id: str
    title: str
    label: str  # "2.1"
    status: str  # draft, in_review, published, or retired (published, no longer current)
    by: str | None  # who saved it (None: loaded from files)
    at: datetime
    note: str | None
    reason: str | None  # the change reason sent with it to change control
    change_instance: str | None
    current: bool  # the published version new instances start on
    source: str = field(repr=False)
    forms: dict[str, str] = field(repr=False)
    note_message: StoredMessage | None = None  # the note the editor wrote, for each reader
    by_name: str | None = None  # the full name of who saved it (``by`` where none was read)

    @property
    def note_shown(self) -> str:
        """The note in the reader's language (``note`` as stored where no message was kept:
        a person's words, a row saved before the messages)."""
        return shown(self.note, self.note_message)


def version_of(row: ProcedureVersion, current_id: int | None,
               names: Mapping[str, str] | None = None) -> Version:
    """A stored version as pages show it; ``names`` (``users.full_names``) gives who saved it
    by full name."""
    by = row.registered_by
    return Version(row.id, row.procedure_id, row.title, versions.label(row),
                   versions.display_status(row, current_id), by, row.registered_at,
                   row.note, row.change_reason, row.change_instance, row.id == current_id,
                   row.source, dict(row.forms or {}), note_message=row.note_message,
                   by_name=(names or {}).get(by, by) if by else None)


def stored_version(session: Session, procedure_id: str, version_id: int | None) -> ProcedureVersion:
    """A version of ``procedure_id`` (the working copy when ``version_id`` is None);
    ``NotFound`` for a version of another procedure."""
    if version_id is None:
        row = versions.working_copy(session, procedure_id)
        if row is None:
            raise NotFound(_("there is no procedure '{id}'; pick one from the catalogue", id=procedure_id))
        return row
    if not 0 < version_id < 2**31:  # a typed id beyond the column's range is no version
        raise NotFound(_("there is no version {version} of '{id}'; pick one from its versions page",
                         version=version_id, id=procedure_id))
    row = get_version(session, version_id)
    if row.procedure_id != procedure_id:
        raise NotFound(_("version {version} is not a version of '{id}'; pick one from its versions page",
                         version=version_id, id=procedure_id))
    return row


@dataclass(frozen=True)
class DraftFile:
    """One file of the working copy, opened for editing."""

    version: Version
    procedure: Procedure
    file: str  # "procedure" or a form id
    filename: str  # procedures/ID.yaml or forms/ID.yaml, as problems name it
    text: str
    files: list[str]  # "procedure", then the form ids the working copy carries
    names: dict[str, list[str]]  # steps, roles, forms and fields, for the editor's suggestions


def _file_name(procedure_id: str, file: str) -> str:
    return proc_file(procedure_id) if file == "procedure" else form_file(file)


def _text_of(row: ProcedureVersion, file: str) -> str:
    if file == "procedure":
        return row.source
    if file not in (row.forms or {}):
        raise NotFound(_("the working copy of '{id}' has no form '{form}'; pick one of its forms in the editor",
                         id=row.procedure_id, form=file))
    return row.forms[file]


def _with_file(row: ProcedureVersion, file: str, text: str) -> tuple[str, dict[str, str]]:
    """The working copy's texts with ``file`` replaced by ``text``."""
    forms = dict(row.forms or {})
    if file == "procedure":
        return text, forms
    forms[file] = text
    return row.source, forms


def _names(editor: Editor, proc: Procedure, forms: Mapping[str, str]) -> dict[str, list[str]]:
    fields: set[str] = set()
    for sid in proc.steps:
        form = proc.form_of(sid)
        if form:
            fields |= {f"{sid}.{f}" for f in form.fields} | set(form.fields)
    return {"steps": sorted(proc.steps), "roles": sorted(proc.roles),
            "forms": sorted(set(editor.library_forms()) | set(forms)), "fields": sorted(fields)}


def draft_file(services: Services, username: str, procedure_id: str, file: str = "procedure") -> DraftFile:
    """A file of the working copy (the newest version) for the text editor, the form builder
    or the step editor; editors only."""
    editor = editor_of(services.workflow)
    with services.database.reading() as session:
        editor.require_editor(session, username)
        row = stored_version(session, procedure_id, None)
        text = _text_of(row, file)
        proc = services.workflow.runtime(session, row.id).procedure
        version = version_of(row, latest_version_id(session, procedure_id))
    return DraftFile(version, proc, file, _file_name(procedure_id, file), text,
                     ["procedure", *sorted(version.forms)], _names(editor, proc, version.forms))


@dataclass(frozen=True)
class FileCheck:
    problems: list[Problem]  # those of the file checked, at their lines
    other: list[str]  # those of other files (a form change can break the procedure using it)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.other


def check_file(services: Services, username: str, procedure_id: str, file: str, text: str) -> FileCheck:
    """Problems of the working copy with ``file`` replaced by ``text`` (nothing is saved)."""
    editor = editor_of(services.workflow)
    with services.database.reading() as session:
        editor.require_editor(session, username)
        row = stored_version(session, procedure_id, None)
        source, forms = _with_file(row, file, text)
        installed = editor.installed(session)
    checked = editor.check(procedure_id, source, forms, installed)
    filename = _file_name(procedure_id, file)
    return FileCheck([p for p in checked.problems if p.file == filename],
                     [str(p) for p in checked.problems if p.file != filename])


Change = Callable[[str, dict[str, str]], tuple[str, dict[str, str]]]


def edit(services: Services, username: str, procedure_id: str, change: Change,
         note: Note | Callable[[Procedure | None], Note] = "") -> str:
    """Apply ``change(source, forms) -> (source, forms)`` to the working copy and save the
    result as a draft; the draft's label. ``DefinitionInvalid`` (every problem) or
    ``yaml_edit.EditError`` when the change cannot be made; nothing is saved then. ``note``
    may be made, once the change is made, from the working copy's procedure as it was before
    (to name a step by its title; None where that does not compile)."""
    editor = editor_of(services.workflow)
    with services.database.writing() as session:
        editor.require_editor(session, username)
        row = stored_version(session, procedure_id, None)
        source, forms = change(row.source, dict(row.forms or {}))
        if callable(note):
            try:
                before: Procedure | None = services.workflow.runtime(session, row.id).procedure
            except DefinitionInvalid:
                before = None
            note = note(before)
        return versions.label(editor.save(session, procedure_id, source, forms, username, note=note))


def save_file(services: Services, username: str, procedure_id: str, file: str, text: str,
              note: Note = "") -> str:
    """Save the working copy with ``file`` replaced by ``text`` as a draft (text editor)."""
    def change(source: str, forms: dict[str, str]) -> tuple[str, dict[str, str]]:
        if file == "procedure":
            return text, forms
        if file not in forms:
            raise NotFound(_("the working copy of '{id}' has no form '{form}'; pick one of its forms in the editor",
                             id=procedure_id, form=file))
        return source, {**forms, file: text}

    return edit(services, username, procedure_id, change, note)


def add_form_field(services: Services, username: str, procedure_id: str, form_id: str, name: str, *,
                   required: bool = False, after: str | None = None, **spec: Any) -> str:
    """Form builder: a new field (``yaml_edit.add_field``); the draft's label."""
    def change(source: str, forms: dict[str, str]) -> tuple[str, dict[str, str]]:
        forms[form_id] = yaml_edit.add_field(forms[form_id], name, required=required, after=after, **spec)
        return source, forms

    return edit(services, username, procedure_id, change, lambda proc: written(
        f"form {form_id}: + {name}", keep("field {field} added to form {form}",
                                          field=field_named(proc, form_id, name, spec.get("title")),
                                          form=form_named(proc, form_id))))


FIELD_ACTIONS = ("up", "down", "remove", "update", "move")  # move: engine.app.form_builder


def _field_action_note(proc: Procedure | None, form_id: str, name: str, action: str) -> tuple[str, StoredMessage]:
    field, form = field_named(proc, form_id, name), form_named(proc, form_id)
    if action == "up":
        kept = keep("field {field} of form {form} moved up", field=field, form=form)
    elif action == "down":
        kept = keep("field {field} of form {form} moved down", field=field, form=form)
    elif action == "remove":
        kept = keep("field {field} removed from form {form}", field=field, form=form)
    elif action == "move":
        kept = keep("field {field} of form {form} moved", field=field, form=form)
    else:
        kept = keep("field {field} of form {form} changed", field=field, form=form)
    return written(f"form {form_id}: {action} {name}", kept)


def change_form_field(services: Services, username: str, procedure_id: str, form_id: str, name: str,
                      action: str, **changes: Any) -> str:
    """Form builder: move a field up or down, remove it, or update it with ``changes``."""
    if action not in FIELD_ACTIONS:
        raise NotFound(_("no field action '{action}'; use one of {actions}", action=action,
                         actions=", ".join(FIELD_ACTIONS)))

    def change(source: str, forms: dict[str, str]) -> tuple[str, dict[str, str]]:
        if action == "update":
            forms[form_id] = yaml_edit.update_field(forms[form_id], name, **changes)
        elif action == "remove":
            forms[form_id] = yaml_edit.remove_field(forms[form_id], name)
        else:
            forms[form_id] = yaml_edit.move_field(forms[form_id], name, -1 if action == "up" else 1)
        return source, forms

    return edit(services, username, procedure_id, change,
                lambda proc: _field_action_note(proc, form_id, name, action))


def add_step(services: Services, username: str, procedure_id: str, step_id: str, **spec: Any) -> str:
    """Step editor: a new step (``yaml_edit.add_step``); the draft's label."""
    return edit(services, username, procedure_id,
                lambda source, forms: (yaml_edit.add_step(source, step_id, **spec), forms),
                written(f"step + {step_id}", keep("step {step} added", step=named(spec.get("title"), step_id))))


def set_next(services: Services, username: str, procedure_id: str, step_id: str, next_: Any) -> str:
    """Step editor: where an existing step goes (one step, or conditions with an else)."""
    return edit(services, username, procedure_id,
                lambda source, forms: (yaml_edit.set_next(source, step_id, next_), forms),
                lambda proc: written(f"step {step_id}: next",
                                     keep("where step {step} goes changed", step=step_named(proc, step_id))))


def update_step(services: Services, username: str, procedure_id: str, step_id: str, **props: Any) -> str:
    """Step editor: an existing step's title, role, form, signature, deadline, reminder or
    single escalation changed (``yaml_edit.update_step``); the draft is checked as always."""
    return edit(services, username, procedure_id,
                lambda source, forms: (yaml_edit.update_step(source, step_id, **props), forms),
                lambda proc: _step_changed(proc, step_id))


def change_step(services: Services, username: str, procedure_id: str, step_id: str,
                changes: Mapping[str, Any]) -> str:
    """Step editor: any properties of an existing step set (``yaml_edit.set_step``: an empty
    value removes one, the rest of the file stays as written); the draft is checked as always
    and saved; its label."""
    return edit(services, username, procedure_id,
                lambda source, forms: (yaml_edit.set_step(source, step_id, changes), forms),
                lambda proc: _step_changed(proc, step_id))


def _step_changed(proc: Procedure | None, step_id: str) -> tuple[str, StoredMessage]:
    return written(f"step {step_id}", keep("step {step} changed", step=step_named(proc, step_id)))


@dataclass(frozen=True)
class StepPreview:
    """A step change tried without saving: the procedure text it gives and its problems."""

    text: str
    check: FileCheck


def preview_step(services: Services, username: str, procedure_id: str, step_id: str,
                 changes: Mapping[str, Any]) -> StepPreview:
    """The validator's view of a step change before it is saved (nothing is written)."""
    editor = editor_of(services.workflow)
    with services.database.reading() as session:
        editor.require_editor(session, username)
        row = stored_version(session, procedure_id, None)
        source, forms = row.source, dict(row.forms or {})
        installed = editor.installed(session)
    text = yaml_edit.set_step(source, step_id, changes)
    checked = editor.check(procedure_id, text, forms, installed)
    filename = proc_file(procedure_id)
    return StepPreview(text, FileCheck([p for p in checked.problems if p.file == filename],
                                       [str(p) for p in checked.problems if p.file != filename]))


def rename_step(services: Services, username: str, procedure_id: str, step_id: str, new_id: str) -> str:
    """Step editor: a step's id changed, with every reference to it (``yaml_edit.rename_step``)."""
    return edit(services, username, procedure_id,
                lambda source, forms: (yaml_edit.rename_step(source, step_id, new_id.strip()), forms),
                lambda proc: written(f"step {step_id} → {new_id.strip()}",
                                     keep("step {step} renamed to {new}", step=step_named(proc, step_id),
                                          new=new_id.strip())))


def delete_step(services: Services, username: str, procedure_id: str, step_id: str) -> str:
    """Step editor: a step removed, the steps before it led on (``yaml_edit.delete_step``)."""
    return edit(services, username, procedure_id,
                lambda source, forms: (yaml_edit.delete_step(source, step_id), forms),
                lambda proc: written(f"step - {step_id}", keep("step {step} removed", step=step_named(proc, step_id))))


@dataclass(frozen=True)
class Tried:
    version: Version
    procedure: Procedure
    answers: str  # the answers run (or the sample to start from)
    result: dict[str, Any] | None  # path, status, outcome, tasks and events of the run
    error: str | None  # why the answers could not be run


def try_version(services: Services, procedure_id: str, version_id: int | None = None,
                answers: str | None = None) -> Tried:
    """Try it: run a version in memory with answers written as YAML (nothing is written);
    without answers, sample answers that walk the procedure from start to end."""
    editor = editor_of(services.workflow)
    with services.database.reading() as session:
        row = stored_version(session, procedure_id, version_id)
        proc = services.workflow.runtime(session, row.id).procedure
        version = version_of(row, latest_version_id(session, procedure_id))
        if answers is None:
            text = yaml.safe_dump(sample_answers(proc, services.workflow.calendars), allow_unicode=True,
                                  sort_keys=False, width=120)
            return Tried(version, proc, text, None, None)
        try:
            script = yamlsrc.safe_load_bounded(answers, "answers") or {}
            if not isinstance(script, dict):
                raise WorkflowError(_("the answers must be a mapping with start and steps (see the example)"))
            _proc, sim = editor.try_version(session, row.id, script)
        except yaml.YAMLError as exc:
            return Tried(version, proc, answers, None, f"answers: {exc}")
        except ValueError as exc:  # beyond the bounds of typed YAML
            return Tried(version, proc, answers, None, str(exc))
        except WorkflowError as exc:
            return Tried(version, proc, answers, None, exc.message)
    return Tried(version, proc, answers, simulation_view(proc, sim), None)


def simulation_view(proc: Procedure, sim: Simulation) -> dict[str, Any]:
    """What a run shows: the path with step titles, the tasks as they ended, the events."""
    state = sim.state or {}
    tasks = [{"step": t["step"], "title": proc.steps[t["step"]].title, "kind": t["kind"],
              "role": proc.roles.get(t.get("role") or "", t.get("role")), "status": t["status"],
              "due_at": t.get("due_at"), "missed": t.get("missed"),
              "escalated": ", ".join(proc.roles.get(r, r) for r in t.get("escalated_to") or [])}
             for t in state.get("tasks", {}).values()]
    events = [{"at": e["at"], "type": e["type"], "step": e["step"], "actor": e["actor"]} for e in sim.events]
    return {"path": sim.path, "path_titles": [proc.steps[p].title for p in sim.path if p in proc.steps],
            "status": state.get("status"), "outcome": sim.outcome, "tasks": tasks, "events": events}


def restore(services: Services, username: str, procedure_id: str, version_id: int) -> str:
    """An old version's texts saved again as a new draft; the draft's label."""
    editor = editor_of(services.workflow)
    with services.database.writing() as session:
        stored_version(session, procedure_id, version_id)
        return versions.label(editor.restore(session, version_id, username))


def submit(services: Services, username: str, procedure_id: str, reason: str) -> tuple[str, str]:
    """Send the working copy, a draft, to change control with the reason for the change;
    ``(change-control instance id, draft label)``. ``FormInvalid`` on the field ``reason``
    without a reason."""
    editor = editor_of(services.workflow)
    with services.database.writing() as session:
        editor.require_editor(session, username)
        if not (reason or "").strip():
            raise _no_reason()
        row = stored_version(session, procedure_id, None)
        if row.status != versions.DRAFT:
            raise NotPermitted(_("Only a draft can be sent for approval; this version is {status}.",
                                 status=row.status))
        state = editor.submit(session, row.id, username, reason)
        return state["id"], versions.label(row)
