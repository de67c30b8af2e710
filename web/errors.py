"""The one place where engine errors become HTTP responses."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from engine.errors import WorkflowError


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register(app: Flask) -> None:
    @app.errorhandler(WorkflowError)
    def workflow_error(exc: WorkflowError):
        if wants_json():
            return jsonify(exc.to_dict()), exc.http_status
        return render_template("error.html", error=exc), exc.http_status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if wants_json():
            code = (exc.name or "error").lower().replace(" ", "_")
            return jsonify(code=code, message=exc.description or exc.name, errors=[]), exc.code
        return exc
