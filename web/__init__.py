"""Flask app factory: one blueprint per area, the engine's ``Workflow`` shared by requests."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from engine import json_codec
from engine.app.service import utcnow
from engine.app.services import open_services
from engine.app.uploads import limits as upload_limits
from engine.config import MAKE_SECRET, Config, load_config, secret_key_weakness
from engine.errors import WorkflowError
from engine.i18n import _


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``test_config`` may hold Flask settings and ``WF_OVERRIDES`` (dotted
    config keys, e.g. ``{"database.url": ...}``), ``WF_CONFIG`` (path) and ``WF_CLOCK``."""
    test_config = dict(test_config or {})
    cfg = load_config(test_config.pop("WF_CONFIG", None), overrides=test_config.pop("WF_OVERRIDES", None))
    # A key the operator set is checked before anything is opened or written; a test's own
    # ``SECRET_KEY`` (a Flask setting, no operator's) is taken as it is.
    key = test_config.get("SECRET_KEY") or _configured_secret(cfg)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=key,
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
    if not key:  # made once the database is open: a first start that fails leaves no var/ behind
        app.config["SECRET_KEY"] = _new_secret(cfg)

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


def _configured_secret(cfg: Config) -> str | None:
    """The key that signs sessions and API tokens: ``WF_SECRET_KEY``, else ``secret_key`` in
    config.yaml, else the one an earlier start kept in var/secret_key; None when there is
    none yet. A key anyone could guess or try is refused in one line naming where it is set
    and how to make a good one (the key itself is not repeated)."""
    env = os.environ.get("WF_SECRET_KEY")
    configured = str(cfg.get("secret_key") or "")
    if configured:
        weak = secret_key_weakness(configured)
        if weak is not None:
            setting = ("WF_SECRET_KEY" if env else
                       _("secret_key in {file}", file=cfg.file or cfg.root / "config.yaml"))
            raise WorkflowError(_(
                "{setting} {weakness}: it signs the session cookies and API tokens; make a key with "
                "`{command}` and set it there, or remove it to have a random one made and kept in {file}",
                setting=setting, weakness=weak, command=MAKE_SECRET, file=_secret_file(cfg)))
        return configured
    path = _secret_file(cfg)
    kept = path.read_text().strip() if path.exists() else ""
    if kept:
        weak = secret_key_weakness(kept)
        if weak is not None:
            raise WorkflowError(_(
                "the secret key in {file} {weakness}: it signs the session cookies and API tokens; delete the "
                "file to have a random one made at the next start (everybody signs in again), or write a key "
                "made with `{command}` into it", file=path, weakness=weak, command=MAKE_SECRET))
        return kept
    if path.exists():
        # An emptied file (`: > var/secret_key`, a copy that lost its content) would sign
        # nothing and fail every page that opens a session; a new key signs everyone out,
        # as losing the file does.
        logging.getLogger("qualityflow.server").warning(
            "%s was empty; wrote a new secret key to it (everybody signs in again)", path)
    return None


def _secret_file(cfg: Config) -> Path:
    return cfg.path("paths", "secret_file", default="var/secret_key")


def _new_secret(cfg: Config) -> str:
    """A random key kept under var/ so sessions survive restarts of a one-machine install."""
    path = _secret_file(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
