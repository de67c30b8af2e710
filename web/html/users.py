"""The administrators' user pages: /admin/users (search, the list as cards on a phone, "add a
user") and /admin/users/NAME (edit; deactivate or activate, reset the password, unlock, sign
out everywhere, each a confirmed POST). The rules (who may, self-lockout, what is recorded)
are ``engine.app.user_admin``'s; this module reads the request and renders the answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine.app import people, user_admin
from engine.errors import FormInvalid, NotPermitted
from web.db import services
from web.errors import BadRequest
from web.html.audit import page_arg
from web.html.auth import login_required
from web.i18n import _, get_locale
from web.oversight import signed_in_reader

bp = Blueprint("users", __name__)

ACTIONS = ("save", "deactivate", "activate", "reset", "unlock", "signout")


def _by_field(exc: FormInvalid) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in exc.errors:
        out.setdefault(e["field"] or "", []).append(e["message"])
    return out


def _form_values() -> dict[str, Any]:
    f = request.form
    return {"username": f.get("username", "").strip(), "full_name": f.get("full_name", ""),
            "email": f.get("email", ""), "manager": f.get("manager", ""), "password": f.get("password", ""),
            "groups": [g for g in f.getlist("groups") if g]}


def _page_context(reader, values: dict[str, Any]) -> dict[str, Any]:
    return {"choices": user_admin.group_choices(services(), reader, get_locale(), chosen=values["groups"]),
            "people": user_admin.people_offer(services()),
            "min_length": people.PasswordPolicy.of(services().config).min_length}


@bp.get("/admin/users")
@login_required
def index():
    reader = signed_in_reader()
    found = user_admin.search(services(), reader, request.args.get("q", ""), page_arg())
    return render_template("users.html", found=found, may_change=user_admin.rights(reader).change)


@bp.route("/admin/add-user", methods=["GET", "POST"])
@login_required
def add():
    """Add a user with a temporary password, which they change when they first sign in."""
    reader = signed_in_reader()
    user_admin.require_change(reader)  # the form too: not one its reader could never send
    values: dict[str, Any] = {"username": "", "full_name": "", "email": "", "manager": "", "password": "",
                              "groups": []}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        values = _form_values()
        try:
            added = user_admin.create(services(), reader, values["username"], values["password"],
                                      full_name=values["full_name"], email=values["email"],
                                      groups=values["groups"], manager=values["manager"])
        except FormInvalid as exc:
            errors, status = _by_field(exc), 422
        else:
            flash(_("User {user} added. The password you gave is temporary: they must choose their own "
                    "when they first sign in.", user=added.username), "ok")
            return redirect(url_for("users.show", username=added.username))
    return render_template("users_new.html", values=values, errors=errors,
                           **_page_context(reader, values)), status


@bp.route("/admin/users/<path:username>", methods=["GET", "POST"])
@login_required
def show(username: str):
    """One user: the edit form and the actions (each a POST with ``action`` and ``confirm``)."""
    reader = signed_in_reader()
    user = user_admin.get(services(), reader, username)  # 403 for non-admins, 404 for nobody
    values: dict[str, Any] = {"full_name": user.full_name, "email": user.email or "", "manager": user.manager or "",
                              "groups": list(user.groups), "password": ""}
    errors: dict[str, list[str]] = {}
    status, action = 200, ""
    if request.method == "POST":
        action = request.form.get("action", "save")
        if action not in ACTIONS:
            raise BadRequest(_("Unknown action '{action}'; reload the page and use its buttons.", action=action[:40]))
        if action != "save" and request.form.get("confirm") != "yes":
            raise BadRequest(_("This action needs its confirmation; open it on the page and press its button."))
        try:
            message = _act(reader, user, action, values)
        except FormInvalid as exc:
            errors, status = _by_field(exc), 422
        except NotPermitted as exc:  # self-lockout: shown beside the action that asked it
            errors, status = {action: [exc.message]}, 403
        else:
            if message:
                flash(message, "ok")
            return redirect(url_for("users.show", username=user.username))
    return render_template("users_edit.html", subject=user, values=values, errors=errors, action=action,
                           may_change=user_admin.rights(reader).change, **_page_context(reader, values)), status


def _act(reader, user: user_admin.UserDetail, action: str, values: dict[str, Any]) -> str:
    """Do ``action`` on ``user``; the message to flash. ``values`` takes what was typed."""
    s, name = services(), user.username
    if action == "save":
        typed = _form_values()
        values.update({k: typed[k] for k in ("full_name", "email", "manager", "groups")})
        changes = user_admin.edit(s, reader, name, full_name=values["full_name"], email=values["email"],
                                  groups=values["groups"], manager=values["manager"])
        return _("Saved.") if changes else _("Nothing changed.")
    if action in ("deactivate", "activate"):
        changed = user_admin.set_active(s, reader, name, action == "activate")
        if action == "activate":
            return _("{user} may sign in again.", user=name) if changed else _("{user} was already active.", user=name)
        return (_("{user} is deactivated; their sessions and API tokens have ended. Their records and "
                  "signatures stay.", user=name) if changed else _("{user} was already inactive.", user=name))
    if action == "reset":
        values["password"] = _form_values()["password"]
        user_admin.reset_password(s, reader, name, values["password"])
        return _("The password of {user} was reset and their sessions have ended. It is temporary: they must "
                 "choose their own when they next sign in.", user=name)
    if action == "unlock":
        cleared = user_admin.unlock(s, reader, name)
        return (_("{user} may try to sign in again at once.", user=name) if cleared
                else _("{user} had no failed sign-ins to clear.", user=name))
    user_admin.end_sessions(s, reader, name)
    return _("{user} is signed out everywhere: every session and API token has ended.", user=name)
