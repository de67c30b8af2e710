"""Fire the automatic starts (``starts:``) of the installed procedures: schedules and triggers.

Each schedule occurrence and each (trigger, watched record) starts at most one instance: the
firing row is inserted under a unique key in the same transaction as the new instance, so of
several workers racing for it one inserts and the others skip. A rule only fires what fell
due after it was first seen by a worker (``start_rules.since``), so installing a schedule does
not replay its past, while a worker that was down catches up on everything missed since. A
trigger skips only records that existed before it and fell due before it; a record created
later fires even when its date + offset is already past.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from engine import store
from engine.errors import WorkflowError
from engine.language.calendar import Calendar
from engine.language.expressions import ExpressionError
from engine.language.starts import Schedule, Trigger
from engine.runtime.commands import SYSTEM
from engine.runtime.machine import _jsonable, calendar_named, iso
from engine.store import latest_version
from engine.store import timekeeping as tk

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from sqlalchemy.orm import Session

    from engine.app.database import Database
    from engine.app.service import Workflow
    from engine.language.procedure import Procedure

log = logging.getLogger("qualityflow.scheduler")
_PAGE = 1000


def fire_due(wf: Workflow, database: Database, now: datetime, *, limit: int = 10_000) -> int:
    """Start every instance whose schedule or trigger fell due by ``now``; returns how many
    (with nothing kept from an earlier pass: ``Starts`` is what a worker keeps)."""
    return Starts().fire_due(wf, database, now, limit=limit)


class Starts:
    """The automatic starts as one worker keeps them from pass to pass, so that a pass costs
    what is due rather than what is installed.

    Kept: the procedures with ``starts:`` and what their published versions say
    (``_history``), until the published versions change (``tk.published_stamp``: one read
    of the version rows' ids and counts, no texts); and per schedule the occurrence after the
    last one handled, before which the schedule is not looked at (no write transaction, no
    read). Nothing is kept by time alone: a new version is seen at the next pass (everything
    kept is dropped with it), and each kept occurrence is where the same reads would start
    again (``_fire_schedule``). What another worker fires meanwhile is found by the unique
    key of its firing, as before; a restarted worker starts with nothing kept.
    """

    def __init__(self) -> None:
        self._stamp: object = None
        self._installed: list[tuple[Procedure, datetime, dict[str, _History]]] = []
        # (procedure, rule) -> (calendar, next occurrence): nothing to do for it before then
        self._next: dict[tuple[str, str], tuple[Calendar, datetime]] = {}
        # (procedure, trigger) -> its start_rule_since (stored once, never changed)
        self._since: dict[tuple[str, str], datetime] = {}
        # (procedure, trigger) -> the records not due at the last pass (``_fire_trigger``)
        self._waiting: dict[tuple[str, str], dict[str, tuple[int, datetime | None]]] = {}

    def fire_due(self, wf: Workflow, database: Database, now: datetime, *, limit: int = 10_000) -> int:
        """``fire_due`` of the module, skipping the schedules with nothing due since the last pass."""
        with database.reading() as s:
            stamp = tk.published_stamp(s)
            if stamp != self._stamp:
                self._installed = _installed(wf, s)
                self._next.clear()
                self._since.clear()
                self._waiting.clear()
                self._stamp = stamp
        started = 0
        for proc, registered_at, history in self._installed:
            for rule in proc.starts:
                if started >= limit:
                    return started
                since_default = min(registered_at, now)
                try:
                    if isinstance(rule, Schedule):
                        key = (proc.id, rule.rule)
                        kept = self._next.get(key)
                        cal = _calendar(wf, proc)
                        if kept is not None and kept[0] is cal and now < kept[1]:
                            continue  # its next occurrence has not come
                        self._next.pop(key, None)
                        n, upcoming = _fire_schedule(wf, database, proc, rule, since_default, now,
                                                     limit - started, history.get(rule.rule))
                        started += n
                        if upcoming is not None:
                            self._next[key] = (cal, upcoming)
                    else:
                        key = (proc.id, rule.rule)
                        if key not in self._since:
                            with database.writing() as s:
                                self._since[key] = tk.start_rule_since(s, proc.id, rule.rule, "trigger",
                                                                       since_default)
                        started += _fire_trigger(wf, database, proc, rule, since_default, now, limit - started,
                                                 history.get(rule.rule), self._since[key],
                                                 self._waiting.setdefault(key, {}))
                except Exception:  # one rule that fails must not hold up the others (nor the pass)
                    log.exception("automatic starts of %s failed; the other rules go on", proc.id)
        return started


def _installed(wf: Workflow, session: Session) -> list[tuple[Procedure, datetime, dict[str, _History]]]:
    """The current version of each procedure with automatic starts, when it was published,
    and what its published versions say of its rules (``_history``)."""
    out = []
    for pid, version_id in store.latest_version_ids(session).items():
        proc = wf.runtime(session, version_id).procedure
        if proc.starts:
            row = latest_version(session, pid)
            out.append((proc, row.registered_at, _history(wf, session, proc)))
    return out


def _period(rule: Schedule, occurrence: datetime, tz: ZoneInfo) -> tuple[int, ...]:
    """The local period an occurrence of ``rule`` belongs to: its day, week, month, quarter
    or year (a working-day schedule moved to the next working day stays in its period)."""
    d = occurrence.astimezone(tz).date()
    if rule.every == "daily":
        return (d.year, d.month, d.day)
    if rule.every == "weekly":
        return tuple(d.isocalendar()[:2])
    if rule.every == "monthly":
        return (d.year, d.month)
    if rule.every == "quarterly":
        return (d.year, (d.month - 1) // 3)
    return (d.year,)


@dataclass(frozen=True)
class _History:
    """What the published versions say of one schedule or trigger of the current version."""

    returned: tuple[int, datetime] | None  # (version, published at) that declared it again (schedules)
    replaced: tuple[str, ...]  # the rules it replaced (see _history, _replaced_triggers)


def _history(wf: Workflow, session: Session, proc: Procedure) -> dict[str, _History]:
    """Per trigger of the current version, the triggers it replaced (``_replaced_triggers``).
    Per schedule of the current version: whether it was declared again after versions
    without it (the version that brought it back, and when it was published), and the rules
    of the same kind (daily, weekly...) that versions before its latest run of published
    versions declared and the current one no longer does: the schedule as it was before an
    edit of its time or day (or before two edits on one day).

    A schedule removed and declared again is new from its return (the days it was absent are
    not replayed: a paused daily report started one record per day of the pause), and a
    schedule whose time or day was edited does not fire again in the period its previous
    form already fired in (moved from 08:30 to 09:00 at 08:45: one record that day, not two).
    """
    current = {r.rule for r in proc.starts if isinstance(r, Schedule)}
    rows = tk.published_versions(session, proc.id)
    declared = [(vid, at, {r.rule: r for r in wf.runtime(session, vid).procedure.starts
                           if isinstance(r, Schedule)}) for vid, at in rows]
    out: dict[str, _History] = {}
    for trigger in proc.starts:
        if isinstance(trigger, Trigger):
            out[trigger.rule] = _History(None, _replaced_triggers(wf, session, proc, rows, trigger))
    for rule in proc.starts:
        if not isinstance(rule, Schedule):
            continue
        first = len(declared)
        while first > 0 and rule.rule in declared[first - 1][2]:
            first -= 1
        if first == len(declared):  # not in the stored versions (not expected): as before
            continue
        earlier = any(rule.rule in d for _v, _t, d in declared[:first])
        replaced = {key for _v, _t, d in declared[:first] for key, old in d.items()
                    if key not in current and old.every == rule.every}
        out[rule.rule] = _History(
            returned=(declared[first][0], declared[first][1]) if earlier else None,
            replaced=tuple(sorted(replaced)))
    return out


def _replaced_triggers(wf: Workflow, session: Session, proc: Procedure, rows: list[tuple[int, datetime]],
                       trigger: Trigger) -> tuple[str, ...]:
    """The triggers on the same watched date (procedure, STEP.FIELD) that published versions
    declared and the current one no longer does: the trigger as it was before an edit (of
    its offset, ``when``, ``with`` or ``due``). A record its previous form already started an
    instance for is not started again (an offset moved from -1mo to -2w sent the contracts
    notified a month before a second notice)."""
    current = {r.rule for r in proc.starts}
    out = set()
    for vid, _at in rows:
        for old in wf.runtime(session, vid).procedure.starts:
            if (isinstance(old, Trigger) and old.rule not in current
                    and (old.procedure, old.step, old.field) == (trigger.procedure, trigger.step, trigger.field)):
                out.add(old.rule)
    return tuple(sorted(out))


def retry_spawns(wf: Workflow, database: Database, *, limit: int = 100) -> int:
    """Try again the linked instances that spawn steps could not open; returns how many opened.

    Each failure waits as a firing of rule ``spawn`` (see ``Workflow.spawn_link``); its
    subject names the parent instance and the link, whose recorded data is used again (a
    corrected child procedure, or a newly installed one, lets it through)."""
    from engine.app.service import SPAWN_RULE

    now = wf.clock()
    with database.reading() as s:
        pending = tk.failed_firings_due(s, SPAWN_RULE, limit, now)
    opened = 0
    for firing, procedure_id, subject, due_at, fired_at in pending:
        parent_id, _, index = subject.rpartition(":")
        with database.writing() as s:
            parent = store.load_instance(s, parent_id)
            links = parent.state.get("links") or []
            if not index.isdigit() or int(index) >= len(links):
                tk.finish_firing(s, firing, None, f"the link {subject} no longer exists")
                continue
            link = links[int(index)]
            origin = {"procedure": parent.procedure_id, "instance": parent_id, "step": link["step"]}
            if wf.spawn_link(s, origin, procedure_id, link.get("data") or {}, int(index), firing):
                opened += 1
            else:
                # Refused again: tried later, each wait twice the last (1 min up to 1 h; at
                # once when the child procedure gets a new version), and after the others
                # due (the oldest ``limit`` refused ones, retried on every pass, kept the
                # newer ones from ever being tried).
                waited = (_utc(due_at) - _utc(fired_at)).total_seconds()
                tk.postpone_firing(s, firing, now, now + timedelta(seconds=min(max(2 * waited, 60), 3600)))
    return opened


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _calendar(wf: Workflow, proc: Procedure) -> Calendar:
    return calendar_named(wf.calendars, proc.calendar)


def _actor(role: str):  # noqa: ANN202 - an engine.runtime.commands.Actor
    return SYSTEM if role == "system" else replace(SYSTEM, roles=frozenset({role}))


def _fire_schedule(wf: Workflow, database: Database, proc: Procedure, rule: Schedule,
                   since_default: datetime, now: datetime, limit: int,
                   history: _History | None = None) -> tuple[int, datetime | None]:
    """Start the occurrences of ``rule`` due by ``now``; (how many started, its next
    occurrence after them, or None when ``limit`` left some due)."""
    cal = _calendar(wf, proc)
    with database.writing() as s:
        since = tk.start_rule_since(s, proc.id, rule.rule, "schedule", since_default)
        if history is not None and history.returned is not None:
            # Declared again after versions without it: a marker firing at its return, once,
            # so that the occurrences of its absence are not replayed (``last_firing``).
            version, published = history.returned
            back = min(_utc(published), now)
            fid = tk.claim_firing(s, proc.id, rule.rule, f"declared again in version {version}", back, now)
            if fid is not None:
                tk.finish_firing(s, fid, None, f"declared again from {iso(back)}: "
                                 "the occurrences while it was not declared are not started")
        last = tk.last_firing(s, proc.id, rule.rule)
        before = [t for key in (history.replaced if history else ()) if (t := tk.last_firing(s, proc.id, key))]
    done = _period(rule, max(_utc(t) for t in before), cal.timezone) if before else None
    started = 0
    start = max(since, last or since)
    due = rule.occurrences(start, now, cal.timezone, limit=limit, calendar=cal)
    for occ in due:
        if _period(rule, occ, cal.timezone) == done:
            continue  # the schedule's previous form already fired in this period
        origin = {"schedule": rule.describe(), "occurrence": iso(occ)}
        due_at = iso(cal.add(occ, rule.due)) if rule.due else None
        started += _fire(wf, database, proc, rule.rule, iso(occ), occ, now, rule.actor,
                         dict(rule.data), origin, due_at)
    if len(due) >= limit:
        return started, None
    # The next link of the same chain of occurrences a later pass would read from the stored
    # firings (a working-day schedule's occurrence moved past a holiday is only found by
    # following the chain, not by asking for the first occurrence after now).
    return started, rule.next_after(due[-1] if due else start, cal.timezone, cal)


def _fire_trigger(wf: Workflow, database: Database, proc: Procedure, rule: Trigger,
                  since_default: datetime, now: datetime, limit: int, history: _History | None = None,
                  since: datetime | None = None, waiting: dict[str, tuple[int, datetime | None]] | None = None) -> int:
    """Start an instance for each record of the watched procedure whose date + offset fell
    due by ``now``. ``since``: the rule's ``start_rule_since``, when the caller knows it.
    ``waiting`` (kept by the caller from pass to pass, updated here): per record not due at
    an earlier pass, its rev then and when it falls due (None: no date recorded); such a
    record is not read again until its rev changes or that moment comes."""
    cal = _calendar(wf, proc)
    if since is None:
        with database.writing() as s:
            since = tk.start_rule_since(s, proc.id, rule.rule, "trigger", since_default)
    kept = waiting.copy() if waiting is not None else {}
    if waiting is not None:
        waiting.clear()
    started = 0
    after = ""
    while started < limit:
        with database.reading() as s:
            revs = tk.unfired_revs(s, rule.procedure, proc.id, rule.rule, _PAGE, after)
            if not revs:
                break
            after = revs[-1][0]
            read = []
            for record_id, rev in revs:
                known = kept.pop(record_id, None)
                if known is not None and known[0] == rev and (known[1] is None or known[1] > now):
                    if waiting is not None:
                        waiting[record_id] = known  # unchanged and not yet due: not read again
                else:
                    read.append(record_id)
            page = tk.record_states(s, read)
        for record_id, rev, state in page:
            data = state.get("data") or {}
            try:
                due = rule.due_at(data, cal)
            except (OverflowError, ValueError):
                # A date at the far end of the picker (9999-12-31 + 5 days): no moment at all.
                # Looked at again next pass, as an unrecorded date is (a correction may fix
                # it); it stopped every pass of the worker, for every procedure.
                due = None
            if due is None or due > now:
                # Not recorded yet, or not yet due: looked at again when it changes or falls due.
                if waiting is not None:
                    waiting[record_id] = (rev, due)
                continue
            context = {**data, "instance": {"id": record_id, "started_at": state.get("started_at"),
                                            "started_by": state.get("started_by"),
                                            "procedure": rule.procedure}, "__now__": now, "__calendar__": cal}
            origin = {"procedure": rule.procedure, "instance": record_id, "step": rule.step,
                      "trigger": f"{rule.step}.{rule.field} {rule.offset}", "occurrence": iso(due)}
            created = _created(state)
            if due < since and (created is None or created <= since):
                # A record that existed before the trigger and fell due before it too: marked,
                # so it is not looked at again. A record created afterwards fires even when
                # its date + offset is already past (a contract recorded today that expires
                # in 20 days still gets its one-month notice, at once).
                _mark(database, proc, rule.rule, record_id, due, now,
                      f"fell due {iso(due)}, before this trigger was installed ({iso(since)})")
                continue
            if history is not None and history.replaced:
                with database.reading() as s:
                    again = tk.started_by_any(s, proc.id, history.replaced, record_id)
                if again:
                    _mark(database, proc, rule.rule, record_id, due, now,
                          "already started by this trigger before it was edited")
                    continue
            try:
                if rule.when is not None and not rule.when.evaluate(context):
                    continue
                start_data = {k: _jsonable(e.evaluate(context)) for k, e in rule.with_}
            except ExpressionError as exc:
                _mark(database, proc, rule.rule, record_id, due, now, f"expression failed: {exc.message}")
                continue
            due_at = iso(cal.add(due, rule.due)) if rule.due else None
            started += _fire(wf, database, proc, rule.rule, record_id, due, now, rule.actor,
                             start_data, origin, due_at)
    return started


def _created(state: dict) -> datetime | None:
    try:
        return datetime.fromisoformat(state["started_at"])
    except (KeyError, TypeError, ValueError):
        return None


def _mark(database: Database, proc: Procedure, rule: str, subject: str,
          due: datetime, now: datetime, error: str) -> None:
    with database.writing() as s:
        fid = tk.claim_firing(s, proc.id, rule, subject, due, now)
        if fid is not None:
            tk.finish_firing(s, fid, None, error)


def _fire(wf: Workflow, database: Database, proc: Procedure, rule: str, subject: str,
          due: datetime, now: datetime, actor: str, data: dict, origin: dict, due_at: str | None) -> int:
    """Claim one firing and start its instance in one transaction; 1 if this worker started it."""
    with database.writing() as s:
        fid = tk.claim_firing(s, proc.id, rule, subject, due, now)
        if fid is None:
            return 0
        try:
            with s.begin_nested():
                state = wf.start_automatic(s, proc.id, _actor(actor), data, origin=origin, due_at=due_at)
        except WorkflowError as exc:
            # Recorded on the firing row (shown by `wf worker --once` and the logs), not retried:
            # the same data would fail the same way.
            log.warning("automatic start of %s (%s) failed: %s", proc.id, subject, exc.message)
            tk.finish_firing(s, fid, None, exc.message)
            return 0
        tk.finish_firing(s, fid, state["id"])
    return 1
