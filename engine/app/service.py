"""Use cases: one transaction each, around the pure runtime.

The caller (web request, CLI command, worker) opens the ``Session`` and commits or rolls
back; a use case loads the instance and its pinned procedure version, asks the runtime for
the new state, and writes state, task rows and audit events together with an optimistic
version check. Nothing here knows HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import store
from engine.app import change_control, notify
from engine.app.org import current_org
from engine.config import Config
from engine.errors import (
    Conflict,
    NotFound,
    NotPermitted,
    SignatureInvalid,
    WorkflowError,
)
from engine.i18n import _
from engine.language.calendar import Calendar
from engine.language.procedure import MANAGER, Library, Procedure, compile_stored, load_library
from engine.runtime import access, signing
from engine.runtime.commands import (
    SYSTEM,
    Actor,
    AddApprover,
    Approve,
    Cancel,
    Cc,
    CcRead,
    Claim,
    CompleteTask,
    Correct,
    Reassign,
    Recall,
    Reject,
    Release,
    Return,
    Signature,
    Start,
    Tick,
    Transfer,
    Urge,
    Withdraw,
)
from engine.runtime.machine import Runtime, next_wakeup
from engine.runtime.org import EMPTY_ORG, OrgChart
from engine.store import drafts, field_index, kpi_rollup, serials, timekeeping
from engine.store import users as user_store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

Clock = Callable[[], datetime]
TICK_RETRY = timedelta(minutes=5)  # when an instance whose tick failed is tried again
_log = logging.getLogger("qualityflow.service")
#: The start-firing rule under which failed spawns wait for the worker's retry.
SPAWN_RULE = "spawn"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class VerifiedPassword:
    """A signature password checked by ``Workflow.verify_password`` before the transaction;
    accepted wherever a password is, and refused at once on a signature step if it did not
    match."""

    user: str
    matches: bool


@dataclass(frozen=True)
class Registered:
    procedure_id: str
    version_id: int
    content_hash: str
    created: bool


class Workflow:
    """The use cases of the server, sharing compiled procedure versions and the clock."""

    def __init__(self, config: Config, *, clock: Clock = utcnow) -> None:
        self.config = config
        self.clock = clock
        self.calendars = {
            name: Calendar.from_config(name, raw)
            for name, raw in (config.get("calendars", default={}) or {}).items()
        }
        self._runtimes: dict[int, Runtime] = {}
        self._versions: dict[str, list[Runtime]] = {}  # every version per procedure (field index)

    # -- procedure versions ---------------------------------------------------------------

    def read_library(self, paths: Iterable[str | Path] | None = None) -> Library:
        """Parse and check the procedure files (no database: done before a write
        transaction, so parsing never holds the write lock).

        Raises ``DefinitionInvalid`` with every problem when any file is invalid.
        """
        forms_dir = self.config.path("paths", "forms", default="forms")
        if paths is None:
            paths = [self.config.path("paths", "procedures", default="procedures"), forms_dir]
        # Forms not among ``paths`` come from the configured forms folder (as in `wf validate`).
        lib = load_library(paths, extra_forms=[forms_dir])
        lib.problems += change_control.library_problems(lib)
        return lib.require_valid()

    def load_procedures(self, session: Session, paths: Iterable[str | Path] | None = None, *,
                        library: Library | None = None) -> list[Registered]:
        """Register every procedure file whose content changed as a new version, which
        becomes current (``store.load_file_version``: also a file put back to an earlier text).

        Registers nothing when any file is invalid (``read_library``), so a broken edit never
        replaces a working version.
        """
        lib = library if library is not None else self.read_library(paths)
        out = []
        for proc in lib.procedures.values():
            forms = {fid: Path(f.source_file).read_text(encoding="utf-8") for fid, f in proc.forms.items()}
            row, created = store.load_file_version(session, proc.id, proc.text, forms, proc.title,
                                                   definition_hash=proc.content_hash)
            if row.id not in self._runtimes:
                self._runtimes[row.id] = Runtime(proc, self.calendars)
                self._versions.pop(proc.id, None)
            # The hash people see is the definition hash every instance records at its start.
            out.append(Registered(proc.id, row.id, proc.content_hash, created))
        return out

    def runtime(self, session: Session, version_id: int) -> Runtime:
        """The runtime of one stored version, compiled once from the stored texts."""
        rt = self._runtimes.get(version_id)
        if rt is None:
            row = store.get_version(session, version_id)
            proc = compile_stored(row.source, f"{row.procedure_id}.yaml", row.forms or {})
            rt = self._runtimes[version_id] = Runtime(proc, self.calendars)
            self._versions.pop(proc.id, None)  # a version this process had not met
        return rt

    def versions(self, session: Session, procedure_id: str) -> list[Runtime]:
        """Every registered version of a procedure, compiled once. The field index keeps
        the fields that any version indexes, so that what is searchable does not depend on
        which versions one server process happens to have met."""
        found = self._versions.get(procedure_id)
        if found is None:
            found = [self.runtime(session, v.id) for v in store.versions_of(session, procedure_id)]
            self._versions[procedure_id] = found
        return found

    def procedure(self, session: Session, procedure_id: str) -> tuple[Procedure, int]:
        """The current (latest published) version of a procedure and its version id."""
        version_id = store.latest_version_id(session, procedure_id)
        if version_id is None:
            raise NotFound(_("procedure '{id}' is not installed; check the id or run 'wf procedures load'",
                             id=procedure_id))
        return self.runtime(session, version_id).procedure, version_id

    def current(self, session: Session) -> list[tuple[Procedure, int]]:
        """``procedure()`` of every procedure with a published version, by id, in one read."""
        return [(self.runtime(session, vid).procedure, vid)
                for vid in store.latest_version_ids(session).values()]

    # -- who acts -------------------------------------------------------------------------

    def actor(self, session: Session, username: str, procedure: Procedure) -> Actor:
        """The user with the roles they hold in ``procedure`` (through their groups)."""
        return self._actor(username, user_store.identity(session, username), procedure)

    def roles_in_current(self, session: Session, username: str) -> list[tuple[Procedure, int, frozenset[str]]]:
        """``current()``, each with the roles ``username`` holds in it (``actor()``), the user
        read once: an inbox, what may be started and what may be read ask it of every procedure."""
        found = user_store.identity(session, username)
        return [(proc, vid, self._actor(username, found, proc).roles) for proc, vid in self.current(session)]

    def _actor(self, username: str, found: tuple[str, bool, list[str]] | None,
               procedure: Procedure) -> Actor:
        if found is None or not found[1]:
            raise NotPermitted(_("unknown or inactive user '{user}'; check the user name or ask an administrator",
                                 user=username))
        full_name, _active, group_list = found
        groups = set(group_list)
        roles = {r for r in (*procedure.roles, "admin") if groups & set(self.config.groups_for_role(procedure.id, r))}
        return Actor(user=username, roles=frozenset(roles), name=full_name or username)

    def verify_password(self, session: Session, username: str, password: str) -> VerifiedPassword:
        """Check a signature password ahead of the write transaction.

        scrypt takes about 0.1 s on purpose; run inside the step's transaction it would hold
        SQLite's single write lock (or a PostgreSQL row lock) all that time.
        """
        return VerifiedPassword(username, user_store.check_password(session, username, password) is not None)

    def _signature(self, session: Session, actor: Actor, step_signature: str | None,
                   password: str | VerifiedPassword | None) -> Signature | None:
        """Re-check the password for a signature step; the runtime refuses a missing one."""
        if step_signature is None or password is None:
            return None
        if isinstance(password, VerifiedPassword):
            ok = password.matches and password.user == actor.user
        else:
            ok = user_store.check_password(session, actor.user, password) is not None
        if not ok:
            raise SignatureInvalid(_("the password does not match; your signature was not recorded"))
        return Signature(meaning=step_signature, user=actor.user, name=actor.display)

    # -- the one transaction ----------------------------------------------------------------

    def _apply(self, session: Session, instance_id: str, make: Callable[[Runtime, dict, Actor | None], Any],
               username: str | None, expected_rev: int | None = None) -> dict:
        row = store.load_for_step(session, instance_id, username)
        if expected_rev is not None and row.rev != expected_rev:
            raise Conflict(_("the instance changed since you loaded it (version {was}, now {now}); reload "
                             "and try again", was=expected_rev, now=row.rev))
        rt = self.runtime(session, row.version_id)
        actor = self._actor(username, row.user, rt.procedure) if username else None
        # Multi-party approvals resolve managers and heads from the chart (issue 17); the
        # step's row brought the chart's stamp, so checking the cached snapshot costs no query.
        state, events = rt.apply(row.state, make(rt, row.state, actor), self.clock(),
                                 org=self.org_chart(session, row.org_stamp))
        if events:
            self._save(session, row, state, events)
        return state

    def _save(self, session: Session, row: Any, state: dict, events: list[dict]) -> None:
        """Write one command's result and open the instances it asked to spawn."""
        store.save_step(session, row, state, events, next_wakeup(state),
                        self._also(session, row.version_id, row.state, state, events))
        self._spawn(session, state, events)

    def _spawn(self, session: Session, state: Mapping[str, Any], events: list[dict]) -> None:
        requested = [e for e in events if e["type"] == "spawn:requested"]
        # The links of this command are the last ones of the state, in the order requested.
        first = len(state.get("links", [])) - len(requested)
        for n, e in enumerate(requested):
            origin = {"procedure": state["procedure"], "instance": state["id"], "step": e["step"]}
            self.spawn_link(session, origin, e["data"]["procedure"], e["data"]["data"], first + n)

    def spawn_link(self, session: Session, origin: dict, procedure_id: str, data: Mapping[str, Any],
                   link: int, firing: int | None = None) -> str | None:
        """Open the instance a spawn step asked for; the new id, or None if it failed.

        A failure never fails the command that asked for it (the person who completed the
        step is not blocked by another procedure's start form): it is recorded as a failed
        firing of rule ``spawn`` (subject ``PARENT:LINK``), which the worker retries
        (``engine.app.scheduler.retry_spawns``); the first failure is logged."""
        try:
            with session.begin_nested():
                child = self._start(session, procedure_id, SYSTEM, data, origin=origin)
        except WorkflowError as exc:
            message = f"spawn step '{origin['step']}' could not start '{procedure_id}': {exc.message}"
            if firing is None:
                _log.warning("instance %s: %s (the worker retries)", origin["instance"], message)
                now = self.clock()
                firing = timekeeping.claim_firing(session, procedure_id, SPAWN_RULE, f"{origin['instance']}:{link}", now, now)
            if firing is not None:
                timekeeping.finish_firing(session, firing, None, message)
            return None
        if firing is not None:
            timekeeping.finish_firing(session, firing, child["id"])
        return str(child["id"])

    def _start(self, session: Session, procedure_id: str, actor: Actor | None, data: Mapping[str, Any],
               *, username: str | None = None, origin: dict | None = None, locale: str = "zh",
               due_at: str | None = None, pinned: tuple[Procedure, int] | None = None) -> dict:
        proc, version_id = pinned or self.procedure(session, procedure_id)
        actor = actor or self.actor(session, username or "", proc)
        now = self.clock()
        rt = self.runtime(session, version_id)
        cmd = Start(actor=actor, data=dict(data or {}), instance_id=store.new_id(now), origin=origin, locale=locale,
                    due_at=due_at, serial=self._serial(session, proc, now))
        state, events = rt.apply(None, cmd, now, org=self.org_chart(session))
        store.create_instance(session, state, version_id, events, next_wakeup(state),
                              self._also(session, version_id, None, state, events))
        self._spawn(session, state, events)
        return state

    def _serial(self, session: Session, proc: Procedure, now: datetime) -> str:
        """The next record number of ``proc``, its month cut at local midnight (the
        procedure calendar's time zone): a record started at 07:30 on 1 December in Beijing
        is a December record. Taken in the start's transaction, so a refused start gives it back."""
        cal = self.calendars.get(proc.calendar) or self.calendars.get("default")
        local = now.astimezone(cal.timezone) if cal is not None else now
        return serials.next_serial(session, proc.serial or "R", local.strftime("%Y%m"))

    def _also(self, session: Session, version_id: int, before: Mapping[str, Any] | None,
              state: Mapping[str, Any], events: list[dict]) -> list:
        """What a write carries besides the instance: the searchable field values that
        changed, and the notifications (in-app, e-mail, webhooks) the events call for."""
        also = field_index.writes(before, state, events, self.versions(session, state["procedure"]))
        if notify.wanted(events):
            proc = self.runtime(session, version_id).procedure
            also += notify.writes(session, self.config, [(proc, state, events)], self.clock())
        return also

    # -- use cases --------------------------------------------------------------------------

    def start(self, session: Session, procedure_id: str, username: str, data: Mapping[str, Any] | None = None,
              *, locale: str = "zh", actor: Actor | None = None,
              pinned: tuple[Procedure, int] | None = None) -> dict:
        """Start an instance of the current version of ``procedure_id``. A caller that has
        already looked up, in this transaction, the current version (``procedure()``) and the
        user as its actor (``actor()``) passes them as ``pinned`` and ``actor``."""
        return self._start(session, procedure_id, actor, data or {}, username=username, locale=locale,
                           pinned=pinned)

    def start_automatic(self, session: Session, procedure_id: str, actor: Actor, data: Mapping[str, Any],
                        *, origin: dict, due_at: str | None = None) -> dict:
        """A start made by a schedule or trigger (``engine.app.scheduler``), as ``actor`` (the system)."""
        return self._start(session, procedure_id, actor, data, origin=origin, due_at=due_at)

    def _task(self, session: Session, task_id: str) -> tuple[str, str]:
        instance_id, _dot, local = task_id.rpartition(".")
        if not instance_id:
            raise NotFound(_("Task {id} does not exist; it may have been withdrawn or the link is mistyped.", id=task_id))
        return instance_id, local

    def computed(self, session: Session, task_id: str, username: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """What the computed fields of a task's form would record for ``data`` (read only;
        refused like a submission to whoever may not act on the task)."""
        instance_id, local = self._task(session, task_id)
        row = store.load_instance(session, instance_id)
        rt = self.runtime(session, row.version_id)
        actor = self.actor(session, username, rt.procedure)
        return rt.computed(row.state, local, actor, data, self.clock())

    def start_computed(self, session: Session, procedure_id: str, username: str,
                       data: Mapping[str, Any]) -> dict[str, Any]:
        """As ``computed``, for the start form of the current version of ``procedure_id``."""
        proc, version_id = self.procedure(session, procedure_id)
        return self.runtime(session, version_id).start_computed(self.actor(session, username, proc), data,
                                                                self.clock())

    def _edit_signature(self, session: Session, actor: Actor, edits: Mapping[str, Any] | None,
                        password: str | VerifiedPassword | None) -> Signature | None:
        """The corrector's signature (更正) for a step's ``edit:`` changes, from the same password."""
        return self._signature(session, actor, signing.CORRECTION, password) if edits else None

    def complete_task(self, session: Session, task_id: str, username: str, data: Mapping[str, Any],
                      *, password: str | VerifiedPassword | None = None, expected_rev: int | None = None, locale: str = "zh",
                      edits: Mapping[str, Any] | None = None, edit_reason: str = "") -> dict:
        instance_id, local = self._task(session, task_id)

        def make(rt: Runtime, state: dict, actor: Actor) -> CompleteTask:
            sig = self._signature(session, actor, _step_sig(rt, state, local), password)
            return CompleteTask(local, actor, dict(data or {}), signature=sig, locale=locale,
                                edits=dict(edits or {}), edit_reason=edit_reason,
                                edit_signature=self._edit_signature(session, actor, edits, password))

        return self._apply(session, instance_id, make, username, expected_rev)

    def decide(self, session: Session, task_id: str, username: str, *, approve: bool, comment: str = "",
               data: Mapping[str, Any] | None = None,
               password: str | VerifiedPassword | None = None, expected_rev: int | None = None, locale: str = "zh",
               edits: Mapping[str, Any] | None = None, edit_reason: str = "") -> dict:
        """Approve or reject an approval task (with a signature when the step requires one)."""
        instance_id, local = self._task(session, task_id)
        kind = Approve if approve else Reject

        def make(rt: Runtime, state: dict, actor: Actor) -> Approve | Reject:
            step = ((state.get("tasks") or {}).get(local) or {}).get("step", "")
            change_control.check_decider(session, self.config, rt.procedure.id, state, step, actor)
            sig = self._signature(session, actor, _step_sig(rt, state, local), password)
            return kind(local, actor, comment, data=dict(data or {}), signature=sig, locale=locale,
                        edits=dict(edits or {}), edit_reason=edit_reason,
                        edit_signature=self._edit_signature(session, actor, edits, password))

        state = self._apply(session, instance_id, make, username, expected_rev)
        change_control.after_decision(session, state, self)  # publishes an approved procedure change
        return state

    def claim(self, session: Session, task_id: str, username: str) -> dict:
        instance_id, local = self._task(session, task_id)
        return self._apply(session, instance_id, lambda rt, s, a: Claim(local, a), username)

    def release(self, session: Session, task_id: str, username: str) -> dict:
        instance_id, local = self._task(session, task_id)
        return self._apply(session, instance_id, lambda rt, s, a: Release(local, a), username)

    def reassign(self, session: Session, task_id: str, username: str, to_user: str, reason: str = "") -> dict:
        instance_id, local = self._task(session, task_id)
        target = user_store.get_user(session, to_user)
        if target is None or not target.active:
            raise NotFound(_("no active user '{user}' to reassign to; check the user name or choose someone else",
                               user=to_user))

        def make(rt: Runtime, state: dict, actor: Actor) -> Reassign:
            role = state["tasks"].get(local, {}).get("role")
            if role and role not in self.actor(session, to_user, rt.procedure).roles:
                raise NotPermitted(_("{user} does not hold role '{role}' and cannot take this task; "
                                     "choose someone who does", user=to_user, role=role))
            return Reassign(local, actor, to_user, reason)

        return self._apply(session, instance_id, make, username)

    def add_approver(self, session: Session, task_id: str, username: str, to_user: str, position: str,
                     reason: str) -> dict:
        """加签: the approver of ``task_id`` adds ``to_user`` before or after themselves. The
        runtime checks the step allows it and that ``to_user`` holds its candidate role,
        from the roles resolved here."""
        instance_id, local = self._task(session, task_id)
        target = user_store.get_user(session, to_user) if to_user else None
        if target is None or not target.active:
            raise NotFound(_("no active user '{user}' to add as approver", user=to_user))

        def make(rt: Runtime, state: dict, actor: Actor) -> AddApprover:
            roles = self.actor(session, to_user, rt.procedure).roles
            return AddApprover(local, actor, to_user, roles, position, reason)

        return self._apply(session, instance_id, make, username)

    def cancel(self, session: Session, instance_id: str, username: str, reason: str) -> dict:
        state = self._apply(session, instance_id, lambda rt, s, a: Cancel(a, reason), username)
        change_control.after_decision(session, state)  # a cancelled change returns its draft
        return state

    def correct(self, session: Session, instance_id: str, username: str, step: str, field: str,
                value: Any, reason: str, *, password: str | VerifiedPassword | None = None,
                locale: str = "zh", expected_rev: int | None = None) -> dict:
        """Correct a recorded value; the original stays in the record and the audit trail.
        With ``password`` the corrector signs (更正); the runtime requires it where earlier
        signatures cover the value. A change request's data is never corrected. With
        ``expected_rev`` (the rev the corrector read), ``Conflict`` if the record moved on."""

        def make(rt: Runtime, state: dict, actor: Actor) -> Correct:
            change_control.refuse_correction(rt.procedure.id)
            sig = self._signature(session, actor, signing.CORRECTION, password)
            return Correct(actor, step, field, value, reason, locale, signature=sig)

        return self._apply(session, instance_id, make, username, expected_rev)

    # -- task actions (转交、退回、撤回、收回、催办、抄送); engine.app.task_actions and engine.app.cc

    def transfer(self, session: Session, task_id: str, username: str, to_user: str, reason: str) -> dict:
        """转交 an open task to ``to_user``, whose roles are resolved here (the runtime checks
        that they may hold it)."""
        instance_id, local = self._task(session, task_id)

        def make(rt: Runtime, state: dict, actor: Actor) -> Transfer:
            target = self.actor(session, to_user, rt.procedure)  # NotPermitted: unknown or inactive
            return Transfer(local, actor, target.user, target.roles, reason)

        return self._apply(session, instance_id, make, username)

    def return_task(self, session: Session, task_id: str, username: str, to_step: str, reason: str,
                    resume: str = "") -> dict:
        """退回 the instance from an open task to an earlier step."""
        instance_id, local = self._task(session, task_id)
        return self._apply(session, instance_id, lambda rt, s, a: Return(local, a, to_step, reason, resume), username)

    def withdraw(self, session: Session, instance_id: str, username: str, reason: str) -> dict:
        """撤回 by the starter."""
        state = self._apply(session, instance_id, lambda rt, s, a: Withdraw(a, reason), username)
        change_control.after_decision(session, state)  # a withdrawn change returns its draft
        return state

    def recall(self, session: Session, task_id: str, username: str) -> dict:
        """收回 one's last completion; the drafts saved on the tasks it opened count as touching them."""
        instance_id, local = self._task(session, task_id)

        def make(rt: Runtime, state: dict, actor: Actor) -> Recall:
            task = state["tasks"].get(local)
            later = [f"{instance_id}.{t['id']}" for t in access.following(state, task)] if task else []
            return Recall(local, actor, drafts=drafts.any_on(session, later))

        return self._apply(session, instance_id, make, username)

    def urge(self, session: Session, task_id: str, username: str, note: str = "") -> dict:
        """催办 the holders of an open task (once an hour per task)."""
        instance_id, local = self._task(session, task_id)
        return self._apply(session, instance_id, lambda rt, s, a: Urge(local, a, note), username)

    def cc(self, session: Session, task_id: str, username: str, recipients: Iterable[str], note: str = "") -> dict:
        """抄送 from an open task to roles and ``user:NAME`` (each named user must exist)."""
        instance_id, local = self._task(session, task_id)
        wanted = tuple(recipients)

        def command(rt: Runtime, state: dict, actor: Actor | None) -> Cc:
            # Which user names exist is told only to someone the runtime lets send this CC;
            # anyone else is refused by it first, in its words.
            task = state["tasks"].get(local)
            if task is not None and actor is not None and access.cc_refusal(task, rt.procedure, actor) is None:
                for r in wanted:
                    if r.startswith("user:") and user_store.identity(session, r[5:]) is None:
                        raise NotFound(_("no user '{name}' to send the instance to", name=r[5:]))
            return Cc(local, actor, wanted, note)

        return self._apply(session, instance_id, command, username)

    def cc_read(self, session: Session, instance_id: str, username: str) -> dict:
        """已阅: a CC recipient records that they read the instance."""
        return self._apply(session, instance_id, lambda rt, s, a: CcRead(a), username)

    def kpi_keys(self, session: Session, procedure_id: str) -> frozenset[str]:
        """The field-index keys the dashboard counts for a procedure, over all its versions."""
        return frozenset().union(*(rt.procedure.records.kpi_keys for rt in self.versions(session, procedure_id)))

    def first_pass_of(self, session: Session, procedure_id: str) -> dict[int, tuple[str, str]]:
        """Per version id, the first-pass ``(field, pass)`` its records are judged by: what
        that version declares, as a later one may rename the passing answer (合格 to 通过)."""
        out = {}
        for row in store.versions_of(session, procedure_id):
            found = self.runtime(session, row.id).procedure.records.first_pass
            if found is not None:
                out[row.id] = (found.field, found.passed)
        return out

    def refresh_kpis(self, session: Session, procedure_id: str | None = None) -> int:
        """Bring the dashboard figures of one procedure (or of every procedure with changes)
        up to date; returns the days recomputed. Run it in a write transaction."""
        now, zone = self.clock(), self.config.timezone
        if procedure_id is not None:
            if not self.versions(session, procedure_id):
                raise NotFound(_("procedure '{id}' is not installed; check the id ('wf procedures list')",
                                 id=procedure_id))
            return kpi_rollup.refresh(session, procedure_id, self.kpi_keys(session, procedure_id), now, zone)
        return sum(kpi_rollup.refresh(session, pid, self.kpi_keys(session, pid), now, zone)
                   for pid in kpi_rollup.stale(session, now, zone))

    def tick(self, session: Session, *, limit: int = 500) -> int:
        """Fire what is due by now on up to ``limit`` instances; return how many changed."""
        return self.tick_due(session, limit=limit)[1]

    def tick_due(self, session: Session, *, limit: int = 500) -> tuple[int, int]:
        """``tick``, returning (instances claimed, instances changed): the worker goes on while a
        batch comes back full. The batch is written at once (``store.save_steps``), as are its
        notifications."""
        now = self.clock()
        rows = store.due_instances(session, now, limit)
        managers = self._managers(session, rows)
        results, notices = [], []
        failed = []
        org = self.org_chart(session) if rows else EMPTY_ORG
        for row in rows:
            rt = self.runtime(session, row.version_id)
            try:
                state, events = rt.apply(row.state, Tick(managers=managers), now, org=org)
            except WorkflowError as exc:
                # One instance that cannot move on (e.g. a condition failing on data recorded
                # earlier) must not hold up the batch: it is tried again later, and logged.
                _log.warning("instance %s: timer could not fire (tried again in %s): %s",
                             row.id, TICK_RETRY, exc.message)
                failed.append((row.id, rt.procedure.id, exc.message))
                continue
            # Saved even without events: a stale timer must move on, or the row stays due.
            results.append((row, state, events, next_wakeup(state)))
            if events:
                notices.append((rt.procedure, state, events))
        # A tick records no form data, so the field index has nothing to change here.
        store.save_steps(session, results)
        store.postpone_timers(session, [f[0] for f in failed], now + TICK_RETRY)
        # Never a silent stall: the instance page says why, until a later tick succeeds.
        timekeeping.mark_stalled(session, failed, now)
        timekeeping.clear_stalled(session, [row.id for row, *_ in results])
        for _row, state, events, _notes in results:
            self._spawn(session, state, events)
        notify.record_many(session, self.config, notices, now)
        return len(rows), len(notices)

    def _managers(self, session: Session, rows: Iterable[Any]) -> dict[str, str]:
        """Managers of the people holding open tasks, for procedures that escalate to managers:
        the organisation chart's one rule (``OrgChart.manager_of``: the recorded manager, else
        the department head; inactive users are never one)."""
        holders: set[str] = set()
        for row in rows:
            if _escalates_to_manager(self.runtime(session, row.version_id).procedure):
                holders |= {t.get("assignee") or t.get("last_assignee")
                            for t in row.state["tasks"].values() if t["status"] == "open"}
        holders.discard(None)
        if not holders:
            return {}
        chart = self.org_chart(session)
        return {h: m for h in sorted(holders) if (m := chart.manager_of(h))}

    def org_chart(self, session: Session, stamp: tuple[str, int] | None = None) -> OrgChart:
        """The organisation chart the runtime resolves approvers and managers from, cached
        until it changes (``engine.app.org.current_org``: one primary-key read to check, or
        none where the step's row brought the stamp: ``org_chart(session, row.org_stamp)``).
        Every ``Runtime.apply`` here is given it (``org=``)."""
        return current_org(session, stamp)

    # -- reads ------------------------------------------------------------------------------

    def instance(self, session: Session, instance_id: str, *, history: bool = False,
                 written: tuple[int, Mapping[str, Any]] | None = None) -> dict:
        """The instance with current values, each corrected field's history, tasks, and
        (with ``history``) its events as ``events()`` gives them.

        ``written`` is ``(version id, state)`` that this transaction has just stored for the
        instance (a change answering with the instance it changed): the answer is built from
        it rather than from the row read back (the store writes the state as given, with
        the same rev), and only the events, if asked for, are read."""
        if written is None:
            row, events = store.load_record(session, instance_id, events=history)
        else:
            version_id, known = written
            row = store.RecordRow(instance_id, known["procedure"], version_id,
                                  store.InstanceStatus(known["status"]), known.get("outcome"),
                                  int(known["rev"]), dict(known))
            events = store.event_rows(session, instance_id) if history else []
        rt = self.runtime(session, row.version_id)
        state = row.state
        corrections: dict[str, list[dict]] = {}
        for c in state.get("corrections", []):
            corrections.setdefault(f"{c['step']}.{c['field']}", []).append(c)
        out = {
            "id": row.id, "serial": state.get("serial"), "procedure": row.procedure_id, "title": rt.procedure.title,
            "version": {"id": row.version_id, "hash": rt.procedure.content_hash},
            "status": row.status.value, "outcome": row.outcome, "rev": row.rev,
            "started_at": state["started_at"], "started_by": state["started_by"],
            "ended_at": state.get("ended_at"), "origin": state.get("origin"),
            "data": state["data"], "corrections": corrections, "path": state["path"],
            "tasks": _signed_before(state), "links": self._links(session, row.id, state),
            "cc": state.get("cc", []), "cc_read": state.get("cc_read", {}),
        }
        if history:
            out["history"] = [_event_view(e) for e in events]
        return out

    def _links(self, session: Session, instance_id: str, state: Mapping[str, Any]) -> list[dict]:
        """The spawn steps' links, each with the id and status of the instance it opened
        (the runtime records a link before the service opens the instance)."""
        links = [dict(link) for link in state.get("links", [])]
        if links:
            children = {}
            for child in store.spawned_from(session, instance_id):
                children.setdefault((child.procedure_id, child.origin_step), []).append(child)
            for link in links:
                found = children.get((link["procedure"], link["step"]))
                if found:
                    child = found.pop(0)
                    link.update(instance=child.id, status=child.status.value)
        return links

    def events(self, session: Session, instance_id: str) -> list[dict]:
        """The instance's audit events in chain order, with their hashes."""
        return [_event_view(e) for e in store.load_record(session, instance_id, events=True)[1]]


def _event_view(e: store.EventRow) -> dict:
    return {"seq": e.seq, "type": e.type, "step": e.step, "task": e.task_id, "actor": e.actor,
            "at": e.at.isoformat(), "data": e.data, "hash": e.hash, "prev_hash": e.prev_hash}


def _signed_before(state: Mapping[str, Any]) -> list[dict]:
    """The tasks, each signed one with ``signed_before_correction``: the corrections made
    after it to values it covered (empty when none), so no reader takes the signature for
    one given to the values shown now."""
    later: dict[str, list[dict]] = {}
    for number, c in enumerate(state.get("corrections", []), start=1):
        for tid in c.get("signed_before", []):
            later.setdefault(tid, []).append({"correction": number, "step": c["step"], "field": c["field"],
                                              "by": c["by"], "at": c["at"], "reason": c["reason"]})
    return [{**t, "signed_before_correction": later.get(t["id"], [])} if t.get("signature") else t
            for t in state["tasks"].values()]


def _escalates_to_manager(proc: Procedure) -> bool:
    return any(e.to == MANAGER for s in proc.steps.values() if s.deadline for e in s.deadline.escalate)


def _step_sig(rt: Runtime, state: Mapping[str, Any], local_task: str) -> str | None:
    task = state["tasks"].get(local_task)
    return rt.procedure.steps[task["step"]].signature if task else None
