"""Prometheus metrics at ``/metrics`` and JSON request logs, both with maintained libraries
(prometheus-client, structlog).

Under gunicorn each web worker is its own process: ``wf serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at an empty folder before anything imports prometheus-client,
every process writes its counters there, and a scrape (answered by any worker) adds them all
up (``MultiProcessCollector``). The database gauges (open and overdue tasks, worker lag,
deliveries) are read by the scrape itself, once, whichever worker answers.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from engine.app.services import figures, storage_free
from web.db import services

REQUESTS = Counter("qualityflow_http_requests", "HTTP requests answered, by route and status",
                   ["method", "route", "status"])
LATENCY = Histogram("qualityflow_http_request_seconds", "Time to answer, by route", ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
STEPS = Histogram("qualityflow_step_seconds", "Time to record a step (form, decision or signature), "
                  "answered successfully", buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
# The endpoints that record a step: the API's complete and the task page's POST.
STEP_ENDPOINTS = {"api.complete", "inbox.task"}


class DatabaseGauges:
    """Gauges read from the database at scrape time (one process reads them: no sums)."""

    def collect(self):
        found = figures(services())
        # Whether the database answered this scrape: alert on 0. The request counters still
        # come (a scrape that failed whole lost them too, and said nothing about what was down).
        yield GaugeMetricFamily("qualityflow_database_up", "1 when the database answered this scrape, else 0",
                                value=0 if found is None else 1)
        if found is None:
            return
        yield GaugeMetricFamily("qualityflow_open_tasks", "Open tasks", value=found.open_tasks)
        yield GaugeMetricFamily("qualityflow_overdue_tasks", "Open tasks past their due time",
                                value=found.overdue_tasks)
        yield GaugeMetricFamily("qualityflow_worker_lag_seconds",
                                "How long the oldest due timer has waited for a worker", value=found.worker_lag)
        seen = GaugeMetricFamily("qualityflow_worker_last_pass_seconds",
                                 "Seconds since a worker last finished a pass (absent: never)")
        if found.worker_seen is not None:
            seen.add_metric([], found.worker_seen)
        yield seen
        free = GaugeMetricFamily("qualityflow_storage_free_bytes", "Free bytes on the disk of each place the "
                                 "server writes to (SQLite database, uploads): alert well before 0", labels=["path"])
        for where, room in storage_free(services()).items():
            free.add_metric([where], room)
        yield free
        deliveries = GaugeMetricFamily("qualityflow_deliveries", "E-mail and webhook deliveries by status "
                                       "(failed: given up after every retry)", labels=["status"])
        for status in ("pending", "sent", "failed"):
            deliveries.add_metric([status], found.deliveries.get(status, 0))
        yield deliveries


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics() -> Response:
    gauges = CollectorRegistry()
    gauges.register(DatabaseGauges())
    return Response(generate_latest(_registry()) + generate_latest(gauges), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """``/metrics``, the request counters, and (``server.json_logs``) one JSON line per request."""
    app.add_url_rule("/metrics", "metrics", metrics)
    json_logs = bool(app.config["WF"].get("server", "json_logs", default=False))
    log = _json_logger() if json_logs else None

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        g.request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex

    @app.after_request
    def _count(response: Response) -> Response:
        took = time.perf_counter() - g.get("started", time.perf_counter())
        # The rule, not the path: /tasks/<task_id> is one series, not one per task.
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        LATENCY.labels(request.method, route).observe(took)
        if request.method == "POST" and request.endpoint in STEP_ENDPOINTS and response.status_code in (200, 302):
            STEPS.observe(took)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if log is not None:
            log.info("request", request_id=g.get("request_id"), method=request.method, route=route,
                     path=request.path, status=response.status_code, duration_ms=round(took * 1000, 1),
                     user=_user())
        return response


def _user() -> str | None:
    """The signed-in person (web session) or the API token's user, as the hooks found them."""
    user = g.get("user")
    return user.username if user is not None else g.get("api_user")


def _json_logger():  # noqa: ANN202 - a structlog BoundLogger
    import structlog

    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True)
    logging.getLogger("gunicorn.access").disabled = True  # the JSON line replaces it
    return structlog.get_logger("qualityflow.request")
