"""Flask app factory: one blueprint per area, the engine's ``Workflow`` shared by requests."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask

from engine import json_codec
from engine.app.service import utcnow
from engine.app.services import open_services
from engine.app.uploads import limits as upload_limits
from engine.config import load_config


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
        # What one submission may carry in files, and room for its typed fields.
        MAX_CONTENT_LENGTH=upload_limits(cfg).per_request + 64 * 1024,
        WF=cfg,
    )
    app.config.update(test_config)
    # Answers keep the order the app builds them in (sorting the keys of every object of an
    # instance with its history is work no client needs), written by orjson (engine/json_codec).
    from flask.json.provider import _default

    app.json_provider_class = json_codec.flask_provider(_default)
    app.json = app.json_provider_class(app)

    # The file limits the forms show and check as files are chosen (web/static/forms.js).
    app.jinja_env.globals["upload_limits"] = upload_limits(cfg)
    services = open_services(cfg, clock=test_config.get("WF_CLOCK") or utcnow)
    app.extensions["services"] = services
    app.extensions["workflow"] = services.workflow

    _register(app)
    return app


def _register(app: Flask) -> None:
    """Every blueprint and hook, in the order requests meet them: nothing is registered as a
    side effect of an import, so a missing area fails start-up instead of vanishing."""
    from web import db, errors, i18n, metrics, oversight, qr
    from web.api import audit as audit_api
    from web.api import v1 as api
    from web.html import (
        audit,
        auth,
        editor,
        editor_forms,
        editor_try,
        health,
        inbox,
        instances,
        kpi,
        ledgers,
        notifications,
        org,
        people,
        task_actions,
        users,
    )

    for blueprint in (health.bp, auth.bp, inbox.bp, instances.bp, notifications.bp, api.bp,
                      audit.bp, ledgers.bp, kpi.bp, audit_api.bp, editor.bp, editor_forms.bp, editor_try.bp, org.bp,
                      people.bp, task_actions.bp, users.bp):
        app.register_blueprint(blueprint)
    db.init_app(app)
    metrics.init_app(app)  # first: its timer starts before the other hooks run
    i18n.init_app(app)
    qr.init_app(app)  # record_qr() for the record and dossier pages
    errors.register(app)
    # Hooks run in the order they are added: sign-in (web) and the token check (API, a
    # blueprint hook added above) come before the auditors' write guard.
    auth.init_app(app)
    api.init_app(app)
    oversight.init_app(app)
    editor.init_app(app)
    notifications.init_app(app)
    inbox.init_app(app)


def _secret(cfg) -> str:
    """A random key kept under var/ so sessions survive restarts of a one-machine install."""
    path = cfg.path("paths", "secret_file", default="var/secret_key")
    if path.exists():
        kept = path.read_text().strip()
        if kept:
            return kept
        # An emptied file (`: > var/secret_key`, a copy that lost its content) would sign
        # nothing and fail every page that opens a session; a new key signs everyone out,
        # as losing the file does.
        logging.getLogger("qualityflow.server").warning(
            "%s was empty; wrote a new secret key to it (everybody signs in again)", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
