"""Runs N instances of after-sales-inspection to the end in memory and prints instances/s
and steps/s, with and without form validation.

    python bench/engine_bench.py [N]

Target (2-core machine): >= 2,000 instances/s including form validation.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import load_config  # noqa: E402
from engine.language.calendar import Calendar  # noqa: E402
from engine.language.procedure import load_library  # noqa: E402
from engine.runtime.commands import Actor, Approve, CompleteTask, Reject, Signature, Start  # noqa: E402
from engine.runtime.machine import Runtime, open_tasks  # noqa: E402

ANSWERS = ROOT / "tests/data/answers/after-sales-inspection--review-reject.yaml"


def plan(proc, script):
    """Turn the scripted answers into (step, command factory) pairs once, outside the timing."""
    out = []
    for entry in script["steps"]:
        step = proc.steps[entry["step"]]
        actor = Actor(entry["user"], frozenset({step.role}), entry["user"])
        sig = Signature(step.signature, entry["user"], entry["user"]) if step.signature else None
        if step.type == "approval":
            kind = Approve if entry.get("decision", "approve") == "approve" else Reject
            out.append((step.id, lambda tid, k=kind, a=actor, e=entry, s=sig: k(tid, a, e.get("comment", ""), signature=s)))
        else:
            out.append((step.id, lambda tid, a=actor, e=entry, s=sig: CompleteTask(tid, a, e.get("data") or {}, signature=s)))
    return out


def run(rt, script, steps, n):
    starter = Actor(script["start"]["user"], frozenset(rt.procedure.start_roles))
    start_data = script["start"].get("data") or {}
    now = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    tick = timedelta(minutes=5)
    commands = 0
    t0 = time.perf_counter()
    for i in range(n):
        state, _ = rt.apply(None, Start(starter, start_data, instance_id=f"i{i}"), now)
        commands += 1
        for step_id, make in steps:
            tid = next(t["id"] for t in open_tasks(state) if t["step"] == step_id)
            state, _ = rt.apply(state, make(tid), now + tick)
            commands += 1
        assert state["status"] == "completed", state["path"]
    return time.perf_counter() - t0, commands


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    lib = load_library([ROOT / "procedures", ROOT / "forms"]).require_valid()
    proc = lib.procedures["after-sales-inspection"]
    cfg = load_config(ROOT / "config.yaml")
    cals = {k: Calendar.from_config(k, v) for k, v in cfg.get("calendars").items()}
    script = yaml.safe_load(ANSWERS.read_text(encoding="utf-8"))
    steps = plan(proc, script)
    print(f"after-sales-inspection, {len(steps)} human steps + start per instance "
          f"({ANSWERS.name}), {n} instances")
    for validate in (True, False):
        rt = Runtime(proc, cals, validate_forms=validate)
        run(rt, script, steps, min(n, 200))  # warm caches
        secs, commands = run(rt, script, steps, n)
        label = "with form validation   " if validate else "without form validation"
        print(f"{label}: {n / secs:8.0f} instances/s  {commands / secs:8.0f} steps/s  ({secs:.2f} s)")


if __name__ == "__main__":
    main()
