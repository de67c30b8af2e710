"""Try it as a click-through: start a procedure version in memory, fill each open task's form
as the role it is for (or another, to see the refusal), approve or reject, let time pass
(+1 h, +1 day, +1 working day, up to a moment) so deadlines, reminders and escalations fire,
and see the path on the diagram. Nothing is written: each click adds one entry to an answer
script (``engine.runtime.simulation``'s format, the one the expert mode takes) and the whole
script is played again in memory. The page carries the script; the database is only read
(the version, and the users who hold each role).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import yaml

from engine.app import editor as editing
from engine.errors import FieldError, WorkflowError
from engine.i18n import _
from engine.language import yaml_source as yamlsrc
from engine.language.calendar import Calendar
from engine.runtime.machine import open_tasks
from engine.runtime.simulation import Simulation, SimulationError, check_script, simulate
from engine.store import latest_version_id
from engine.store import users as user_store

if TYPE_CHECKING:
    from engine.app.services import Services
    from engine.language.forms import Form
    from engine.language.procedure import Procedure

CLOCK = ("1h", "1d", "1wd")  # the clock's buttons; "to a date" takes a moment
MAX_ENTRIES = 400  # a script longer than any walk through a procedure: a page that grew wrong


@dataclass(frozen=True)
class OpenTask:
    """An open task of the run, with what the page needs to fill it."""

    id: str
    step: str
    title: str
    kind: str  # task, approval, wait
    role: str | None
    role_title: str
    assignee: str | None
    due_at: str | None
    missed: bool
    escalated_to: list[str]
    form: Form | None
    users: list[str]  # who holds the task's role, for "act as"


@dataclass
class Run:
    """One state of the click-through."""

    version: editing.Version
    procedure: Procedure
    script: dict[str, Any]  # the answers played so far (carried by the page)
    sim: Simulation | None  # None before the start
    zone: ZoneInfo
    start_form: Form | None
    start_users: list[str]
    roles: dict[str, list[str]]  # role id -> users holding it
    open: list[OpenTask] = field(default_factory=list)
    error: str | None = None  # why the last click was refused
    errors: list[FieldError] = field(default_factory=list)  # the form's field errors for it
    refused: dict[str, Any] | None = None  # the entry refused (its data shows again)

    @property
    def started(self) -> bool:
        return self.sim is not None and self.sim.state is not None

    @property
    def now(self) -> datetime:
        return self.sim.now if self.sim is not None else _start_time(self.script)

    @property
    def path(self) -> list[str]:
        return self.sim.path if self.sim is not None else []

    @property
    def status(self) -> str | None:
        return self.sim.state["status"] if self.sim is not None and self.sim.state else None

    @property
    def script_text(self) -> str:
        return json.dumps(self.script, ensure_ascii=False, default=str)


def _start_time(script: Mapping[str, Any]) -> datetime:
    from engine.runtime.simulation import DEFAULT_START

    now = script.get("now")
    return datetime.fromisoformat(str(now)) if now else DEFAULT_START


def read_script(text: str | None) -> dict[str, Any]:
    """The script a page sent back (JSON, or YAML from the expert box); empty when none."""
    if not text or not text.strip():
        return {}
    script = yamlsrc.safe_load_bounded(text, "answers")
    check_script(script)  # each click builds on its parts: their shapes first
    if len(script.get("steps") or []) > MAX_ENTRIES:
        raise WorkflowError(_("the run has more than {n} entries; start again", n=MAX_ENTRIES))
    return script


def _holders(services: Services, session: Any, procedure_id: str, roles: Mapping[str, str]) -> dict[str, list[str]]:
    config = services.workflow.config
    people = [(u.username, set(user_store.groups_of(u))) for u in user_store.list_users(session)
              if getattr(u, "active", True)]
    out: dict[str, list[str]] = {}
    for role in roles:
        groups = set(config.groups_for_role(procedure_id, role))
        out[role] = sorted(name for name, held in people if held & groups)
    return out


def click(services: Services, procedure_id: str, version_id: int | None, script_text: str | None,
          action: Mapping[str, Any] | None = None) -> Run:
    """The run after ``action`` on the script so far. Actions: ``{"do": "start", "user",
    "data"}``, ``{"do": "task", "step", "user", "act_as", "data", "decision", "comment"}``,
    ``{"do": "clock", "by": "1h" | "1d" | "1wd"}``, ``{"do": "clock", "to": ISO time}``,
    ``{"do": "undo"}`` (the last entry taken back) and ``{"do": "restart"}``. A refused action
    leaves the script as it was and says why (with the form's field errors)."""
    with services.database.reading() as session:
        row = editing.stored_version(session, procedure_id, version_id)
        proc = services.workflow.runtime(session, row.id).procedure
        version = editing.version_of(row, latest_version_id(session, procedure_id))
        roles = _holders(services, session, procedure_id, proc.roles)
    calendars = services.workflow.calendars
    cal = (calendars or {}).get(proc.calendar) or Calendar.from_config("default", None)
    start_users = sorted({u for r in proc.start_roles for u in roles.get(r, [])})
    run = Run(version, proc, {}, None, cal.timezone,
              proc.forms.get(proc.start_form) if proc.start_form else None, start_users, roles)
    try:
        script = read_script(script_text)
    except WorkflowError as exc:
        run.error = exc.message
        return run
    except (ValueError, yaml.YAMLError):
        run.error = _("the run sent with the page cannot be read; start again")
        return run
    script.setdefault("procedure", proc.id)
    played = False
    if action is not None and action.get("do") == "restart":
        script = {"procedure": proc.id}
    elif action is not None:
        candidate: dict[str, Any] | None = None
        try:
            candidate = _with(script, action, run)
        except WorkflowError as exc:
            run.error = exc.message
        if candidate is not None and action.get("do") == "undo":
            script = candidate
        elif candidate is not None:
            try:
                run.sim, script, played = _play(proc, candidate, calendars), candidate, True
            except SimulationError as exc:
                run.error, run.errors, run.refused = _reason(exc), list(exc.errors), dict(action)
    if not played:
        try:
            run.sim = _play(proc, script, calendars)
        except SimulationError as exc:  # a script from the page that no longer plays
            run.error = run.error or _reason(exc)
    run.script = script
    run.open = _open(run)
    return run


def _reason(exc: SimulationError) -> str:
    """The refusal as people read it: without the script position and the field list (the
    form shows each field's message at the field)."""
    head = exc.message.split("\n", 1)[0]
    return head.split(": ", 1)[1] if head.startswith(("steps[", "start")) and ": " in head else head


def _play(proc: Procedure, script: Mapping[str, Any], calendars: Any) -> Simulation | None:
    if "start" not in script:
        return None
    return simulate(proc, script, calendars=calendars)


def _without_last(script: dict[str, Any]) -> dict[str, Any]:
    out = dict(script)
    steps = list(out.get("steps") or [])
    if steps:
        steps.pop()
        out["steps"] = steps
    elif "start" in out:
        out.pop("start")
    return out


def _with(script: dict[str, Any], action: Mapping[str, Any], run: Run) -> dict[str, Any]:
    """The script with the entry ``action`` asks for added (or the last one taken back)."""
    do = action.get("do")
    out = dict(script)
    steps = list(out.get("steps") or [])
    if do == "undo":
        return _without_last(out)
    if do == "start":
        if "start" in out:
            raise WorkflowError(_("the procedure has already been started; start again to begin anew"))
        out["start"] = {"user": str(action.get("user") or "starter"), "data": dict(action.get("data") or {})}
        return out
    if "start" not in out:
        raise WorkflowError(_("start the procedure first"))
    if do == "clock":
        if action.get("to"):
            moment = _local_moment(str(action["to"]), run.zone)
            if moment is None:
                raise WorkflowError(_("'{value}' is not a date and time; choose one in the picker", value=action["to"]))
            steps.append({"advance_to": moment.isoformat()})
        elif action.get("by") in CLOCK:
            steps.append({"advance": action["by"]})
        else:
            raise WorkflowError(_("choose how much time passes: {choices}", choices=", ".join(CLOCK)))
    elif do == "task":
        entry: dict[str, Any] = {"step": str(action.get("step") or ""), "user": str(action.get("user") or "user")}
        if action.get("act_as"):
            entry["act_as"] = str(action["act_as"])
        if action.get("role"):  # which approver's task of a multi-party approval
            entry["role"] = str(action["role"])
        if action.get("decision") in ("approve", "reject"):
            entry["decision"] = action["decision"]
            if action.get("comment"):
                entry["comment"] = str(action["comment"])
        if action.get("data"):
            entry["data"] = dict(action["data"])
        steps.append(entry)
    else:
        raise WorkflowError(_("unknown action '{action}'", action=str(do)))
    out["steps"] = steps
    return out


def _local_moment(text: str, zone: ZoneInfo) -> datetime | None:
    """A moment typed in the page's date-time picker (local time of the procedure's calendar)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _open(run: Run) -> list[OpenTask]:
    if run.sim is None or run.sim.state is None or run.sim.state["status"] != "running":
        return []
    proc = run.procedure
    out = []
    for t in open_tasks(run.sim.state):
        step = proc.steps[t["step"]]
        role = t.get("role") or step.role
        out.append(OpenTask(
            id=t["id"], step=t["step"], title=step.title, kind=t["kind"], role=role,
            role_title=proc.roles.get(role or "", role or ""), assignee=t.get("assignee"),
            due_at=t.get("due_at"), missed=bool(t.get("missed")),
            escalated_to=[proc.roles.get(r, r) for r in t.get("escalated_to") or []],
            form=proc.forms.get(step.form) if step.form else None,
            users=run.roles.get(role or "", [])))
    return out


def events(run: Run) -> list[dict[str, Any]]:
    """The run's events, newest first, as the page lists them."""
    if run.sim is None:
        return []
    proc = run.procedure
    return [{"at": e["at"], "type": e["type"], "step": proc.steps[e["step"]].title if e["step"] in proc.steps else "",
             "actor": e["actor"] or ""} for e in reversed(run.sim.events)]


def tasks(run: Run) -> list[dict[str, Any]]:
    """Every task of the run with its due time, as the page's table shows them."""
    if run.sim is None or run.sim.state is None:
        return []
    return editing.simulation_view(run.procedure, run.sim)["tasks"]


def local(moment: datetime | str | None, zone: ZoneInfo) -> str:
    """A moment in the procedure's calendar zone, as ``2026-11-02 09:00`` (with the weekday)."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def picker_value(moment: datetime, zone: ZoneInfo) -> str:
    """``moment`` plus one day, as a date-time picker's starting value."""
    return (moment.astimezone(zone) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
