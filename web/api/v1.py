"""REST API ``/api/v1``: JSON, bearer tokens, described by ``/api/v1/openapi.json``.

Every handler is thin: parse and check the body, call one use case of the application layer
(``engine.app``), shape the answer; the HTML pages call the same use cases. Errors are raised, never built here;
``web/errors.py`` turns them into ``{code, message, errors}``. ``docs/api.md`` is the
reference for clients.

Sensitive form values are masked in every instance and event the API answers with, unless
the caller has clearance; answers that show them in clear are logged as ``api``
(``engine.app.masking``). ``MASK`` is refused as a sensitive value in submissions.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, current_app, g, jsonify, request, send_file
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from engine.app import (
    cc,
    instances,
    library,
    notifications,
    org,
    people,
    search,
    task_actions,
    tasks,
    uploads,
)
from engine.app.access import Reader
from engine.errors import NotFound, NotPermitted
from engine.i18n import _
from web.api.openapi import ATTACHMENT_ID, INSTANCE_ID, PROCEDURE_ID, TASK_ID
from web.db import services
from web.errors import BadRequest, TooManyAttempts, Unauthenticated
from web.html.auth import client_address
from web.i18n import use_the_apis
from web.integrity import integrity_answer
from web.oversight import api_reader

if TYPE_CHECKING:

    from engine.language.procedure import Deadline, Procedure, Step

bp = Blueprint("api", __name__, url_prefix="/api/v1")

TOKEN_SALT = "api-token"
PUBLIC_ENDPOINTS = {"api.token", "api.openapi", "api.change_password"}
_ID_PATTERNS = {"procedure": re.compile(PROCEDURE_ID), "instance": re.compile(INSTANCE_ID),
                "task": re.compile(TASK_ID), "file": re.compile(ATTACHMENT_ID)}
_ID_ARGS = {"procedure_id": "procedure", "instance_id": "instance", "task_id": "task",
            "attachment_id": "file"}


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TOKEN_MAX_AGE", people.sign_in_seconds(app.extensions["services"]))
    app.config.setdefault("API_LOGIN_MAX_FAILURES", 5)
    app.config.setdefault("API_LOGIN_LOCK_SECONDS", 300)
    app.extensions["api_tokens"] = URLSafeTimedSerializer(app.secret_key, salt=TOKEN_SALT)
    base = people.door(app.extensions["services"], "api")
    app.extensions["api_failures"] = people.Door(app.extensions["services"], "api",
                                                 app.config["API_LOGIN_MAX_FAILURES"],
                                                 app.config["API_LOGIN_LOCK_SECONDS"],
                                                 first_delay=base.first_delay.total_seconds(),
                                                 per_address=base.per_address)


# --- authentication -----------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return current_app.extensions["api_tokens"]


def issue_token(username: str) -> tuple[str, datetime]:
    """A signed token carrying ``username`` and their session version, and the time it
    expires. A token of an older version (sign-out, password change, deactivation,
    ``wf user tokens --revoke``) is refused."""
    token = _serializer().dumps({"u": username, "v": people.session_version(services(), username)})
    expires = datetime.now(UTC) + timedelta(seconds=current_app.config["API_TOKEN_MAX_AGE"])
    return token, expires.replace(microsecond=0)


# Tokens whose signature this process has checked: token -> (payload, when it was issued).
_VERIFIED_CAP = 4096


def _verified(token: str) -> Any:
    """The payload of a signed token. The signature (HMAC, base64, JSON: about 40 µs of
    every API request) is checked once per server process; the age at every use, as
    ``loads(max_age=...)`` does (``SignatureExpired``). Whether the token is still valid
    (not revoked) is asked of the database every time (``people.token_reader``)."""
    max_age = current_app.config["API_TOKEN_MAX_AGE"]
    cache: dict[str, tuple[Any, int]] = current_app.extensions.setdefault("api_tokens_verified", {})
    found = cache.get(token)
    if found is None:
        payload, issued = _serializer().loads(token, max_age=max_age, return_timestamp=True)
        if len(cache) >= _VERIFIED_CAP:
            cache.clear()
        found = cache[token] = (payload, int(issued.timestamp()))
    payload, issued_at = found
    age = int(time.time()) - issued_at
    if age > max_age or age < 0:
        raise SignatureExpired(f"token age {age} not within 0..{max_age} seconds")
    return payload


def _authenticate() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if not header:
        raise Unauthenticated(_("this endpoint needs 'Authorization: Bearer <token>'; get a token "
                                "from POST /api/v1/auth/token"), error="invalid_request")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(_("the Authorization header must read 'Bearer <token>'"),
                              error="invalid_request")
    try:
        payload = _verified(token.strip())
    except SignatureExpired as exc:
        raise Unauthenticated(_("the token has expired; get a new one from POST /api/v1/auth/token")) from exc
    except BadSignature as exc:
        raise Unauthenticated(_("the token is not valid; get a new one from POST /api/v1/auth/token")) from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), str):
        raise Unauthenticated(_("the token is not valid; get a new one from POST /api/v1/auth/token"))
    version = payload.get("v", 0)
    # The token check and the caller's reader in one read (oversight.api_reader uses it).
    reader = people.token_reader(services(), payload["u"], version) if isinstance(version, int) else None
    if reader is None:
        raise Unauthenticated(_("the token was revoked (signed out, password changed or account "
                                "deactivated); get a new one from POST /api/v1/auth/token"))
    g.api_reader = reader
    return payload["u"]


@bp.before_request
def _require_token() -> None:
    use_the_apis()
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return
    g.api_user = _authenticate()
    for arg, kind in _ID_ARGS.items():
        value = (request.view_args or {}).get(arg)
        if value is not None and not _ID_PATTERNS[kind].match(value):
            raise NotFound(_NO_SUCH[kind](value))


# The message for an id of the wrong shape in the path, built when raised (the locale is the
# request's).
_NO_SUCH = {
    "procedure": lambda value: _("no procedure '{id}'", id=value),
    "instance": lambda value: _("no instance '{id}'", id=value),
    "task": lambda value: _("no task '{id}'", id=value),
    "file": lambda value: _("File {id} does not exist.", id=value),
}


def _user() -> str:
    return g.api_user


def _reader() -> Reader:
    return api_reader(g.api_user)


def _locale() -> str:
    default = services().config.get("locale", default="zh") or "zh"
    return request.accept_languages.best_match(["zh", "en"], default=default) or default


@bp.post("/auth/token")
def token():
    body = _body({"username", "password"})
    username = _string(body, "username", required=True)
    password = _string(body, "password", required=True)
    door: people.Door = current_app.extensions["api_failures"]
    # Counted per user name and client address: failures from elsewhere never lock the
    # user out of their own address.
    attempt = door.sign_in(username, password, client_address())
    if attempt.locked_before and attempt.locked_until is not None:
        wait = int((attempt.locked_until - datetime.now(UTC)).total_seconds()) + 1
        raise TooManyAttempts(_("too many failed log-ins for '{user}'; try again in {n} seconds",
                                user=username, n=wait), retry_after=wait)
    if attempt.username is None:
        raise Unauthenticated(_("wrong user name or password"), error="invalid_grant")
    name = attempt.username
    person = people.active_person(services(), name)
    reason = people.change_reason(services(), person) if person is not None else None
    if reason == people.TEMPORARY:
        raise NotPermitted(_("the password was set by an administrator and is temporary; change it with "
                             "POST /api/v1/auth/password (or on the web page /password), then ask for a token"))
    if reason is not None:  # people.EXPIRED (and any reason added later: no token before the change)
        raise NotPermitted(_("the password has expired; change it with POST /api/v1/auth/password "
                             "(or on the web page /password), then ask for a token"))
    value, expires = issue_token(name)
    return jsonify(token=value, token_type="Bearer", expires_at=expires.isoformat())


@bp.post("/auth/password")
def change_password():
    """Change one's own password (also once it has expired): the current password proves who
    asks, the new one must follow the policy; every earlier token of the user ends."""
    body = _body({"username", "password", "new_password"})
    username = _string(body, "username", required=True)
    current = _string(body, "password", required=True)
    new = _string(body, "new_password", required=True)
    people.change_password(services(), username or "", current or "", new or "", client_address())
    value, expires = issue_token(username or "")
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
        raise BadRequest(_("the request body is not valid JSON; send a JSON object with "
                           "'Content-Type: application/json'"))
    if not isinstance(body, dict):
        raise BadRequest(_("the request body must be a JSON object"))
    if _has_nul(body):
        raise BadRequest(_("text in the body must not contain NUL (\\u0000) characters"))
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(_("unknown member(s) {names}; allowed: {allowed}",
                           names=", ".join(_("'{name}'", name=k) for k in unknown),
                           allowed=", ".join(sorted(allowed)) or _("none")),
                         errors=[{"field": k, "message": _("unknown member")} for k in unknown])
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
            raise BadRequest(_("'{key}' is required", key=key), errors=[{"field": key, "message": _("required")}])
        return None
    if not isinstance(value, str):
        raise BadRequest(_("'{key}' must be a string", key=key),
                         errors=[{"field": key, "message": _("must be a string")}])
    if required and not value.strip():
        raise BadRequest(_("'{key}' must not be empty", key=key), errors=[{"field": key, "message": _("required")}])
    return value


def _object(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(_("'{key}' must be a JSON object", key=key),
                         errors=[{"field": key, "message": _("must be an object")}])
    return value


def _rev(body: Mapping[str, Any]) -> int | None:
    value = body.get("expected_rev")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(_("'expected_rev' must be an integer (the 'rev' of the instance you loaded)"),
                         errors=[{"field": "expected_rev", "message": _("must be an integer")}])
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
        raise BadRequest(_("query parameter '{name}' must be a whole number from {low} to {high}",
                           name=name, low=low, high=high),
                         errors=[{"field": name, "message": _("{low} to {high}", low=low, high=high)}])
    return value


# --- procedures ------------------------------------------------------------------------------

def _procedure_summary(found: library.Installed) -> dict[str, Any]:
    cfg = services().config
    proc = found.procedure
    return {
        "id": proc.id, "title": proc.title, "description": proc.description,
        "version": {"id": found.version_id, "hash": proc.content_hash},
        "roles": [{"id": r, "title": t, "groups": cfg.groups_for_role(proc.id, r)}
                  for r, t in proc.roles.items()],
        "start_roles": list(proc.start_roles),
        "my_roles": sorted(found.my_roles),
        "can_start": found.may_start,
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
    return jsonify(items=[_procedure_summary(f) for f in library.installed(services(), _user())])


@bp.get("/procedures/<procedure_id>")
def procedure(procedure_id: str):
    found = library.one(services(), _user(), procedure_id)
    proc = found.procedure
    out = _procedure_summary(found)
    form = proc.forms.get(proc.start_form) if proc.start_form else None
    out.update(
        start_step=proc.start_step,
        start_form={"id": form.id, "title": form.title, "schema": form.client_schema} if form else None,
        steps=[_step(proc, s) for s in proc.steps.values()],
    )
    return jsonify(out)


@bp.post("/procedures/<procedure_id>/instances")
def start(procedure_id: str):
    history = _history()
    body = _body({"data"})
    data = _object(body, "data")
    out = _answer(instances.start(services(), _user(), procedure_id, data, locale=_locale(),
                                  answer_for=_reader(), history=history), history)
    return jsonify(out), 201, {"Location": f"{bp.url_prefix}/instances/{out['id']}"}


# --- uploads ---------------------------------------------------------------------------------

@bp.post("/uploads")
def upload():
    """One file (multipart/form-data, part ``file``) for a file or signature field: checked
    as the pages check a form's file; its id goes into the data of a start, a task or a
    correction of the same caller, which binds it to that record."""
    posted = request.files.getlist("file")
    if len(posted) != 1 or not posted[0].filename or set(request.files) != {"file"}:
        message = _("send one file as the part 'file' of a multipart/form-data body")
        raise BadRequest(message, errors=[{"field": "file", "message": message}])
    found = uploads.upload(services(), _user(), posted[0].filename, posted[0].stream)
    return jsonify(found), 201, {"Location": f"{bp.url_prefix}/uploads/{found['id']}"}


@bp.get("/uploads/<attachment_id>")
def download(attachment_id: str):
    """A file: for its uploader, and for readers of the record holding it (as on the pages)."""
    found = uploads.download(services(), _reader(), attachment_id)
    response = send_file(found.path, mimetype=found.content_type, as_attachment=True,
                         download_name=found.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


# --- instances -------------------------------------------------------------------------------

def _task_view(instance_id: str, task: Mapping[str, Any], proc: Procedure) -> dict[str, Any]:
    step = proc.steps.get(task["step"])
    return {
        "id": f"{instance_id}.{task['id']}", "local_id": task["id"], "step": task["step"],
        "title": step.title if step else task["step"], "kind": task["kind"], "role": task.get("role"),
        "status": task["status"], "assignee": task.get("assignee"), "created_at": task.get("created_at"),
        "due_at": task.get("due_at"), "completed_at": task.get("completed_at"),
        "completed_by": task.get("completed_by"), "signature": step.signature if step else None,
        "signed": task.get("signature"),
        "signed_before_correction": task.get("signed_before_correction", []),
    }


_HISTORY_KEYS = ("seq", "type", "step", "task", "actor", "at", "data")


def _history() -> bool:
    """The ``history`` query parameter of the endpoints that answer with an instance: its
    events come with it unless the caller sends ``history=false`` (a client that only needs
    the next task and ``rev`` saves the server reading and sending the whole trail each
    step). Read before the action, so a bad value changes nothing."""
    value = request.args.get("history")
    if value is None or value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise BadRequest(_("query parameter 'history' must be 'true' or 'false'"),
                     errors=[{"field": "history", "message": _("true or false")}])


def _answer(answer: instances.Answer, history: bool = True) -> dict[str, Any]:
    """The instance with tasks and (unless ``history`` is false) history as the caller may
    see it (every endpoint that changes an instance answers with it)."""
    out, proc = dict(answer.inst), answer.procedure
    out["tasks"] = [_task_view(out["id"], t, proc) for t in out["tasks"]]
    if history:
        out["history"] = [{k: e[k] for k in _HISTORY_KEYS} for e in out["history"]]
    else:
        out.pop("history", None)
    return out


def _instance_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**row, "started_at": _iso(row["started_at"]), "ended_at": _iso(row["ended_at"])}


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


@bp.get("/instances", endpoint="instances")
def list_instances():
    procedure_id = request.args.get("procedure") or None
    if procedure_id is not None and not _ID_PATTERNS["procedure"].match(procedure_id):
        raise NotFound(_("no procedure '{id}'", id=procedure_id))
    status = request.args.get("status") or None
    if status is not None and status not in set(instances.STATUSES):
        raise BadRequest(_("query parameter 'status' must be one of {statuses}",
                           statuses=", ".join(instances.STATUSES)),
                         errors=[{"field": "status", "message": _("unknown status")}])
    limit = _int_arg("limit", 50, 1, 200)
    offset = _int_arg("offset", 0, 0, 1_000_000)
    rows, total, _titles = instances.list_instances(services(), api_reader(_user()), procedure_id,
                                                    status, limit=limit, offset=offset)
    return jsonify(items=[_instance_summary(r) for r in rows], total=total, limit=limit, offset=offset)


@bp.get("/search", endpoint="search")
def search_records():
    q = request.args.get("q") or ""
    if not q.strip():
        raise BadRequest(_("query parameter 'q' is required: a record number or text of a field"),
                         errors=[{"field": "q", "message": _("required")}])
    hits = search.search(services(), api_reader(_user()), q, limit=_int_arg("limit", 50, 1, 200))
    return jsonify(q=q, items=[{"instance": h.instance_id, "serial": h.serial, "procedure": h.procedure_id,
                                "title": h.procedure, "status": h.status, "started_at": _iso(h.started_at),
                                "matched": h.matched, "value": h.value} for h in hits])


@bp.get("/instances/<instance_id>")
def instance(instance_id: str):
    history = _history()
    answer = instances.read(services(), _reader(), instance_id, history=history, checked=True)
    # What the record page says above a record that differs from its trail, said to programs
    # too: an integration copying the record elsewhere must not take an insider's edit as fact.
    return jsonify({**_answer(answer, history), "integrity": integrity_answer(answer.integrity)})


@bp.get("/instances/<instance_id>/events")
def events(instance_id: str):
    items = instances.events(services(), api_reader(_user()), instance_id)
    return jsonify(instance=instance_id, items=items)


@bp.post("/instances/<instance_id>/cancel")
def cancel(instance_id: str):
    history = _history()
    body = _body({"reason"})
    reason = _string(body, "reason", required=True)
    return jsonify(_answer(instances.cancel(services(), _user(), instance_id, reason,
                                            answer_for=_reader(), history=history), history))


@bp.post("/instances/<instance_id>/corrections")
def correct(instance_id: str):
    history = _history()
    body = _body({"step", "field", "value", "reason", "password", "expected_rev"})
    step = _string(body, "step", required=True)
    field = _string(body, "field", required=True)
    reason = _string(body, "reason", required=True)
    password = _string(body, "password")
    if "value" not in body:
        raise BadRequest(_("'value' is required (the corrected value; null clears the field)"),
                         errors=[{"field": "value", "message": _("required")}])
    return jsonify(_answer(instances.correct(services(), _user(), instance_id, step, field,
                                             body["value"], reason, password=password,
                                             locale=_locale(), answer_for=_reader(),
                                             history=history, expected_rev=_rev(body)), history))


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
        return form.client_schema if form else None
    props: dict[str, Any] = {
        "decision": {"type": "string", "enum": ["approve", "reject"], "title": APPROVAL_TITLES["decision"]},
        "comment": {"type": "string", "title": APPROVAL_TITLES["comment"],
                    "description": _("required when rejecting: what must change")},
    }
    required = ["decision"]
    if step.signature:
        props["password"] = {"type": "string", "writeOnly": True, "title": APPROVAL_TITLES["password"],
                             "description": _("re-enter your password to sign ({meaning})", meaning=step.signature),
                             "x-widget": "password"}
        required.append("password")
    if form is not None:
        props.update(form.client_schema.get("properties", {}))
        required += [r for r in form.client_schema.get("required", []) if r not in required]
    return {"type": "object", "title": step.title, "properties": props, "required": required,
            "additionalProperties": False}


@bp.get("/tasks", endpoint="tasks")
def list_tasks():
    limit = _int_arg("limit", 200, 1, 500)
    items = [{
        "id": t.id, "instance": t.instance_id, "procedure": t.procedure.id,
        "procedure_title": t.procedure.title, "step": t.step_id, "title": t.step_title,
        "role": t.role, "kind": t.kind, "status": t.status,
        "due_at": _iso(t.due_at), "created_at": _iso(t.created_at),
        "assignee": t.assignee, "signature": t.step.signature if t.step else None,
        "form_id": t.step.form if t.step else None,
        "form": task_form(t.procedure, t.step) if t.step else None,
    } for t in tasks.inbox(services(), _user(), limit=limit)]
    return jsonify(items=items)


@bp.get("/tasks/<task_id>")
def task(task_id: str):
    """One open task as its page shows it: the form to fill, the earlier steps' data (without
    what the step's ``hide:`` lists) and the earlier values its ``edit:`` lets the caller change."""
    page = tasks.task_page(services(), _reader(), task_id)
    return jsonify(
        id=task_id, instance=page.inst["id"], procedure=page.procedure.id, step=page.step.id,
        title=page.step.title, kind=page.task["kind"], status=page.task["status"],
        closed=page.closed, rev=page.inst["rev"], signature=page.step.signature,
        form=task_form(page.procedure, page.step), data=page.data,
        earlier=[{"step": e.step, "title": e.title, "data": e.data, "corrections": e.corrections}
                 for e in page.earlier],
        editable=[{"field": e.ref, "title": e.title, "value": e.value, "schema": e.schema,
                   "signed": e.signed} for e in page.editable],
    )


@bp.post("/tasks/<task_id>/compute")
def compute(task_id: str):
    """The computed fields (x-compute) of the task's form for ``data`` as typed so far."""
    body = _body({"data"})
    return jsonify(values=tasks.compute(services(), _reader(), task_id, _object(body, "data")))


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str):
    history = _history()
    body = _body({"data", "expected_rev", "password", "edits", "edit_reason"})
    return jsonify(_answer(tasks.submit(services(), _user(), task_id, dict(_object(body, "data")),
                                        password=_string(body, "password"), expected_rev=_rev(body),
                                        locale=_locale(), answer_for=_reader(),
                                        edits=_object(body, "edits"),
                                        edit_reason=_string(body, "edit_reason") or "",
                                        history=history), history))


@bp.post("/tasks/<task_id>/claim")
def claim(task_id: str):
    history = _history()
    _body(set())
    return jsonify(_answer(tasks.claim(services(), _user(), task_id, answer_for=_reader(),
                                       history=history), history))


@bp.post("/tasks/<task_id>/release")
def release(task_id: str):
    history = _history()
    _body(set())
    return jsonify(_answer(tasks.release(services(), _user(), task_id, answer_for=_reader(),
                                         history=history), history))


# --- 加签 (issue 17) -------------------------------------------------------------------------------

@bp.post("/tasks/<task_id>/add-approver")
def add_approver(task_id: str):
    history = _history()
    body = _body({"user", "position", "reason"})
    return jsonify(_answer(tasks.add_approver(
        services(), _user(), task_id, _string(body, "user", required=True) or "",
        _string(body, "position", required=True) or "", _string(body, "reason", required=True) or "",
        answer_for=_reader(), history=history), history))


# --- notifications ------------------------------------------------------------------------------

def _notification(n: Mapping[str, Any]) -> dict[str, Any]:
    return {**n, "created_at": _iso(n["created_at"]), "read_at": _iso(n["read_at"])}


@bp.get("/notifications", endpoint="notifications")
def list_notifications():
    unread = request.args.get("unread", "false")
    if unread not in ("true", "false"):
        raise BadRequest(_("query parameter 'unread' must be 'true' or 'false'"),
                         errors=[{"field": "unread", "message": _("true or false")}])
    limit = _int_arg("limit", 100, 1, 500)
    rows, count = notifications.listing(services(), _user(), unread_only=unread == "true",
                                        limit=limit, locale=_locale())
    return jsonify(items=[_notification(n) for n in rows], unread=count)


@bp.post("/notifications/read")
def mark_notifications_read():
    body = _body({"ids"})
    ids = body.get("ids")
    if ids is not None and (not isinstance(ids, list)
                            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)):
        raise BadRequest(_("'ids' must be a list of notification ids (integers); leave it out to mark all read"),
                         errors=[{"field": "ids", "message": _("must be a list of integers")}])
    marked, count = notifications.mark_read(services(), _user(), ids)
    return jsonify(marked=marked, unread=count)


# --- task actions (转交、退回、收回、催办、抄送、撤回) ------------------------------------------------

@bp.post("/tasks/<task_id>/transfer")
def transfer_task(task_id: str):
    history = _history()
    body = _body({"to_user", "reason"})
    return jsonify(_answer(task_actions.transfer(
        services(), _user(), task_id, _string(body, "to_user", required=True) or "",
        _string(body, "reason", required=True) or "", answer_for=_reader()), history))


@bp.post("/tasks/<task_id>/return")
def return_task(task_id: str):
    history = _history()
    body = _body({"to_step", "reason", "resume"})
    resume = _string(body, "resume") or ""
    if resume not in ("", "here", "again"):
        raise BadRequest(_("'resume' must be 'here' or 'again' (or left out)"),
                             errors=[{"field": "resume", "message": _("here or again")}])
    return jsonify(_answer(task_actions.return_task(
        services(), _user(), task_id, _string(body, "to_step", required=True) or "",
        _string(body, "reason", required=True) or "", resume, answer_for=_reader()), history))


@bp.post("/tasks/<task_id>/recall")
def recall_task(task_id: str):
    history = _history()
    _body(set())
    return jsonify(_answer(task_actions.recall(services(), _user(), task_id, answer_for=_reader()),
                           history))


@bp.post("/tasks/<task_id>/urge")
def urge_task(task_id: str):
    history = _history()
    note = _string(_body({"note"}), "note") or ""
    return jsonify(_answer(task_actions.urge(services(), _user(), task_id, note, answer_for=_reader()),
                           history))


@bp.post("/tasks/<task_id>/cc")
def cc_task(task_id: str):
    history = _history()
    body = _body({"recipients", "note"})
    recipients = body.get("recipients")
    if (not isinstance(recipients, list) or not recipients
            or not all(isinstance(r, str) and r.strip() for r in recipients)):
        raise BadRequest(_("'recipients' must be a non-empty list of role ids and 'user:NAME'"),
                         errors=[{"field": "recipients", "message": _("a non-empty list of strings")}])
    note = _string(body, "note") or ""
    return jsonify(_answer(cc.send(services(), _user(), task_id, recipients, note, answer_for=_reader()),
                           history))


@bp.post("/instances/<instance_id>/withdraw")
def withdraw_instance(instance_id: str):
    history = _history()
    body = _body({"reason"})
    return jsonify(_answer(task_actions.withdraw(services(), _user(), instance_id,
                                                 _string(body, "reason", required=True) or "",
                                                 answer_for=_reader()), history))


@bp.get("/cc", endpoint="cc")
def list_cc():
    limit = _int_arg("limit", 200, 1, 500)
    items, unread = cc.listing(services(), _user(), locale=_locale(), limit=limit)
    return jsonify(items=[{"instance": c.instance, "procedure_title": c.procedure, "text": c.text, "by": c.by,
                           "note": c.note, "at": _iso(c.at), "unread": c.unread} for c in items],
                   unread=unread)


@bp.post("/cc/<instance_id>/read")
def mark_cc_read(instance_id: str):
    history = _history()
    _body(set())
    return jsonify(_answer(cc.mark_read(services(), _user(), instance_id, answer_for=_reader()),
                           history))


# --- the organisation chart ---------------------------------------------------------------

@bp.get("/org")
def org_chart():
    """The chart, to every caller (departments, heads and managers are no secret inside the
    company); changes are for administrators."""
    return jsonify(org.as_dict(org.view(services(), _reader())))


@bp.post("/org/import")
def org_import():
    """Replace the whole chart with a CSV text (docs/org-chart.md); administrators only.
    Every bad line is listed in ``errors`` (``FILE:LINE:COL``) and nothing is imported."""
    body = _body({"csv", "file"})
    text = _string(body, "csv", required=True) or ""
    name = _string(body, "file") or "org.csv"
    done = org.import_csv(services(), _reader(), text, name[:200])
    return jsonify(departments=done.departments, users=done.users, version=done.version)
