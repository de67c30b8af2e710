"""``/metrics`` (prometheus-client) counts every request once whichever gunicorn worker
answered it and whichever answers the scrape; the database gauges match the database; with
``server.json_logs`` each request is one JSON line with its user, route, status, duration
and request id."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.web.test_web_ui import RECEIPT, app, login, start_instance, task_of  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]


def _value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` in a Prometheus text page (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_requests_are_counted_by_route_and_the_gauges_read_the_database(app):  # noqa: F811
    client = app.test_client()
    before = client.get("/metrics").text
    for _ in range(3):
        client.get("/healthz")
    insp = login(app, "insp")
    iid = start_instance(insp)
    tid = task_of(insp, iid)
    assert insp.post(f"/tasks/{tid}", {**RECEIPT, "action": "submit"}).status_code == 302
    page = client.get("/metrics")
    assert page.status_code == 200 and page.mimetype == "text/plain"
    text = page.text
    ok = {"method": "GET", "route": "/healthz", "status": "200"}
    assert _value(text, "qualityflow_http_requests_total", **ok) - \
        _value(before, "qualityflow_http_requests_total", **ok) == 3
    # One series per route, not per task: the id is not a label value.
    assert _value(text, "qualityflow_http_requests_total", method="POST", route="/tasks/<task_id>", status="302") >= 1
    assert tid not in text
    assert _value(text, "qualityflow_step_seconds_count") - _value(before, "qualityflow_step_seconds_count") == 1
    assert _value(text, "qualityflow_open_tasks") == 1 and _value(text, "qualityflow_overdue_tasks") == 0
    assert "qualityflow_worker_lag_seconds 0.0" in text
    assert 'qualityflow_deliveries{status="failed"} 0.0' in text


def test_json_logs_one_line_per_request(db_url, tmp_path, capsys):
    from web import create_app

    web_app = create_app({"TESTING": True, "WF_OVERRIDES": {"database.url": db_url, "server.json_logs": True,
                                                         "paths.uploads": str(tmp_path / "u")}})
    try:
        from engine import store
        with web_app.extensions["services"].database.writing() as s:
            store.add_user(s, "insp", "pw-insp", ["qa-inspectors"], full_name="检验员甲")
        capsys.readouterr()
        insp = login(web_app, "insp")
        r = insp.c.get("/", headers={"X-Request-ID": "trace-42"})
        assert r.headers["X-Request-ID"] == "trace-42"
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        mine = [e for e in lines if e.get("request_id") == "trace-42"]
        assert len(mine) == 1, lines
        assert mine[0]["user"] == "insp" and mine[0]["route"] == "/" and mine[0]["status"] == 200
        assert mine[0]["duration_ms"] >= 0 and mine[0]["event"] == "request" and "timestamp" in mine[0]
        assert len(lines) >= 4  # the log-in pages too, each its own line
    finally:
        web_app.extensions["services"].database.engine.dispose()


@pytest.mark.skipif(os.name != "posix", reason="gunicorn")
def test_counts_are_summed_over_gunicorn_workers(tmp_path):
    from bench.soak import free_port  # noqa: PLC0415 - the same helper as the soak

    port = free_port()
    env = {**os.environ, "WF_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}", "WF_CONFIG": str(ROOT / "config.yaml"),
           "WF_SECRET_KEY": secrets.token_urlsafe(48)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(Path(sys.executable).parent / "wf"), "serve", "--port", str(port), "--workers", "3"],
                            env=env, cwd=tmp_path, start_new_session=True, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                c.close()
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        for _ in range(60):  # a new connection each: the workers share them out
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/no-such-page-for-metrics")
            r = c.getresponse()
            r.read()
            assert r.status == 404
            c.close()
        for _ in range(6):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/metrics")
            r = c.getresponse()
            text = r.read().decode()
            c.close()
            assert _value(text, "qualityflow_http_requests_total", route="unmatched", status="404") == 60, text[:2000]
        booted = re.findall(r"Booting worker with pid: (\d+)", (tmp_path / "server.log").read_text())
        assert len(set(booted)) == 3  # the 60 requests went to three processes, each counting its own
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()
