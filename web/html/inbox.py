"""The inbox, starting instances, the task page (forms, drafts, approvals) and attachments.

Thin views over ``engine.app.tasks``, ``engine.app.instances`` and ``engine.app.uploads``:
they parse the posted form, call one use case and render its answer. Who may act, what a
submission does and what a worker on the task sees in clear are decided there, the same
for these pages and the API.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from engine.app import calendars, cc, instances, people, task_actions, tasks, uploads, user_admin
from engine.errors import Busy, FormInvalid, SignatureInvalid, WorkflowError
from engine.runtime.actions import NOTE_MAX
from web import forms_render as fr
from web.db import services
from web.errors import status_of
from web.html.auth import current_user, local_path, login_required
from web.i18n import _, fmt_time, get_locale, shown
from web.oversight import signed_in_reader

bp = Blueprint("inbox", __name__)


def _attachment_info(att_id: str) -> dict | None:
    # A page lists an instance's files one by one; the first lookup reads them all.
    known = g.setdefault("attachment_infos", {})
    if att_id not in known:
        known.update(uploads.attachment_infos_beside(services(), signed_in_reader(), att_id))
    return known[att_id]


def init_app(app) -> None:  # noqa: ANN001 - Flask
    # Recorded files show their name, and photos a thumbnail, wherever data is shown.
    app.jinja_env.globals["attachment_info"] = _attachment_info
    # The longest note of a 催办 or 抄送 (the runtime's rule; the fields say it to the browser).
    app.jinja_env.globals["NOTE_MAX"] = NOTE_MAX
    # More people than this to transfer a task to: typed with suggestions rather than a list.
    app.jinja_env.globals["TRANSFER_PICK"] = 20


def _local_next(target: str | None) -> str | None:
    """A ``next`` that stays on this site (a path), else None: never redirect off-site."""
    return local_path(target)


# --------------------------------------------------------------------------- inbox


INBOX_SHOWN = 100
# The most a page lists when the user asks for all (a queue longer than this says so).
INBOX_ALL = 500


@bp.get("/")
@login_required
def index():
    user = current_user()
    now = services().now()  # the server's clock (injectable), as the worker sees it
    # A shared role's queue can hold hundreds of open tasks: the most urgent come first and a
    # page (on a phone) shows INBOX_SHOWN of them unless the user asks for all.
    found, more = tasks.inbox_with_more(services(), user.username, limit=INBOX_ALL)
    ordered = tasks.by_urgency(found, now)
    total, everything = len(ordered), request.args.get("all") == "1"
    rows = [{"id": t.id, "instance": t.instance_id, "serial": t.serial, "procedure": shown(t.procedure),
             "step": t.step_title, "kind": t.kind, "role": t.role_title, "due_at": t.due_at,
             "overdue": bool(t.due_at and t.due_at < now), "assignee": t.assignee,
             "created_at": t.created_at, "named": t.named}
            for t in (ordered if everything else ordered[:INBOX_SHOWN])]
    copies, cc_unread = cc.listing(services(), user.username, locale=get_locale(), limit=50)
    # Administrators are the ones who can upgrade the holiday data or list the days.
    admin = user_admin.rights(signed_in_reader()).change
    holidays = calendars.holidays_running_out(services()) if admin else []
    gone = calendars.calendars_gone(services()) if admin else []
    return render_template("inbox.html", tasks=rows, total=total, more=more,
                           startable=tasks.startable(services(), user.username),
                           copies=copies, cc_unread=cc_unread, holidays=holidays, calendars_gone=gone)


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str):
    tasks.claim(services(), current_user().username, task_id)
    flash(_("Task claimed."), "ok")
    return redirect(_local_next(request.form.get("next")) or url_for("inbox.index"))


@bp.post("/tasks/<task_id>/release")
@login_required
def release(task_id: str):
    tasks.release(services(), current_user().username, task_id)
    flash(_("Task released."), "ok")
    return redirect(url_for("inbox.index"))


def _store_files(username: str, form):  # noqa: ANN202 - (new ids, refusals, Busy or None)
    """The posted files stored; a busy database refuses them (nothing stored) but the page
    still comes back with every typed value, and the files can be chosen again."""
    if form is None:
        return {}, [], None
    try:
        new, refused = uploads.store_files(services(), username, fr.posted_files(form.schema, request.files))
    except Busy as exc:
        return {}, [], exc
    return new, refused, None


# --------------------------------------------------------------------------- start


@bp.route("/start/<procedure_id>", methods=["GET", "POST"])
@login_required
def start(procedure_id: str):
    user = current_user()
    proc = instances.startable(services(), user.username, procedure_id)
    form = proc.forms.get(proc.start_form) if proc.start_form else None
    data: dict = form.initial() if form else {}
    errors: list[dict] = []
    status = 200
    if request.method == "POST":
        new, refused, busy = _store_files(user.username, form)
        data = fr.parse_submission(form.schema, request.form, new) if form else {}
        if busy is not None:
            errors, status = [{"field": "", "message": busy.message}], status_of(busy)
        elif refused:
            errors = [{"field": r.field, "message": r.message} for r in refused]
            status = max(r.status for r in refused)
        else:
            try:
                state = instances.start(services(), user.username, procedure_id, data, locale=get_locale())
            except FormInvalid as exc:
                errors, status = exc.errors, status_of(exc)
            except Busy as exc:  # the form comes back with what was typed
                errors, status = [{"field": "", "message": exc.message}], status_of(exc)
            else:
                flash(_("Instance {id} started.", id=state["id"]), "ok")
                return redirect(url_for("instances.show", instance_id=state["id"]))
    fields = fr.field_tree(fr.shown_schema(form), data, fr.Messages.of(errors),
                           attachment=_attachment_info) if form else []
    return render_template("start.html", procedure=proc, form=form, fields=fields, errors=errors,
                           people=people.offer_for(services(), form),
                           compute_url=url_for("inbox.compute_start", procedure_id=procedure_id)
                           if form is not None and form.computed else None), status


# --------------------------------------------------------------------------- task page


@bp.route("/tasks/<task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: str):
    user = current_user()
    page = tasks.task_page(services(), signed_in_reader(), task_id)
    if page.closed:
        flash(_("This task is already {status}.", status=_(page.task["status"])), "info")
        return redirect(url_for("instances.show", instance_id=page.inst["id"]))
    step, form = page.step, page.form
    data: dict = page.data
    errors: list[dict] = []
    flags: list[dict] = []
    status = 200
    retry: dict[str, str] = {}
    notice = (_("Resumed your draft saved at {time}.", time=fmt_time(page.draft_saved_at))
              if page.draft_saved_at else None)
    comment = ""
    if request.method == "POST":
        action = request.form.get("action", "submit")
        comment = request.form.get("comment", "")
        edit_reason = request.form.get("edit_reason", "")
        editing = _posted_edits(page.editable)
        notice = None
        new, refused, busy = _store_files(user.username, form)
        data = fr.parse_submission(form.schema, request.form, new) if form else {}
        if busy is not None:
            errors, status, retry = [{"field": "", "message": busy.message}], status_of(busy), busy.headers
        elif refused:
            errors = [{"field": r.field, "message": r.message} for r in refused]
            status = max(r.status for r in refused)
        elif action == "draft":
            try:
                saved = tasks.save_draft(services(), signed_in_reader(), task_id, data)
            except FormInvalid as exc:
                errors, status = list(exc.errors) or [{"field": "", "message": exc.message}], status_of(exc)
            except Busy as exc:  # the form comes back with what was typed
                errors, status, retry = [{"field": "", "message": exc.message}], status_of(exc), exc.headers
            else:
                notice = _("Draft saved at {time}.", time=fmt_time(saved))
        else:
            try:
                tasks.submit(services(), user.username, task_id, data,
                             decision=("reject" if action == "reject" else "approve")
                             if page.task["kind"] == "approval" else None,
                             comment=comment, password=request.form.get("password") or None,
                             expected_rev=request.form.get("rev", type=int), locale=get_locale(),
                             edits=_posted_edits(page.editable), edit_reason=edit_reason)
            except FormInvalid as exc:
                errors, status = list(exc.errors) or [{"field": "", "message": exc.message}], status_of(exc)
            except SignatureInvalid as exc:
                errors, status = [{"field": "password", "message": exc.message}], status_of(exc)
            except Busy as exc:  # the form comes back with what was typed
                errors, status, retry = [{"field": "", "message": exc.message}], status_of(exc), exc.headers
            else:
                n = len(form.out_of_limits(form.clean(data), get_locale())) if form else 0
                flash(_("Recorded; {n} value(s) are out of specification.", n=n) if n else _("Recorded."), "ok")
                return redirect(url_for("inbox.index"))
    if form is not None and data:
        flags = form.out_of_limits(form.clean(data), get_locale())
    fields = fr.field_tree(fr.shown_schema(form), data, fr.Messages.of(errors, flags),
                           attachment=_attachment_info) if form else []
    general = [e for e in errors if e.get("field") in ("", "comment", "password") or not form]
    edits = [{"ref": e.ref, "title": e.title, "signed": e.signed,
              "nodes": fr.field_tree({"properties": {e.field: e.schema}},
                                     {e.field: editing.get(e.ref, e.value)} if request.method == "POST"
                                     else {e.field: e.value},
                                     fr.Messages.of([{**x, "field": e.field} for x in errors
                                                     if x.get("field") == e.ref]),
                                     prefix=f"{EDIT_PREFIX}.{e.step}")}
             for e in page.editable]
    earlier = [{"step": e.step, "title": e.title,
                "nodes": fr.view_tree(e.form, e.data, corrections=e.corrections, step=e.step, names=page.names)}
               for e in page.earlier]
    return render_template(
        "task.html", inst=page.inst, task=page.task, step=step, procedure=page.procedure, form=form,
        fields=fields, earlier=earlier, errors=errors, general_errors=general,
        notice=notice, comment=comment, people=page.people, task_id=task_id, edits=edits,
        party=page.party, may_add_approver=page.may_add_approver, returned=page.returned,
        offers=task_actions.task_offers(services(), user.username, task_id),
        edit_reason=edit_reason if request.method == "POST" else "",
        needs_password=bool(step.signature) or any(e.signed for e in page.editable),
        compute_url=url_for("inbox.compute", task_id=task_id) if form is not None and form.computed else None,
    ), status, retry


EDIT_PREFIX = "e"


def _posted_edits(editable: list[tasks.Editable]) -> dict:
    """The values posted for the earlier fields this step may change (inputs ``e.STEP.FIELD``);
    an input left empty clears the value."""
    out = {}
    for e in editable:
        name = f"{EDIT_PREFIX}.{e.ref}"
        if name not in request.form:
            continue
        parsed = fr.parse_submission({"properties": {e.field: e.schema}}, request.form,
                                     prefix=f"{EDIT_PREFIX}.{e.step}")
        out[e.ref] = parsed.get(e.field)
    return out


@bp.post("/tasks/<task_id>/compute")
@login_required
def compute(task_id: str):
    """The computed fields of the task's form for what is typed so far (the page's live
    totals): the form as posted in, ``{values, text}`` out, computed by the server's code."""
    form = tasks.task_form(services(), signed_in_reader(), task_id)
    data = fr.parse_submission(form.schema, request.form) if form is not None else {}
    values = tasks.compute(services(), signed_in_reader(), task_id, data)
    return jsonify(values=values, text=fr.computed_text(form, values) if form is not None else {})


@bp.post("/start/<procedure_id>/compute")
@login_required
def compute_start(procedure_id: str):
    """As ``compute``, for the start form."""
    proc = instances.startable(services(), current_user().username, procedure_id)
    form = proc.forms.get(proc.start_form) if proc.start_form else None
    data = fr.parse_submission(form.schema, request.form) if form is not None else {}
    values = tasks.compute_start(services(), signed_in_reader(), procedure_id, data)
    return jsonify(values=values, text=fr.computed_text(form, values) if form is not None else {})


# --------------------------------------------------------------------------- 加签 (issue 17)


@bp.post("/tasks/<task_id>/add-approver")
@login_required
def add_approver(task_id: str):
    """The task page's 加签 form: the use case refuses what the step does not allow; the
    refusal comes back on the task page."""
    try:
        tasks.add_approver(services(), current_user().username, task_id, request.form.get("user", "").strip(),
                           request.form.get("position", ""), request.form.get("reason", ""))
    except WorkflowError as exc:
        if status_of(exc) >= 500:
            raise
        flash(exc.message, "error")
    else:
        flash(_("Approver added."), "ok")
    return redirect(url_for("inbox.task", task_id=task_id))


# --------------------------------------------------------------------------- attachments


@bp.get("/attachments/<attachment_id>")
@login_required
def attachment(attachment_id: str):
    """Download a file: for its uploader, and for users who may read its instance."""
    found = uploads.download(services(), signed_in_reader(), attachment_id)
    inline = found.content_type in ("image/png", "image/jpeg") and request.args.get("inline") == "1"
    response = send_file(found.path, mimetype=found.content_type, as_attachment=not inline,
                         download_name=found.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response
