"""Flask app factory: one blueprint per area, the engine's ``Workflow`` shared by requests."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask

from engine.config import load_config
from engine.service import Workflow, utcnow
from engine.store import make_engine, session_factory, upgrade


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``test_config`` may hold Flask settings and ``WF_OVERRIDES`` (dotted
    config keys, e.g. ``{"database.url": ...}``), ``WF_CONFIG`` (path) and ``WF_CLOCK``."""
    test_config = dict(test_config or {})
    cfg = load_config(test_config.pop("WF_CONFIG", None), overrides=test_config.pop("WF_OVERRIDES", None))
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=cfg.get("secret_key") or os.environ.get("WF_SECRET_KEY") or _secret(cfg),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(cfg.get("server", "secure_cookies", default=False)),
        MAX_CONTENT_LENGTH=int(cfg.get("uploads", "max_bytes", default=10 * 1024 * 1024)) + 64 * 1024,
        WF=cfg,
    )
    app.config.update(test_config)

    engine = make_engine(cfg.database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    workflow = Workflow(cfg, clock=test_config.get("WF_CLOCK") or utcnow)
    with sessions.begin() as session:
        workflow.load_procedures(session)
    app.extensions["db_engine"] = engine
    app.extensions["sessions"] = sessions
    app.extensions["workflow"] = workflow

    from web import db, errors, health

    db.init_app(app)
    app.register_blueprint(health.bp)
    errors.register(app)
    for name in ("auth", "inbox", "instances", "notifications", "api", "audit", "ledgers", "kpi",
                 "audit_api", "editor"):
        _register_optional(app, name)
    return app


def _register_optional(app: Flask, name: str) -> None:
    """Blueprints of areas built so far; each module exposes ``bp`` (and ``init_app`` if needed)."""
    import importlib

    try:
        module = importlib.import_module(f"web.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"web.{name}":
            raise
        return
    app.register_blueprint(module.bp)
    if hasattr(module, "init_app"):
        module.init_app(app)


def _secret(cfg) -> str:
    """A random key kept under var/ so sessions survive restarts of a one-machine install."""
    path = cfg.path("paths", "secret_file", default="var/secret_key")
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
