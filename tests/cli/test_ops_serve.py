"""``wf serve`` and ``wf worker`` as an operator meets them: a port in use is named before
anything starts, the help says what ``--worker`` is, and the worker's standard error (mailed
by cron) carries its own lines, not Alembic's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_a_port_in_use_is_named_before_anything_starts(db_url):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"WF_DATABASE_URL": db_url, "WF_CONFIG": str(ROOT / "config.yaml")}
        result = CliRunner(env=env).invoke(main, ["serve", "--port", str(port)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output.startswith(f"Error: port {port} is in use; stop the other server or choose --port ")
    suggested = int(result.output.rsplit("--port ", 1)[1].strip())
    assert suggested != port
    assert "Serving on" not in result.output


def test_serve_help_says_the_worker_is_a_child_process():
    shown = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "in a thread" not in shown
    assert "child process" in " ".join(shown.split())


def test_the_worker_says_nothing_of_alembic_on_standard_error(db_url, tmp_path):
    """`logging.basicConfig(level=INFO)` let Alembic's start-up lines (plugins, "Context
    impl", "Will assume ... DDL") through at every start, and cron mailed them. The worker's
    own INFO stays: its logger still passes INFO."""
    env = {**os.environ, "WF_DATABASE_URL": db_url, "WF_CONFIG": str(ROOT / "config.yaml"),
           "PYTHONPATH": str(ROOT)}
    probe = ("import logging, sys; from engine.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(logging.getLogger('qualityflow.worker').isEnabledFor(logging.INFO), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe, "worker", "--once"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("timers: 0 due")
    assert done.stderr == "True\n"
