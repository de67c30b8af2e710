"""The one place where engine errors become HTTP responses: the status table and handlers."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from engine.errors import (
    CommandRejected,
    Conflict,
    DefinitionInvalid,
    FormInvalid,
    InputTooLarge,
    InstanceClosed,
    NotFound,
    NotPermitted,
    QueryInvalid,
    SignatureInvalid,
    TaskClosed,
    WorkflowError,
)
from engine.language.yaml_edit import EditError

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
    TaskClosed: 409,
    InstanceClosed: 409,
    FormInvalid: 422,
    SignatureInvalid: 422,
    DefinitionInvalid: 422,
    EditError: 422,
    InputTooLarge: 413,
    TooManyAttempts: 429,
}


def status_of(exc: WorkflowError) -> int:
    return next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register(app: Flask) -> None:
    @app.errorhandler(WorkflowError)
    def workflow_error(exc: WorkflowError):
        if wants_json():
            response = jsonify(exc.to_dict())
            response.status_code = status_of(exc)
            for name, value in (getattr(exc, "headers", None) or {}).items():
                response.headers[name] = value
            return response
        return render_template("error.html", error=exc), status_of(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if wants_json():
            status = exc.code or 500
            code = HTTP_CODES.get(status) or (exc.name or "error").lower().replace(" ", "_")
            message = exc.description or exc.name
            if status == 413:
                limit = app.config.get("MAX_CONTENT_LENGTH")
                message = ("the request body is too large"
                           + (f" (at most {limit} bytes)" if limit else "") + "; send less data")
            response = jsonify(code=code, message=message, errors=[])
            response.status_code = status
            for name, value in exc.get_headers():
                if name.lower() != "content-type":
                    response.headers[name] = value
            return response
        return exc
