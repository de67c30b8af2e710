"""The procedure editor: catalogue, procedure page with its step graph, text editor with live
validation, visual form builder and step editor, Try it, versions with diff and restore,
submission for change control, bundles.

Everyone signed in may read; only the editor group (``change_author`` of the change-control
procedure in config.yaml) may change anything. The views parse the request, call one use
case of ``engine.app.editor`` or ``engine.app.procedures`` (which apply the rules, the
editor group's included) and render the answer. Every change is saved as a new draft (a
minor version); nothing here touches a published version or a running instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from engine.app import editor as editing
from engine.app import procedures
from engine.app.try_it import click as try_click
from engine.errors import Conflict, DefinitionInvalid, FormInvalid, NotFound
from engine.language import condition_builder as cb
from engine.language import yaml_edit
from engine.language.condition_words import condition_words, due_words
from engine.language.yaml_edit import EditError
from web import forms_render as fr
from web import graph_svg
from web.db import services
from web.html import editor_forms, editor_try, step_form
from web.html.auth import current_user, login_required
from web.i18n import _, get_locale

if TYPE_CHECKING:
    from engine.language.procedure import Procedure

bp = Blueprint("editor", __name__, url_prefix="/editor")


def init_app(app) -> None:
    app.jinja_env.globals["is_editor"] = is_editor
    app.jinja_env.globals["change_link"] = change_link
    app.jinja_env.globals["change_summary"] = lambda inst: procedures.change_summary(
        services(), inst, _comparison(inst))


def _comparison(inst: dict) -> tuple[str, int | None, int] | None:
    # A change-control page shows both the link and the summary; one comparison serves both.
    known = g.setdefault("change_comparisons", {})
    if inst.get("id") not in known:
        known[inst.get("id")] = procedures.change_comparison(services(), inst)
    return known[inst.get("id")]


def change_link(inst: dict) -> str | None:
    """For a change-control instance: the side-by-side difference its reviewers judge."""
    found = _comparison(inst)
    if found is None:
        return None
    pid, old, new = found
    if old is None:
        return url_for("editor.procedure", pid=pid, v=new)
    return url_for("editor.diff", pid=pid, a=old, b=new)


def is_editor() -> bool:
    """For the header: is the signed-in user in the editor group?"""
    user = current_user()
    return user is not None and editing.may_edit(current_app.config["WF"], user.groups)


def _require_editor() -> None:
    """Refuse a non-editor before the request is parsed (the use case checks again)."""
    editing.require_editor(current_app.config["WF"], current_user().groups)


def _me() -> str:
    return current_user().username


# --------------------------------------------------------------------------- catalogue


@bp.get("")
@login_required
def catalogue():
    return render_template("editor/catalogue.html", items=procedures.catalogue(services()))


@bp.post("/new")
@login_required
def new_procedure():
    """新建流程: from a blank page or as a copy of an installed procedure."""
    _require_editor()
    f = request.form
    try:
        pid, label = procedures.new_procedure(services(), _me(), f.get("id", ""), f.get("title", ""),
                                              f.get("template") or None)
    except (FormInvalid, Conflict, NotFound, DefinitionInvalid) as exc:
        errors = getattr(exc, "errors", None) or []
        problems = getattr(exc, "problems", None) or []
        for e in errors or [{"message": exc.message}]:
            flash(e["message"], "error")
        for p in problems:
            flash(str(p), "error")
        return redirect(url_for("editor.catalogue", id=f.get("id", ""), title=f.get("title", ""),
                                template=f.get("template", "")))
    flash(_("New procedure saved as draft {version}; change its steps and forms, try it, then send it for approval.",
            version=label), "ok")
    return redirect(url_for("editor.procedure", pid=pid))


@bp.post("/import")
@login_required
def import_bundle():
    _require_editor()
    upload = request.files.get("bundle")
    data = upload.read() if upload and upload.filename else request.form.get("text", "").encode("utf-8")
    try:
        pid, label = procedures.import_bundle(services(), _me(), data)
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
    opened = procedures.open_version(services(), pid, request.args.get("v", type=int))
    proc = opened.procedure
    cfg = current_app.config["WF"]
    roles = [{"id": r, "title": t, "groups": cfg.groups_for_role(pid, r)} for r, t in proc.roles.items()]
    steps = [_step_info(proc, st) for st in proc.steps.values()]
    forms = [{"id": fid, "title": f.title, "description": f.description, "fields": fr.field_tree(f.schema, {})}
             for fid, f in proc.forms.items()]
    closed_by = [proc.role_title(r, get_locale()) for r in proc.correct_closed]
    return render_template("editor/procedure.html", proc=proc, row=opened.version, roles=roles, steps=steps,
                           forms=forms, svg=Markup(graph_svg.render(proc)), may_edit=is_editor(),
                           closed_by=closed_by)


def _step_info(proc: Procedure, st) -> dict[str, Any]:
    dl = st.deadline
    deadline = ""
    escalations = []
    if dl is not None:
        deadline = str(dl.within) if dl.within else (dl.within_expr.source if dl.within_expr else
                                                      due_words(proc, dl.due_expr.source) if dl.due_expr else
                                                      "; ".join(f"{condition_words(proc, c.source) if c else _('otherwise')}: {d}"
                                                                for c, d in dl.within_cases))
        escalations = [f"+{e.after} → " + (_("the holder's manager") if e.to == "manager" else proc.roles.get(e.to, e.to))
                       for e in dl.escalate]
    def title(sid: str | None) -> str:
        return proc.steps[sid].title if sid in proc.steps else (sid or "")

    nxt = [(condition_words(proc, t.condition.source) if t.condition else "", title(t.target)) for t in st.next]
    return {"id": st.id, "title": st.title, "type": st.type, "type_words": graph_svg.step_type_words(st.type), "role": proc.roles.get(st.role, st.role) if st.role else "",
            "form": st.form or "", "signature": st.signature or "", "deadline": deadline,
            "remind": str(dl.remind_before) if dl and dl.remind_before else "", "escalations": escalations,
            "next": nxt, "on_reject": title(st.on_reject)}


# --------------------------------------------------------------------------- text editor


@bp.route("/<pid>/text", methods=["GET", "POST"])
@login_required
def text_editor(pid: str):
    _require_editor()
    file = request.values.get("file", "procedure")
    problems: list = []
    status = 200
    draft = editing.draft_file(services(), _me(), pid, file)
    text = draft.text
    if request.method == "POST":
        text = request.form.get("text", "").replace("\r\n", "\n")
        try:
            label = editing.save_file(services(), _me(), pid, file, text, note=request.form.get("note", ""))
            flash(_("Saved as draft {version}.", version=label), "ok")
            return redirect(url_for("editor.text_editor", pid=pid, file=file))
        except DefinitionInvalid as exc:
            problems, status = exc.problems, 422
    return render_template("editor/text.html", pid=pid, file=file, filename=draft.filename, text=text,
                           row=draft.version, problems=[_problem(p) for p in problems], names=draft.names,
                           files=draft.files), status


def _problem(p) -> dict[str, Any]:
    return {"file": p.file, "line": p.line, "col": p.col, "message": p.message}


@bp.post("/<pid>/validate")
@login_required
def validate(pid: str):
    """Problems of the draft with one file replaced by ``text``: those of that file at their
    lines, the others as text (a form change can break the procedure that uses it)."""
    _require_editor()
    body = request.get_json(silent=True) or {}
    checked = editing.check_file(services(), _me(), pid, str(body.get("file") or "procedure"),
                                 str(body.get("text") or ""))
    return jsonify(problems=[_problem(p) for p in checked.problems], other=checked.other, ok=checked.ok)


# --------------------------------------------------------------------------- visual editors


def _saved(edit) -> str | None:
    """Run ``edit()`` (a use case saving a draft); the draft's label, or None after
    flashing what went wrong."""
    label, refused = _refused(edit)
    for message in refused:
        flash(message, "error")
    return label


def _refused(edit) -> tuple[str | None, list[str]]:
    """Run ``edit()``: ``(label, [])`` when saved, else ``(None, why)``, each problem with its
    place, for the form that asked to show again as typed."""
    try:
        return edit(), []
    except DefinitionInvalid as exc:
        return None, [str(p) for p in exc.problems]
    except EditError as exc:
        return None, [exc.message]


@bp.get("/<pid>/forms/<fid>")
@login_required
def form_builder(pid: str, fid: str):
    _require_editor()
    return editor_forms.builder_page(pid, fid)


@bp.post("/<pid>/forms/<fid>/fields")
@login_required
def form_add_field(pid: str, fid: str):
    _require_editor()
    return editor_forms.add_field(pid, fid)


@bp.post("/<pid>/forms/<fid>/fields/<name>/<action>")
@login_required
def form_field_action(pid: str, fid: str, name: str, action: str):
    """Up, down, remove, update, or move to a place (drag and drop: ``position``)."""
    _require_editor()
    if action not in editing.FIELD_ACTIONS:
        abort(404)
    return editor_forms.field_action(pid, fid, name, action)


def _next_of(f) -> Any:
    """A step's next: one step, or a condition with its step and an else."""
    if f.get("condition", "").strip():
        return [{"if": f["condition"].strip(), "goto": f.get("next", "")}, {"else": f.get("else", "")}]
    return f.get("next")


@bp.route("/<pid>/steps", methods=["GET", "POST"])
@login_required
def step_editor(pid: str):
    _require_editor()
    if request.method == "POST":
        f = request.form
        sid = f.get("id", "").strip()
        label, refused = _refused(lambda: editing.add_step(
            services(), _me(), pid, sid, title=f.get("title", "").strip() or sid, role=f.get("role", ""),
            form=f.get("form") or None, type=f.get("type", "task"), within=f.get("within", "").strip() or None,
            escalate=f.get("escalate") or None, signature=f.get("signature", "").strip() or None,
            next=_next_of(f) or None, after=f.get("after") or None,
            approvers=[r for r in f.getlist("approvers") if r],
            mode=(f"at_least:{f.get('at_least', '').strip()}" if f.get("mode") == "at_least" else f.get("mode")) or None))
        if label:
            flash(_("Step {step} added; saved as draft {version}.", step=sid, version=label), "ok")
            return redirect(url_for("editor.step_editor", pid=pid, edit=sid) + "#edit-step")
        return _steps_page(pid, "", add=f, add_problems=refused, status=422)  # as typed, with why
    return _steps_page(pid, request.args.get("edit") or "")


def _steps_page(pid: str, sid: str, *, text: str | None = None, problems: list | None = None,
                other: list[str] | None = None, checked: bool = False, status: int = 200,
                add: Any = None, add_problems: list[str] | None = None,
                next_typed: Any = None, next_problems: list[str] | None = None):
    """The step editor; with ``sid`` the edit form of that step, from ``text`` (a change not
    saved yet, with its ``problems``) or else from the working copy."""
    draft = editing.draft_file(services(), _me(), pid)
    proc = draft.procedure
    steps = [_step_info(proc, st) for st in proc.steps.values()]
    current = pickers = None
    if sid in proc.steps:
        model = yaml_edit.step_model(text if text is not None else draft.text, sid)
        current = step_form.step_view(model, proc, sid)
        own = cb.fields_before(proc, sid, own=True)
        before = {c.ref for c in cb.fields_before(proc, sid, own=False)}
        pickers = {"fields": [c.as_json() for c in own], "before": sorted(before),
                   "ops": {op: _(words) for op, words in cb.OPERATORS.items()},
                   "words": {"approve": _("approve"), "reject": _("reject"), "yes": _("yes"), "no": _("no")}}
    earlier = [s for s in cb.steps_before(proc, sid)] if sid in proc.steps else []
    return render_template("editor/steps.html", pid=pid, proc=proc, steps=steps, row=draft.version,
                           forms=draft.names["forms"], svg=Markup(graph_svg.render(proc)), current=current,
                           pickers=pickers, earlier=earlier, problems=[_problem(p) for p in problems or []],
                           other=other or [], checked=checked, ops=cb.OPERATORS,
                           add=add, add_problems=add_problems or [], next_typed=next_typed,
                           next_problems=next_problems or []), status


@bp.post("/<pid>/steps/update")
@login_required
def step_update(pid: str):
    """Change an existing step's properties (those the form sends; escalation levels it
    cannot show are kept)."""
    _require_editor()
    f = request.form
    sid = f.get("step", "")
    if f.get("full_form"):
        return _step_form_posted(pid, sid, f)
    props: dict[str, Any] = {k: f.get(k, "").strip() for k in ("title", "role", "form", "signature")}
    if f.get("deadline_editable") == "1":
        props["within"] = f.get("within", "").strip()
        props["remind_before"] = f.get("remind_before", "").strip()
    if f.get("escalate") != "__keep__":
        props["escalate"] = f.get("escalate", "")
    label = _saved(lambda: editing.update_step(services(), _me(), pid, sid, **props))
    if label:
        flash(_("Step {step} changed; saved as draft {version}.", step=sid, version=label), "ok")
        return redirect(url_for("editor.step_editor", pid=pid))
    return redirect(url_for("editor.step_editor", pid=pid, edit=sid))


def _step_form_posted(pid: str, sid: str, f):
    """The full edit form: check the change (action ``check``: the validator's problems, nothing
    saved) or save it; a change with problems is shown again with them, as entered."""
    draft = editing.draft_file(services(), _me(), pid)
    if sid not in draft.procedure.steps:
        flash(_("There is no step '{step}'; pick one from the table.", step=sid), "error")
        return redirect(url_for("editor.step_editor", pid=pid))
    try:
        changes = step_form.changes_from_form(f, yaml_edit.step_model(draft.text, sid), draft.procedure, sid)
        if f.get("action") == "check":
            preview = editing.preview_step(services(), _me(), pid, sid, changes)
            return _steps_page(pid, sid, text=preview.text, problems=preview.check.problems,
                               other=preview.check.other, checked=True,
                               status=200 if preview.check.ok else 422)
        if not changes:
            flash(_("Nothing was changed in step {step}.", step=sid), "ok")
            return redirect(url_for("editor.step_editor", pid=pid))
        label = editing.change_step(services(), _me(), pid, sid, changes)
    except DefinitionInvalid as exc:
        text = yaml_edit.set_step(draft.text, sid, changes)
        return _steps_page(pid, sid, text=text, problems=[p for p in exc.problems if p.file.startswith("procedures/")],
                           other=[str(p) for p in exc.problems if not p.file.startswith("procedures/")],
                           checked=True, status=422)
    except (EditError, cb.BuildError) as exc:
        flash(exc.message if isinstance(exc, EditError) else str(exc), "error")
        return _steps_page(pid, sid, status=422)
    flash(_("Step {step} changed; saved as draft {version}.", step=sid, version=label), "ok")
    return redirect(url_for("editor.step_editor", pid=pid, edit=sid) + "#edit-step")


@bp.post("/<pid>/steps/check")
@login_required
def step_check(pid: str):
    """The validator on the edit form as it stands (the page calls it as the form changes):
    the problems, or why the form makes no change; nothing is saved."""
    _require_editor()
    f = request.form
    sid = f.get("step", "")
    draft = editing.draft_file(services(), _me(), pid)
    if sid not in draft.procedure.steps:
        return jsonify(ok=False, problems=[], other=[], error=_("There is no step '{step}'; pick one from the table.",
                                                                   step=sid)), 404
    try:
        changes = step_form.changes_from_form(f, yaml_edit.step_model(draft.text, sid), draft.procedure, sid)
        preview = editing.preview_step(services(), _me(), pid, sid, changes)
    except (EditError, cb.BuildError) as exc:
        return jsonify(ok=False, problems=[], other=[], error=exc.message if isinstance(exc, EditError) else str(exc))
    return jsonify(ok=preview.check.ok, changed=bool(changes), other=preview.check.other, error=None,
                   problems=[{**_problem(p), "text": _("line {line}", line=p.line) + ": " + p.message}
                             for p in preview.check.problems])


@bp.post("/<pid>/steps/next")
@login_required
def step_next(pid: str):
    """Change where an existing step goes: one next step, or a condition with an else."""
    _require_editor()
    f = request.form
    sid = f.get("step", "")
    label, refused = _refused(lambda: editing.set_next(services(), _me(), pid, sid, _next_of(f) or ""))
    if not label:
        return _steps_page(pid, "", next_typed=f, next_problems=refused, status=422)  # as chosen, with why
    flash(_("Saved as draft {version}.", version=label), "ok")
    return redirect(url_for("editor.step_editor", pid=pid))


@bp.post("/<pid>/steps/rename")
@login_required
def step_rename(pid: str):
    """Rename a step (references follow) or delete it (refused while it is still named)."""
    _require_editor()
    f = request.form
    sid = f.get("step", "")
    if f.get("action") == "delete":
        label = _saved(lambda: editing.delete_step(services(), _me(), pid, sid))
        if label:
            flash(_("Step {step} deleted; saved as draft {version}.", step=sid, version=label), "ok")
        elif f.get("from_edit"):
            return redirect(url_for("editor.step_editor", pid=pid, edit=sid) + "#edit-step")
    else:
        new_id = f.get("new_id", "").strip()
        label = _saved(lambda: editing.rename_step(services(), _me(), pid, sid, new_id))
        if label:
            flash(_("Step {step} is now {new}; saved as draft {version}.", step=sid, new=new_id, version=label), "ok")
            if f.get("from_edit"):
                return redirect(url_for("editor.step_editor", pid=pid, edit=new_id) + "#edit-step")
        elif f.get("from_edit"):
            return redirect(url_for("editor.step_editor", pid=pid, edit=sid) + "#edit-step")
    return redirect(url_for("editor.step_editor", pid=pid))


# --------------------------------------------------------------------------- try it


@bp.route("/<pid>/try", methods=["GET", "POST"])
@login_required
def try_it(pid: str):
    """Try it: the click-through (``editor_try``) and the expert's answer script."""
    answers = request.form.get("answers") if request.method == "POST" else None
    version = request.values.get("v", type=int)
    tried = editing.try_version(services(), pid, version, answers)
    run = try_click(services(), pid, version, None)
    return editor_try.page(pid, run, answers=tried.answers, result=tried.result, error=tried.error,
                           status=422 if tried.error else 200)


# --------------------------------------------------------------------------- versions


@bp.get("/<pid>/versions")
@login_required
def version_list(pid: str):
    items = procedures.versions(services(), pid)
    return render_template("editor/versions.html", pid=pid, items=items, working=items[0], may_edit=is_editor())


@bp.get("/<pid>/diff")
@login_required
def diff(pid: str):
    a, b = request.args.get("a", type=int), request.args.get("b", type=int)
    if a is None or b is None:
        flash(_("Choose two versions to compare."), "error")
        return redirect(url_for("editor.version_list", pid=pid))
    found = procedures.difference(services(), pid, a, b)
    return render_template("editor/diff.html", pid=pid, parts=found.files, old=found.old, new=found.new,
                           summary=found.summary)


@bp.post("/<pid>/versions/<int:vid>/restore")
@login_required
def restore(pid: str, vid: int):
    _require_editor()
    label = editing.restore(services(), _me(), pid, vid)
    flash(_("Restored as draft {version}.", version=label), "ok")
    return redirect(url_for("editor.version_list", pid=pid))


@bp.post("/<pid>/submit")
@login_required
def submit(pid: str):
    _require_editor()
    try:
        instance_id, label = editing.submit(services(), _me(), pid, request.form.get("reason", ""))
    except FormInvalid as exc:
        if not any(e.get("field") == "reason" for e in exc.errors):
            raise
        flash(_("Write the reason for the change; it is kept with the version."), "error")
        return redirect(url_for("editor.version_list", pid=pid))
    flash(_("Draft {version} sent for review and approval.", version=label), "ok")
    return redirect(url_for("instances.show", instance_id=instance_id))


@bp.get("/<pid>/versions/<int:vid>/bundle.yaml")
@login_required
def bundle(pid: str, vid: int):
    text, label = procedures.bundle(services(), pid, vid)
    return Response(text, mimetype="application/x-yaml",
                    headers={"Content-Disposition": f'attachment; filename="{pid}-{label}.bundle.yaml"'})


@bp.get("/<pid>/versions/<int:vid>/bundle.zip")
@login_required
def bundle_zip(pid: str, vid: int):
    data, label = procedures.bundle_zip(services(), pid, vid)
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{pid}-{label}.zip"'})
