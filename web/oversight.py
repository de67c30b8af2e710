"""Who may read records across procedures, who may see sensitive fields, and masking.

* **Auditors** (config ``audit.auditor_groups``, default ``[auditors]``) read every
  instance, event, dossier, ledger and KPI of every procedure and change nothing: every
  write of the web UI and of the API refuses them with 403.
* **Admins** (the groups of role ``admin``) read everything as well.
* Everybody else reads the procedures in which they hold a role.
* **Clearance** (config ``audit.clearance_groups``, default ``[data-officers]``): form fields
  marked ``x-sensitive: true`` are masked for everybody else in the dossier, the audit
  search, ledgers and exports; every view of an unmasked record is written to the access log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g, request

from engine import store
from engine.errors import NotPermitted
from engine.store import users as user_store
from engine.store.audit_search import log_access
from web.db import reading, transaction, workflow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.procedure import Procedure

MASK = "●●●●"
_SAFE = frozenset(("GET", "HEAD", "OPTIONS"))
# Web endpoints that post but change no record: signing in and out, the UI language.
_ALWAYS_ALLOWED = frozenset(("auth.login", "auth.logout", "auth.set_locale", "api.token"))


@dataclass(frozen=True)
class Reader:
    username: str
    groups: frozenset[str]
    auditor: bool
    admin: bool
    cleared: bool

    @property
    def reads_everything(self) -> bool:
        return self.auditor or self.admin


def _groups(key: str, default: list[str]) -> frozenset[str]:
    cfg = current_app.config["WF"]
    return frozenset(cfg.get("audit", key, default=default) or ())


def reader_of(username: str, groups: Iterable[str]) -> Reader:
    groups = frozenset(groups)
    cfg = current_app.config["WF"]
    admins = frozenset(cfg.get("roles", "admin", default=[]) or ())
    return Reader(username, groups, bool(groups & _groups("auditor_groups", ["auditors"])),
                  bool(groups & admins), bool(groups & _groups("clearance_groups", ["data-officers"])))


def current_reader() -> Reader | None:
    """The signed-in web user as a reader (None when nobody is signed in)."""
    user = getattr(g, "user", None)
    return reader_of(user.username, user.groups) if user else None


def api_reader(session: Session, username: str) -> Reader:
    found = user_store.identity(session, username)
    if found is None or not found[1]:
        raise NotPermitted(f"unknown or inactive user '{username}'")
    return reader_of(username, found[2])


# --------------------------------------------------------------------------- reading rights


def readable(session: Session, reader: Reader) -> dict[str, tuple[Procedure, int]]:
    """``{procedure id: (current procedure, version id)}`` the reader may read."""
    wf = workflow()
    out = {}
    for pid in store.procedure_ids(session):
        proc, vid = wf.procedure(session, pid)
        if reader.reads_everything or wf.actor(session, reader.username, proc).roles:
            out[pid] = (proc, vid)
    return out


def require_procedure(session: Session, reader: Reader, procedure_id: str) -> tuple[Procedure, int]:
    found = readable(session, reader).get(procedure_id)
    if found is None:
        workflow().procedure(session, procedure_id)  # NotFound for an unknown id
        raise NotPermitted(f"you hold no role in procedure '{procedure_id}', so you may not read "
                           "its records; ask an administrator for a role or the auditors group")
    return found


def require_instance(session: Session, reader: Reader, instance_id: str) -> tuple[dict, Procedure]:
    """The instance (``Workflow.instance``) and its pinned procedure version; 403 unless the
    reader may read that procedure."""
    wf = workflow()
    inst = wf.instance(session, instance_id)
    proc = wf.runtime(session, inst["version"]["id"]).procedure
    if not reader.reads_everything and not wf.actor(session, reader.username, proc).roles:
        raise NotPermitted(f"you hold no role in '{proc.title}' ({proc.id}), so you may not read "
                           f"instance {instance_id}")
    return inst, proc


# --------------------------------------------------------------------------- masking


def sensitive_keys(proc: Procedure) -> frozenset[str]:
    """``STEP.FIELD`` of every field marked ``x-sensitive: true`` in the procedure's forms."""
    out = set()
    for sid in ("start", *proc.steps):
        form = proc.form_of(sid) if sid == "start" or proc.steps[sid].form else None
        if form is not None:
            out |= {f"{sid}.{path}" for path, info in form.fields.items() if info.sensitive}
    return frozenset(out)


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {})


def mask_data(keys: frozenset[str], step: str, data: Mapping[str, Any] | None,
              reader: Reader) -> tuple[dict[str, Any], set[str]]:
    """``data`` of ``step`` with sensitive values masked (unless the reader is cleared),
    and the keys of the sensitive values actually shown (for the access log)."""
    data = dict(data or {})
    shown = set()
    for key in keys:
        sid, _, field = key.partition(".")
        if sid != step or "." in field or not _filled(data.get(field)):
            continue
        if reader.cleared:
            shown.add(key)
        else:
            data[field] = MASK
    return data, shown


def mask_event(keys: frozenset[str], event: Mapping[str, Any], reader: Reader) -> tuple[dict[str, Any], set[str]]:
    """An event dict (``type, step, data``...) with sensitive values in its data masked."""
    e = dict(event)
    d = dict(e.get("data") or {})
    step = e.get("step") or "start"
    shown: set[str] = set()
    if isinstance(d.get("data"), Mapping):
        d["data"], shown = mask_data(keys, step, d["data"], reader)
    if e.get("type") == "data:corrected" and f"{step}.{d.get('field')}" in keys:
        if reader.cleared:
            shown.add(f"{step}.{d.get('field')}")
        else:
            d["old"] = d["new"] = MASK
    e["data"] = d
    return e, shown


def mask_corrections(keys: frozenset[str], corrections: Mapping[str, list[dict]],
                     reader: Reader) -> tuple[dict[str, list[dict]], set[str]]:
    out, shown = {}, set()
    for key, items in corrections.items():
        if key in keys:
            if reader.cleared:
                shown.add(key)
            else:
                items = [{**c, "old": MASK, "new": MASK} for c in items]
        out[key] = items
    return out, shown


def record_views(reader: Reader, entries: Iterable[tuple[str, str, Iterable[str]]], view: str) -> None:
    """Log unmasked views in a transaction of their own (reads never write otherwise)."""
    entries = [(i, p, sorted(set(f))) for i, p, f in entries if f]
    if not entries:
        return
    with transaction() as session:
        log_access(session, entries, username=reader.username, view=view, now=datetime.now(UTC))


# --------------------------------------------------------------------------- auditors write nothing


def _refuse_auditor_writes() -> None:
    if request.method in _SAFE or request.endpoint in _ALWAYS_ALLOWED:
        return
    reader = current_reader()
    if reader is not None and reader.auditor:
        raise NotPermitted("auditors read records and change nothing; this action is refused "
                           "(use an account without the auditors group to work on tasks)")


def _refuse_auditor_api_writes() -> None:
    if request.method in _SAFE or request.endpoint in _ALWAYS_ALLOWED:
        return
    name = getattr(g, "api_user", None)
    if not name:
        return
    with reading() as session:
        found = user_store.identity(session, name)
    if found is not None and reader_of(name, found[2]).auditor:
        raise NotPermitted("auditors read records and change nothing; this request is refused")


def init_app(app: Flask) -> None:
    """Runs after sign-in (web) and after token checks (API), which are registered first."""
    app.before_request(_refuse_auditor_writes)
    app.before_request_funcs.setdefault("api", []).append(_refuse_auditor_api_writes)
    app.jinja_env.globals["current_reader"] = current_reader


def parse_day(value: str | None, what: str, *, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` query value as UTC midnight (the next midnight for an ``end``)."""
    from datetime import timedelta

    from web.errors import BadRequest

    if not value:
        return None
    try:
        day = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"'{what}' must be a date written YYYY-MM-DD, not '{value}'",
                         errors=[{"field": what, "message": "YYYY-MM-DD"}]) from exc
    day = day.replace(tzinfo=UTC) if day.tzinfo is None else day.astimezone(UTC)
    return day + timedelta(days=1) if end and len(value) == 10 else day

