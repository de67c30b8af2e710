"""CPU of reading one record: the record page (HTML) and ``GET /api/v1/instances/{id}``.

    python bench/record_read_bench.py [--rounds N]

Plays the shipped after-sales inspection (the rejected walk: 15 events) into a SQLite
file, signs a supervisor in on the page and through the API, then reads the record
``--rounds`` times each way through Flask's test client in this process, and prints the CPU
time per read. Both reads run the record's integrity check (its events replayed and compared
with what is stored), which is most of what they add to a plain read.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.service import PASSWORD, add_users, answers, play, web_app  # noqa: E402
from tests.web.test_web_ui import Browser  # noqa: E402

PID = "after-sales-inspection"


def per_read(rounds: int, read) -> float:
    read()  # warm caches (compiled procedure, prepared statements)
    c0 = time.process_time()
    for _ in range(rounds):
        read()
    return (time.process_time() - c0) * 1000 / rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wf-bench-"))
    app = web_app(f"sqlite:///{tmp / 'workflow.db'}", tmp)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    done = play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"))
    iid = done["id"]
    page = Browser(app)
    page.login("supervisor1", PASSWORD)
    api = app.test_client()
    token = api.post("/api/v1/auth/token", json={"username": "supervisor1", "password": PASSWORD}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def html() -> None:
        assert page.get(f"/instances/{iid}").status_code == 200

    def json() -> None:
        r = api.get(f"/api/v1/instances/{iid}", headers=headers)
        assert r.status_code == 200, r.get_json()

    events = len(api.get(f"/api/v1/instances/{iid}", headers=headers).get_json()["history"])
    print(f"one record of {events} events, {args.rounds} reads each, CPU of this process per read:")
    print(f"  record page (HTML)            {per_read(args.rounds, html):6.2f} ms")
    print(f"  GET /api/v1/instances/{{id}}   {per_read(args.rounds, json):6.2f} ms")
    app.extensions["services"].database.engine.dispose()


if __name__ == "__main__":
    main()
