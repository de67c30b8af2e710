"""REST API ``/api/v1``: JSON, bearer tokens, described by ``/api/v1/openapi.json``.

Every handler is thin: parse and check the body, open one transaction, call one use case
of ``engine.app.service.Workflow``, shape the answer. Errors are raised, never built here;
``web/errors.py`` turns them into ``{code, message, errors}``. ``docs/api.md`` is the
reference for clients.

Sensitive form values are masked in every instance and event the API answers with, unless
the caller has clearance; answers that show them in clear are logged as ``api`` once they
are sent (``web.oversight``). ``MASK`` is refused as a sensitive value in submissions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from engine import store
from engine.app.access import Reader
from engine.app.masking import (
    holds_mask,
    keep_masked,
    mask_events,
    mask_instance,
    record_views,
    refuse_mask,
    sensitive_keys,
)
from engine.errors import FormInvalid, NotFound, NotPermitted
from engine.store.tables import InstanceStatus, TaskKind
from engine.store.users import check_password
from web.api.openapi import INSTANCE_ID, PROCEDURE_ID, TASK_ID
from web.db import reading, services, transaction, workflow
from web.errors import BadRequest, TooManyAttempts, Unauthenticated
from web.html.auth import SignInGuard
from web.i18n import LOCALES, use
from web.oversight import api_reader

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.language.procedure import Deadline, Procedure, Step

bp = Blueprint("api", __name__, url_prefix="/api/v1")

TOKEN_SALT = "api-token"
TOKEN_MAX_AGE = 12 * 3600
PUBLIC_ENDPOINTS = {"api.token", "api.openapi"}
_ID_PATTERNS = {"procedure": re.compile(PROCEDURE_ID), "instance": re.compile(INSTANCE_ID),
                "task": re.compile(TASK_ID)}
_ID_ARGS = {"procedure_id": "procedure", "instance_id": "instance", "task_id": "task"}


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TOKEN_MAX_AGE", TOKEN_MAX_AGE)
    app.config.setdefault("API_LOGIN_MAX_FAILURES", 5)
    app.config.setdefault("API_LOGIN_LOCK_SECONDS", 300)
    app.extensions["api_tokens"] = URLSafeTimedSerializer(app.secret_key, salt=TOKEN_SALT)
    app.extensions["api_failures"] = SignInGuard("api", app.config["API_LOGIN_MAX_FAILURES"],
                                                 app.config["API_LOGIN_LOCK_SECONDS"])


# --- authentication -----------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return current_app.extensions["api_tokens"]


def issue_token(username: str) -> tuple[str, datetime]:
    """A signed token carrying ``username`` and the time it expires."""
    token = _serializer().dumps({"u": username})
    expires = datetime.now(UTC) + timedelta(seconds=current_app.config["API_TOKEN_MAX_AGE"])
    return token, expires.replace(microsecond=0)


def _authenticate() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthenticated("this endpoint needs 'Authorization: Bearer <token>'; get a token "
                              "from POST /api/v1/auth/token", error="invalid_request")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must read 'Bearer <token>'",
                              error="invalid_request")
    try:
        payload = _serializer().loads(token.strip(), max_age=current_app.config["API_TOKEN_MAX_AGE"])
    except SignatureExpired as exc:
        raise Unauthenticated("the token has expired; get a new one from POST /api/v1/auth/token") from exc
    except BadSignature as exc:
        raise Unauthenticated("the token is not valid; get a new one from POST /api/v1/auth/token") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), str):
        raise Unauthenticated("the token is not valid; get a new one from POST /api/v1/auth/token")
    return payload["u"]


@bp.before_request
def _require_token() -> None:
    # Engine messages in the language the client asks for; English when it asks for none,
    # as the API has always answered.
    use(request.accept_languages.best_match(LOCALES, default="en") or "en")
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return
    g.api_user = _authenticate()
    for arg, kind in _ID_ARGS.items():
        value = (request.view_args or {}).get(arg)
        if value is not None and not _ID_PATTERNS[kind].match(value):
            raise NotFound(f"no {kind} '{value}'")


def _user() -> str:
    return g.api_user


def _log_later(reader: Reader, instance_id: str, procedure_id: str, shown: set[str]) -> None:
    """Remember the sensitive values this answer shows in clear; ``_log_views`` logs them."""
    if shown:
        g.setdefault("api_views", []).append((reader, (instance_id, procedure_id, shown)))


@bp.after_request
def _log_views(response):
    """Log the sensitive values an answer showed in clear, in a transaction of its own (the
    request's transaction, if any, has ended: SQLite allows one writer at a time)."""
    views = g.pop("api_views", None)
    if views and response.status_code < 400:
        record_views(services().database, views[0][0], [v for _reader, v in views], "api")
    return response


def _no_mask(step: str, data: Mapping[str, Any], procedure: Callable[[], Procedure]) -> None:
    """422 when a sensitive value is sent as the mask (copied from a masked answer): it
    would overwrite the real value. Looks up the procedure only when some value is the mask."""
    if holds_mask(data):
        refuse_mask(sensitive_keys(procedure()), step, data)


def _keep_masked(session: Session, instance_id: str, step: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` of a task with each sensitive value sent as the mask replaced by the value
    recorded for it (a step that runs again); 422 when nothing is recorded."""
    row = store.load_instance(session, instance_id)
    proc = workflow().runtime(session, row.version_id).procedure
    data, errors = keep_masked(sensitive_keys(proc), step, data, row.state["data"].get(step))
    if errors:
        raise FormInvalid(errors[0]["message"], errors=errors)
    return data


def _pinned(session: Session, instance_id: str) -> Procedure:
    """The procedure version an instance runs on."""
    return workflow().runtime(session, store.load_instance(session, instance_id).version_id).procedure


def _locale() -> str:
    default = workflow().config.get("locale", default="zh") or "zh"
    return request.accept_languages.best_match(["zh", "en"], default=default) or default


@bp.post("/auth/token")
def token():
    body = _body({"username", "password"})
    username = _string(body, "username", required=True)
    password = _string(body, "password", required=True)
    failures: SignInGuard = current_app.extensions["api_failures"]
    until = failures.locked_until(username)
    if until is not None:
        wait = int((until - datetime.now(UTC)).total_seconds()) + 1
        raise TooManyAttempts(f"too many failed log-ins for '{username}'; try again in "
                              f"{wait} seconds", retry_after=wait)
    with reading() as session:
        user = check_password(session, username, password)
        name = user.username if user is not None else None
    if name is None:
        failures.fail(username)
        raise Unauthenticated("wrong user name or password", error="invalid_grant")
    failures.succeed(username)
    value, expires = issue_token(name)
    return jsonify(token=value, token_type="Bearer", expires_at=expires.isoformat())


@bp.get("/openapi.json")
def openapi():
    from web.api.openapi import document

    return jsonify(document())


# --- request bodies and queries -------------------------------------------------------------

def _body(allowed: set[str]) -> dict[str, Any]:
    """The JSON object in the body (``{}`` for an empty body); 400 when it is anything else."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    body = request.get_json(force=True, silent=True)
    if body is None:
        raise BadRequest("the request body is not valid JSON; send a JSON object with "
                         "'Content-Type: application/json'")
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    if _has_nul(body):
        raise BadRequest("text in the body must not contain NUL (\\u0000) characters")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown member(s) {', '.join(map(repr, unknown))}; allowed: "
                         f"{', '.join(sorted(allowed))}",
                         errors=[{"field": k, "message": "unknown member"} for k in unknown])
    return body


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _string(body: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"'{key}' is required", errors=[{"field": key, "message": "required"}])
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{key}' must be a string", errors=[{"field": key, "message": "must be a string"}])
    if required and not value.strip():
        raise BadRequest(f"'{key}' must not be empty", errors=[{"field": key, "message": "required"}])
    return value


def _object(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"'{key}' must be a JSON object", errors=[{"field": key, "message": "must be an object"}])
    return value


def _rev(body: Mapping[str, Any]) -> int | None:
    value = body.get("expected_rev")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest("'expected_rev' must be an integer (the 'rev' of the instance you loaded)",
                         errors=[{"field": "expected_rev", "message": "must be an integer"}])
    return value


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise BadRequest(f"query parameter '{name}' must be a whole number from {low} to {high}",
                         errors=[{"field": name, "message": f"{low}..{high}"}])
    return value


# --- procedures ------------------------------------------------------------------------------

def _current(session: Session, procedure_id: str) -> tuple[Procedure, int]:
    return workflow().procedure(session, procedure_id)


def _roles(session: Session, proc: Procedure) -> frozenset[str]:
    return workflow().actor(session, _user(), proc).roles


def _require_reader(session: Session, proc: Procedure) -> frozenset[str]:
    """The caller's roles in ``proc``; 403 unless they hold at least one (or are admin)."""
    roles = _roles(session, proc)
    if not roles:
        raise NotPermitted(f"you hold no role in '{proc.title}' ({proc.id}), so you may not see its records")
    return roles


def _procedure_summary(session: Session, proc: Procedure, version_id: int) -> dict[str, Any]:
    cfg = workflow().config
    roles = _roles(session, proc)
    return {
        "id": proc.id, "title": proc.title, "description": proc.description,
        "version": {"id": version_id, "hash": proc.content_hash},
        "roles": [{"id": r, "title": t, "groups": cfg.groups_for_role(proc.id, r)}
                  for r, t in proc.roles.items()],
        "start_roles": list(proc.start_roles),
        "my_roles": sorted(roles),
        "can_start": bool(roles & set(proc.start_roles)),
    }


def deadline_text(deadline: Deadline | None) -> str | None:
    """The deadline of a step as its author wrote it, in one line."""
    if deadline is None:
        return None
    if deadline.within is not None:
        parts = [f"within {deadline.within}"]
    elif deadline.within_cases:
        cases = [f"{d} if {c.source}" if c is not None else f"{d} otherwise"
                 for c, d in deadline.within_cases]
        parts = ["within " + "; ".join(cases)]
    elif deadline.within_expr is not None:
        parts = [f"within {deadline.within_expr.source}"]
    else:
        parts = [f"due {deadline.due_expr.source}" if deadline.due_expr else "due"]
    if deadline.calendar != "default":
        parts.append(f"calendar {deadline.calendar}")
    if deadline.remind_before is not None:
        parts.append(f"remind {deadline.remind_before} before")
    for esc in deadline.escalate:
        parts.append(f"escalate to {esc.to} after {esc.after}")
    return ", ".join(parts)


def _step(proc: Procedure, step: Step) -> dict[str, Any]:
    return {
        "id": step.id, "title": step.title, "type": step.type, "role": step.role,
        "form": step.form, "signature": step.signature, "deadline": deadline_text(step.deadline),
        "next": list(step.targets),
    }


@bp.get("/procedures")
def procedures():
    with reading() as session:
        items = []
        for pid in store.procedure_ids(session):
            proc, vid = _current(session, pid)
            items.append(_procedure_summary(session, proc, vid))
    return jsonify(items=items)


@bp.get("/procedures/<procedure_id>")
def procedure(procedure_id: str):
    with reading() as session:
        proc, vid = _current(session, procedure_id)
        out = _procedure_summary(session, proc, vid)
    form = proc.forms.get(proc.start_form) if proc.start_form else None
    out.update(
        start_step=proc.start_step,
        start_form={"id": form.id, "title": form.title, "schema": form.schema} if form else None,
        steps=[_step(proc, s) for s in proc.steps.values()],
    )
    return jsonify(out)


@bp.post("/procedures/<procedure_id>/instances")
def start(procedure_id: str):
    body = _body({"data"})
    data = _object(body, "data")
    with transaction() as session:
        _no_mask("start", data, lambda: _current(session, procedure_id)[0])
        state = workflow().start(session, procedure_id, _user(), data, locale=_locale())
        out = _instance(session, state["id"])
    return jsonify(out), 201, {"Location": f"{bp.url_prefix}/instances/{out['id']}"}


# --- instances -------------------------------------------------------------------------------

def _task_view(instance_id: str, task: Mapping[str, Any], proc: Procedure) -> dict[str, Any]:
    step = proc.steps.get(task["step"])
    return {
        "id": f"{instance_id}.{task['id']}", "local_id": task["id"], "step": task["step"],
        "title": step.title if step else task["step"], "kind": task["kind"], "role": task.get("role"),
        "status": task["status"], "assignee": task.get("assignee"), "created_at": task.get("created_at"),
        "due_at": task.get("due_at"), "completed_at": task.get("completed_at"),
        "completed_by": task.get("completed_by"), "signature": step.signature if step else None,
    }


_HISTORY_KEYS = ("seq", "type", "step", "task", "actor", "at", "data")


def _instance(session: Session, instance_id: str, *, check: bool = False) -> dict[str, Any]:
    """The instance with tasks and history; write endpoints answer with it, read in their
    own transaction (one session per request)."""
    wf = workflow()
    out = wf.instance(session, instance_id, history=True)
    proc = wf.runtime(session, out["version"]["id"]).procedure
    if check:
        _require_reader(session, proc)
    reader = api_reader(_user())
    out, shown = mask_instance(sensitive_keys(proc), out, reader)
    _log_later(reader, instance_id, proc.id, shown)
    out["tasks"] = [_task_view(out["id"], t, proc) for t in out["tasks"]]
    out["history"] = [{k: e[k] for k in _HISTORY_KEYS} for e in out["history"]]
    return out


def _instance_summary(row: store.Instance) -> dict[str, Any]:
    return {
        "id": row.id, "procedure": row.procedure_id, "version": {"id": row.version_id},
        "status": str(row.status), "outcome": row.outcome, "rev": row.rev,
        "started_at": _iso(row.started_at), "started_by": row.started_by,
        "ended_at": _iso(row.ended_at),
    }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


@bp.get("/instances")
def instances():
    procedure_id = request.args.get("procedure") or None
    if procedure_id is not None and not _ID_PATTERNS["procedure"].match(procedure_id):
        raise NotFound(f"no procedure '{procedure_id}'")
    status = request.args.get("status") or None
    if status is not None and status not in {s.value for s in InstanceStatus}:
        raise BadRequest(f"query parameter 'status' must be one of "
                         f"{', '.join(s.value for s in InstanceStatus)}",
                         errors=[{"field": "status", "message": "unknown status"}])
    limit = _int_arg("limit", 50, 1, 200)
    offset = _int_arg("offset", 0, 0, 1_000_000)
    with reading() as session:
        if procedure_id is not None:
            _require_reader(session, _current(session, procedure_id)[0])
            readable = [procedure_id]
        else:
            readable = [pid for pid in store.procedure_ids(session)
                        if _roles(session, _current(session, pid)[0])]
        rows: list[store.Instance] = []
        total = 0
        for pid in readable:  # one query per readable procedure, merged newest first
            rows += store.list_instances(session, pid, status, limit + offset, 0)
            total += store.count_instances(session, pid, status)
        rows.sort(key=lambda r: (r.started_at, r.id), reverse=True)
        items = [_instance_summary(r) for r in rows[offset:offset + limit]]
    return jsonify(items=items, total=total, limit=limit, offset=offset)


@bp.get("/instances/<instance_id>")
def instance(instance_id: str):
    with reading() as session:
        return jsonify(_instance(session, instance_id, check=True))


@bp.get("/instances/<instance_id>/events")
def events(instance_id: str):
    with reading() as session:
        row = store.load_instance(session, instance_id)
        proc = workflow().runtime(session, row.version_id).procedure
        _require_reader(session, proc)
        items = workflow().events(session, instance_id)
        reader = api_reader(_user())
        items, shown = mask_events(sensitive_keys(proc), items, reader)
        _log_later(reader, instance_id, proc.id, shown)
    return jsonify(instance=instance_id, items=items)


@bp.post("/instances/<instance_id>/cancel")
def cancel(instance_id: str):
    body = _body({"reason"})
    reason = _string(body, "reason", required=True)
    with transaction() as session:
        workflow().cancel(session, instance_id, _user(), reason)
        out = _instance(session, instance_id)
    return jsonify(out)


@bp.post("/instances/<instance_id>/corrections")
def correct(instance_id: str):
    body = _body({"step", "field", "value", "reason"})
    step = _string(body, "step", required=True)
    field = _string(body, "field", required=True)
    reason = _string(body, "reason", required=True)
    if "value" not in body:
        raise BadRequest("'value' is required (the corrected value; null clears the field)",
                         errors=[{"field": "value", "message": "required"}])
    with transaction() as session:
        _no_mask(step, {field: body["value"]}, lambda: _pinned(session, instance_id))
        workflow().correct(session, instance_id, _user(), step, field, body["value"], reason,
                           locale=_locale())
        out = _instance(session, instance_id)
    return jsonify(out)


# --- tasks -------------------------------------------------------------------------------------

APPROVAL_TITLES = {"decision": "决定 / decision", "comment": "意见 / comment",
                   "password": "密码 / password"}


def task_form(proc: Procedure, step: Step) -> dict[str, Any] | None:
    """The JSON Schema a client fills to complete a task of ``step``.

    A task step: its form's schema (``None`` for a step without a form). An approval: the
    decision, a comment (required when rejecting), the password on signature steps, and the
    fields of the step's own form if it has one.
    """
    form = proc.forms.get(step.form) if step.form else None
    if step.type != "approval":
        return form.schema if form else None
    props: dict[str, Any] = {
        "decision": {"type": "string", "enum": ["approve", "reject"], "title": APPROVAL_TITLES["decision"]},
        "comment": {"type": "string", "title": APPROVAL_TITLES["comment"],
                    "description": "required when rejecting: what must change"},
    }
    required = ["decision"]
    if step.signature:
        props["password"] = {"type": "string", "writeOnly": True, "title": APPROVAL_TITLES["password"],
                             "description": f"re-enter your password to sign ({step.signature})",
                             "x-widget": "password"}
        required.append("password")
    if form is not None:
        props.update(form.schema.get("properties", {}))
        required += [r for r in form.schema.get("required", []) if r not in required]
    return {"type": "object", "title": step.title, "properties": props, "required": required,
            "additionalProperties": False}


@bp.get("/tasks")
def tasks():
    wf = workflow()
    limit = _int_arg("limit", 200, 1, 500)
    with reading() as session:
        roles: list[str] = []
        for pid in store.procedure_ids(session):
            proc, _ = _current(session, pid)
            roles += [f"{pid}.{r}" for r in _roles(session, proc)]
        rows = store.open_tasks_for(session, roles, _user(), limit=limit)
        procs: dict[str, Procedure] = {}
        items = []
        for row in rows:
            proc = procs.get(row.instance_id)
            if proc is None:
                inst = store.load_instance(session, row.instance_id)
                proc = procs[row.instance_id] = wf.runtime(session, inst.version_id).procedure
            step = proc.steps[row.step]
            items.append({
                "id": row.id, "instance": row.instance_id, "procedure": row.procedure_id,
                "procedure_title": proc.title, "step": row.step, "title": step.title,
                "role": row.role, "kind": str(row.kind), "status": str(row.status),
                "due_at": _iso(row.due_at), "created_at": _iso(row.created_at),
                "assignee": row.assignee, "signature": step.signature,
                "form_id": step.form, "form": task_form(proc, step),
            })
    return jsonify(items=items)


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str):
    wf = workflow()
    body = _body({"data", "expected_rev", "password"})
    data = dict(_object(body, "data"))
    rev = _rev(body)
    password = _string(body, "password")
    signed = None
    if password is not None or "password" in data:
        # A signature password is checked (scrypt, ~0.1 s) before the write transaction,
        # which then holds the write lock only briefly.
        with reading() as session:
            password = _take_password(session, store.task_ref(session, task_id), data, password)
            if password is not None:
                signed = wf.verify_password(session, _user(), password)
    with transaction() as session:
        task = store.task_ref(session, task_id)
        if holds_mask(data):
            data = _keep_masked(session, task.instance_id, task.step, data)
        if task.kind == TaskKind.APPROVAL:
            decision = data.pop("decision", None)
            comment = data.pop("comment", None) or ""
            if decision not in ("approve", "reject"):
                raise FormInvalid("an approval needs 'decision': 'approve' or 'reject'",
                                  errors=[{"field": "decision", "message": "approve or reject"}])
            if not isinstance(comment, str):
                raise FormInvalid("'comment' must be text", errors=[{"field": "comment", "message": "must be text"}])
            wf.decide(session, task_id, _user(), approve=decision == "approve", comment=comment,
                      data=data, password=signed, expected_rev=rev, locale=_locale())
        else:
            wf.complete_task(session, task_id, _user(), data, password=signed,
                             expected_rev=rev, locale=_locale())
        out = _instance(session, task.instance_id)
    return jsonify(out)


def _take_password(session: Session, task: store.TaskRef, data: dict[str, Any],
                   password: str | None) -> str | None:
    """The signature password of a submission, taken out of ``data`` where it was sent
    there: always for an approval, for a task unless its form has a field of that name."""
    if task.kind == TaskKind.APPROVAL:
        password = data.pop("password", None) or password
        if password is not None and not isinstance(password, str):
            raise FormInvalid("'password' must be text", errors=[{"field": "password", "message": "must be text"}])
        return password
    if "password" in data and password is None:
        record, _ = store.load_record(session, task.instance_id)
        proc = workflow().runtime(session, record.version_id).procedure
        form = proc.forms.get(proc.steps[task.step].form or "")
        if form is None or "password" not in form.schema.get("properties", {}):
            value = data.pop("password")
            password = value if isinstance(value, str) else None
    return password


@bp.post("/tasks/<task_id>/claim")
def claim(task_id: str):
    _body(set())
    with transaction() as session:
        instance_id = store.task_ref(session, task_id).instance_id
        workflow().claim(session, task_id, _user())
        out = _instance(session, instance_id)
    return jsonify(out)


@bp.post("/tasks/<task_id>/release")
def release(task_id: str):
    _body(set())
    with transaction() as session:
        instance_id = store.task_ref(session, task_id).instance_id
        workflow().release(session, task_id, _user())
        out = _instance(session, instance_id)
    return jsonify(out)


# --- notifications ------------------------------------------------------------------------------

def _notification(n: Any, locale: str) -> dict[str, Any]:
    from engine.app.notify import text

    return {"id": n.id, "kind": n.kind, "instance": n.instance_id, "task": n.task_id,
            "text": text(n.kind, n.data, locale), "data": n.data,
            "created_at": _iso(n.created_at), "read_at": _iso(n.read_at)}


@bp.get("/notifications")
def notifications():
    from engine.store import timekeeping as tk

    unread = request.args.get("unread", "false")
    if unread not in ("true", "false"):
        raise BadRequest("query parameter 'unread' must be true or false")
    limit = _int_arg("limit", 100, 1, 500)
    with reading() as session:
        rows = tk.notifications_for(session, _user(), unread_only=unread == "true", limit=limit)
        items = [_notification(n, _locale()) for n in rows]
        count = tk.unread_count(session, _user())
    return jsonify(items=items, unread=count)


@bp.post("/notifications/read")
def mark_notifications_read():
    from engine.store import timekeeping as tk

    body = _body({"ids"})
    ids = body.get("ids")
    if ids is not None and (not isinstance(ids, list)
                            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)):
        raise BadRequest("'ids' must be a list of notification ids (integers); leave it out to mark all read",
                         errors=[{"field": "ids", "message": "must be a list of integers"}])
    with transaction() as session:
        marked = tk.mark_read(session, _user(), ids, workflow().clock())
        count = tk.unread_count(session, _user())
    return jsonify(marked=marked, unread=count)
