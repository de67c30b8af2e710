"""In-app notifications: the unread list per user, mark read; for admins, the deliveries
(e-mail, webhooks) still pending or given up (``engine.app.notifications``)."""

from __future__ import annotations

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for

from engine.app import notifications
from engine.errors import NotPermitted
from web.db import services
from web.html.auth import current_user, local_path, login_required, plain_number
from web.i18n import _, get_locale

bp = Blueprint("notifications", __name__)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["unread_notifications"] = unread_notifications


def unread_notifications() -> int:
    """Unread count of the signed-in user, for the header (0 when signed out)."""
    user = current_user()
    return notifications.unread(services(), user.username) if user is not None else 0


@bp.get("/notifications")
@login_required
def index():
    user = current_user()
    only_unread = request.args.get("unread") == "1"
    rows, _unread = notifications.listing(services(), user.username, unread_only=only_unread,
                                          limit=200, locale=get_locale())
    items = [{"id": n["id"], "kind": n["kind"], "text": n["text"], "at": n["created_at"],
              "read": n["read_at"] is not None, "task": n["task"], "instance": n["instance"],
              "serial": n["serial"]}
             for n in rows]
    return render_template("notifications.html", items=items, only_unread=only_unread,
                           deliveries=notifications.deliveries(services(), user.groups))


@bp.post("/notifications/read")
@login_required
def mark_read():
    chosen = request.form.getlist("id")
    # The page's own ids are plain numbers: anything else names no notification and is passed over.
    ids = [n for x in chosen if (n := plain_number(x)) is not None]
    back = local_path(request.form.get("next")) or url_for("notifications.index")
    if (chosen or request.form.get("selected")) and not ids:
        # "Mark selected read" with nothing ticked used to read as "all"
        flash(_("Tick the notifications to mark read first, or use “Mark all read”."), "error")
        return redirect(back)
    n, _unread = notifications.mark_read(services(), current_user().username,
                                         ids if chosen or request.form.get("selected") else None)
    flash(_("{n} notifications marked read", n=n), "ok")
    return redirect(back)


@bp.post("/notifications/deliveries/retry")
@login_required
def retry():
    try:
        n = notifications.retry_failed(services(), current_user().groups)
    except NotPermitted as exc:
        flash(exc.message, "error")
        return redirect(url_for("notifications.index"))
    flash(_("{n} deliveries queued again", n=n), "ok")
    return redirect(url_for("notifications.index"))
