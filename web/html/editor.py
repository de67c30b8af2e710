"""The procedure editor: catalogue, procedure page with its step graph, text editor with live
validation, visual form builder and step editor, Try it, versions with diff and restore,
submission for change control, bundles.

Everyone signed in may read; only the editor group (``change_author`` of the change-control
procedure in config.yaml) may change anything, which ``engine.app.editor.Editor`` checks again.
Every change is saved as a new draft (a minor version); nothing here touches a published
version or a running instance.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import yaml
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from engine.app import change_control
from engine.app.editor import Editor, form_file, proc_file, sample_answers, side_by_side
from engine.errors import DefinitionInvalid, NotPermitted, WorkflowError
from engine.language.yaml_edit import (
    FIELD_TYPES,
    EditError,
    add_field,
    add_step,
    move_field,
    remove_field,
    set_next,
    update_field,
)
from engine.store import get_version, latest_version_id, versions
from web import forms_render as fr
from web import graph_svg
from web.db import reading, transaction, workflow
from web.html.auth import current_user, login_required
from web.i18n import _

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.language.procedure import Procedure
    from engine.store.tables import ProcedureVersion

bp = Blueprint("editor", __name__, url_prefix="/editor")


def editor() -> Editor:
    return current_app.extensions["editor"]


def init_app(app) -> None:
    app.extensions["editor"] = Editor(app.extensions["workflow"])
    app.jinja_env.globals["is_editor"] = is_editor
    app.jinja_env.globals["change_link"] = change_link


def change_link(inst: dict) -> str | None:
    """For a change-control instance: the side-by-side difference its reviewers judge
    (the draft against the version that was current when it was sent, or the one before)."""
    if inst.get("procedure") != change_control.PROCEDURE_ID:
        return None
    start = (inst.get("data") or {}).get("start") or {}
    vid, pid = start.get("version_id"), start.get("procedure")
    if not vid or not pid:
        return None
    with reading() as s:
        current = latest_version_id(s, pid)
        if current == vid:  # already published: compare with the version it replaced
            older = [v.id for v in versions_of_desc(s, pid) if v.status == versions.PUBLISHED and v.id < vid]
            current = older[0] if older else None
    if current is None:
        return url_for("editor.procedure", pid=pid, v=vid)
    return url_for("editor.diff", pid=pid, a=current, b=vid)


def is_editor() -> bool:
    """For the header: is the signed-in user in the editor group?"""
    user = current_user()
    if user is None:
        return False
    cfg = current_app.config["WF"]
    return bool(set(user.groups) & set(cfg.groups_for_role(change_control.PROCEDURE_ID, change_control.AUTHOR_ROLE)))


def _require_editor() -> None:
    if not is_editor():
        with reading() as s:
            editor().require_editor(s, current_user().username)  # raises with the group's name


_COLUMNS = ("id", "procedure_id", "source", "forms", "title", "status", "major", "minor", "registered_by",
            "registered_at", "note", "change_reason", "change_instance")


def _snapshot(row: ProcedureVersion) -> SimpleNamespace:
    """The row's values, usable after the read session has closed (which expires rows)."""
    return SimpleNamespace(**{c: getattr(row, c) for c in _COLUMNS})


def _working(s: Session, pid: str) -> Any:
    row = versions.working_copy(s, pid)
    if row is None:
        abort(404)
    return _snapshot(row)


def _version(s: Session, pid: str, vid: int | None) -> Any:
    if vid is None:
        return _working(s, pid)
    row = get_version(s, vid)
    if row.procedure_id != pid:
        abort(404)
    return _snapshot(row)


def _names(proc: Procedure | None, row: ProcedureVersion) -> dict[str, list[str]]:
    """Step, role, form and field names for the editor's suggestions."""
    lib = editor().library_forms()
    fields: set[str] = set()
    if proc is not None:
        for sid in proc.steps:
            form = proc.form_of(sid)
            if form:
                fields |= {f"{sid}.{f}" for f in form.fields} | set(form.fields)
    return {"steps": sorted(proc.steps) if proc else [], "roles": sorted(proc.roles) if proc else [],
            "forms": sorted(set(lib) | set(row.forms or {})), "fields": sorted(fields)}


def _procedure(s: Session, row: ProcedureVersion) -> Procedure:
    return workflow().runtime(s, row.id).procedure


# --------------------------------------------------------------------------- catalogue


@bp.get("")
@login_required
def catalogue():
    with reading() as s:
        items = editor().catalogue(s)
    return render_template("editor/catalogue.html", items=items)


@bp.post("/import")
@login_required
def import_bundle():
    _require_editor()
    upload = request.files.get("bundle")
    data = upload.read() if upload and upload.filename else request.form.get("text", "").encode("utf-8")
    try:
        with transaction() as s:
            if data.startswith(b"PK"):  # a zip archive
                row = editor().import_zip(s, data, current_user().username)
            else:
                row = editor().import_bundle(s, data.decode("utf-8", errors="replace"), current_user().username)
            pid, label = row.procedure_id, versions.label(row)
    except DefinitionInvalid as exc:
        for p in exc.problems:
            flash(str(p), "error")
        return redirect(url_for("editor.catalogue"))
    flash(_("Imported as draft {version}.", version=label), "ok")
    return redirect(url_for("editor.procedure", pid=pid))


# --------------------------------------------------------------------------- procedure page


@bp.get("/<pid>")
@login_required
def procedure(pid: str):
    vid = request.args.get("v", type=int)
    with reading() as s:
        row = _version(s, pid, vid)
        proc = _procedure(s, row)
        current = latest_version_id(s, pid)
        info = _version_info(row, current)
    cfg = current_app.config["WF"]
    roles = [{"id": r, "title": t, "groups": cfg.groups_for_role(pid, r)} for r, t in proc.roles.items()]
    steps = [_step_info(proc, st) for st in proc.steps.values()]
    forms = [{"id": fid, "title": f.title, "description": f.description, "fields": fr.field_tree(f.schema, {})}
             for fid, f in proc.forms.items()]
    return render_template("editor/procedure.html", proc=proc, row=info, roles=roles, steps=steps, forms=forms,
                           svg=Markup(graph_svg.render(proc)), may_edit=is_editor())


def _version_info(row: ProcedureVersion, current_id: int | None) -> dict[str, Any]:
    return {"id": row.id, "label": versions.label(row), "status": versions.display_status(row, current_id),
            "by": row.registered_by, "at": row.registered_at, "note": row.note, "reason": row.change_reason,
            "change_instance": row.change_instance, "title": row.title, "current": row.id == current_id}


def _step_info(proc: Procedure, st) -> dict[str, Any]:
    dl = st.deadline
    deadline = ""
    escalations = []
    if dl is not None:
        deadline = str(dl.within) if dl.within else (dl.within_expr.source if dl.within_expr else
                                                      dl.due_expr.source if dl.due_expr else
                                                      ", ".join(f"{c.source if c else 'else'}: {d}" for c, d in dl.within_cases))
        escalations = [f"+{e.after} → {proc.roles.get(e.to, e.to)}" for e in dl.escalate]
    nxt = [(t.condition.source if t.condition else "", t.target) for t in st.next]
    return {"id": st.id, "title": st.title, "type": st.type, "role": proc.roles.get(st.role, st.role) if st.role else "",
            "form": st.form or "", "signature": st.signature or "", "deadline": deadline,
            "remind": str(dl.remind_before) if dl and dl.remind_before else "", "escalations": escalations,
            "next": nxt, "on_reject": st.on_reject or ""}


# --------------------------------------------------------------------------- text editor


def _texts(row: ProcedureVersion, file: str) -> str:
    if file == "procedure":
        return row.source
    if file not in (row.forms or {}):
        abort(404)
    return row.forms[file]


def _draft_with(row: ProcedureVersion, file: str, text: str) -> tuple[str, dict[str, str]]:
    forms = dict(row.forms or {})
    if file == "procedure":
        return text, forms
    forms[file] = text
    return row.source, forms


@bp.route("/<pid>/text", methods=["GET", "POST"])
@login_required
def text_editor(pid: str):
    _require_editor()
    file = request.values.get("file", "procedure")
    problems: list = []
    status = 200
    with reading() as s:
        row = _working(s, pid)
        text = _texts(row, file)
        names = _names(_procedure(s, row), row)
    if request.method == "POST":
        text = request.form.get("text", "").replace("\r\n", "\n")
        source, forms = _draft_with(row, file, text)
        try:
            with transaction() as s:
                saved = editor().save(s, pid, source, forms, current_user().username, note=request.form.get("note", ""))
                label = versions.label(saved)
            flash(_("Saved as draft {version}.", version=label), "ok")
            return redirect(url_for("editor.text_editor", pid=pid, file=file))
        except DefinitionInvalid as exc:
            problems, status = exc.problems, 422
    filename = proc_file(pid) if file == "procedure" else form_file(file)
    return render_template("editor/text.html", pid=pid, file=file, filename=filename, text=text, row=row,
                           problems=[_problem(p) for p in problems], names=names,
                           files=["procedure", *sorted(row.forms or {})]), status


def _problem(p) -> dict[str, Any]:
    return {"file": p.file, "line": p.line, "col": p.col, "message": p.message}


@bp.post("/<pid>/validate")
@login_required
def validate(pid: str):
    """Problems of the draft with one file replaced by ``text``: those of that file at their
    lines, the others as text (a form change can break the procedure that uses it)."""
    _require_editor()
    body = request.get_json(silent=True) or {}
    file = str(body.get("file") or "procedure")
    with reading() as s:
        row = _working(s, pid)
    source, forms = _draft_with(row, file, str(body.get("text") or ""))
    checked = editor().check(pid, source, forms)
    filename = proc_file(pid) if file == "procedure" else form_file(file)
    here = [_problem(p) for p in checked.problems if p.file == filename]
    other = [str(p) for p in checked.problems if p.file != filename]
    return jsonify(problems=here, other=other, ok=not checked.problems)


# --------------------------------------------------------------------------- visual editors


def _apply(pid: str, change, note: str) -> str | None:
    """Apply ``change(source, forms) -> (source, forms)`` to the working copy and save it as
    a draft; the new version's label, or None after flashing what went wrong."""
    try:
        with transaction() as s:
            row = _working(s, pid)
            source, forms = change(row.source, dict(row.forms or {}))
            saved = editor().save(s, pid, source, forms, current_user().username, note=note)
            return versions.label(saved)
    except DefinitionInvalid as exc:
        for p in exc.problems:
            flash(str(p), "error")
    except EditError as exc:
        flash(exc.message, "error")
    return None


def _number(name: str) -> float | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise EditError(f"'{raw}' in {name} is not a number; write e.g. 12.5") from None
    return int(value) if value.is_integer() else value


def _columns(raw: str) -> list[dict[str, Any]]:
    """Table columns written one per line as ``name:type:label``."""
    out = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(":")]
        if len(parts) < 2:
            raise EditError(f"column line {n} '{line}': write name:type:label, e.g. qty:integer:数量")
        out.append({"name": parts[0], "type": parts[1], "title": parts[2] if len(parts) > 2 else parts[0]})
    return out


@bp.get("/<pid>/forms/<fid>")
@login_required
def form_builder(pid: str, fid: str):
    _require_editor()
    with reading() as s:
        row = _working(s, pid)
        proc = _procedure(s, row)
    text = _texts(row, fid)
    form = proc.forms.get(fid)
    fields = []
    if form is not None:
        req = set(form.schema.get("required") or [])
        for name, sub in (form.schema.get("properties") or {}).items():
            lim = sub.get("x-limits") or {}
            fields.append({"name": name, "title": sub.get("title", name), "type": fr.widget_of(sub),
                           "required": name in req, "unit": sub.get("x-unit", ""),
                           "limits": (lim.get("min"), lim.get("max")) if lim else None,
                           "options": sub.get("enum") or [], "visible_if": sub.get("x-visible-if", "")})
    preview = fr.field_tree(form.schema, {}) if form else []
    return render_template("editor/form_builder.html", pid=pid, fid=fid, form=form, fields=fields, text=text,
                           preview=preview, types=FIELD_TYPES, row=row)


@bp.post("/<pid>/forms/<fid>/fields")
@login_required
def form_add_field(pid: str, fid: str):
    _require_editor()
    f = request.form
    try:
        spec = {"type": f.get("type", "string"), "title": f.get("title", "").strip() or f.get("name", ""),
                "options": [o.strip() for o in f.get("options", "").replace("，", ",").split(",") if o.strip()],
                "unit": f.get("unit", "").strip() or None, "minimum": _number("min"), "maximum": _number("max"),
                "visible_if": f.get("visible_if", "").strip() or None, "columns": _columns(f.get("columns", ""))}
    except EditError as exc:
        flash(exc.message, "error")
        return redirect(url_for("editor.form_builder", pid=pid, fid=fid))
    name = f.get("name", "").strip()

    def change(source: str, forms: dict[str, str]):
        forms[fid] = add_field(forms[fid], name, required=bool(f.get("required")), after=f.get("after") or None, **spec)
        return source, forms

    label = _apply(pid, change, f"form {fid}: + {name}")
    if label:
        flash(_("Field {name} added; saved as draft {version}.", name=name, version=label), "ok")
    return redirect(url_for("editor.form_builder", pid=pid, fid=fid))


@bp.post("/<pid>/forms/<fid>/fields/<name>/<action>")
@login_required
def form_field_action(pid: str, fid: str, name: str, action: str):
    _require_editor()
    if action not in ("up", "down", "remove", "update"):
        abort(404)
    f = request.form
    if action == "update":
        try:
            changes = {"title": f.get("title", ""), "required": bool(f.get("required")),
                       "unit": f.get("unit", "").strip() or None, "minimum": _number("min"),
                       "maximum": _number("max"), "visible_if": f.get("visible_if", "").strip() or None}
            if "options" in f:
                changes["options"] = [o.strip() for o in f["options"].replace("，", ",").split(",") if o.strip()]
        except EditError as exc:
            flash(exc.message, "error")
            return redirect(url_for("editor.form_builder", pid=pid, fid=fid))

    def change(source: str, forms: dict[str, str]):
        if action == "update":
            forms[fid] = update_field(forms[fid], name, **changes)
        elif action == "remove":
            forms[fid] = remove_field(forms[fid], name)
        else:
            forms[fid] = move_field(forms[fid], name, -1 if action == "up" else 1)
        return source, forms

    label = _apply(pid, change, f"form {fid}: {action} {name}")
    if label:
        flash(_("Saved as draft {version}.", version=label), "ok")
    return redirect(url_for("editor.form_builder", pid=pid, fid=fid))


@bp.route("/<pid>/steps", methods=["GET", "POST"])
@login_required
def step_editor(pid: str):
    _require_editor()
    if request.method == "POST":
        f = request.form
        sid = f.get("id", "").strip()
        if f.get("condition", "").strip():
            nxt: Any = [{"if": f["condition"].strip(), "goto": f.get("next", "")}, {"else": f.get("else", "")}]
        else:
            nxt = f.get("next") or None

        def change(source: str, forms: dict[str, str]):
            return add_step(source, sid, title=f.get("title", "").strip() or sid, role=f.get("role", ""),
                            form=f.get("form") or None, type=f.get("type", "task"),
                            within=f.get("within", "").strip() or None, escalate=f.get("escalate") or None,
                            signature=f.get("signature", "").strip() or None, next=nxt,
                            after=f.get("after") or None), forms

        label = _apply(pid, change, f"step + {sid}")
        if label:
            flash(_("Step {step} added; saved as draft {version}.", step=sid, version=label), "ok")
        return redirect(url_for("editor.step_editor", pid=pid))
    with reading() as s:
        row = _working(s, pid)
        proc = _procedure(s, row)
    steps = [_step_info(proc, st) for st in proc.steps.values()]
    return render_template("editor/steps.html", pid=pid, proc=proc, steps=steps, row=row,
                           forms=_names(proc, row)["forms"], svg=Markup(graph_svg.render(proc)))


# --------------------------------------------------------------------------- try it


@bp.route("/<pid>/try", methods=["GET", "POST"])
@login_required
def try_it(pid: str):
    vid = request.values.get("v", type=int)
    result = error = None
    with reading() as s:
        row = _version(s, pid, vid)
        proc = _procedure(s, row)
        info = _version_info(row, latest_version_id(s, pid))
        text = request.form.get("answers") if request.method == "POST" else None
        if text is None:
            text = yaml.safe_dump(sample_answers(proc, workflow().calendars), allow_unicode=True,
                                  sort_keys=False, width=120)
        else:
            try:
                answers = yaml.safe_load(text) or {}
                if not isinstance(answers, dict):
                    raise WorkflowError("the answers must be a mapping with start and steps (see the example)")
                _p, sim = editor().try_version(s, row.id, answers)
                result = _sim_view(proc, sim)
            except yaml.YAMLError as exc:
                error = f"answers: {exc}"
            except WorkflowError as exc:
                error = exc.message
    svg = Markup(graph_svg.render(proc, highlight=frozenset(result["path"]) if result else frozenset()))
    return render_template("editor/try.html", pid=pid, proc=proc, row=info, answers=text, result=result,
                           error=error, svg=svg), (422 if error else 200)


def _sim_view(proc: Procedure, sim) -> dict[str, Any]:
    state = sim.state or {}
    tasks = [{"step": t["step"], "title": proc.steps[t["step"]].title, "kind": t["kind"],
              "role": proc.roles.get(t.get("role") or "", t.get("role")), "status": t["status"],
              "due_at": t.get("due_at"), "missed": t.get("missed"),
              "escalated": ", ".join(proc.roles.get(r, r) for r in t.get("escalated_to") or [])}
             for t in state.get("tasks", {}).values()]
    events = [{"at": e["at"], "type": e["type"], "step": e["step"], "actor": e["actor"]} for e in sim.events]
    return {"path": sim.path, "path_titles": [proc.steps[p].title for p in sim.path if p in proc.steps],
            "status": state.get("status"), "outcome": sim.outcome, "tasks": tasks, "events": events}


# --------------------------------------------------------------------------- versions


@bp.get("/<pid>/versions")
@login_required
def version_list(pid: str):
    with reading() as s:
        rows = versions_of_desc(s, pid)
        current = latest_version_id(s, pid)
        items = [_version_info(_snapshot(r), current) for r in rows]
    if not items:
        abort(404)
    return render_template("editor/versions.html", pid=pid, items=items, working=items[0], may_edit=is_editor())


def versions_of_desc(s: Session, pid: str) -> list[ProcedureVersion]:
    from engine.store import versions_of

    return list(reversed(versions_of(s, pid)))


@bp.get("/<pid>/diff")
@login_required
def diff(pid: str):
    a, b = request.args.get("a", type=int), request.args.get("b", type=int)
    if a is None or b is None:
        flash(_("Choose two versions to compare."), "error")
        return redirect(url_for("editor.version_list", pid=pid))
    with reading() as s:
        old, new = _version(s, pid, a), _version(s, pid, b)
        current = latest_version_id(s, pid)
        files = [(proc_file(pid), old.source, new.source)]
        for fid in sorted(set(old.forms or {}) | set(new.forms or {})):
            files.append((form_file(fid), (old.forms or {}).get(fid, ""), (new.forms or {}).get(fid, "")))
        parts = [{"file": name, "rows": side_by_side(x, y), "same": x == y} for name, x, y in files]
        info = (_version_info(old, current), _version_info(new, current))
    return render_template("editor/diff.html", pid=pid, parts=parts, old=info[0], new=info[1])


@bp.post("/<pid>/versions/<int:vid>/restore")
@login_required
def restore(pid: str, vid: int):
    _require_editor()
    with transaction() as s:
        _version(s, pid, vid)
        row = editor().restore(s, vid, current_user().username)
        label = versions.label(row)
    flash(_("Restored as draft {version}.", version=label), "ok")
    return redirect(url_for("editor.version_list", pid=pid))


@bp.post("/<pid>/submit")
@login_required
def submit(pid: str):
    _require_editor()
    reason = request.form.get("reason", "").strip()
    if not reason:
        flash(_("Write the reason for the change; it is kept with the version."), "error")
        return redirect(url_for("editor.version_list", pid=pid))
    with transaction() as s:
        row = _working(s, pid)
        if row.status != versions.DRAFT:
            raise NotPermitted(_("Only a draft can be sent for approval; this version is {status}.", status=row.status))
        state = editor().submit(s, row.id, current_user().username, reason)
        label = versions.label(row)
    flash(_("Draft {version} sent for review and approval.", version=label), "ok")
    return redirect(url_for("instances.show", instance_id=state["id"]))


@bp.get("/<pid>/versions/<int:vid>/bundle.yaml")
@login_required
def bundle(pid: str, vid: int):
    with reading() as s:
        row = _version(s, pid, vid)
        text = editor().bundle(s, row.id)
        label = versions.label(row)
    return Response(text, mimetype="application/x-yaml",
                    headers={"Content-Disposition": f'attachment; filename="{pid}-{label}.bundle.yaml"'})


@bp.get("/<pid>/versions/<int:vid>/bundle.zip")
@login_required
def bundle_zip(pid: str, vid: int):
    with reading() as s:
        row = _version(s, pid, vid)
        data = editor().bundle_zip(s, row.id)
        label = versions.label(row)
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{pid}-{label}.zip"'})


@bp.post("/<pid>/steps/next")
@login_required
def step_next(pid: str):
    """Change where an existing step goes: one next step, or a condition with an else."""
    _require_editor()
    f = request.form
    sid = f.get("step", "")
    if f.get("condition", "").strip():
        nxt: Any = [{"if": f["condition"].strip(), "goto": f.get("next", "")}, {"else": f.get("else", "")}]
    else:
        nxt = f.get("next", "")
    label = _apply(pid, lambda source, forms: (set_next(source, sid, nxt), forms), f"step {sid}: next")
    if label:
        flash(_("Saved as draft {version}.", version=label), "ok")
    return redirect(url_for("editor.step_editor", pid=pid))
