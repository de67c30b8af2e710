#!/usr/bin/env python3
"""Write simulation answer files (tests/data/answers/) from a short plan per procedure.

A plan (tests/data/answer-plans/PROCEDURE.yaml) names the branches to walk and, per
branch, only what makes that branch different: the values of the fields a decision reads,
approval decisions, and which steps are answered late. Every other field is filled from the
form: required fields from their ``x-placeholder``, ``default``, ``const``, first
``enum`` option, or a sample text; optional fields only when the plan gives them. The
walk answers whichever task is open until the instance ends, and the path and outcome of
the run become the file's ``expect``. Review the written files like any other
test data: they are what the tests play.

    .venv/bin/python scripts/make_answers.py                 # every plan
    .venv/bin/python scripts/make_answers.py capa customer-complaint

Plan format::

    procedure: capa
    start: {customer: 某市人民医院}          # start-form values (others filled in)
    users: {qa_supervisor: qa1}              # role -> user name (default: ROLE + "1")
    data: {verify: {result: 有效}}           # values for every branch, per step
                                            # (a multi-party approval: one entry per approver's
                                            # task, in the order they are opened)
    org: {departments: {...}, users: {...}}  # optional: the org chart (as in answer files)
    branches:
      ineffective:
        data:
          verify: [{result: 无效}, {result: 有效}]   # a list: one entry per visit (last repeats)
          approve: [{decision: reject, comment: 措施不具体}, {decision: approve}]
      late:
        late: all                           # or a list of steps: answered after their
                                            # deadline and every escalation level passed
      fail-late:
        replay: fail                        # the answers of PROCEDURE--fail.yaml, each late
        late: all
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import load_config  # noqa: E402
from engine.language.calendar import Calendar  # noqa: E402
from engine.language.procedure import Procedure, load_library  # noqa: E402
from engine.runtime.machine import open_tasks  # noqa: E402
from engine.runtime.simulation import DEFAULT_START, simulate  # noqa: E402

PLANS = ROOT / "tests" / "data" / "answer-plans"
ANSWERS = ROOT / "tests" / "data" / "answers"
CST = timezone(timedelta(hours=8))


def sample(schema: dict[str, Any], title: str, user: str, now: datetime) -> Any:
    """A plausible value for one field."""
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    widget = schema.get("x-widget")
    kind = schema.get("type")
    if widget == "user":
        return user
    if widget in ("file", "signature"):
        return None
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        limits = schema.get("x-limits") or {}
        low = limits.get("min", schema.get("minimum", 1))
        high = limits.get("max", max(low, 1) * 2)
        value = (low + high) / 2 if kind == "number" else max(int(low), 1)
        return value if kind == "number" else int(value)
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date":
            return (now.astimezone(CST) + timedelta(days=1)).date().isoformat()
        if fmt == "date-time":
            return now.astimezone(CST).replace(microsecond=0).isoformat()
        if fmt == "time":
            return "09:00"
        return schema.get("x-placeholder") or f"{schema.get('title', title)}（示例）"
    if kind == "array":
        items = schema.get("items") or {}
        if "enum" in items:
            return [items["enum"][0]]
        if items.get("type") == "object":
            return [fill(items, user, now)]
        if widget in ("file", "signature"):
            return None
        return [sample(items, title, user, now)]
    if kind == "object":
        return fill(schema, user, now)
    return None


def fill(schema: Mapping[str, Any], user: str, now: datetime, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    required = set(schema.get("required") or [])
    for name, sub in (schema.get("properties") or {}).items():
        if name not in required and not (overrides and name in overrides):
            continue  # optional fields only when the plan gives them
        value = overrides[name] if overrides and name in overrides else sample(sub, name, user, now)
        items = sub.get("items") or {}
        if isinstance(value, list) and items.get("type") == "object" and overrides and name in overrides:
            value = [fill(items, user, now, row) if isinstance(row, dict) else row for row in value]
        if value is not None:
            out[name] = value
    return out


def form_data(proc: Procedure, form_id: str | None, user: str, now: datetime, overrides: dict[str, Any]) -> dict[str, Any]:
    if not form_id:
        return {}
    form = proc.forms[form_id]
    return form.clean(fill(form.schema, user, now, overrides))


def pick(spec: Any, visit: int) -> dict[str, Any]:
    if isinstance(spec, list):
        return dict(spec[min(visit, len(spec) - 1)])
    return dict(spec or {})


def walk(proc: Procedure, plan: dict[str, Any], branch: dict[str, Any], calendars: Mapping[str, Calendar]) -> dict[str, Any]:
    users = {r: f"{r}1" for r in proc.roles} | (plan.get("users") or {})
    data = {**(plan.get("data") or {}), **(branch.get("data") or {})}
    late = branch.get("late") or []
    start_user = users[proc.start_roles[0]]
    script: dict[str, Any] = {
        "procedure": proc.id,
        "start": {"user": start_user,
                  "data": form_data(proc, proc.start_form, start_user, DEFAULT_START,
                                    {**(plan.get("start") or {}), **(branch.get("start") or {})})},
        "steps": [],
    }
    if plan.get("org"):  # the org chart approvers are resolved from
        script["org"] = plan["org"]
    visits: dict[str, int] = {}
    replay: dict[str, list[dict[str, Any]]] = {}
    if branch.get("replay"):  # answer exactly as another answers file does, only later
        base = yaml.safe_load((ANSWERS / f"{proc.id}--{branch['replay']}.yaml").read_text(encoding="utf-8"))
        script["start"] = base["start"]
        for recorded in base["steps"]:
            if "step" in recorded:
                replay.setdefault(recorded["step"], []).append(recorded)
    for _ in range(200):
        sim = simulate(proc, {**script, "expect": None}, calendars=calendars)
        state, now = sim.state, sim.now
        if state is None or state["status"] != "running":
            script["expect"] = {"path": sim.path, "outcome": sim.outcome}
            return script
        tasks = sorted(open_tasks(state), key=lambda t: int(t["id"].lstrip("t")))
        human = [t for t in tasks if t["kind"] != "wait"]
        if not human:
            wake = min(datetime.fromisoformat(t["wake_at"]) for t in tasks)
            script["steps"].append({"advance": f"{math.ceil((wake - now).total_seconds() / 3600) + 1}h"})
            continue
        task = human[0]
        step = proc.steps[task["step"]]
        n = visits.get(step.id, 0)
        visits[step.id] = n + 1
        due_at = task.get("due_at")
        if step.deadline and due_at and not task.get("missed") and (late == "all" or step.id in late):
            target = datetime.fromisoformat(due_at)
            if step.deadline.escalate:
                cal = calendars.get(step.deadline.calendar) or Calendar.from_config("default", None)
                target = cal.add(target, step.deadline.escalate[-1].after)
            hours = max(1, math.ceil((target - now).total_seconds() / 3600) + 1)
            script["steps"].append({"advance": f"{hours}h"})
            now += timedelta(hours=hours)
        if replay:
            script["steps"].append({k: v for k, v in replay[step.id][n].items() if k != "advance"})
            continue
        # A multi-party approval: each approver's task is one visit (plan lists go approver by
        # approver); a named approver answers their own task, a role task names its role.
        user = task.get("assignee") or users[task["role"] or step.role]
        values = pick(data.get(step.id), n)
        entry: dict[str, Any] = {"step": step.id, "user": user}
        if step.approvers is not None and task["role"] and not task.get("assignee"):
            entry["role"] = task["role"]
        if step.type == "approval":
            entry["decision"] = values.pop("decision", "approve")
            entry["comment"] = values.pop("comment", "同意" if entry["decision"] == "approve" else "请修改")
        body = form_data(proc, step.form, user, now, values)
        if body:
            entry["data"] = body
        script["steps"].append(entry)
    raise SystemExit(f"{proc.id}: the walk did not end after 200 steps")


def main(argv: list[str]) -> int:
    lib = load_library([ROOT / "procedures", ROOT / "forms"])
    if lib.problems:
        for p in lib.problems:
            print(p, file=sys.stderr)
        return 1
    cfg = load_config(ROOT / "config.yaml")
    calendars = {n: Calendar.from_config(n, c) for n, c in cfg.get("calendars").items()}
    plans = [PLANS / f"{a}.yaml" for a in argv] if argv else sorted(PLANS.glob("*.yaml"))
    for path in plans:
        plan = yaml.safe_load(path.read_text(encoding="utf-8"))
        proc = lib.procedures[plan["procedure"]]
        for name, branch in (plan.get("branches") or {}).items():
            script = walk(proc, plan, branch or {}, calendars)
            out = ANSWERS / f"{proc.id}--{name}.yaml"
            head = (f"# Scripted answers for `wf simulate`: {proc.id}, branch {name}\n"
                    f"# Written by scripts/make_answers.py from tests/data/answer-plans/{path.name}.\n")
            if branch and branch.get("note"):
                head += f"# {branch['note']}\n"
            out.write_text(head + yaml.safe_dump(script, allow_unicode=True, sort_keys=False, width=120,
                                                  default_flow_style=None),
                           encoding="utf-8")
            print(f"{out.relative_to(ROOT)}: {' → '.join(script['expect']['path'])} [{script['expect']['outcome']}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
