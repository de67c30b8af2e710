"""CPU of one inbox page over a shared role's long queue, in this process.

    python bench/inbox_bench.py [--open N] [--pages N]

Starts ``--open`` after-sales inspections (each leaves one open task of the inspectors' role)
on a fresh SQLite file, signs an inspector in through the pages and asks ``GET /`` (the inbox:
the most urgent 100 of the user's open tasks, the 抄送 list and the start links) ``--pages``
times with Flask's test client, after one warm-up. Prints the CPU of this process per page
and the page's size: the part of the inbox that grows with the queue (reading the open tasks
and their instances) against the part that does not (the 100 rows drawn).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import store  # noqa: E402
from web import create_app  # noqa: E402

PASSWORD = "bench-Passw0rd-2026"
START = {"customer": "某市人民医院", "product_name": "多参数监护仪", "model": "PM-9000",
         "serial_no": "SN20260101", "quantity": 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--open", type=int, default=500, help="open tasks in the inspectors' queue")
    ap.add_argument("--pages", type=int, default=30, help="inbox pages timed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wf-bench-inbox-") as folder:
        app = create_app({"WF_OVERRIDES": {"database.url": f"sqlite:///{folder}/wf.db", "locale": "zh",
                                           "paths.uploads": f"{folder}/uploads"},
                          "SECRET_KEY": "bench"})
        services = app.extensions["services"]
        with services.database.writing() as s:
            store.add_user(s, "inspector", PASSWORD, ["qa-inspectors"], full_name="检验员")
        for _ in range(args.open):
            with services.database.writing() as s:
                services.workflow.start(s, "after-sales-inspection", "inspector", START)
        client = app.test_client()
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert token, "no sign-in form"
        r = client.post("/login", data={"username": "inspector", "password": PASSWORD,
                                        "csrf_token": token.group(1)})
        assert r.status_code == 302, r.status_code
        page = client.get("/")
        assert page.status_code == 200
        t0 = time.process_time()
        for _ in range(args.pages):
            page = client.get("/")
        cpu = (time.process_time() - t0) * 1000 / args.pages
        services.database.engine.dispose()
    print(f"inbox over {args.open} open tasks: {cpu:.1f} ms CPU per page, {len(page.data):,} bytes")


if __name__ == "__main__":
    main()
