"""Soak: the README's server as a user starts it, under a bounded mixed load, then a check
that nothing acknowledged was lost.

    python bench/soak.py [--clients 16] [--seconds 300] [--install]
    python bench/soak.py --database postgresql+psycopg://postgres@127.0.0.1:5432/soak --workers 4

SQLite (default): clones this repository into a temporary directory (``git clone``, so only
what is committed, and no ``var/``) and runs there, as the README says,
``.venv/bin/wf serve --demo --worker`` (plus ``--port``, so that it does not collide with
another server on 8000). ``--install`` also makes the clone's own ``.venv`` with
``pip install -e .`` first, exactly as the README's first command; without it the clone's code
runs on this interpreter (``PYTHONPATH`` = the clone).

``--database URL`` (PostgreSQL): the same command with ``WF_DATABASE_URL``, ``--workers`` web
workers, and one ``wf worker`` process per ``--loops`` beside it; the database is emptied
first.

Each client mixes what people do: start an after-sales inspection, complete its form steps
(receive, inspect, conforming), every fourth instance its signed report (password), a draft
saved through the HTML task page, the inbox and the instance page. Afterwards every step the
server acknowledged (200) is looked up (its task must be completed with the data sent) and
``wf audit verify`` must pass. Prints requests, errors by status, p50/p99 per kind and lost
steps; exits 1 when there was a 5xx, a lost step or a failed verify.

``--restart-at S``: S seconds in, the server is stopped with SIGTERM (to the ``wf serve``
process alone, as the README says stops it) under the load and started again with the same
command, as a deployment restarts it. Requests refused while it was down are counted apart;
a 5xx, a lost step, a process of its group left running, or a stop slower than 15 s fail.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PASSWORD = "demo"  # the demo users' password, as `wf serve --demo` prints it
INSPECTOR, SUPERVISOR = "qa-inspectors", "qa-supervisors"

START = {"customer": "某市人民医院", "product_name": "多参数监护仪", "model": "PM-9000",
         "serial_no": "SN20260101", "quantity": 1}
DATA = {
    "receive": {"receipt_no": "RK-2026-0101", "received_on": "2026-11-02",
                "condition": "包装完好，附件齐全", "reported_fault": "开机后血氧读数跳变"},
    "inspect": {
        "items": [
            {"item": "外观", "method": "目视检查", "requirement": "外壳无裂纹", "measured": "轻微划痕", "result": "合格"},
        ],
        "instrument": "血氧模拟器 SIM-02", "ambient_temperature": 23.5, "ambient_humidity": 55,
        "inspector": INSPECTOR, "inspected_at": "2026-11-03T10:00:00+08:00", "verdict": "合格",
    },
    "conforming": {"disposition": "返修", "repair_record": "返厂返修", "repair_ref": "FX-2026-0034"},
    "report": {"report_no": "JY-2026-0101", "process_summary": "检验完成", "conclusion": "合格",
               "disposition": "返修"},
}
SIGNED = {"report"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the server, started as the README says -------------------------------------------------

@dataclass
class Server:
    clone: Path
    port: int
    env: dict
    wf: str
    procs: list[subprocess.Popen] = field(default_factory=list)
    started_in: float = 0.0
    logfile: object = None
    cmd: list[str] = field(default_factory=list)

    def launch(self) -> float:
        """Start the serve command (again) as procs[0]; seconds until /healthz answered."""
        t0 = time.monotonic()
        proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.clone, start_new_session=True,
                                stdout=self.logfile, stderr=self.logfile)
        if self.procs:
            self.procs[0] = proc
        else:
            self.procs.append(proc)
        while time.monotonic() - t0 < 120:
            if _get(self.port, "/healthz") == 200:
                return time.monotonic() - t0
            if proc.poll() is not None:
                sys.exit(f"the server exited with {proc.returncode}:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        self.stop()
        sys.exit("the server did not answer /healthz within 120 s")

    def terminate(self) -> tuple[float, list[int]]:
        """SIGTERM to the serve process alone, as the README says stops it (systemd's
        ``systemctl restart`` sends the same); seconds until it exited, and the processes of
        its group (web workers, the worker loop) still running a second after that."""
        proc = self.procs[0]
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        took = time.monotonic() - t0
        time.sleep(1.0)
        left = list(group(proc.pid))
        return took, left

    def run_wf(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.wf, *args], env=self.env, cwd=self.clone, text=True,
                              capture_output=True, timeout=600)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.logfile is not None:
            self.logfile.close()

    def log(self) -> str:
        return (self.clone / "server.log").read_text(errors="replace")


def clone_repo(tmp: Path, install: bool, worktree: bool = False) -> tuple[Path, str, dict]:
    clone = tmp / "qualityflow"
    if worktree:  # the files as they are now, committed or not (the test suite), still no var/
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                               capture_output=True, check=True).stdout.decode().split("\0")
        for name in filter(None, files):
            if (ROOT / name).is_file():
                (clone / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, clone / name)
    else:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WF_")}
    if install:
        subprocess.run([sys.executable, "-m", "venv", ".venv"], cwd=clone, check=True)
        subprocess.run([".venv/bin/pip", "install", "-q", "-e", "."], cwd=clone, check=True)
        return clone, str(clone / ".venv/bin/wf"), env
    env["PYTHONPATH"] = str(clone)
    return clone, str(BIN / "wf"), env


def start(args: argparse.Namespace, tmp: Path) -> Server:
    clone, wf, env = clone_repo(tmp, args.install, args.worktree)
    port = free_port()
    server = Server(clone, port, env, wf)
    server.cmd = [wf, "serve", "--demo", "--worker", "--port", str(port), *args.serve_args.split()]
    if args.database:
        env["WF_DATABASE_URL"] = args.database
        _empty_postgres(args.database)
        server.cmd = [wf, "serve", "--demo", "--port", str(port), "--workers", str(args.workers),
                      *args.serve_args.split()]
    log = server.logfile = open(clone / "server.log", "wb")  # noqa: SIM115 - closed by stop()
    server.started_in = server.launch()
    for _ in range(args.loops if args.database else 0):
        server.procs.append(subprocess.Popen([wf, "worker", "--interval", "2"], env=env, cwd=clone,
                                             start_new_session=True, stdout=log, stderr=log))
    return server


def _empty_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def group(pgid: int) -> dict[int, list[str]]:
    """The processes of the group ``pgid`` (the server's: master, web workers, worker loop),
    each with the fields of its ``/proc/PID/stat`` after the command name."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            out[int(stat.parent.name)] = fields
    return out


def server_cpu(pgid: int) -> float:
    """CPU seconds used so far by the server's processes (master, web workers, worker loop)."""
    tick = os.sysconf("SC_CLK_TCK")
    return sum((int(f[11]) + int(f[12])) / tick for f in group(pgid).values())


def _get(port: int, path: str) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        c.request("GET", path)
        return c.getresponse().status
    except OSError:
        return 0
    finally:
        c.close()


# --- the clients -------------------------------------------------------------------------------

class Api:
    """One keep-alive connection speaking JSON with a bearer token."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body=None) -> tuple[int, dict, dict]:
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=self.headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                try:
                    parsed = json.loads(raw) if raw else {}
                except ValueError:
                    parsed = {"text": raw[:300].decode(errors="replace")}
                return resp.status, parsed, dict(resp.getheaders())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")


class Browser:
    """A signed-in browser session (cookie and CSRF token) for the HTML pages."""

    def __init__(self, port: int, username: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        try:
            page = self.request("GET", "/login")[1]
            self.csrf = _csrf(page)
            status, _ = self.request("POST", "/login", {"username": username, "password": PASSWORD,
                                                        "csrf_token": self.csrf})
        except BaseException:
            self.conn.close()
            raise
        assert status == 302, f"log-in as {username} answered {status}"

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read().decode(errors="replace")
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server closed while idle: open another, as
                # browsers do (nothing was answered, so nothing was done).
                self.conn.close()
                if attempt:
                    raise
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                key, _, val = value.split(";", 1)[0].partition("=")
                self.cookies[key] = val
        return resp.status, text


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def token(port: int, username: str) -> str:
    api = Api(port)
    try:
        status, body, _ = api.call("POST", "/api/v1/auth/token", {"username": username, "password": PASSWORD})
    finally:
        api.conn.close()
    assert status == 200, body
    return body["token"]


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {}
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.examples: dict[int, str] = {}
        self.acked: list[tuple[str, str]] = []  # (instance id, task id) answered 200
        self.retry_after: Counter[str] = Counter()
        self.failures: list[tuple[float, str, int]] = []  # (monotonic time, kind, status): 5xx, no answer

    def add(self, kind: str, status: int, seconds: float, body: object = None, headers: dict | None = None) -> None:
        with self.lock:
            self.statuses[(kind, status)] += 1
            if status == 0 or status >= 500:
                self.failures.append((time.monotonic(), kind, status))
            if 0 < status < 400:
                self.latency.setdefault(kind, []).append(seconds)
            else:
                self.examples.setdefault(status, f"{kind}: {str(body)[:300]}")
                if status == 503:
                    self.retry_after[(headers or {}).get("Retry-After", "missing")] += 1


def timed(tally: Tally, kind: str, fn, *args):
    t = time.perf_counter()
    status, body, headers = fn(*args)
    tally.add(kind, status, time.perf_counter() - t, body, headers)
    return status, body


def client(port: int, tokens: dict, stop_at: float, tally: Tally) -> None:
    while time.monotonic() < stop_at:
        try:
            _client(port, tokens, stop_at, tally)
        except (OSError, http.client.HTTPException) as exc:  # no answer at all: an error too
            tally.add("no answer", 0, 0.0, f"{type(exc).__name__}: {exc}")
            time.sleep(0.1)  # as a person or a client library tries again, not in a tight loop


def _client(port: int, tokens: dict, stop_at: float, tally: Tally) -> None:
    api = Api(port, tokens[INSPECTOR])
    try:
        browser = Browser(port, INSPECTOR)
        try:
            _work(api, browser, stop_at, tally)
        finally:
            browser.conn.close()
    finally:
        api.conn.close()


def _work(api: Api, browser: Browser, stop_at: float, tally: Tally) -> None:
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        status, inst = timed(tally, "start", api.call, "POST",
                             "/api/v1/procedures/after-sales-inspection/instances", {"data": START})
        if status != 201:
            continue
        while inst.get("status") == "running" and time.monotonic() < stop_at:
            task = next(t for t in inst["tasks"] if t["status"] == "open")
            step = task["step"]
            if step not in DATA or (step in SIGNED and n % 4):
                break
            if step == "receive" and n % 3 == 0:
                _draft(browser, task["id"], tally)
            body: dict = {"data": DATA[step], "expected_rev": inst["rev"]}
            if step in SIGNED:
                body["password"] = PASSWORD
            status, out = timed(tally, "signed step" if step in SIGNED else "form step",
                                api.call, "POST", f"/api/v1/tasks/{task['id']}/complete", body)
            if status != 200:
                break
            with tally.lock:
                tally.acked.append((inst["id"], task["id"]))
            inst = out
        if n % 2 == 0:
            timed(tally, "inbox", api.call, "GET", "/api/v1/tasks?limit=50")
        timed(tally, "instance read", api.call, "GET", f"/api/v1/instances/{inst.get('id')}")


def _draft(browser: Browser, task_id: str, tally: Tally) -> None:
    t = time.perf_counter()
    status, page = browser.request("GET", f"/tasks/{task_id}")  # as a person opens the task
    tally.add("task page", status, time.perf_counter() - t, page[:300])
    if status != 200:
        return
    form = {"csrf_token": _csrf(page), "action": "draft", **{f"f.{k}": str(v) for k, v in DATA["receive"].items()}}
    t = time.perf_counter()
    status, page = browser.request("POST", f"/tasks/{task_id}", form)
    found = re.search(r'class="(?:message|error-text)"[^>]*>([^<]+)', page)
    tally.add("draft", status, time.perf_counter() - t, found.group(1) if found else page[:300])
    # What was typed must come back in the answer whatever its status (a 503 included).
    if DATA["receive"]["receipt_no"] not in page:
        with tally.lock:
            tally.statuses[("draft lost typing", status)] += 1


# --- the check ---------------------------------------------------------------------------------

def lost_steps(port: int, tokens: dict, acked: list[tuple[str, str]]) -> list[str]:
    """Acknowledged steps whose task is not completed in the stored instance."""
    api = Api(port, tokens[INSPECTOR])
    by_instance: dict[str, list[str]] = {}
    for instance_id, task_id in acked:
        by_instance.setdefault(instance_id, []).append(task_id)
    lost = []
    try:
        for instance_id, task_ids in by_instance.items():
            status, inst, _ = api.call("GET", f"/api/v1/instances/{instance_id}")
            done = {t["id"] for t in inst.get("tasks", []) if t["status"] == "done" and t["completed_by"]} \
                if status == 200 else set()
            lost += [t for t in task_ids if t not in done]
    finally:
        api.conn.close()
    return lost


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--install", action="store_true", help="make the clone's .venv as the README says")
    ap.add_argument("--serve-args", default="", help="more options for wf serve (comparisons), e.g. '--threads 1'")
    ap.add_argument("--worktree", action="store_true",
                    help="copy the working tree (uncommitted changes too) instead of cloning")
    ap.add_argument("--database", help="a PostgreSQL URL (emptied first); default: the README's SQLite")
    ap.add_argument("--workers", type=int, default=4, help="web workers (with --database)")
    ap.add_argument("--loops", type=int, default=2, help="'wf worker' processes (with --database)")
    ap.add_argument("--restart-at", type=float, default=0.0, metavar="S",
                    help="S seconds in, stop the server with SIGTERM under the load and start it again "
                         "(a deployment's restart): connections refused while it is down are counted apart")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="wf-soak-"))
    server = start(args, tmp)
    try:
        how = (f"wf serve --demo --workers {args.workers} + {args.loops} x wf worker on PostgreSQL"
               if args.database else "wf serve --demo --worker (README, SQLite)")
        print(f"server: {how} in a fresh clone; /healthz answered {server.started_in:.1f} s after start")
        tokens = {u: token(server.port, u) for u in (INSPECTOR, SUPERVISOR)}
        tally = Tally()
        stop_at = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client, args=(server.port, tokens, stop_at, tally), daemon=True)
                   for i in range(args.clients)]
        t0 = time.monotonic()
        cpu0 = sum(server_cpu(p.pid) for p in server.procs)
        for t in threads:
            t.start()
        restart = None
        if 0 < args.restart_at < args.seconds:
            time.sleep(max(0.0, t0 + args.restart_at - time.monotonic()))
            cpu0 -= sum(server_cpu(p.pid) for p in server.procs)  # the old processes' share, kept
            down = time.monotonic()
            took, left = server.terminate()
            up_in = server.launch()
            restart = (down, time.monotonic(), took, left, up_in)
            cpu0 -= sum(server_cpu(p.pid) for p in server.procs)
        for t in threads:
            t.join(args.seconds + 120)
        elapsed = time.monotonic() - t0
        cpu = sum(server_cpu(p.pid) for p in server.procs) - cpu0
        lost = lost_steps(server.port, tokens, tally.acked)
        server.stop()
        verify = server.run_wf("audit", "verify")
        requests = sum(tally.statuses.values())
        errors = Counter()
        for (_kind, status), count in tally.statuses.items():
            if status >= 400 or status == 0 or _kind == "draft lost typing":
                errors[status] += count
        refused_in_restart = 0
        if restart is not None:
            down, up, took, left, up_in = restart
            # Refusals while no server listened (status 0, between SIGTERM and /healthz again
            # plus a second for clients' connections to the new one) are what a restart is.
            refused_in_restart = sum(1 for when, _kind, status in tally.failures
                                     if status == 0 and down <= when <= up + 1.0)
            errors[0] -= refused_in_restart
            if errors[0] <= 0:
                del errors[0]
            print(f"restart at {args.restart_at:.0f} s: SIGTERM to wf serve, exited in {took:.1f} s "
                  f"(processes of its group left: {len(left)}); up again in {up_in:.1f} s; "
                  f"requests refused while down: {refused_in_restart}")
        print(f"clients: {args.clients} for {elapsed:.0f} s; requests: {requests} ({requests / elapsed:.0f}/s); "
              f"server CPU {cpu:.1f} s, {cpu * 1000 / max(requests, 1):.1f} ms per request "
              f"(signed steps pay scrypt on purpose); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for kind in sorted(tally.latency):
            lat = tally.latency[kind]
            print(f"  {kind:<14} n={len(lat):6d}   p50 {pct(lat, 50):7.1f} ms   p99 {pct(lat, 99):7.1f} ms")
        print(f"errors by status: {dict(sorted(errors.items())) or 'none'}")
        for status, example in sorted(tally.examples.items()):
            print(f"  first {status}: {example}")
        if tally.retry_after:
            print(f"  503 Retry-After values: {dict(tally.retry_after)}")
        typing_lost = sum(c for (k, _), c in tally.statuses.items() if k == "draft lost typing")
        print(f"acknowledged steps: {len(tally.acked)}; lost: {len(lost)}"
              + (f" (e.g. {lost[:3]})" if lost else "") + f"; drafts that lost what was typed: {typing_lost}")
        print(f"wf audit verify: exit {verify.returncode}; {verify.stdout.strip().splitlines()[-1:] or verify.stderr[-300:]}")
        five = sum(c for s, c in errors.items() if s >= 500 or s == 0)
        stray = bool(restart and (restart[3] or restart[2] > 15))
        return 1 if five or lost or typing_lost or verify.returncode or stray else 0
    finally:
        server.stop()
        if os.environ.get("WF_SOAK_KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
