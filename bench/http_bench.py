"""Drives the REST API with concurrent clients against gunicorn and prints steps/s and latency.

    python bench/http_bench.py [--workers 2] [--threads 4] [--clients 8] [--seconds 10]

Starts the server on 127.0.0.1 (gunicorn on ``web:create_app()``; ``--via serve``: ``wf
serve``; ``--via granian``: granian's Rust HTTP server over the same WSGI app, for comparison
only: ``pip install granian`` first, the project does not depend on it) with a fresh SQLite database in a temporary directory
(``WF_DATABASE_URL``), creates users with ``wf user add --password-stdin``, then runs:

1. ``/healthz`` with the same clients: the ceiling of this server on this machine;
2. **form steps**: each client starts an after-sales inspection and completes receive,
   inspect and conforming (the steps without a signature), then starts the next one; run
   with the default answer (the instance with its history) and again with ``?history=false``
   (the instance without its events, docs/api.md), as ``--answer`` says;
3. **full walks**: every step to the archived report, including the signed report (确认) and
   the signed review (审核). A signature re-checks the password with scrypt, about 0.1 s
   of CPU each on purpose, so these numbers are bounded by the password hash, not by the API.

Steps/s counts successful ``POST /tasks/{id}/complete`` calls only (starts are extra work that
is not counted); latency is per complete call. Target on a 2-core machine: at least 300
form steps/s with p99 under 100 ms on SQLite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PASSWORD = "bench-Passw0rd-2026"  # long enough for the password policy (config auth.password)

START = {"customer": "某市人民医院", "product_name": "多参数监护仪", "model": "PM-9000",
         "serial_no": "SN20260101", "quantity": 1}
DATA = {
    "receive": {"receipt_no": "RK-2026-0101", "received_on": "2026-11-02",
                "condition": "包装完好，附件齐全", "reported_fault": "开机后血氧读数跳变"},
    "inspect": {
        "items": [
            {"item": "外观", "method": "目视检查", "requirement": "外壳无裂纹", "measured": "轻微划痕", "result": "合格"},
            {"item": "功能", "method": "开机自检", "requirement": "各功能正常", "measured": "读数跳变", "result": "合格"},
        ],
        "instrument": "血氧模拟器 SIM-02", "ambient_temperature": 23.5, "ambient_humidity": 55,
        "inspector": "inspector0", "inspected_at": "2026-11-03T10:00:00+08:00", "verdict": "合格",
    },
    "conforming": {"disposition": "返修", "repair_record": "返厂返修", "repair_ref": "FX-2026-0034"},
    "report": {"report_no": "JY-2026-0101", "process_summary": "检验完成", "conclusion": "合格",
               "disposition": "返修"},
    "review": {"decision": "approve", "comment": "同意", "password": PASSWORD},
    "feedback": {"departments": ["质量部"], "problem": "焊点虚焊", "measures": "加强焊接检验",
                 "needs_capa": False},
}
FORM_STEPS = ("receive", "inspect", "conforming")
SIGNED = {"report", "review"}


# --- the server ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wf(env: dict, *args: str, stdin: str | None = None) -> None:
    subprocess.run([str(BIN / "wf"), *args], input=stdin, text=True, env=env, cwd=ROOT,
                   check=True, capture_output=True)


def start_server(tmp: Path, port: int, workers: int, threads: int, via: str) -> tuple[subprocess.Popen, str, dict]:
    env = {**os.environ, "WF_DATABASE_URL": f"sqlite:///{tmp / 'workflow.db'}",
           "WF_SECRET_KEY": secrets.token_urlsafe(48), "WF_CONFIG": str(ROOT / "config.yaml"),
           "PYTHONPATH": str(ROOT)}
    # Migrate and register the procedures once, before several workers start at the same time.
    wf(env, "db", "upgrade")
    for name, group in (("inspector", "qa-inspectors"), ("supervisor", "qa-supervisors")):
        for i in range(4):
            wf(env, "user", "add", f"{name}{i}", "--group", group, "--password-stdin", stdin=PASSWORD + "\n")
    gunicorn = [str(BIN / "gunicorn"), "--workers", str(workers), "--threads", str(threads),
                "--worker-class", "gthread" if threads > 1 else "sync", "--bind", f"127.0.0.1:{port}",
                "--log-level", "warning", "--keep-alive", "30", "web:create_app()"]
    how = "gunicorn web:create_app()"
    cmd = gunicorn
    if shutil.which("gunicorn", path=str(BIN)) is None:
        sys.exit("gunicorn is not installed: .venv/bin/pip install gunicorn")
    if via == "serve" and subprocess.run([str(BIN / "wf"), "serve", "--help"], env=env, cwd=ROOT,
                                         capture_output=True).returncode != 0:
        sys.exit("'wf serve' is not available; use --via gunicorn")
    if via == "granian":
        if shutil.which("granian", path=str(BIN)) is None:
            sys.exit("granian is not installed: .venv/bin/pip install granian")
        cmd = [str(BIN / "granian"), "--interface", "wsgi", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers), "--blocking-threads", str(threads),
               "--runtime-threads", "1", "--log-level", "warning", "--no-ws", "web:create_app"]
        how = "granian (Rust HTTP, WSGI)"
    if via == "serve":
        cmd = [str(BIN / "wf"), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers)]
        how = "wf serve (gunicorn, its own worker settings)"
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 (lives as long as the server)
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                c.close()
                return proc, how, env
        except OSError:
            time.sleep(0.2)
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode}:\n{(tmp / 'server.log').read_text()[-2000:]}")
    stop(proc)
    sys.exit("the server did not answer /healthz within 60 s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# --- the clients -------------------------------------------------------------------------------

class Client:
    """One keep-alive connection speaking JSON."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=self.headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return resp.status, (json.loads(raw) if raw else {})
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")


def token(port: int, username: str) -> str:
    status, body = Client(port).call("POST", "/api/v1/auth/token", {"username": username, "password": PASSWORD})
    assert status == 200, body
    return body["token"]


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {"all": [], "form": [], "signed": []}
        self.errors: dict[int, int] = {}
        self.first_error: str | None = None

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latencies["all"].append(seconds)
            self.latencies[kind].append(seconds)

    def error(self, status: int, body: dict) -> None:
        with self.lock:
            self.errors[status] = self.errors.get(status, 0) + 1
            self.first_error = self.first_error or f"{status} {body}"


def run_clients(n: int, seconds: float, work) -> float:
    stop_at = time.perf_counter() + seconds
    threads = [threading.Thread(target=work, args=(i, stop_at), daemon=True) for i in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def bench_health(port: int, clients: int, seconds: float) -> tuple[int, float, list[float]]:
    lat: list[float] = []
    lock = threading.Lock()

    def work(_i: int, stop_at: float) -> None:
        c = Client(port)
        mine = []
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            status, _ = c.call("GET", "/healthz")
            mine.append(time.perf_counter() - t)
            assert status == 200
        with lock:
            lat.extend(mine)

    elapsed = run_clients(clients, seconds, work)
    return len(lat), elapsed, lat


def bench_steps(port: int, clients: int, seconds: float, full: bool, tokens: dict,
                query: str = "") -> tuple[Stats, float, int]:
    stats = Stats()
    finished = [0]

    def work(i: int, stop_at: float) -> None:
        inspector = Client(port, tokens[f"inspector{i % 4}"])
        supervisor = Client(port, tokens[f"supervisor{i % 4}"])
        while time.perf_counter() < stop_at:
            status, inst = inspector.call("POST", f"/api/v1/procedures/after-sales-inspection/instances{query}",
                                          {"data": START})
            if status != 201:
                stats.error(status, inst)
                continue
            while inst["status"] == "running" and time.perf_counter() < stop_at:
                task = next(t for t in inst["tasks"] if t["status"] == "open")
                step = task["step"]
                if not full and step not in FORM_STEPS:
                    break
                body: dict = {"data": DATA[step], "expected_rev": inst["rev"]}
                if step == "report":
                    body["password"] = PASSWORD
                who = supervisor if step == "review" else inspector
                t = time.perf_counter()
                status, out = who.call("POST", f"/api/v1/tasks/{task['id']}/complete{query}", body)
                took = time.perf_counter() - t
                if status != 200:
                    stats.error(status, out)
                    break
                stats.add("signed" if step in SIGNED else "form", took)
                inst = out
            if inst.get("status") == "completed":
                with stats.lock:
                    finished[0] += 1

    elapsed = run_clients(clients, seconds, work)
    return stats, elapsed, finished[0]


def server_cpu(pgid: int) -> float:
    """CPU seconds used so far by the server's processes (gunicorn master and workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[2]) == pgid:  # fields after the command: state ppid pgrp ... utime stime
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def cpu_line(server_s: float, client_s: float, steps: int) -> str:
    per = (server_s + client_s) * 1000 / max(steps, 1)
    return (f"  CPU per form step: server {server_s * 1000 / max(steps, 1):.2f} ms + clients "
            f"{client_s * 1000 / max(steps, 1):.2f} ms = {per:.2f} ms; {os.cpu_count()} CPUs "
            f"at that cost: {os.cpu_count() * 1000 / per:.0f} steps/s if nothing else ran")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def line(label: str, count: int, elapsed: float, lat: list[float]) -> str:
    return (f"{label:<34} {count / elapsed:8.1f}/s   p50 {pct(lat, 50):6.1f} ms   "
            f"p99 {pct(lat, 99):6.1f} ms   (n={count})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4, help="threads per worker (gthread); 1: sync")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--via", choices=["gunicorn", "serve", "granian"], default="gunicorn",
                    help="gunicorn directly (gthread workers, keep-alive), 'wf serve', or granian "
                         "(--threads: its blocking threads; installed by hand)")
    ap.add_argument("--full-clients", type=int, default=4, help="clients for the full walks")
    ap.add_argument("--answer", choices=["full", "light", "both"], default="both",
                    help="form steps answered with the whole instance (history included), "
                         "with ?history=false, or one phase of each")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="wf-bench-"))
    port = free_port()
    proc, how, _env = start_server(tmp, port, args.workers, args.threads, args.via)
    try:
        tokens = {f"{n}{i}": token(port, f"{n}{i}") for n in ("inspector", "supervisor") for i in range(4)}
        print(f"server: {how}, {args.workers} workers x {args.threads} threads, SQLite in {tmp}")
        print(f"clients: {args.clients} threads with keep-alive connections, {args.seconds:.0f} s per phase, "
              f"{os.cpu_count()} CPUs shared by server and clients\n")

        bench_health(port, args.clients, 1.0)  # warm up every worker
        s0 = server_cpu(proc.pid)
        n, elapsed, lat = bench_health(port, args.clients, args.seconds)
        print(line("GET /healthz (ceiling)", n, elapsed, lat))
        # What any request costs the server before the app does anything (gunicorn, Werkzeug,
        # Flask and the app's hooks): the floor under the figures below.
        print(f"  server CPU per request: {(server_cpu(proc.pid) - s0) * 1000 / max(n, 1):.2f} ms")

        phases = {"full": [("form steps (no signature)", "")],
                  "light": [("form steps, ?history=false", "?history=false")]}
        phases["both"] = phases["full"] + phases["light"]
        for label, query in phases[args.answer]:
            s0, c0 = server_cpu(proc.pid), time.process_time()
            stats, elapsed, _ = bench_steps(port, args.clients, args.seconds, False, tokens, query)
            s1, c1 = server_cpu(proc.pid), time.process_time()
            n = len(stats.latencies["form"])
            print(line(label, n, elapsed, stats.latencies["form"]))
            # Starts are included in the CPU (one per three form steps), not in the step count.
            print(cpu_line(s1 - s0, c1 - c0, n))
            if stats.errors:
                print(f"  errors: {stats.errors}; first: {stats.first_error}")

        stats, elapsed, finished = bench_steps(port, args.full_clients, args.seconds, True, tokens)
        print(line("full walks, all steps", len(stats.latencies["all"]), elapsed, stats.latencies["all"]))
        print(line("  of which form steps", len(stats.latencies["form"]), elapsed, stats.latencies["form"]))
        print(line("  of which signed steps (scrypt)", len(stats.latencies["signed"]), elapsed, stats.latencies["signed"]))
        print(f"  instances completed: {finished} ({finished / elapsed:.1f}/s), "
              f"{args.full_clients} clients")
        if stats.errors:
            print(f"  errors: {stats.errors}; first: {stats.first_error}")
        print("\nSigned steps re-check the password with scrypt (~0.1 s CPU each, by design), so the")
        print("full-walk rate is bounded by password hashing; the target (>= 300 steps/s, p99 < 100 ms)")
        print("applies to the form steps.")
    finally:
        stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
