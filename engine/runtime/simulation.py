"""Run a procedure in memory with scripted answers: the path taken, tasks, events, deadlines.

Answers file format (YAML)::

    procedure: after-sales-inspection
    now: 2026-11-02T09:00:00+08:00     # optional start time
    start: {user: inspector1, data: {}}
    steps:                             # consumed in order; each answers the open task of `step`
      - step: receive
        user: inspector1
        data: {customer: 某医院}
      - advance: 25h                   # let time pass (fires reminders, misses, escalations)
      - step: review
        user: supervisor1
        decision: reject               # approvals: approve | reject
        comment: 报告缺少实测值
    expect: {path: [...], outcome: 已归档}

Signature steps are signed by the answering user automatically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.errors import WorkflowError
from engine.language.calendar import Calendar, parse_duration
from engine.language.procedure import Procedure
from engine.runtime.commands import (
    Actor,
    Approve,
    Command,
    CompleteTask,
    Reject,
    Signature,
    Start,
    Tick,
)
from engine.runtime.events import Event
from engine.runtime.machine import Runtime, open_tasks
from engine.runtime.state import InstanceState

DEFAULT_START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Shanghai
STEP_GAP = timedelta(minutes=10)


class SimulationError(WorkflowError):
    code = "simulation_failed"


@dataclass
class Simulation:
    state: InstanceState | None = None
    events: list[Event] = field(default_factory=list)
    now: datetime = DEFAULT_START

    @property
    def path(self) -> list[str]:
        return list(self.state["path"]) if self.state else []

    @property
    def outcome(self) -> str | None:
        return self.state.get("outcome") if self.state else None


def _actor(proc: Procedure, user: str, role: str | None) -> Actor:
    roles = {role} if role else set(proc.start_roles)
    return Actor(user=user, roles=frozenset(roles), name=user)


def simulate(proc: Procedure, answers: Mapping[str, Any], *, calendars: Mapping[str, Calendar] | None = None,
             validate_forms: bool = True) -> Simulation:
    """Play ``answers`` against ``proc``; raise ``SimulationError`` naming the entry that failed."""
    rt = Runtime(proc, calendars, validate_forms=validate_forms)
    now = answers.get("now")
    sim = Simulation(now=(datetime.fromisoformat(str(now)) if now else DEFAULT_START))

    def run(cmd: Command, where: str) -> InstanceState:
        try:
            sim.state, events = rt.apply(sim.state, cmd, sim.now)
        except WorkflowError as exc:
            detail = "".join(f"\n  {e['field']}: {e['message']}" for e in exc.errors)
            raise SimulationError(f"{where}: {exc.message}{detail}") from exc
        sim.events.extend(events)
        return sim.state

    start = answers.get("start") or {}
    state = run(Start(actor=_actor(proc, start.get("user", "starter"), None), data=start.get("data") or {},
              instance_id="sim"), "start")
    for i, entry in enumerate(answers.get("steps") or []):
        where = f"steps[{i}]"
        if "advance" in entry:
            sim.now += _span(sim.now, str(entry["advance"]), calendars)
            state = run(Tick(), f"{where} (advance {entry['advance']})")
            if "step" not in entry:
                continue
        else:
            sim.now += STEP_GAP
            state = run(Tick(), where)
        if state["status"] != "running":
            raise SimulationError(f"{where}: the instance has already ended ({state['outcome']}); remove the remaining answers")
        step_id = entry.get("step")
        task = next((t for t in open_tasks(state) if t["step"] == step_id), None)
        if task is None:
            waiting = ", ".join(sorted(t["step"] for t in open_tasks(state))) or "none"
            raise SimulationError(f"{where}: no open task for step '{step_id}'; open tasks: {waiting}")
        step = proc.steps[step_id]
        user = entry.get("user", "user")
        actor = _actor(proc, user, step.role)
        sig = Signature(meaning=step.signature, user=user, name=user) if step.signature else None
        if step.type == "approval":
            kind: type[Approve | Reject] = Approve if entry.get("decision", "approve") == "approve" else Reject
            run(kind(task["id"], actor, comment=entry.get("comment", ""), data=entry.get("data") or {},
                     signature=sig), f"{where} ({step_id})")
        else:
            run(CompleteTask(task["id"], actor, data=entry.get("data") or {}, signature=sig), f"{where} ({step_id})")
    return sim


def _span(now: datetime, text: str, calendars: Mapping[str, Calendar] | None) -> timedelta:
    d = parse_duration(text)
    cal = (calendars or {}).get("default") or Calendar.from_config("default", None)
    return cal.add(now, d) - now


def report(proc: Procedure, sim: Simulation) -> list[str]:
    """Lines for people: path, every task with its due time, every event."""
    s = sim.state
    lines = [f"procedure: {proc.id} ({proc.title})",
             f"status: {s and s['status']}  outcome: {s and s['outcome']}",
             "path: " + " → ".join(sim.path), "tasks:"]
    for t in (s["tasks"] if s else {}).values():
        title = proc.steps[t["step"]].title
        due = f" due {t['due_at']}" if t.get("due_at") else (f" wakes {t['wake_at']}" if t.get("wake_at") else "")
        late = " (missed)" if t.get("missed") else ""
        esc = f" escalated to {', '.join(t['escalated_to'])}" if t.get("escalated_to") else ""
        lines.append(f"  {t['id']} {t['step']} [{title}] {t['kind']} role={t['role']} {t['status']}{due}{late}{esc}")
    lines.append("events:")
    for e in sim.events:
        extra = {k: v for k, v in e["data"].items() if k != "data"}
        lines.append(f"  {e['at']} {e['type']} step={e['step']} task={e['task']} by {e['actor']} {extra if extra else ''}".rstrip())
    return lines
