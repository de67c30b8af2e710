"""Sign-in with a server-side checked password, the session cookie, CSRF and lock-out.

* The session (Flask's signed cookie, HttpOnly, SameSite=Lax, Secure when the request came
  over HTTPS, directly or through a trusted proxy, or always with ``server.secure_cookies``) holds the user name, the user's session version when
  it was issued, and a CSRF token. A cookie whose version is no longer the user's signs
  nobody in: signing out bumps it, so a cookie copied before sign-out is worthless, and so
  do a password change, deactivation and ``wf user tokens NAME --revoke``
  (``engine.app.people``).
* Every form POST (anything but GET/HEAD/OPTIONS outside ``/api/``) must carry the session's
  token in the hidden input ``csrf_token`` (or the ``X-CSRF-Token`` header); otherwise 400.
  The API authenticates with bearer tokens and is exempt.
* Failed sign-ins count per user name and client address (``engine.app.people.Door``, kept
  in the database, so it holds across gunicorn workers): the attacker's address waits,
  the user's own does not; the message says when to retry. The client address is the
  connection's, or ``X-Forwarded-For`` only from a proxy in ``server.trusted_proxies``
  (``client_address``); the API's token endpoint uses the same rule.
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
import time
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
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface

from engine.app import people
from engine.app.people import Person as SessionUser
from web import i18n
from web.db import services
from web.i18n import _

bp = Blueprint("auth", __name__)

_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))
# What a user whose password has expired may still reach: everything else sends them to
# the change-password page (policy ``auth.password.max_age_days``).
_WHILE_EXPIRED = frozenset(("auth.change_password", "auth.logout", "auth.set_locale", "static", None))


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


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this server, else None: the one rule for every
    ``next=``. Browsers read ``/\\evil.example`` and ``/\t/evil.example`` as
    ``//evil.example`` (another site), so backslashes and control characters are refused
    as well as a scheme or a host."""
    if not target or not target.startswith("/") or target.startswith("//") or len(target) > 2000:
        return None
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _safe_next(target: str | None) -> str:
    """Only local paths, so the login form cannot be used to redirect elsewhere."""
    return local_path(target) or (url_for("inbox.index") if "inbox.index" in _endpoints() else "/")


def _endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


@functools.cache
def _networks(raw: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in raw)


def _trusted(address: str | None) -> bool:
    """Whether ``address`` is one of config ``server.trusted_proxies`` (addresses or
    networks: ``[127.0.0.1, 10.0.0.0/8]``); only those may say who the client is."""
    from flask import current_app

    raw = tuple(str(n) for n in (current_app.config["WF"].get("server", "trusted_proxies", default=None) or ()))
    if not address or not raw:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(raw))


def client_address() -> str:
    """The client's address: the connection's, or, when that is a trusted proxy, the last
    address in ``X-Forwarded-For`` that is not one (entries further left were written by
    the client and prove nothing). Without a trusted proxy the header is ignored, so a
    client cannot pick the address its failed sign-ins count against; nor, on IPv6, escape
    its count with a new address of its own network (``_counted``)."""
    address = request.remote_addr or "?"
    if not _trusted(address):
        return _counted(address)
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            return _counted(hop[:64])
    return _counted(address)


def _counted(address: str) -> str:
    """The address failures count against: an IPv6 client by its /64 network, since one
    machine is routinely given a whole /64 and can send each guess from a new address of
    it (an IPv4 address mapped into IPv6 is that IPv4 address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip.packed, 64), strict=False))
    return address


def plain_number(text: str, most_digits: int = 18) -> int | None:
    """A number a page sent (an id, a version, a page), or None for anything else. isascii:
    str.isdigit takes "²" for a digit, which int() refuses; the length: int() refuses more
    than 4,300 digits, and no number a page sends has more than ``most_digits``."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= most_digits else None


def is_https() -> bool:
    """Whether the client reached us over HTTPS: directly, or as a trusted proxy says
    (``X-Forwarded-Proto``)."""
    if request.is_secure:
        return True
    return (_trusted(request.remote_addr)
            and request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https")


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, ``Secure`` whenever the request came over HTTPS
    (behind a trusted proxy too), not only when ``server.secure_cookies`` says so."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (has_request_context() and is_https())


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:g}"


def _address() -> str:
    return client_address()


def _load_user(username: str, version: Any) -> SessionUser | None:
    if not isinstance(version, int):  # a cookie written before versions: version 0
        version = 0 if version is None else -1
    return people.active_person(services(), username, version)


# --------------------------------------------------------------------------- hooks


def _now() -> float:
    return time.time()


def _idle_seconds() -> int:
    from flask import current_app

    return int(current_app.config["SESSION_IDLE_SECONDS"])


def _idle_too_long() -> bool:
    """Whether the session has seen no request for ``auth.token_hours``; else it notes this
    one (at most once a minute, so that not every answer sets a cookie)."""
    now = int(_now())
    seen = session.get("t")
    if not isinstance(seen, int) or now - seen > _idle_seconds():
        return True
    if now - seen >= 60:
        session["t"] = now
    return False


def _before_request() -> Any:
    g.user = None
    name = session.get("user")
    if name and request.endpoint != "static":
        g.user = _load_user(name, session.get("v"))
        # A signed cookie is valid wherever it is copied to; without a bound on idleness a
        # PC left signed in, or a copy of its cookie, would sign its user in for ever.
        if g.user is not None and _idle_too_long():
            if g.user.locale in i18n.LOCALES:  # the sign-in page it leads to keeps their language
                session["locale"] = g.user.locale
            g.user = None
            i18n.use(session.get("locale") if session.get("locale") in i18n.LOCALES else i18n.default_locale())
            flash(_("You were signed out after {hours} hours without activity; sign in again.",
                    hours=_hours(_idle_seconds())), "info")
        if g.user is None:  # deleted, deactivated, signed out everywhere or idle since sign-in
            session.pop("user", None)
            session.pop("v", None)
            session.pop("t", None)
    g.locale = (g.user.locale if g.user and g.user.locale in i18n.LOCALES
                else session.get("locale") if session.get("locale") in i18n.LOCALES
                else i18n.default_locale())
    i18n.use(g.locale)
    if request.method not in _SAFE_METHODS and not request.path.startswith("/api/"):
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
        expected = session.get("csrf") or ""
        if not expected or not secrets.compare_digest(sent, expected):
            return render_template("error.html", error=_CsrfError()), 400
    bad = _nul_field()
    if bad is not None:
        from web.errors import BadRequest

        message = _NulError(bad).message
        raise BadRequest(message, errors=[{"field": bad[:100], "message": message}])
    if (g.user is not None and request.endpoint not in _WHILE_EXPIRED
            and not request.path.startswith("/api/") and (why := forced_change(g.user))):
        flash(why, "info")
        return redirect(url_for("auth.change_password"))
    return None


class _NulError:
    code = "bad_request"
    errors: list = []

    def __init__(self, field: str) -> None:
        self.field = field

    @property
    def message(self) -> str:
        return _("The field '{field}' contains a NUL character (\\0), which no field can hold; "
                 "remove it (it often comes from pasting binary data) and send again.", field=self.field[:100])


class _CsrfError:
    code = "csrf_failed"
    errors: list = []

    @property
    def message(self) -> str:
        return _("The form has expired or was not sent by this site (missing or wrong CSRF token). "
                 "Reload the page and try again.")


# Scripts only from this server's files (no inline script or handler, no eval): injected
# markup cannot run. Inline styles stay allowed (the SVG charts and graphs use attributes).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def _security_headers(response: Any) -> Any:
    # Records, names, files and tokens must not stay in a shared PC's browser cache (Back
    # after sign-out) or a proxy's: only the server's own files may be kept. A view that
    # chose a private cache for itself (the people picker, a minute) keeps its choice;
    # send_file's default "no-cache" still lets a browser store the file, so it yields.
    if not has_request_context() or request.endpoint != "static":
        chosen = response.headers.get("Cache-Control")
        if chosen is None:  # most answers: the header as text, not werkzeug's parsed object (16 µs)
            response.headers["Cache-Control"] = "no-store"
        elif not response.cache_control.private:
            response.cache_control.no_store = True
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        # camera=(self): the 扫码 buttons read codes with this page's own camera (web/static/scan.js)
        response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
    if has_request_context() and is_https():
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _nul_field() -> str | None:
    """The first parameter (of the path or query, a posted field's name, value or file name)
    holding a NUL character, which no text can hold (PostgreSQL refuses it in text and
    JSON)."""
    for key, value in (request.view_args or {}).items():
        if isinstance(value, str) and "\x00" in value:
            return key
    for key, values in request.args.lists():
        if "\x00" in key or any("\x00" in v for v in values):
            return key.replace("\x00", "")
    if request.method in _SAFE_METHODS or request.path.startswith("/api/"):
        return None  # the API checks its JSON bodies itself
    for key, values in request.form.lists():
        if "\x00" in key or any("\x00" in v for v in values):
            return key.replace("\x00", "")
    for key, upload in request.files.items(multi=True):
        if "\x00" in key or "\x00" in (upload.filename or ""):
            return key.replace("\x00", "")
    return None


def init_app(app: Flask) -> None:
    app.extensions["login_throttle"] = people.door(app.extensions["services"], "web")
    # A page session lives as long as a token, counted from its last request.
    app.config.setdefault("SESSION_IDLE_SECONDS", people.sign_in_seconds(app.extensions["services"]))
    app.session_interface = SessionCookies()
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
            session["v"] = people.session_version(services(), attempt.username)
            session["t"] = int(_now())
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
    # The cookie is signed, not stored: clearing it here would leave any copy of it valid.
    # Bumping the session version ends this session, its copies, and the user's other
    # sessions and API tokens.
    name = current_username()
    if name:
        people.end_sessions(services(), name)
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


def forced_change(person: Any) -> str | None:
    """Why the signed-in person must choose a password before anything else
    (``people.change_reason``), in the page's words; None when they need not."""
    reason = people.change_reason(services(), person)
    if reason == people.TEMPORARY:
        return _("Your password was set by an administrator and is temporary: choose your own to continue.")
    if reason == people.EXPIRED:
        return _("Your password has expired: choose a new one to continue.")
    return None


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    """The signed-in user changes their password (forced here once it has expired)."""
    from engine.errors import FormInvalid, NotPermitted

    user = current_user()
    assert user is not None
    policy = people.PasswordPolicy.of(services().config)
    error, problems, status = None, [], 200
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("confirm_password", ""):
            error, status = _("The two new passwords differ; type the same one twice."), 422
        else:
            try:
                people.change_password(services(), user.username, request.form.get("current_password", ""), new,
                                       client_address())
            except NotPermitted as exc:
                error, status = exc.message, 403
            except FormInvalid as exc:
                problems, status = [e["message"] for e in exc.errors], 422
            else:
                # The change ended every session, this one too: start a fresh one.
                csrf = session.get("csrf")
                session["v"] = people.session_version(services(), user.username)
                session["csrf"] = csrf
                flash(_("Your password has been changed; your other sessions have ended."), "info")
                return redirect(_safe_next(None))
    return render_template("change_password.html", error=error, problems=problems,
                           min_length=policy.min_length,
                           forced=forced_change(user)), status
