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
      - advance_to: 2026-11-09T09:00:00+08:00   # or let it pass up to a moment
      - step: review
        user: qa2
        act_as: qa_supervisor          # act in this role (the runtime checks it holds the task's)
      - step: review
        user: supervisor1
        decision: reject               # approvals: approve | reject
        comment: 报告缺少实测值
      - step: review                   # 退回: send the instance back to an earlier step
        user: supervisor1
        return_to: inspect
        reason: 缺少实测值
        resume: here                   # when the step declares 'resume: choose'
      - step: inspect                  # 转交: give the open task to another holder
        user: inspector1
        transfer_to: inspector2
        reason: 出差
      - recall: inspect                # 收回: the last completion of a step, by its doer
        user: inspector2
      - withdraw: 重复登记             # 撤回 by the starter (the instance ends 'cancelled')
    expect: {path: [...], outcome: 已归档, spawned: [capa]}   # status: cancelled after a withdraw
    record:                            # optional: a record of a procedure this one's triggers
      contract: {expires_on: "2026-12-20"}   # watch, to see when each trigger fires
    org:                               # optional: the org chart approvers and escalations to a
                                       # holder's manager are resolved from
      departments: {qa: {name: 品质中心, parent: hq, head: qahead1}, hq: {name: 总部, head: ceo1}}
      users: {clerk1: {department: qa, manager: qahead1}}

A multi-party approval (``approvers:``) has one task per approver: each entry answers the
open task of ``step`` that ``user`` may act on (their own named task, else a role task;
``role: ROLE`` chooses among several role tasks). ``add_approver: {user, position, reason}``
in an entry adds an approver (加签) instead of deciding; the added user holds the step's
``add_approver`` role.

Signature steps are signed by the answering user automatically. Spawn steps start their
procedure in memory (when the library holding it is given) with the data they hand over, so
a `with:` that the child's start form refuses shows here; schedules list their next
occurrences from the start time, triggers when they would fire for ``record``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.errors import FieldError, WorkflowError
from engine.i18n import N_, _, current_locale
from engine.language.calendar import Calendar, parse_duration
from engine.language.procedure import Procedure
from engine.runtime.commands import (
    Actor,
    AddApprover,
    Approve,
    Command,
    CompleteTask,
    Recall,
    Reject,
    Return,
    Signature,
    Start,
    Tick,
    Transfer,
    Withdraw,
)
from engine.runtime.events import Event
from engine.runtime.machine import Runtime, open_tasks
from engine.runtime.org import Department, OrgChart
from engine.runtime.state import InstanceState, Task

DEFAULT_START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Shanghai
STEP_GAP = timedelta(minutes=10)


class SimulationError(WorkflowError):
    """An entry that could not be played: ``entry`` is its index in ``steps`` (-1: the
    start), ``errors`` the form's field errors when the data was refused."""

    code = "simulation_failed"

    def __init__(self, message: str, errors: Sequence[FieldError] | None = None, entry: int | None = None) -> None:
        super().__init__(message, errors=errors)
        self.entry = entry


@dataclass(frozen=True)
class Spawned:
    """A linked instance a spawn step opened in the simulation (``error`` if it could not)."""

    step: str
    procedure: str
    data: Mapping[str, Any]
    state: InstanceState | None = None
    error: str | None = None


@dataclass
class Simulation:
    state: InstanceState | None = None
    events: list[Event] = field(default_factory=list)
    now: datetime = DEFAULT_START
    spawned: list[Spawned] = field(default_factory=list)
    starts: list[str] = field(default_factory=list)  # what the automatic starts would do

    @property
    def path(self) -> list[str]:
        return list(self.state["path"]) if self.state else []

    @property
    def outcome(self) -> str | None:
        return self.state.get("outcome") if self.state else None


def _actor(proc: Procedure, user: str, role: str | None) -> Actor:
    roles = {role} if role else set(proc.start_roles)
    return Actor(user=user, roles=frozenset(roles), name=user)


# What an entry of ``steps:`` may say (docs/procedure-language.md, "Running a procedure without
# a server"); anything else is refused, so a misspelt key is not silently ignored.
ENTRY_KEYS = frozenset({"step", "user", "role", "act_as", "data", "decision", "comment", "advance",
                        "advance_to", "withdraw", "recall", "return_to", "reason", "resume",
                        "add_approver", "transfer_to"})


# The shape of each part of an answer script: what it must be, in words, and an example.
_MAPPING, _LIST, _TEXT = N_("a mapping"), N_("a list"), N_("text")
_START_SHAPES: dict[str, tuple[type, str, str]] = {
    "user": (str, _TEXT, "user: inspector1"),
    "data": (dict, _MAPPING, "data: {customer: 某医院}"),
}
_ENTRY_SHAPES: dict[str, tuple[type, str, str]] = {
    **{key: (str, _TEXT, f"{key}: {example}") for key, example in (
        ("step", "receive"), ("user", "inspector1"), ("role", "inspector"), ("act_as", "qa_supervisor"),
        ("decision", "approve"), ("return_to", "inspect"), ("recall", "inspect"),
        ("transfer_to", "inspector2"), ("resume", "here"), ("advance", "25h"),
        ("advance_to", "2026-11-09T09:00:00+08:00"))},
    "data": (dict, _MAPPING, "data: {customer: 某医院}"),
    "add_approver": (dict, _MAPPING, "add_approver: {user: qa2, position: after, reason: 复核}"),
}


def _shape_error(key: str, words: str, example: str, value: Any) -> SimulationError:
    shown = repr(value) if not isinstance(value, dict | list) else (_(_MAPPING) if isinstance(value, dict)
                                                                     else _(_LIST))
    return SimulationError(_("answers: {key} must be {shape}, e.g. `{example}`, not {value}",
                             key=key, shape=_(words), example=example, value=shown))


def _fits(value: Any, kind: type) -> bool:
    if kind is str:  # a name or a word: YAML may read it as a number or a date; not a list or mapping
        return value is not None and not isinstance(value, dict | list)
    return isinstance(value, kind)


def check_script(answers: Any) -> None:
    """Raise ``SimulationError`` naming the first part of an answer script that has the wrong
    shape (``start: 3``, ``steps: 5``, an entry's ``data: [1]``): the key, what it must be and
    an example. What each entry says is checked when it is played."""
    if not isinstance(answers, Mapping):
        raise SimulationError(_("the answers must be a mapping with start and steps (see the example)"))
    for key in ("now",):
        if answers.get(key) is not None:
            try:
                datetime.fromisoformat(str(answers[key]))
            except ValueError:
                raise _shape_error(key, N_("a date and time"), "now: 2026-11-02T09:00:00+08:00",
                                   answers[key]) from None
    for key, example in (("org", "org: {users: {clerk1: {department: qa}}}"),
                         ("record", "record: {contract: {expires_on: \"2026-12-20\"}}")):
        if answers.get(key) is not None and not isinstance(answers[key], Mapping):
            raise _shape_error(key, _MAPPING, example, answers[key])
    org = answers.get("org") or {}
    for part in ("departments", "users"):
        inner = org.get(part)
        if inner is not None and not (isinstance(inner, Mapping)
                                      and all(isinstance(v, Mapping) for v in inner.values())):
            raise _shape_error(f"org.{part}", N_("a mapping of names to mappings"),
                               "users: {clerk1: {department: qa, manager: qahead1}}" if part == "users"
                               else "departments: {qa: {name: 品质中心, head: qahead1}}", inner)
    start = answers.get("start")
    if start is not None:
        if not isinstance(start, Mapping):
            raise _shape_error("start", _MAPPING, "start: {user: inspector1, data: {}}", start)
        for key, (kind, words, example) in _START_SHAPES.items():
            if start.get(key) is not None and not _fits(start[key], kind):
                raise _shape_error(f"start.{key}", words, example, start[key])
    steps = answers.get("steps")
    if steps is None:
        return
    if not isinstance(steps, list):
        raise _shape_error("steps", _LIST, "steps: [{step: receive, user: inspector1, data: {}}]", steps)
    for i, entry in enumerate(steps):
        if not isinstance(entry, Mapping):
            raise _shape_error(f"steps[{i}]", _MAPPING, "- {step: receive, user: inspector1, data: {}}", entry)
        for key, (kind, words, example) in _ENTRY_SHAPES.items():
            if entry.get(key) is not None and not _fits(entry[key], kind):
                raise _shape_error(f"steps[{i}].{key}", words, example, entry[key])


def simulate(proc: Procedure, answers: Mapping[str, Any], *, calendars: Mapping[str, Calendar] | None = None,
             validate_forms: bool = True, library: Mapping[str, Procedure] | None = None) -> Simulation:
    """Play ``answers`` against ``proc``; raise ``SimulationError`` naming the entry that failed.

    ``library`` holds the procedures that spawn steps open (started in memory too).
    """
    check_script(answers)
    rt = Runtime(proc, calendars, validate_forms=validate_forms)
    now = answers.get("now")
    sim = Simulation(now=(datetime.fromisoformat(str(now)) if now else DEFAULT_START))
    sim.starts = _starts(proc, sim.now, answers.get("record"), calendars)

    org = org_chart(answers.get("org"))

    def tick() -> Tick:
        """Time passes; an escalation ``to: manager`` finds the holder's manager in the answer
        file's ``org:``, as the worker finds it in the organisation chart."""
        holders = {t.get("assignee") or t.get("last_assignee") for t in open_tasks(sim.state)} if sim.state else set()
        return Tick(managers={h: m for h in sorted(h for h in holders if h) if (m := org.manager_of(h))})

    index = -1

    def run(cmd: Command, where: str) -> InstanceState:
        try:
            sim.state, events = rt.apply(sim.state, cmd, sim.now, org=org)
        except WorkflowError as exc:
            detail = "".join(f"\n  {e['field']}: {e['message']}" for e in exc.errors)
            raise SimulationError(_("{where}: {message}{detail}", where=where, message=exc.message, detail=detail),
                                  list(exc.errors), index) from exc
        sim.events.extend(events)
        for e in events:
            if e["type"] == "spawn:requested":
                sim.spawned.append(_spawn(sim, e, library, calendars, validate_forms))
        return sim.state

    start = answers.get("start") or {}
    locale = current_locale()  # the forms' field messages in the reader's language, as the refusals
    state = run(Start(actor=_actor(proc, start.get("user", "starter"), None), data=start.get("data") or {},
              instance_id="sim", locale=locale), "start")
    for i, entry in enumerate(answers.get("steps") or []):
        where = f"steps[{i}]"
        index = i
        unknown = sorted(str(k) for k in entry if k not in ENTRY_KEYS) if isinstance(entry, dict) else ["?"]
        if unknown:
            raise SimulationError(_("{where}: unknown key(s) {keys}; an entry takes {known}",
                                    where=where, keys=", ".join(unknown), known=", ".join(sorted(ENTRY_KEYS))),
                                  entry=i)
        if "advance_to" in entry:
            until = _moment(entry["advance_to"], where)
            sim.now = max(sim.now, until)
            state = run(tick(), f"{where} (advance_to {entry['advance_to']})")
            if "step" not in entry:
                continue
        elif "advance" in entry:
            sim.now += _span(sim.now, str(entry["advance"]), calendars, proc.calendar)
            state = run(tick(), f"{where} (advance {entry['advance']})")
            if "step" not in entry:
                continue
        else:
            sim.now += STEP_GAP
            state = run(tick(), where)
        if state["status"] != "running":
            raise SimulationError(_("{where}: the instance has already ended ({outcome}); remove the remaining "
                                    "answers", where=where, outcome=_(state["outcome"] or state["status"])))
        if "withdraw" in entry:
            run(Withdraw(_actor(proc, entry.get("user", start.get("user", "starter")), None), str(entry["withdraw"])),
                f"{where} (withdraw)")
            continue
        if "recall" in entry:
            done = [t for t in state["tasks"].values() if t["step"] == entry["recall"] and t["status"] == "done"]
            if not done:
                raise SimulationError(_("{where}: step '{step}' has not been done; nothing to recall",
                                        where=where, step=entry["recall"]))
            user = entry.get("user", "user")
            run(Recall(done[-1]["id"], _actor(proc, user, proc.steps[entry["recall"]].role)), f"{where} (recall)")
            continue
        step_id = entry.get("step")
        user = entry.get("user", "user")
        task = _task_for(state, step_id, user, entry.get("role"))
        if task is None:
            waiting = ", ".join(sorted(t["step"] for t in open_tasks(state))) or _("none")
            raise SimulationError(_("{where}: no open task for step '{step}'; open tasks: {waiting}",
                                    where=where, step=step_id, waiting=waiting))
        step = proc.steps[step_id]
        actor = _actor(proc, user, entry.get("act_as") or (task["role"] if step.approvers is not None else step.role))
        if "return_to" in entry:
            run(Return(task["id"], actor, str(entry["return_to"]), str(entry.get("reason", "")),
                       str(entry.get("resume", ""))), f"{where} ({step_id} return_to)")
            continue
        if "add_approver" in entry:
            add = entry["add_approver"] or {}
            roles = frozenset({step.approvers.add_from} if step.approvers and step.approvers.add_from else ())
            run(AddApprover(task["id"], actor, str(add.get("user", "")), roles, str(add.get("position", "after")),
                            str(add.get("reason", ""))), f"{where} ({step_id} add_approver)")
            continue
        if "transfer_to" in entry:
            run(Transfer(task["id"], actor, str(entry["transfer_to"]), frozenset({task["role"] or step.role or ""}),
                         str(entry.get("reason", ""))), f"{where} ({step_id} transfer_to)")
            continue
        sig = Signature(meaning=step.signature, user=user, name=user) if step.signature else None
        if step.type == "approval":
            decision = entry.get("decision", "approve")  # an approval entry approves unless it says
            if decision not in ("approve", "reject"):
                raise SimulationError(_("{where}: '{step}' is an approval: write decision: approve or decision: "
                                        "reject (not {given})", where=where, step=step_id, given=repr(decision)),
                                      entry=i)
            kind: type[Approve | Reject] = Approve if decision == "approve" else Reject
            run(kind(task["id"], actor, comment=entry.get("comment", ""), data=entry.get("data") or {},
                     signature=sig, locale=locale), f"{where} ({step_id})")
        else:
            run(CompleteTask(task["id"], actor, data=entry.get("data") or {}, signature=sig, locale=locale),
                f"{where} ({step_id})")
    return sim


def _moment(value: Any, where: str) -> datetime:
    """An ``advance_to`` time: ISO 8601 with its offset (a bare one is taken as UTC)."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise SimulationError(_("{where}: advance_to '{value}' is not a date and time; write e.g. "
                                    "2026-11-09T09:00:00+08:00", where=where, value=value)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _task_for(state: InstanceState, step_id: str | None, user: str, role: str | None) -> Task | None:
    """The open task of ``step_id`` that ``user`` answers: their own (named), else one for a
    role (``role`` when given), else the first open one."""
    found = [t for t in open_tasks(state) if t["step"] == step_id]
    own = [t for t in found if t.get("assignee") == user]
    pool = [t for t in found if not t.get("assignee") and (role is None or t["role"] == role)]
    first = own or pool or found
    return first[0] if first else None


def org_chart(raw: Any) -> OrgChart:
    """An answer file's ``org:`` as the snapshot approvers are resolved from."""
    if not isinstance(raw, Mapping):
        return OrgChart()
    departments = {str(k): Department(str(k), str(v.get("name", k)), v.get("parent"), v.get("head"))
                   for k, v in (raw.get("departments") or {}).items()}
    users = raw.get("users") or {}
    return OrgChart(departments=departments,
                    user_department={str(u): str(v["department"]) for u, v in users.items() if v.get("department")},
                    user_manager={str(u): str(v["manager"]) for u, v in users.items() if v.get("manager")})


def _spawn(sim: Simulation, event: Event, library: Mapping[str, Procedure] | None,
           calendars: Mapping[str, Calendar] | None, validate_forms: bool) -> Spawned:
    payload: Mapping[str, Any] = event["data"]
    target = str(payload["procedure"])
    data = dict(payload.get("data") or {})
    step = str(event["step"])
    child = (library or {}).get(target)
    if child is None:
        return Spawned(step, target, data, error="not simulated: the procedure is not in the library given")
    origin = {"procedure": sim.state["procedure"] if sim.state else "", "instance": "sim", "step": step}
    actor = Actor(user="system", roles=frozenset(child.start_roles), name="system")
    try:
        state, _events = Runtime(child, calendars, validate_forms=validate_forms).apply(
            None, Start(actor=actor, data=data, instance_id=f"sim-{target}", origin=origin,
                        locale=current_locale()), sim.now)
    except WorkflowError as exc:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
        return Spawned(step, target, data, error=exc.message + (f" ({detail})" if detail else ""))
    return Spawned(step, target, data, state=state)


def _starts(proc: Procedure, now: datetime, record: Any, calendars: Mapping[str, Calendar] | None) -> list[str]:
    """What the procedure's automatic starts would do from ``now`` (and for ``record``)."""
    from engine.language.starts import Schedule, Trigger

    cal = (calendars or {}).get(proc.calendar) or Calendar.from_config("default", None)
    lines: list[str] = []
    for rule in proc.starts:
        if isinstance(rule, Schedule):
            nxt = rule.occurrences(now - timedelta(seconds=1), now + timedelta(days=400), cal.timezone,
                                   limit=3, calendar=cal)
            shown = ", ".join(t.astimezone(cal.timezone).strftime("%Y-%m-%d %H:%M") for t in nxt)
            lines.append(f"schedule {rule.describe()}: next {shown} ({cal.timezone.key})")
        elif isinstance(rule, Trigger):
            head = f"trigger {rule.procedure} {rule.step}.{rule.field} {rule.offset}"
            if not isinstance(record, Mapping):
                lines.append(f"{head}: give 'record:' in the answers to see when it fires")
                continue
            due = rule.due_at(record, cal)
            if due is None:
                lines.append(f"{head}: the record has no date in {rule.step}.{rule.field}")
                continue
            context = {**record, "instance": {"id": "record", "procedure": rule.procedure},
                       "__now__": now, "__calendar__": cal}
            try:
                if rule.when is not None and not rule.when.evaluate(context):
                    lines.append(f"{head}: 'when' is false for this record; it would not fire")
                    continue
                data = {k: e.evaluate(context) for k, e in rule.with_}
            except WorkflowError as exc:
                lines.append(f"{head}: fails: {exc.message}")
                continue
            when = due.astimezone(cal.timezone).strftime("%Y-%m-%d %H:%M")
            lines.append(f"{head}: fires {when} ({cal.timezone.key}) with {data}")
    return lines


def _span(now: datetime, text: str, calendars: Mapping[str, Calendar] | None, name: str = "default") -> timedelta:
    """``text`` (``2wd``...) from ``now`` in the procedure's calendar (its working days)."""
    d = parse_duration(text)
    cal = (calendars or {}).get(name) or (calendars or {}).get("default") or Calendar.from_config("default", None)
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
        who = f"role={t['role']}" + (f" assignee={t['assignee']}" if t.get("named") else "")
        lines.append(f"  {t['id']} {t['step']} [{title}] {t['kind']} {who} {t['status']}{due}{late}{esc}")
    if sim.spawned:
        lines.append("spawned:")
        for sp in sim.spawned:
            if sp.state is not None:
                first = ", ".join(t["step"] for t in open_tasks(sp.state)) or "none"
                lines.append(f"  {sp.step} → {sp.procedure}: started with {dict(sp.data)}; open tasks: {first}")
            else:
                lines.append(f"  {sp.step} → {sp.procedure}: {sp.error}")
    if sim.starts:
        lines.append("automatic starts:")
        lines += [f"  {line}" for line in sim.starts]
    lines.append("events:")
    for e in sim.events:
        extra = {k: v for k, v in e["data"].items() if k != "data"}
        lines.append(f"  {e['at']} {e['type']} step={e['step']} task={e['task']} by {e['actor']} {extra if extra else ''}".rstrip())
    return lines
