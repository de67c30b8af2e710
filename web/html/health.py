"""``GET /healthz``: 200 when the server and its database answer."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from web.db import reading

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        with reading() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means "not ready"
        return jsonify(status="unavailable", error=type(exc).__name__), 503
    return jsonify(status="ok")
