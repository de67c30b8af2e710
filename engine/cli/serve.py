"""``wf serve``: run the web server (gunicorn when installed, else Flask's development server)."""

from __future__ import annotations

import errno
import gc
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING, Any

import click

from engine.app import admin, org
from engine.cli import main
from engine.errors import WorkflowError
from engine.i18n import _

if TYPE_CHECKING:
    from flask import Flask

# The demo users are the application's (``engine.app.admin``); the names stay importable here.
DEMO_NAMES, DEMO_PASSWORD, demo_groups = admin.DEMO_NAMES, admin.DEMO_PASSWORD, admin.demo_groups


def create_demo_users(app: Flask) -> list[tuple[str, str]]:
    """When the database has no users: one per group (user name = group, password ``demo``)."""
    return admin.create_demo_users(app.extensions["services"])


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Create one demo user per group when there are no users.")
@click.option("--workers", default=None, type=int,
              help="gunicorn worker processes (default: 2; 1 with the development server).")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(min=1),
              help="Threads per gunicorn worker (1: one request at a time per process).")
@click.option("--dev", is_flag=True, help="Use Flask's development server even if gunicorn is installed.")
@click.option("--worker", "with_worker", is_flag=True,
              help="Also run the worker loop (timers, automatic starts, notifications) as a child "
                   "process, stopped with the server.")
@click.option("--worker-interval", default=5.0, show_default=True, type=float,
              help="Seconds between worker passes (with --worker).")
@click.pass_context
def serve_cmd(ctx: click.Context, host: str, port: int, demo: bool, workers: int | None, threads: int, dev: bool,
              with_worker: bool, worker_interval: float) -> None:
    """Run the web server on HOST:PORT with the configured database and procedures."""
    _check_port(host, port)  # before start-up work, and before "Serving on" is said
    metrics_dir = None
    if not dev and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Before prometheus-client is first imported (it picks its value class then): each
        # gunicorn worker writes its counters here and /metrics adds them up.
        metrics_dir = tempfile.mkdtemp(prefix="wf-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    from web import create_app

    obj = ctx.find_object(dict) or {}
    try:
        app = create_app({"WF_CONFIG": obj.get("config_path")})
    except WorkflowError as exc:  # e.g. an old schema this database user may not migrate
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        raise click.ClickException(exc.message) from None
    if demo:
        made = create_demo_users(app)
        if made:
            click.echo(_("Demo users (password '{password}'):", password=DEMO_PASSWORD))
            for username, name in made:
                click.echo(f"  {username:<20} {name}")
            chart = org.seed_demo(app.extensions["services"])
            if chart is not None:
                click.echo(_("Demo organisation chart: {n} departments (see /org; approvals to a manager "
                             "or a department head work at once).", n=chart.departments))
        else:
            click.echo(_("Demo: the database already has users; none created."))
    address = f"http://{host}:{port}/"
    click.echo(_("Serving on {url}", url=address))
    loop = None
    if with_worker:
        loop = _worker_process(obj.get("config_path"), worker_interval)
        click.echo(_("Worker loop running every {seconds} s (process {pid}).", seconds=format(worker_interval, "g"),
                     pid=loop.pid))
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        dev = True
    try:
        if dev:
            app.run(host=host, port=port, threaded=True, use_reloader=False)
        else:
            _gunicorn(app, host, port, workers or 2, threads)
    finally:
        if loop is not None:
            _stop(loop)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_port(host: str, port: int) -> None:
    """Refuse, in one line, an address the server could not listen on. gunicorn said
    "Connection in use", retried for five seconds and exited with "Can't connect", after
    start-up had said "Serving on"."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise click.ClickException(_("cannot listen on {host}: {reason}; give an address of this machine "
                                     "(--host 127.0.0.1, or 0.0.0.0 for every network)",
                                     host=host, reason=exc)) from None
    problem = _bind_problem(family, kind, proto, address)
    if problem is None:
        return
    if problem.errno == errno.EADDRINUSE:
        free = next((p for p in range(port + 1, min(port + 100, 65535) + 1)
                     if _bind_problem(family, kind, proto, (address[0], p, *address[2:])) is None), port + 1)
        raise click.ClickException(_("port {port} is in use; stop the other server or choose --port {free}",
                                     port=port, free=free))
    if problem.errno == errno.EACCES:
        raise click.ClickException(_("this user may not listen on port {port} (ports below 1024 need "
                                     "privileges); choose --port 8000 or another above 1023", port=port))
    raise click.ClickException(_("cannot listen on {host}:{port}: {reason}", host=host, port=port,
                                 reason=problem.strerror or problem))


def _bind_problem(family: int, kind: int, proto: int, address: tuple) -> OSError | None:
    with socket.socket(family, kind, proto) as probe:
        # As gunicorn and Flask's server bind: a stopped server's closing connections
        # (TIME_WAIT) do not hold the port, a listening one does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc
    return None


def _worker_process(config_path: str | None, interval: float) -> subprocess.Popen:
    """``wf worker`` as a child process. Not a thread of this process: gunicorn forks its web
    workers (and forks again whenever one is replaced) from this process, and a fork taken
    while the thread was inside an SQLite transaction left the children believing the lock
    was held: every write of those workers failed with "database is locked" until restart.
    A process of its own opens its own connections and queues for the write lock like any
    web worker."""
    args = [sys.executable, "-c", "from engine.cli import main; main()"]
    if config_path:
        args += ["--config", config_path]
    args += ["worker", "--interval", str(interval), "--parent", str(os.getpid())]
    return subprocess.Popen(args)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def _gunicorn(app: Flask, host: str, port: int, workers: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication

    engine = app.extensions["services"].database.engine

    def post_fork(server: Any, worker: Any) -> None:
        # Connections opened by the master must not be shared with the workers.
        engine.dispose(close=False)

    def child_exit(server: Any, worker: Any) -> None:
        # A replaced worker's gauges go; its counters stay counted (prometheus-client).
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(worker.pid)

    class Server(BaseApplication):
        def load_config(self) -> None:
            settings = {
                # Threads: a form step need not queue behind a signature's password hash (scrypt
                # releases the GIL) or a slow page in the same process; connections are kept
                # alive. SQLite writers of all threads and processes take turns in the write
                # queue (engine/app/database.py).
                "bind": f"{host}:{port}", "workers": workers, "threads": threads,
                "worker_class": "gthread" if threads > 1 else "sync", "keepalive": 5,
                "preload_app": True, "post_fork": post_fork, "child_exit": child_exit,
                # With server.json_logs each request is one JSON line (web/metrics.py) instead.
                "accesslog": None if app.config["WF"].get("server", "json_logs", default=False) else "-",
                "timeout": 60, "graceful_timeout": 10,
                "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return app

    engine.dispose()
    # What the preloaded app made (procedures, forms, catalogs, pinyin tables: some 340,000
    # objects) lives as long as the server: out of the collector's reach, as Python's gc
    # documentation advises before fork(). Each full collection of a web worker walked them
    # all, and so did the last one as a worker exited: seconds of a restart's downtime.
    gc.freeze()
    Server().run()
