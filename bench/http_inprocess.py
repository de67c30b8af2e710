"""Server CPU per form step without gunicorn or sockets: the Flask app in this process.

    python bench/http_inprocess.py [--rounds N] [--history|--no-history] [--profile FILE]

Same set-up and the same requests as ``http_bench.py``'s form steps (start an after-sales
inspection, complete receive, inspect and conforming through ``/api/v1``), sent with Flask's
test client one after another, so the CPU time of this process is the app's own cost per
form step (starts included, one per three steps). ``--profile FILE`` writes a cProfile of
the timed rounds for ``python -m pstats FILE``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_bench import DATA, FORM_STEPS, PASSWORD, ROOT, START, wf  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=150, help="instances, 3 form steps each")
    ap.add_argument("--history", action=argparse.BooleanOptionalAction, default=True,
                    help="answer with the events (default) or ?history=false")
    ap.add_argument("--profile", default="")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wf-bench-"))
    env = {**os.environ, "WF_DATABASE_URL": f"sqlite:///{tmp / 'workflow.db'}",
           "WF_SECRET_KEY": secrets.token_urlsafe(48), "WF_CONFIG": str(ROOT / "config.yaml"),
           "PYTHONPATH": str(ROOT)}
    try:
        wf(env, "db", "upgrade")
        wf(env, "user", "add", "inspector0", "--group", "qa-inspectors", "--password-stdin",
           stdin=PASSWORD + "\n")
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        from web import create_app

        client = create_app().test_client()
        got = client.post("/api/v1/auth/token", json={"username": "inspector0", "password": PASSWORD})
        assert got.status_code == 200, got.get_json()
        headers = {"Authorization": f"Bearer {got.get_json()['token']}"}
        query = "" if args.history else "?history=false"

        def one() -> int:
            r = client.post(f"/api/v1/procedures/after-sales-inspection/instances{query}",
                            json={"data": START}, headers=headers)
            assert r.status_code == 201, r.get_json()
            inst, steps = r.get_json(), 0
            while True:
                task = next(t for t in inst["tasks"] if t["status"] == "open")
                if task["step"] not in FORM_STEPS:
                    return steps
                r = client.post(f"/api/v1/tasks/{task['id']}/complete{query}", headers=headers,
                                json={"data": DATA[task["step"]], "expected_rev": inst["rev"]})
                assert r.status_code == 200, r.get_json()
                inst, steps = r.get_json(), steps + 1

        for _ in range(5):
            one()  # warm-up
        profiler = None
        if args.profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        c0 = time.process_time()
        steps = sum(one() for _ in range(args.rounds))
        cpu = time.process_time() - c0
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        print(f"in-process, {'with' if args.history else 'without'} history: {steps} form steps, "
              f"{cpu * 1000 / steps:.2f} ms CPU per form step (starts included)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
