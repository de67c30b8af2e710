"""In-app notifications: the unread list per user, mark read; for admins, the deliveries
(e-mail, webhooks) still pending or given up, so that nothing fails silently."""

from __future__ import annotations

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for

from engine.app.notify import text
from engine.store import timekeeping as tk
from web.db import reading, transaction, workflow
from web.html.auth import current_user, login_required
from web.i18n import _, get_locale

bp = Blueprint("notifications", __name__)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["unread_notifications"] = unread_notifications


def unread_notifications() -> int:
    """Unread count of the signed-in user, for the header (0 when signed out)."""
    user = current_user()
    if user is None:
        return 0
    with reading() as s:
        return tk.unread_count(s, user.username)


def _is_admin(groups: tuple[str, ...]) -> bool:
    return bool(set(groups) & set(workflow().config.groups_for_role("", "admin")))


@bp.get("/notifications")
@login_required
def index():
    user = current_user()
    only_unread = request.args.get("unread") == "1"
    locale = get_locale()
    with reading() as s:
        rows = tk.notifications_for(s, user.username, unread_only=only_unread, limit=200)
        items = [{"id": n.id, "kind": n.kind, "text": text(n.kind, n.data, locale),
                  "at": n.created_at, "read": n.read_at is not None, "task": n.task_id,
                  "instance": n.instance_id} for n in rows]
        deliveries = []
        if _is_admin(user.groups):
            deliveries = [{"id": d.id, "channel": d.channel, "target": d.target, "status": d.status,
                           "attempts": d.attempts, "next_attempt_at": d.next_attempt_at,
                           "last_error": d.last_error}
                          for status in ("failed", "pending") for d in tk.deliveries(s, status=status, limit=100)]
    return render_template("notifications.html", items=items, only_unread=only_unread,
                           deliveries=deliveries)


@bp.post("/notifications/read")
@login_required
def mark_read():
    user = current_user()
    ids = [int(x) for x in request.form.getlist("id") if x.isdigit()]
    with transaction() as s:
        n = tk.mark_read(s, user.username, ids or None, workflow().clock())
    flash(_("{n} notifications marked read", n=n), "ok")
    return redirect(request.form.get("next") or url_for("notifications.index"))


@bp.post("/notifications/deliveries/retry")
@login_required
def retry():
    user = current_user()
    if not _is_admin(user.groups):
        flash(_("Only administrators may retry deliveries."), "error")
        return redirect(url_for("notifications.index"))
    with transaction() as s:
        n = tk.retry_failed(s, workflow().clock())
    flash(_("{n} deliveries queued again", n=n), "ok")
    return redirect(url_for("notifications.index"))
