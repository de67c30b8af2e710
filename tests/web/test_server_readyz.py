"""``/readyz``: ready only with a reachable database, the current schema and a worker seen
recently; each failing check says what to do."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import text

from engine.app import admin
from engine.app.database import WORKER_NAME
from web import create_app


@pytest.fixture
def app(db_url):
    app = create_app({"TESTING": True, "WF_OVERRIDES": {"database.url": db_url, "server.worker_seconds": 30}})
    yield app
    app.extensions["services"].database.engine.dispose()


def test_ready_once_a_worker_has_run_and_not_when_it_stalls(app):
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json["checks"]["database"] == "ok" and r.json["checks"]["schema"] == "ok"
    assert "no worker has run" in r.json["checks"]["worker"]
    services = app.extensions["services"]
    # The worker as `wf worker` opens it: its own connections, named on PostgreSQL.
    with admin.opened(services.config, name=WORKER_NAME) as worker_services:
        admin.worker(worker_services).run_once()
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json == {"status": "ready", "checks": {
            "database": "ok", "schema": "ok", "storage": "ok", "worker": "ok"}}
        if services.database.queue is not None:  # SQLite: the worker stalls (its beat ages)
            beat = services.database.queue.path.removesuffix(".writers") + ".worker"
            os.utime(beat, (time.time() - 120, time.time() - 120))
            r = client.get("/readyz")
            assert r.status_code == 503 and "last seen 120 s ago" in r.json["checks"]["worker"]
    if services.database.queue is None:  # PostgreSQL: the worker's connections are gone
        r = client.get("/readyz")
        assert r.status_code == 503 and "no worker has run" in r.json["checks"]["worker"]


def test_not_ready_when_the_schema_is_not_the_programs(app):
    services = app.extensions["services"]
    admin.worker(services).run_once()
    with services.database.writing() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '0001'"))  # an older one
    r = app.test_client().get("/readyz")
    assert r.status_code == 503 and "wf db upgrade" in r.json["checks"]["schema"]
    with services.database.writing() as s:  # one a newer release migrated to: no upgrade here helps
        s.execute(text("UPDATE alembic_version SET version_num = '0099_from_a_newer_release'"))
    r = app.test_client().get("/readyz")
    assert r.status_code == 503 and "newer release" in r.json["checks"]["schema"]
    assert "wf db upgrade" not in r.json["checks"]["schema"]


def test_no_worker_check_when_none_is_expected(db_url):
    app = create_app({"TESTING": True, "WF_OVERRIDES": {"database.url": db_url, "server.worker_seconds": None}})
    try:
        r = app.test_client().get("/readyz")
        assert r.status_code == 200 and "worker" not in r.json["checks"]
    finally:
        app.extensions["services"].database.engine.dispose()
