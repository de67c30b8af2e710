"""The worker that ``wf serve --worker`` starts beside the server goes when the server goes,
even when the server was killed without a chance to stop it (SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ("import os, subprocess, sys, time; "
            "p = subprocess.Popen([*sys.argv[1:], '--parent', str(os.getpid())]); "
            "print(p.pid, flush=True); time.sleep(120)")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_worker_whose_server_was_killed_stops(db_url, tmp_path):
    env = {**os.environ, "WF_DATABASE_URL": db_url, "WF_CONFIG": str(ROOT / "config.yaml")}
    # The launcher stands in for `wf serve`: it starts the worker as serve does, then dies.
    server = subprocess.Popen([sys.executable, "-c", LAUNCHER, sys.executable, "-c",
                               "from engine.cli import main; main()", "worker", "--interval", "0.2"],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    worker = int(server.stdout.readline())
    try:
        time.sleep(3)
        assert _alive(worker), "the worker should run while its server does"
        server.send_signal(signal.SIGKILL)
        server.wait()
        deadline = time.monotonic() + 30
        while _alive(worker):
            assert time.monotonic() < deadline, "the worker went on after its server was killed"
            time.sleep(0.2)
    finally:
        server.stdout.close()
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)
