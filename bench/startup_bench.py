"""How long the README's ``wf serve --demo --worker`` takes to answer ``/healthz``.

    python bench/startup_bench.py [--runs 2] [--clone]

Copies the working tree (or ``--clone``: clones what is committed) into a temporary folder
without ``var/``, starts the server there and prints the seconds until ``/healthz`` answers
200, and the server's CPU seconds by then: the first start (a new database: schema, the
procedure library installed, demo users) and the following ones (the same ``var/``). Target:
5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soak import _get, clone_repo, free_port, server_cpu  # noqa: E402


def one_start(clone: Path, wf: str, env: dict) -> tuple[float, float]:
    port = free_port()
    with open(clone / "server.log", "ab") as log:
        proc = subprocess.Popen([wf, "serve", "--demo", "--worker", "--port", str(port)], env=env, cwd=clone,
                                start_new_session=True, stdout=log, stderr=log)
        t0 = time.monotonic()
        try:
            while _get(port, "/healthz") != 200:
                if proc.poll() is not None or time.monotonic() - t0 > 180:
                    sys.exit(f"the server did not start:\n{(clone / 'server.log').read_text()[-2000:]}")
                time.sleep(0.05)
            return time.monotonic() - t0, server_cpu(proc.pid)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--clone", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wf-start-"))
    try:
        clone, wf, env = clone_repo(tmp, False, worktree=not args.clone)
        for i in range(args.runs):
            seconds, cpu = one_start(clone, wf, env)
            what = "first start (new database)" if i == 0 else "next start (same var/)"
            print(f"{what:<28} /healthz after {seconds:5.1f} s; server CPU {cpu:5.1f} s; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
