"""What an instance's audit events say its record is: data, corrections, tasks, status.

Pages, the API, ledgers and the dossier read the stored state (``instances.state``), the task
rows and the field index, none of which the hash chain covers. ``Replay`` folds the chained
events, in order, into the parts of the state people see, so the checker
(``engine.app.audit.check_record``) can compare the two and name the first difference: a
hand that edits the stored state but not the chain is caught. It also recomputes each
signature's ``data_hash`` from the data the events recorded before it
(``engine.runtime.signing``).

Given the procedure version the instance is pinned to, it also follows the steps the events
say were entered (``path``): events name the steps that create tasks, take a route, join,
spawn or end; the steps between them that leave no event of their own (a parallel split, a
decision with one way out, a spawn entered again) are walked through the graph as the
runtime walks it, taking each branch's way from its ``route:taken`` event.

Each difference is a ``Finding``: its English text, for ``wf audit verify`` and logs, and a
catalogue key with its values (``engine.i18n.keep``) that pages show in the reader's language,
with the step, field, task and attribute ids among the values for the application layer to
name by their titles (``engine.app.audit``). Nothing here depends on a reader's locale.

Pure: events are the dicts ``Runtime.apply`` returns (``type, at, actor, step, task, data``),
as read back from the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.i18n import StoredMessage, keep
from engine.i18n import worded_apart as said
from engine.runtime.signing import data_hash

if TYPE_CHECKING:
    from engine.language.procedure import Procedure, Step

_FINISHED = ("task:completed", "task:approved", "task:rejected")

# A difference found: its English text (logs, ``wf audit verify``) and its key with values.
Finding = tuple[str, StoredMessage]


class Replay:
    """The record as its events state it, built one event at a time (``apply``)."""

    def __init__(self, procedure: Procedure | None = None) -> None:
        self.procedure = procedure
        self.events: list[Mapping[str, Any]] = []
        self.data: dict[str, dict[str, Any]] = {}
        self.corrections: list[dict[str, Any]] = []
        self.tasks: dict[str, dict[str, Any]] = {}
        self.status = "running"
        self.outcome: str | None = None
        self.ended_at: datetime | None = None
        # 抄送: who the instance was sent to (they may read it), and who marked it read.
        self.cc: list[dict[str, Any]] = []
        self.cc_read: dict[str, datetime] = {}
        self.started_by: str | None = None
        self.started_at: datetime | None = None
        self.serial: str | None = None
        # Signatures whose recorded hash is not that of the data the events had recorded.
        self.unbound: list[Finding] = []
        # A correction's signature that covers the computed values recomputed after it: checked
        # once their events (which follow it) are applied. (signature, what, step, field)
        self._pending: tuple[Mapping[str, Any], str, str, str] | None = None

    def apply(self, e: Mapping[str, Any]) -> None:
        kind, d, task = e["type"], e.get("data") or {}, e.get("task")
        if self._pending is not None and not _recomputed_after(e, self._pending[2]):
            self._settle()
        self.events.append(e)
        if kind == "instance:started":
            self.started_by, self.started_at = e["actor"], _instant(e["at"])
            self.serial = d.get("serial")
            if d.get("data"):
                self.data["start"] = dict(d["data"])
        elif kind == "task:created" and task:
            # ``role`` and ``escalated_to`` say who may act on the task, ``decision`` and
            # (for one approver of several) ``comment`` what pages show of it.
            self.tasks[task] = {"step": e["step"], "status": "open", "assignee": d.get("assignee"), "completed_by": None,
                                "signature": None, "role": d.get("role"), "escalated_to": [], "decision": None,
                                "comment": None, "created_at": _instant(e["at"]), "due_at": _instant(d.get("due_at")),
                                "completed_at": None}
        elif kind in _FINISHED and task in self.tasks:
            signed = {**self.data, e["step"]: dict(d.get("data") or {})}
            if not d.get("party"):  # one approver of several: the step's data is the outcome's
                self.data = signed
            finished = d.get("data") or {}
            self.tasks[task].update(status="done", completed_by=e["actor"], signature=d.get("signature"),
                                    decision=finished.get("decision"), completed_at=_instant(e["at"]))
            if d.get("party"):
                self.tasks[task]["comment"] = finished.get("comment")
            self._bound(d.get("signature"), f"{kind} of step '{e['step']}' (task {task})", signed,
                        event=kind, step=e["step"], task=task)
        elif kind == "deadline:escalated" and task in self.tasks:
            to = f"user:{d.get('user')}" if d.get("to") == "manager" else d.get("to")
            self.tasks[task]["escalated_to"] = [*self.tasks[task]["escalated_to"], to]
        elif kind == "cc:sent":
            self.cc.append({"to": list(d.get("to") or []), "step": e["step"], "by": e["actor"],
                            "at": _instant(e["at"]), "note": d.get("note")})
        elif kind == "cc:read":
            self.cc_read.setdefault(e["actor"], _instant(e["at"]) or e["at"])
        elif kind == "approval:decided":
            self.data[e["step"]] = dict(d.get("data") or {})  # a multi-party approval's outcome
        elif kind == "wait:woken" and task in self.tasks:
            self.tasks[task].update(status="done", completed_by=e["actor"], completed_at=_instant(e["at"]))
        elif kind == "task:cancelled" and task in self.tasks:
            self.tasks[task].update(status="cancelled", completed_at=_instant(e["at"]))
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
            sig = d.get("signature")
            if isinstance(sig, Mapping) and sig.get("covers_recomputed"):
                self._pending = (sig, f"the correction of '{step}.{d['field']}'", step, d["field"])
            else:
                self._bound(sig, f"the correction of '{step}.{d['field']}'", step=step, field=d["field"])
        elif kind == "instance:completed":
            self.status, self.outcome, self.ended_at = "completed", d.get("outcome"), _instant(e["at"])
        elif kind == "instance:cancelled":
            self.status, self.ended_at = "cancelled", _instant(e["at"])
        elif kind == "instance:withdrawn":
            self.status, self.outcome, self.ended_at = "cancelled", "withdrawn", _instant(e["at"])
        elif kind == "task:transferred" and task in self.tasks:
            self.tasks[task]["assignee"] = d.get("to")
        elif kind == "task:returned" and task in self.tasks:
            self.tasks[task].update(status="cancelled", completed_by=e["actor"], completed_at=_instant(e["at"]))
        elif kind == "task:recalled" and task in self.tasks:
            self.tasks[task].update(status="open", completed_by=None, signature=None, assignee=e["actor"],
                                    decision=None, completed_at=None)

    def _settle(self) -> None:
        """Check the pending correction's signature against the data as it stands now."""
        if self._pending is not None:
            sig, what, step, field = self._pending
            self._pending = None
            self._bound(sig, what, step=step, field=field)

    def _bound(self, sig: Mapping[str, Any] | None, what: str, signed: Mapping[str, Any] | None = None,
               **where: Any) -> None:
        if sig and "data_hash" in sig and sig["data_hash"] != data_hash(self.data if signed is None else signed):
            text = f"the signature of {what} by {sig.get('user')} does not match the data it signed"
            if "field" in where:
                kept = keep("the signature by {user} of the correction of “{field}” in “{step}” does not match "
                            "the data it signed", user=sig.get("user"), **where)
            else:
                kept = keep("the signature by {user} of {event} in “{step}” (task {task}) does not match the "
                            "data it signed", user=sig.get("user"), **where)
            self.unbound.append(said(text, kept))

    def path(self) -> list[str] | str:
        """The steps entered, in order, as the events and the procedure say (a text saying
        where the events cannot be followed instead; ``[]`` without a procedure)."""
        if self.procedure is None:
            return []
        walked = self._path()
        return walked if isinstance(walked, list) else walked[0]

    def _path(self) -> list[str] | Finding:
        if self.procedure is None:
            return []
        try:
            return _Walk(self.procedure, self.events).run()
        except _Lost as exc:
            return exc.finding

    def differences(self, state: Mapping[str, Any]) -> list[str]:
        """Where the stored state differs from the replayed record, each naming the field and
        both values (stored vs replayed); signatures not bound to their data come first. In
        English, as ``wf audit verify`` prints them; ``findings`` has each with its key."""
        return [text for text, _kept in self.findings(state)]

    def findings(self, state: Mapping[str, Any]) -> list[Finding]:
        """``differences``, each with its catalogue key and values (``Finding``)."""
        self._settle()
        out = list(self.unbound)

        def differs(attribute: str, stored: str, replayed: str) -> None:
            out.append(said(f"{attribute}: stored {stored}, replayed {replayed}",
                            keep("the {attribute} of the record is {stored}, {replayed} in its audit trail",
                                 attribute=attribute, stored=stored, replayed=replayed)))

        for key, replayed in (("status", self.status), ("outcome", self.outcome),
                              ("started_by", self.started_by), ("serial", self.serial)):
            if state.get(key) != replayed:
                differs(key, repr(state.get(key)), repr(replayed))
        if _instant(state.get("started_at")) != self.started_at:
            differs("started_at", repr(state.get("started_at")),
                    repr(self.started_at.isoformat() if self.started_at else None))
        if _instant(state.get("ended_at")) != self.ended_at:
            differs("ended_at", repr(state.get("ended_at")),
                    repr(self.ended_at.isoformat() if self.ended_at else None))
        stored_cc = [{**c, "at": _instant(c.get("at"))} for c in state.get("cc") or []]
        if stored_cc != self.cc:
            differs("cc", _short([c.get("to") for c in stored_cc]), _short([c["to"] for c in self.cc]))
        stored_read = {u: _instant(at) for u, at in (state.get("cc_read") or {}).items()}
        if stored_read != self.cc_read:
            differs("cc_read", _short(sorted(stored_read)), _short(sorted(self.cc_read)))
        if self.procedure is not None:
            path, stored_path = self._path(), list(state.get("path") or [])
            if isinstance(path, tuple):
                out.append((f"path: the events cannot be followed through the procedure ({path[0]})", path[1]))
            elif stored_path != path:
                at = next((i for i, (a, b) in enumerate(zip(stored_path, path, strict=False)) if a != b),
                          min(len(stored_path), len(path)))
                stored_step = repr(stored_path[at]) if at < len(stored_path) else "nothing"
                replayed_step = repr(path[at]) if at < len(path) else "nothing"
                out.append(said(f"path: stored {len(stored_path)} step(s), replayed {len(path)}; step {at + 1}: "
                                f"stored {stored_step}, replayed {replayed_step}",
                                keep("the record lists {stored_steps} steps taken, its audit trail {replayed_steps}; "
                                     "step {at} is {stored_step} in the record, {replayed_step} in the trail",
                                     stored_steps=len(stored_path), replayed_steps=len(path), at=at + 1,
                                     stored_step=stored_step, replayed_step=replayed_step)))
        stored_data = state.get("data") or {}
        for step in sorted(set(stored_data) | set(self.data)):
            have, want = stored_data.get(step) or {}, self.data.get(step) or {}
            for name in sorted(set(have) | set(want)):
                if have.get(name) != want.get(name):
                    stored, replayed = _short(have.get(name)), _short(want.get(name))
                    out.append(said(f"data {step}.{name}: stored {stored}, replayed {replayed}",
                                    keep("the value of “{field}” in “{step}” is {stored} in the record, "
                                         "{replayed} in its audit trail",
                                         step=step, field=name, stored=stored, replayed=replayed)))
        stored_corr = [{k: c.get(k) for k in ("step", "field", "old", "new", "by", "reason")}
                       for c in state.get("corrections") or []]
        if stored_corr != self.corrections:
            out.append(said(f"corrections: {len(stored_corr)} stored, {len(self.corrections)} replayed or differing",
                            keep("the record holds {stored} corrections, its audit trail {replayed}, or they differ",
                                 stored=len(stored_corr), replayed=len(self.corrections))))
        stored_tasks = state.get("tasks") or {}
        for tid in sorted(set(stored_tasks) | set(self.tasks), key=_task_order):
            have_t, want_t = stored_tasks.get(tid), self.tasks.get(tid)
            if have_t is None:
                out.append(said(f"task {tid}: missing from the state",
                                keep("task {task} is in the audit trail but missing from the record", task=tid)))
                continue
            if want_t is None:
                out.append(said(f"task {tid}: has no events",
                                keep("task {task} is in the record but has no events in the audit trail", task=tid)))
                continue
            pairs = [(key, have_t.get(key), want_t[key])
                     for key in ("step", "status", "assignee", "completed_by", "signature", "role", "decision")]
            # when it was opened, due and finished: what the dossier, the overdue marks and the
            # KPIs (on time, lead time) read
            pairs += [(key, _iso(have_t.get(key)), _iso(want_t[key])) for key in ("created_at", "due_at", "completed_at")]
            pairs += [("escalated_to", list(have_t.get("escalated_to") or []), want_t["escalated_to"]),
                      ("comment", have_t.get("comment"), want_t["comment"])]
            for key, have_v, want_v in pairs:
                if have_v != want_v:
                    stored, replayed = _short(have_v), _short(want_v)
                    out.append(said(f"task {tid} {key}: stored {stored}, replayed {replayed}",
                                    keep("the {attribute} of task {task} is {stored} in the record, {replayed} in "
                                         "its audit trail", attribute=key, task=tid, stored=stored,
                                         replayed=replayed)))
        return out


# The reason of a computed value's correction that follows the correction of a value it reads
# (``engine.runtime.machine``: ``_record_correction``).
RECOMPUTED = "recomputed after correcting '{field}': {reason}"


def _recomputed_after(e: Mapping[str, Any], step: str) -> bool:
    """Whether ``e`` records a computed value of ``step`` recomputed after a correction."""
    d = e.get("data") or {}
    message = d.get("reason_message") if isinstance(d, Mapping) else None
    return (e.get("type") == "data:corrected" and (e.get("step") or "start") == step and not d.get("signature")
            and isinstance(message, Mapping) and message.get("key") == RECOMPUTED)


def _instant(value: Any) -> datetime | None:
    """A time as stored in the state (ISO text) or read back from an event (a datetime,
    naive from SQLite) as an aware UTC datetime, so the two compare."""
    if value is None or value == "":
        return None
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _iso(value: Any) -> str | None:
    """A time as ``_instant`` reads it, as ISO text (how a finding names it)."""
    found = _instant(value)
    return found.isoformat() if found else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _task_order(tid: str) -> tuple[int, str]:
    return (int(tid[1:]), tid) if tid[1:].isdigit() else (0, tid)


class _Lost(Exception):
    """The events name a step or a route the procedure version does not have: ``finding``."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding[0])
        self.finding = finding


class _Walk:
    """The path as ``Runtime._enter`` builds it, driven by the events instead of commands."""

    def __init__(self, procedure: Procedure, events: list[Mapping[str, Any]]) -> None:
        self.proc = procedure
        self.events = events
        self.path: list[str] = []
        self.joins: dict[str, list[int]] = {}  # join -> [expected, arrived]
        self.linked: set[str] = set()
        self.used: set[int] = set()  # route:taken events already followed
        self.done = False
        self.at = 0
        # 退回 with ``resume: here``: the returned step comes straight back (step -> where).
        self.resume: dict[str, str] = {}
        # What a recall (收回) restores: the path length and resumes before each completion.
        self.before: dict[str, tuple[int, dict[str, str]]] = {}

    def step(self, sid: str | None) -> Step:
        step = self.proc.steps.get(sid or "")
        if step is None:
            raise _Lost(said(f"event {self.at + 1} names step {sid!r}, which the procedure has not",
                             keep("the steps taken cannot be followed: event {n} names a step {name} that the "
                                  "procedure does not have", n=self.at + 1, name=repr(sid))))
        return step

    def run(self) -> list[str]:
        created: set[str] = set()  # as Replay.apply: only tasks the events created move on
        reapprovals: set[str] = set()  # re-approvals sign a corrected record; the path stays
        for at, e in enumerate(self.events):
            self.at = at
            kind, task = e["type"], e.get("task")
            if kind in ("instance:cancelled", "instance:withdrawn"):
                self.done = True
            elif kind == "task:returned":
                d = e.get("data") or {}
                if d.get("resume") == "here":
                    self.resume[str(d.get("to"))] = str(e.get("step"))
                else:
                    self.resume.pop(str(d.get("to")), None)
                self.enter(str(d.get("to")))
            elif kind == "task:recalled" and task in self.before:
                length, resume = self.before[task]
                del self.path[length:]
                self.resume = dict(resume)
            elif kind == "instance:started":
                self.enter(self.proc.start_step)
            elif kind == "task:created" and task:
                created.add(task)
                if (e.get("data") or {}).get("reapproval"):
                    reapprovals.add(task)
            elif kind == "approval:decided" and at not in self.used:
                self.decided(self.step(e.get("step")), (e.get("data") or {}).get("decision"))
            elif task not in created or task in reapprovals:
                continue
            elif kind in ("task:approved", "task:rejected") and self.step(e.get("step")).approvers is not None:
                continue  # one approver of several: the step moves on its approval:decided
            elif kind in ("task:completed", "task:approved", "wait:woken"):
                self.before[task] = (len(self.path), dict(self.resume))
                self.leave(self.step(e.get("step")))
            elif kind == "task:rejected":
                self.before[task] = (len(self.path), dict(self.resume))
                step = self.step(e.get("step"))
                if step.on_reject:
                    self.enter(step.on_reject)
                else:
                    self.done = True
        return self.path

    def route(self, step: Step) -> str:
        if len(step.next) == 1:
            return step.next[0].target
        for i in range(self.at + 1, len(self.events)):
            e = self.events[i]
            if i not in self.used and e["type"] == "route:taken" and e.get("step") == step.id:
                self.used.add(i)
                return str((e.get("data") or {}).get("to"))
        raise _Lost(said(f"no route:taken event says where step '{step.id}' went after event {self.at + 1}",
                         keep("the steps taken cannot be followed: no event says where “{step}” went after "
                              "event {n}", step=step.id, n=self.at + 1)))

    def leave(self, step: Step) -> None:
        back = self.resume.pop(step.id, None)
        self.enter(back if back is not None else self.route(step))

    def decided(self, step: Step, decision: Any) -> None:
        """A multi-party approval's outcome (``approval:decided``) moves its step on."""
        if decision == "approve":
            self.leave(step)
        elif step.on_reject:
            self.enter(step.on_reject)
        else:
            self.done = True

    def party(self, step: Step) -> None:
        """A multi-party approval entered: when its outcome was certain at once (everyone
        skipped, nobody to ask), its ``approval:decided`` follows its opening directly (after
        the tasks it opened and cancelled) and the walk goes on from there, as the runtime did."""
        opened = next((i for i in range(self.at + 1, len(self.events)) if i not in self.used
                       and self.events[i]["type"] == "approval:opened" and self.events[i].get("step") == step.id), None)
        if opened is None:
            raise _Lost(said(f"no approval:opened event for step '{step.id}' after event {self.at + 1}",
                             keep("the steps taken cannot be followed: no event opens the approval “{step}” "
                                  "after event {n}", step=step.id, n=self.at + 1)))
        self.used.add(opened)
        i = opened + 1
        while i < len(self.events) and self.events[i]["type"] in ("task:created", "task:cancelled") \
                and self.events[i].get("step") == step.id:
            i += 1
        if i < len(self.events) and self.events[i]["type"] == "approval:decided" and self.events[i].get("step") == step.id:
            self.used.add(i)
            self.decided(step, (self.events[i].get("data") or {}).get("decision"))

    def enter(self, sid: str) -> None:
        if self.done:
            return
        step = self.step(sid)
        self.path.append(sid)
        if step.type == "approval" and step.approvers is not None:
            self.party(step)
        elif step.type == "decision":
            self.leave(step)
        elif step.type == "parallel":
            if step.join is None:
                raise _Lost(said(f"parallel step '{sid}' has no join",
                                 keep("the steps taken cannot be followed: the parallel step “{step}” has no join",
                                      step=sid)))
            self.joins[step.join] = [len(step.branches), 0]
            for b in step.branches:
                self.enter(b)
        elif step.type == "join":
            j = self.joins.get(sid) or [1, 0]
            j[1] += 1
            if j[1] < j[0]:
                self.joins[sid] = j
                self.path.pop()
                return
            self.joins.pop(sid, None)
            self.leave(step)
        elif step.type == "spawn":
            if not step.spawn_again and sid in self.linked:
                self.leave(step)
                return
            self.linked.add(sid)
            self.leave(step)
        elif step.type == "end":
            self.done = True
