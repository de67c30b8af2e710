"""Task actions from the pages: 转交 and 退回 and 抄送 (the task page's "更多操作"), 收回, 催办,
撤回 and 已阅 (the instance page).

Thin views over ``engine.app.task_actions`` and ``engine.app.cc``: they read the posted form,
call one use case, and come back to the page with what happened (a refusal, in the words of
the rule that refused, is shown on the same page rather than on an error page). Who may do
what is decided there, the same for these pages and the API.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from engine.app import cc, task_actions
from engine.errors import Busy, CommandRejected
from engine.runtime import access
from web.db import services
from web.html.auth import current_user, login_required
from web.i18n import _

bp = Blueprint("actions", __name__)


@bp.app_template_filter("outcome")
def outcome(value: str | None) -> str:
    """An instance's outcome as pages show it (``access.outcome_words``)."""
    return access.outcome_words(value)


def _user() -> str:
    user = current_user()
    assert user is not None  # login_required ran first
    return user.username


def _instance_of(task_id: str) -> str:
    return task_id.rpartition(".")[0]


def _do(action: Callable[[], object], done: str, back: str, then: str | None = None) -> Response:
    """Run one action; flash what happened; back to ``back`` on a refusal, else to ``then``."""
    try:
        action()
    except (CommandRejected, Busy) as exc:
        flash(exc.message, "error")
        return redirect(back)
    flash(done, "ok")
    return redirect(then or back)


@bp.post("/tasks/<task_id>/transfer")
@login_required
def transfer(task_id: str) -> Response:
    to_user = request.form.get("to_user", "")
    reason = request.form.get("reason", "")
    if request.form.get("back") == "instance":  # an administrator handing on a stranded approval
        page = url_for("instances.show", instance_id=_instance_of(task_id))
        return _do(lambda: task_actions.transfer(services(), _user(), task_id, to_user, reason),
                   _("Task transferred to {user}.", user=to_user), page, page)
    return _do(lambda: task_actions.transfer(services(), _user(), task_id, to_user, reason),
               _("Task transferred to {user}.", user=to_user), url_for("inbox.task", task_id=task_id),
               url_for("inbox.index"))


@bp.post("/tasks/<task_id>/return")
@login_required
def return_task(task_id: str) -> Response:
    to_step = request.form.get("to_step", "")
    reason = request.form.get("reason", "")
    resume = request.form.get("resume", "")
    return _do(lambda: task_actions.return_task(services(), _user(), task_id, to_step, reason, resume),
               _("Returned; the earlier step is open again."), url_for("inbox.task", task_id=task_id),
               url_for("instances.show", instance_id=_instance_of(task_id)))


@bp.post("/tasks/<task_id>/cc")
@login_required
def send_cc(task_id: str) -> Response:
    recipients = list(request.form.getlist("role"))
    recipients += [f"user:{name.strip()}" for name in request.form.get("users", "").replace("，", ",").split(",")
                   if name.strip()]
    note = request.form.get("note", "")
    return _do(lambda: cc.send(services(), _user(), task_id, recipients, note),
               _("Sent for information (抄送)."), url_for("inbox.task", task_id=task_id))


@bp.post("/tasks/<task_id>/recall")
@login_required
def recall(task_id: str) -> Response:
    return _do(lambda: task_actions.recall(services(), _user(), task_id),
               _("Recalled: the task is yours again."),
               url_for("instances.show", instance_id=_instance_of(task_id)), url_for("inbox.task", task_id=task_id))


@bp.post("/tasks/<task_id>/urge")
@login_required
def urge(task_id: str) -> Response:
    note = request.form.get("note", "")
    return _do(lambda: task_actions.urge(services(), _user(), task_id, note), _("Urged."),
               url_for("instances.show", instance_id=_instance_of(task_id)))


@bp.post("/instances/<instance_id>/withdraw")
@login_required
def withdraw(instance_id: str) -> Response:
    reason = request.form.get("reason", "")
    return _do(lambda: task_actions.withdraw(services(), _user(), instance_id, reason),
               _("Instance withdrawn."), url_for("instances.show", instance_id=instance_id))


@bp.post("/cc/<instance_id>/read")
@login_required
def cc_read(instance_id: str) -> Response:
    return _do(lambda: cc.mark_read(services(), _user(), instance_id), _("Marked read (已阅)."),
               url_for("instances.show", instance_id=instance_id))
