"""``GET /healthz``: 200 when the server and its database answer."""

from __future__ import annotations

from flask import Blueprint, jsonify

from web.db import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    problem = services().database.ping()
    if problem is not None:
        return jsonify(status="unavailable", error=problem), 503
    return jsonify(status="ok")
