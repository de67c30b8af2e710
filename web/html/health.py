"""``GET /healthz``: 200 when the server and its database answer (liveness).
``GET /readyz``: 200 when it can serve (readiness): the database answers, its schema is
current, the disks it writes to have room (``server.min_free_mb``, default 100), and a
worker finished a pass recently (``server.worker_seconds`` in config.yaml, default 60;
``null`` when no worker is expected)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from engine.app.services import MIN_FREE_MB, readiness
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
    min_free = cfg.get("server", "min_free_mb", default=MIN_FREE_MB)
    found = readiness(services(), worker_max_age=None if age is None else float(age),
                      min_free=int(float(min_free) * 2**20))
    return jsonify(status="ready" if found.ready else "not ready", checks=found.checks), \
        200 if found.ready else 503
