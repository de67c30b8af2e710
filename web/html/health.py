"""``GET /healthz``: 200 when the server and its database answer (liveness).
``GET /readyz``: 200 when it can serve (readiness): the database answers, its schema is
current, and a worker finished a pass recently (``server.worker_seconds`` in config.yaml,
default 60; ``null`` when no worker is expected)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from engine.app.services import readiness
from web.db import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    problem = services().database.ping()
    if problem is not None:
        return jsonify(status="unavailable", error=problem), 503
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    cfg = current_app.config["WF"]
    age = cfg.get("server", "worker_seconds", default=60)
    found = readiness(services(), worker_max_age=None if age is None else float(age))
    return jsonify(status="ready" if found.ready else "not ready", checks=found.checks), \
        200 if found.ready else 503
