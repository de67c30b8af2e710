"""The inbox, starting instances, the task page (forms, drafts, approvals) and attachments.

Every page asks ``Workflow.actor`` for the user's roles in the procedure concerned; the
service layer checks again when the command runs, so a page shown by mistake still cannot
act outside the user's roles.

The task page shows the earlier steps' sensitive values in clear: whoever may act on the
open task needs them for the job; each such view is logged as ``task`` (``web.oversight``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from engine import store
from engine.app.masking import (
    in_clear,
    keep_masked,
    mask_corrections,
    mask_data,
    mask_errors,
    record_views,
    sensitive_keys,
)
from engine.errors import FormInvalid, NotFound, NotPermitted, SignatureInvalid
from engine.store.tables import Draft
from web import forms_render as fr
from web.db import reading, services, signature_password, transaction, workflow
from web.html.auth import current_user, login_required
from web.i18n import _, get_locale
from web.oversight import current_reader

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.app.access import Reader
    from engine.language.procedure import Procedure
    from engine.runtime.commands import Actor

bp = Blueprint("inbox", __name__)


# --------------------------------------------------------------------------- who may do what


@dataclass
class Access:
    procedure: Procedure
    version_id: int
    actor: Actor

    @property
    def may_start(self) -> bool:
        return bool(self.actor.roles & set(self.procedure.start_roles))

    @property
    def may_see(self) -> bool:
        return bool(self.actor.roles)


def accesses(session: Session, username: str) -> list[Access]:
    """The user's roles in every installed procedure (current versions)."""
    wf = workflow()
    out = []
    for pid in store.procedure_ids(session):
        proc, vid = wf.procedure(session, pid)
        out.append(Access(proc, vid, wf.actor(session, username, proc)))
    return out


def instance_access(session: Session, instance_id: str, username: str) -> tuple[dict, Actor, Procedure]:
    """The instance (as ``Workflow.instance`` gives it), the user's roles in its pinned version;
    403 when the user holds no role in that procedure."""
    wf = workflow()
    inst = wf.instance(session, instance_id)
    proc = wf.runtime(session, inst["version"]["id"]).procedure
    actor = wf.actor(session, username, proc)
    if not actor.roles:
        raise NotPermitted(_("You do not hold a role in this procedure.") + f" ({proc.title})")
    return inst, actor, proc


def may_act(task: dict, actor: Actor) -> bool:
    if task.get("assignee"):
        return task["assignee"] == actor.user
    return task.get("role") in actor.roles or bool(actor.roles & set(task.get("escalated_to") or ()))


def _attachment_info(session: Session) -> Any:
    def info(att_id: str) -> dict | None:
        try:
            row = store.get_attachment(session, att_id)
        except NotFound:
            return None
        return {"filename": row.filename, "size": row.size, "content_type": row.content_type}

    return info


# --------------------------------------------------------------------------- inbox


@bp.get("/")
@login_required
def index():
    user = current_user()
    now = workflow().clock()  # the server's clock (injectable), as the worker sees it
    with reading() as s:
        acc = accesses(s, user.username)
        roles = [f"{a.procedure.id}.{r}" for a in acc for r in a.actor.roles]
        by_id = {a.procedure.id: a for a in acc}
        rows = []
        for t in store.open_tasks_for(s, roles, user.username):
            a = by_id.get(t.procedure_id)
            if a is None:
                continue
            step = a.procedure.steps.get(t.step)
            rows.append({
                "id": t.id, "instance": t.instance_id, "procedure": a.procedure.title,
                "step": step.title if step else t.step, "kind": t.kind.value,
                "role": a.procedure.roles.get(t.role or "", t.role), "due_at": t.due_at,
                "overdue": bool(t.due_at and t.due_at < now), "assignee": t.assignee,
                "created_at": t.created_at,
            })
        rows.sort(key=lambda r: (not r["overdue"], r["due_at"] is None,
                                 r["due_at"] or now, r["created_at"]))
        startable = [a.procedure for a in acc if a.may_start]
    return render_template("inbox.html", tasks=rows, startable=startable)


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str):
    with transaction() as s:
        workflow().claim(s, task_id, current_user().username)
    flash(_("Task claimed."), "ok")
    return redirect(request.form.get("next") or url_for("inbox.index"))


@bp.post("/tasks/<task_id>/release")
@login_required
def release(task_id: str):
    with transaction() as s:
        workflow().release(s, task_id, current_user().username)
    flash(_("Task released."), "ok")
    return redirect(url_for("inbox.index"))


# --------------------------------------------------------------------------- start


@bp.route("/start/<procedure_id>", methods=["GET", "POST"])
@login_required
def start(procedure_id: str):
    user = current_user()
    wf = workflow()
    with reading() as s:
        proc, _vid = wf.procedure(s, procedure_id)
        actor = wf.actor(s, user.username, proc)
    if not actor.roles & set(proc.start_roles):
        raise NotPermitted(_("You may not start '{title}'.", title=proc.title))
    form = proc.forms.get(proc.start_form) if proc.start_form else None
    data: dict = {}
    errors: list[dict] = []
    status = 200
    if request.method == "POST":
        with transaction() as s:
            uploads, refused = (fr.save_uploads(form.schema, request.files, s, wf.config, user.username)
                                if form else ({}, []))
        data = fr.parse_submission(form.schema, request.form, uploads) if form else {}
        masked = mask_errors(sensitive_keys(proc), "start", data)
        if refused:
            errors = [{"field": r.field, "message": r.message} for r in refused]
            status = max(r.status for r in refused)
        elif masked:
            errors, status = masked, 422
        else:
            try:
                with transaction() as s:
                    state = wf.start(s, procedure_id, user.username, data, locale=get_locale())
                    if form:
                        store.attach(s, fr.attachment_ids(form.schema, data), state["id"])
            except FormInvalid as exc:
                errors, status = exc.errors, exc.http_status
            else:
                flash(_("Instance {id} started.", id=state["id"]), "ok")
                return redirect(url_for("instances.show", instance_id=state["id"]))
    with reading() as s:
        fields = fr.field_tree(form.schema, data, fr.Messages.of(errors),
                               attachment=_attachment_info(s)) if form else []
    return render_template("start.html", procedure=proc, form=form, fields=fields,
                           errors=errors), status


# --------------------------------------------------------------------------- task page


def _load_task(s: Session, task_id: str, username: str) -> tuple[dict, dict, Actor, Procedure]:
    instance_id, _sep, local = task_id.rpartition(".")
    inst, actor, proc = instance_access(s, instance_id, username)
    task = next((t for t in inst["tasks"] if t["id"] == local), None)
    if task is None:
        raise NotFound(f"no task '{task_id}'")
    return inst, task, actor, proc


def _earlier(inst: dict, proc: Procedure, step_id: str, reader: Reader,
             shown: set[str]) -> list[dict]:
    """Recorded data of the steps before this one, in the order they were recorded, masked
    as ``reader`` may see them; the sensitive keys shown in clear are added to ``shown``."""
    keys = sensitive_keys(proc)
    out = []
    order = ["start", *[p for p in inst["path"]]]
    seen = set()
    for sid in order:
        if sid in seen or sid not in inst["data"] or sid == step_id:
            continue
        seen.add(sid)
        form = proc.form_of(sid) if sid == "start" or sid in proc.steps else None
        title = _("Start form") if sid == "start" else proc.steps[sid].title
        data, unmasked = mask_data(keys, sid, inst["data"][sid], reader)
        corrections, corrected = mask_corrections(
            keys, {k: v for k, v in inst["corrections"].items() if k.startswith(f"{sid}.")}, reader)
        shown |= unmasked | corrected
        out.append({"step": sid, "title": title,
                    "nodes": fr.view_tree(form, data, corrections=corrections, step=sid)})
    return out


@bp.route("/tasks/<task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: str):
    user = current_user()
    wf = workflow()
    with reading() as s:
        inst, t, actor, proc = _load_task(s, task_id, user.username)
    if t["status"] != "open" or inst["status"] != "running":
        flash(_("This task is already {status}.", status=_(t["status"])), "info")
        return redirect(url_for("instances.show", instance_id=inst["id"]))
    if not may_act(t, actor):
        role = proc.roles.get(t["role"] or "", t["role"])
        raise NotPermitted(_("You may not act on this task: it is for role '{role}'.", role=role))
    step = proc.steps[t["step"]]
    form = proc.forms.get(step.form) if step.form else None
    reader = current_reader()
    assert reader is not None  # login_required ran first
    # Whoever may act on the open task sees the values it needs in clear (logged below).
    working = in_clear(reader)
    data: dict = {}
    errors: list[dict] = []
    flags: list[dict] = []
    status = 200
    notice = None
    comment = ""
    shown: set[str] = set()  # sensitive keys shown in clear, for the access log
    if request.method == "POST":
        action = request.form.get("action", "submit")
        comment = request.form.get("comment", "")
        with transaction() as s:
            uploads, refused = (fr.save_uploads(form.schema, request.files, s, wf.config, user.username)
                                if form else ({}, []))
        data = fr.parse_submission(form.schema, request.form, uploads) if form else {}
        if form:
            flags = form.out_of_limits(form.clean(data), get_locale())
        if refused:
            errors = [{"field": r.field, "message": r.message} for r in refused]
            status = max(r.status for r in refused)
        elif action == "draft":
            with transaction() as s:
                saved = _save_draft(s, user.username, task_id, data)
            notice = _("Draft saved at {time}.", time=_fmt(saved))
        else:
            # a mask sent back keeps the recorded value; nothing recorded: refused
            data, errors = keep_masked(sensitive_keys(proc), step.id, data, inst["data"].get(step.id))
            result = (errors, 422) if errors else _submit(task_id, user.username, t, form, data, comment, action)
            if result is None:
                n = len(flags)
                flash(_("Recorded; {n} value(s) are out of specification.", n=n) if n else _("Recorded."), "ok")
                return redirect(url_for("inbox.index"))
            errors, status = result
    else:
        with reading() as s:
            draft = s.get(Draft, (user.username, task_id))
            if draft is not None:
                data = dict(draft.data)
                notice = _("Resumed your draft saved at {time}.", time=_fmt(draft.saved_at))
            elif form and isinstance(inst["data"].get(step.id), dict):
                # the step runs again (after a rejection): start from what was recorded
                data = {k: v for k, v in inst["data"][step.id].items() if k in form.schema.get("properties", {})}
                shown |= mask_data(sensitive_keys(proc), step.id, data, working)[1]
                if form:
                    flags = form.out_of_limits(form.clean(data), get_locale())
    with reading() as s:
        fields = fr.field_tree(form.schema, data, fr.Messages.of(errors, flags),
                               attachment=_attachment_info(s)) if form else []
        users = [u.username for u in store.list_users(s)] if form else []
    general = [e for e in errors if e.get("field") in ("", "comment", "password") or not form]
    earlier = _earlier(inst, proc, step.id, working, shown)
    record_views(services().database, reader, [(inst["id"], proc.id, shown)], "task")
    return render_template(
        "task.html", inst=inst, task=t, step=step, procedure=proc, form=form, fields=fields,
        earlier=earlier, errors=errors, general_errors=general,
        notice=notice, comment=comment, users=users, task_id=task_id,
    ), status


def _submit(task_id: str, username: str, t: dict, form: Any, data: dict, comment: str,
            action: str) -> tuple[list[dict], int] | None:
    """Run the command; None when recorded, else (errors, HTTP status) to show on the page."""
    wf = workflow()
    rev = request.form.get("rev", type=int)
    try:
        password = signature_password(username, request.form.get("password") or None)
        with transaction() as s:
            if t["kind"] == "approval":
                wf.decide(s, task_id, username, approve=action != "reject", comment=comment,
                          data=data, password=password, expected_rev=rev, locale=get_locale())
            else:
                wf.complete_task(s, task_id, username, data, password=password,
                                 expected_rev=rev, locale=get_locale())
            if form is not None:
                store.attach(s, fr.attachment_ids(form.schema, data), task_id.rpartition(".")[0])
            draft = s.get(Draft, (username, task_id))
            if draft is not None:
                s.delete(draft)
    except FormInvalid as exc:
        return list(exc.errors) or [{"field": "", "message": exc.message}], exc.http_status
    except SignatureInvalid as exc:
        return [{"field": "password", "message": exc.message}], exc.http_status
    return None


def _save_draft(s: Session, username: str, task_id: str, data: dict) -> datetime:
    now = datetime.now(UTC)
    draft = s.get(Draft, (username, task_id))
    if draft is None:
        s.add(Draft(username=username, task_id=task_id, data=data, saved_at=now))
    else:
        draft.data = data
        draft.saved_at = now
    return now


def _fmt(when: datetime) -> str:
    from web.i18n import fmt_time

    return fmt_time(when)


# --------------------------------------------------------------------------- attachments


@bp.get("/attachments/<attachment_id>")
@login_required
def attachment(attachment_id: str):
    """Download a file: for its uploader, and for users who may see its instance."""
    user = current_user()
    with reading() as s:
        row = store.get_attachment(s, attachment_id)
        if row.uploaded_by != user.username:
            if row.instance_id is None:
                abort(403)
            instance_access(s, row.instance_id, user.username)  # 403 when not permitted
        path, name, ctype = row.storage_path, row.filename, row.content_type
    inline = ctype in ("image/png", "image/jpeg") and request.args.get("inline") == "1"
    response = send_file(path, mimetype=ctype, as_attachment=not inline, download_name=name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response

