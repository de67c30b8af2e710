"""Sign-in with a server-side checked password, the session cookie, CSRF and lock-out.

* The session (Flask's signed cookie, HttpOnly, SameSite=Lax, Secure when
  ``server.secure_cookies`` is set) holds the user name and a CSRF token.
* Every form POST (anything but GET/HEAD/OPTIONS outside ``/api/``) must carry the session's
  token in the hidden input ``csrf_token`` (or the ``X-CSRF-Token`` header); otherwise 400.
  The API authenticates with bearer tokens and is exempt.
* ``LOCK_AFTER`` failed sign-ins for one user name from one address within ``WINDOW`` lock
  that pair for ``WINDOW``; the message says when to retry (``engine.app.people.Door``, kept
  in the database, so it holds across gunicorn workers); the API's token endpoint uses the
  same rule, per user name.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from engine.app import people
from engine.app.people import Person as SessionUser
from web import i18n
from web.db import services
from web.i18n import _

bp = Blueprint("auth", __name__)

_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))


# --------------------------------------------------------------------------- helpers


def current_user() -> SessionUser | None:
    """The signed-in user of this request, or None."""
    return getattr(g, "user", None)


def current_username() -> str | None:
    user = current_user()
    return user.username if user else None


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            flash(_("Please sign in to continue."), "info")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def _safe_next(target: str | None) -> str:
    """Only local paths, so the login form cannot be used to redirect elsewhere."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("inbox.index") if "inbox.index" in _endpoints() else "/"


def _endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


def _address() -> str:
    return request.remote_addr or "?"


def _load_user(username: str) -> SessionUser | None:
    return people.active_person(services(), username)


# --------------------------------------------------------------------------- hooks


def _before_request() -> Any:
    g.user = None
    name = session.get("user")
    if name and request.endpoint != "static":
        g.user = _load_user(name)
        if g.user is None:  # deleted or deactivated since sign-in
            session.pop("user", None)
    g.locale = (g.user.locale if g.user and g.user.locale in i18n.LOCALES
                else session.get("locale") if session.get("locale") in i18n.LOCALES
                else i18n.default_locale())
    i18n.use(g.locale)
    if request.method not in _SAFE_METHODS and not request.path.startswith("/api/"):
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
        expected = session.get("csrf") or ""
        if not expected or not secrets.compare_digest(sent, expected):
            return render_template("error.html", error=_CsrfError()), 400
    return None


class _CsrfError:
    code = "csrf_failed"
    errors: list = []

    @property
    def message(self) -> str:
        return _("The form has expired or was not sent by this site (missing or wrong CSRF token). "
                 "Reload the page and try again.")


def _security_headers(response: Any) -> Any:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def init_app(app: Flask) -> None:
    app.extensions["login_throttle"] = people.Door(app.extensions["services"], "web")
    app.before_request(_before_request)
    app.after_request(_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_user"] = current_user


# --------------------------------------------------------------------------- views


@bp.route("/login", methods=["GET", "POST"])
def login():
    from flask import current_app

    throttle: people.Door = current_app.extensions["login_throttle"]
    error = None
    username = ""
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        attempt = throttle.sign_in(username, password, _address())
        if attempt.username is None:
            error = (_locked_message(attempt.locked_until) if attempt.locked_until
                     else _("The user name or password is wrong."))
            status = 429 if attempt.locked_until else 401
        else:
            target = _safe_next(request.args.get("next"))
            session.clear()  # a new session at sign-in (no fixation)
            session["user"] = attempt.username
            csrf_token()
            return redirect(target)
    return render_template("login.html", error=error, username=username), status


def _locked_message(until: datetime) -> str:
    minutes = max(1, int(((until - datetime.now(UTC)).total_seconds() + 59) // 60))
    at = until
    return _("Too many failed sign-ins for this account from your address. "
             "Try again after {time} ({minutes} min).", time=i18n.fmt_time(at), minutes=minutes)


@bp.post("/logout")
def logout():
    session.clear()
    flash(_("You have been signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/locale/<lang>")
def set_locale(lang: str):
    """Switch the UI language; stored on the user (or in the session before sign-in)."""
    if lang not in i18n.LOCALES:
        abort(404)
    session["locale"] = lang
    name = current_username()
    if name:
        people.set_locale(services(), name, lang)
    return redirect(_safe_next(request.form.get("next")))
