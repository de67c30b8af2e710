"""The one place where engine errors become HTTP responses: the status table and handlers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import Flask, Response, jsonify, render_template, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

from engine.app.uploads import Limits, limits, size_words
from engine.errors import (
    Busy,
    CommandRejected,
    Conflict,
    DefinitionInvalid,
    FileAltered,
    FormInvalid,
    InputTooLarge,
    InstanceClosed,
    NotFound,
    NotPermitted,
    QueryInvalid,
    RecordDamaged,
    SignatureInvalid,
    TaskClosed,
    TooSoon,
    WorkflowError,
)
from engine.i18n import _
from engine.language.yaml_edit import EditError
from web.i18n import use_the_apis

log = logging.getLogger("qualityflow.web")

# Stable ``code`` values for errors raised by Flask/Werkzeug themselves (API clients branch
# on ``code``, not on the human message).
HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "server_error",
    503: "busy",
}


class BadRequest(WorkflowError):
    """The request body or query is malformed (not JSON, wrong shape, wrong type)."""

    code = "bad_request"


class Unauthenticated(WorkflowError):
    """No credentials, or credentials that are wrong, forged or expired."""

    code = "unauthenticated"
    headers = {"WWW-Authenticate": 'Bearer realm="api"'}

    def __init__(self, message: str, *, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.headers = {"WWW-Authenticate": f'Bearer realm="api", error="{error}"'}


class TooManyAttempts(WorkflowError):
    """Too many failed log-ins for one user name; try again after ``retry_after`` seconds."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(max(1, int(retry_after)))}


# The one table from an error to its HTTP status (the engine's errors carry none): the most
# specific class an error is an instance of decides.
STATUS: dict[type[WorkflowError], int] = {
    WorkflowError: 400,
    BadRequest: 400,
    QueryInvalid: 400,
    Unauthenticated: 401,
    NotPermitted: 403,
    NotFound: 404,
    CommandRejected: 409,
    Conflict: 409,
    FileAltered: 409,
    RecordDamaged: 409,
    TaskClosed: 409,
    InstanceClosed: 409,
    FormInvalid: 422,
    SignatureInvalid: 422,
    DefinitionInvalid: 422,
    EditError: 422,
    InputTooLarge: 413,
    TooManyAttempts: 429,
    TooSoon: 429,
    Busy: 503,
}


def status_of(exc: WorkflowError) -> int:
    return next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


@dataclass
class Page:
    """What error.html shows: a heading and a message in the reader's language."""

    code: str
    title: str
    message: str
    errors: list = field(default_factory=list)


def _page_for(status: int, *, upload_limits: Limits | None = None) -> Page:
    """The error page of an HTTP status: what happened and what to do, in the reader's language."""
    if status == 404:
        return Page("not_found", _("Page not found"),
                    _("There is no page at this address. Check the link, or start again from the inbox."))
    if status == 503:
        return Page("busy", _("Server busy"),
                    _("The server is busy and did not record this; nothing was lost. Try again in a few seconds."))
    if status >= 500:
        return Page("server_error", _("Something went wrong"),
                    _("The server could not complete this request; it has been logged. Nothing you had "
                      "recorded was changed. Try again, and tell your administrator if it happens again."))
    if status == 413:
        return Page("too_large", _("File too large"), (
            _("What was sent is larger than one submission may carry ({total} in all; each file at most "
              "{size}). Nothing was saved, not even what you typed. Go back to the form, check what you "
              "typed (your browser may still show it), send fewer or smaller photos and save; add the rest "
              "afterwards.", total=size_words(upload_limits.per_request), size=size_words(upload_limits.per_file))
            if upload_limits else
            _("The file is larger than the limit. Nothing was saved, not even what you typed. Go back to the "
              "form, check what you typed (your browser may still show it), choose a smaller photo and send "
              "again.")))
    if status == 405:
        return Page("method_not_allowed", _("This address cannot be opened directly"),
                    _("This address only takes what a page's button sends; opening or reloading it does "
                      "nothing. Go back, or start again from the inbox."))
    if status == 400:
        return Page("bad_request", _("Request refused"),
                    _("The request could not be read. Go back, reload the page and try again."))
    if status == 401:
        return Page("unauthenticated", _("Sign-in needed"), _("Sign in, then open the page again."))
    if status == 403:
        return Page("forbidden", _("Not permitted"), _("You may not open this page. Ask your administrator "
                                                       "if you need it."))
    if status == 429:
        return Page("too_many_requests", _("Too many requests"), _("Wait a minute, then try again."))
    return Page(HTTP_CODES.get(status, "error"), _("Request refused"),
                _("The server did not accept this request. Go back, or start again from the inbox."))


def _back() -> str | None:
    """The page the request came from, when it is one of ours (the form to go back to)."""
    from urllib.parse import urlsplit

    ref = request.referrer
    if not ref:
        return None
    from web.html.auth import local_path

    parts, here = urlsplit(ref), urlsplit(request.host_url)
    if parts.netloc != here.netloc:
        return None
    # The one rule of every next=: a path such as //evil.example, though under our host in
    # the Referer, is another site once it is a link.
    return local_path(parts.path + (f"?{parts.query}" if parts.query else ""))


def _html(page: object, status: int, headers: dict | None = None) -> Response:
    """error.html; when even that fails (the database is down and the page header asks it
    who is signed in), a bare page that still says it in the reader's language."""
    try:
        body = render_template("error.html", error=page, back=_back())
    except Exception:  # noqa: BLE001 - the error page must not fail in turn
        log.exception("the error page could not be rendered")
        body = (f"<!doctype html><meta charset=utf-8><title>{escape(getattr(page, 'title', ''))}</title>"
                f"<h1>{escape(getattr(page, 'title', '') or _('Error'))}</h1><p>{escape(page.message)}</p>"  # type: ignore[attr-defined]
                f"<p><a href=\"/\">{escape(_('Back to the inbox'))}</a></p>")
    response = Response(body, status=status, mimetype="text/html")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register(app: Flask) -> None:
    @app.errorhandler(WorkflowError)
    def workflow_error(exc: WorkflowError):
        headers = getattr(exc, "headers", None) or {}
        if wants_json():
            response = jsonify(exc.to_dict())
            response.status_code = status_of(exc)
            for name, value in headers.items():
                response.headers[name] = value
            return response
        return _html(exc, status_of(exc), headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        if isinstance(exc, InternalServerError) and isinstance(exc.original_exception, WorkflowError):
            return workflow_error(exc.original_exception)
        if wants_json():
            if request.path.startswith("/api/") and request.blueprint is None:
                use_the_apis()  # no route matched: the API's own hook, which picks it, did not run
            code = HTTP_CODES.get(status) or (exc.name or "error").lower().replace(" ", "_")
            message = exc.description or exc.name
            if status == 413:
                limit = app.config.get("MAX_CONTENT_LENGTH")
                message = (_("the request body is too large (at most {limit} bytes); send less data", limit=limit)
                           if limit else _("the request body is too large; send less data"))
            elif status == 404:
                message = _("there is nothing at {path}; check the address", path=request.path)
            elif status == 405:
                message = _("{path} does not take {method}; allowed: {allowed}", path=request.path,
                            method=request.method, allowed=", ".join(getattr(exc, "valid_methods", None) or []))
            elif status >= 500:
                message = _page_for(status).message
            response = jsonify(code=code, message=message, errors=[])
            response.status_code = status
            for name, value in exc.get_headers():
                if name.lower() != "content-type":
                    response.headers[name] = value
            return response
        if status < 400:  # not an error (a redirect raised as an exception): as Werkzeug answers it
            return exc
        # Every status gets the styled page in the reader's language (Werkzeug's own is bare
        # English with no viewport: 980 px wide on a phone).
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        services = app.extensions.get("services")
        return _html(_page_for(status, upload_limits=limits(services.config) if services else None),
                     status, headers)
