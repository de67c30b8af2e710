"""What an instance's audit events say its record is: data, corrections, tasks, status.

Pages, the API, ledgers and the dossier read the stored state (``instances.state``), the task
rows and the field index, none of which the hash chain covers. ``Replay`` folds the chained
events, in order, into the parts of the state people see, so the checker
(``engine.app.audit.check_record``) can compare the two and name the first difference: a
hand that edits the stored state but not the chain is caught. It also recomputes each
signature's ``data_hash`` from the data the events recorded before it
(``engine.runtime.signing``).

Pure: events are the dicts ``Runtime.apply`` returns (``type, at, actor, step, task, data``),
as read back from the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.runtime.signing import data_hash

_FINISHED = ("task:completed", "task:approved", "task:rejected")


class Replay:
    """The record as its events state it, built one event at a time (``apply``)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        self.corrections: list[dict[str, Any]] = []
        self.tasks: dict[str, dict[str, Any]] = {}
        self.status = "running"
        self.outcome: str | None = None
        self.started_by: str | None = None
        self.serial: str | None = None
        # Signatures whose recorded hash is not that of the data the events had recorded.
        self.unbound: list[str] = []

    def apply(self, e: Mapping[str, Any]) -> None:
        kind, d, task = e["type"], e.get("data") or {}, e.get("task")
        if kind == "instance:started":
            self.started_by = e["actor"]
            self.serial = d.get("serial")
            if d.get("data"):
                self.data["start"] = dict(d["data"])
        elif kind == "task:created" and task:
            self.tasks[task] = {"step": e["step"], "status": "open", "assignee": d.get("assignee"), "completed_by": None,
                                "signature": None}
        elif kind in _FINISHED and task in self.tasks:
            signed = {**self.data, e["step"]: dict(d.get("data") or {})}
            if not d.get("party"):  # one approver of several: the step's data is the outcome's
                self.data = signed
            self.tasks[task].update(status="done", completed_by=e["actor"], signature=d.get("signature"))
            self._bound(d.get("signature"), f"{kind} of step '{e['step']}' (task {task})", signed)
        elif kind == "approval:decided":
            self.data[e["step"]] = dict(d.get("data") or {})  # a multi-party approval's outcome
        elif kind == "wait:woken" and task in self.tasks:
            self.tasks[task].update(status="done", completed_by=e["actor"])
        elif kind == "task:cancelled" and task in self.tasks:
            self.tasks[task]["status"] = "cancelled"
        elif kind == "task:claimed" and task in self.tasks:
            self.tasks[task]["assignee"] = d.get("assignee")
        elif kind == "task:released" and task in self.tasks:
            self.tasks[task]["assignee"] = None
        elif kind == "task:reassigned" and task in self.tasks:
            self.tasks[task]["assignee"] = d.get("to")
        elif kind == "data:corrected":
            step = e["step"] or "start"
            self.data[step] = {**self.data.get(step, {}), d["field"]: d.get("new")}
            self.corrections.append({"step": step, "field": d["field"], "old": d.get("old"),
                                     "new": d.get("new"), "by": e["actor"], "reason": d.get("reason")})
            self._bound(d.get("signature"), f"the correction of '{step}.{d['field']}'")
        elif kind == "instance:completed":
            self.status, self.outcome = "completed", d.get("outcome")
        elif kind == "instance:cancelled":
            self.status = "cancelled"

    def _bound(self, sig: Mapping[str, Any] | None, what: str, signed: Mapping[str, Any] | None = None) -> None:
        if sig and "data_hash" in sig and sig["data_hash"] != data_hash(self.data if signed is None else signed):
            self.unbound.append(f"the signature of {what} by {sig.get('user')} does not match the data "
                                "it signed")

    def differences(self, state: Mapping[str, Any]) -> list[str]:
        """Where the stored state differs from the replayed record, each naming the field and
        both values (stored vs replayed); signatures not bound to their data come first."""
        out = list(self.unbound)
        for key, replayed in (("status", self.status), ("outcome", self.outcome),
                              ("started_by", self.started_by), ("serial", self.serial)):
            if state.get(key) != replayed:
                out.append(f"{key}: stored {state.get(key)!r}, replayed {replayed!r}")
        stored_data = state.get("data") or {}
        for step in sorted(set(stored_data) | set(self.data)):
            have, want = stored_data.get(step) or {}, self.data.get(step) or {}
            for name in sorted(set(have) | set(want)):
                if have.get(name) != want.get(name):
                    out.append(f"data {step}.{name}: stored {_short(have.get(name))}, "
                               f"replayed {_short(want.get(name))}")
        stored_corr = [{k: c.get(k) for k in ("step", "field", "old", "new", "by", "reason")}
                       for c in state.get("corrections") or []]
        if stored_corr != self.corrections:
            out.append(f"corrections: {len(stored_corr)} stored, {len(self.corrections)} replayed or differing")
        stored_tasks = state.get("tasks") or {}
        for tid in sorted(set(stored_tasks) | set(self.tasks), key=_task_order):
            have_t, want_t = stored_tasks.get(tid), self.tasks.get(tid)
            if have_t is None or want_t is None:
                out.append(f"task {tid}: {'missing from the state' if have_t is None else 'has no events'}")
                continue
            for key in ("step", "status", "assignee", "completed_by", "signature"):
                if have_t.get(key) != want_t[key]:
                    out.append(f"task {tid} {key}: stored {_short(have_t.get(key))}, replayed {_short(want_t[key])}")
        return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _task_order(tid: str) -> tuple[int, str]:
    return (int(tid[1:]), tid) if tid[1:].isdigit() else (0, tid)
