"""The OpenAPI 3.1 document of ``/api/v1``, built in code next to the handlers in ``web/api.py``.

Served at ``GET /api/v1/openapi.json``; ``tests/test_schemathesis.py`` runs schemathesis
against it and ``tests/test_api.py`` checks that responses match these schemas.
"""

from __future__ import annotations

from functools import cache
from typing import Any

PROCEDURE_ID = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
INSTANCE_ID = r"^[0-9A-HJKMNP-TV-Z]{26}$"
TASK_ID = r"^[0-9A-HJKMNP-TV-Z]{26}\.t[0-9]+$"
ATTACHMENT_ID = INSTANCE_ID  # the same 26-character ids (engine.store.repo.new_id)

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: list[str] | None = None, *, extra: bool = True,
         description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if not extra:
        out["additionalProperties"] = False
    if description:
        out["description"] = description
    return out


STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
TIME = {"type": "string", "format": "date-time"}
NTIME = {"type": ["string", "null"], "format": "date-time"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
ANY_OBJ = {"type": "object", "additionalProperties": True}
JSON_SCHEMA = {"type": "object", "description": "a JSON Schema (draft 2020-12) with x- hints; see docs/forms.md"}

_PERSON = _obj({"user": STR, "name": STR, "active": {"type": "boolean"}, "manager": NSTR,
                "reports_to": {"type": ["string", "null"], "description": "the manager the runtime takes: the "
                               "recorded one, else the head of the department (inactive users never)"}},
               ["user", "name", "active", "manager", "reports_to"])
ORG_SCHEMAS: dict[str, Any] = {
    "OrgChart": _obj({
        "version": {"type": "integer", "minimum": 0, "description": "rises with every change"},
        "departments": {"type": "array", "items": _obj({
            "id": STR, "name": STR, "parent": NSTR, "head": NSTR,
            "members": {"type": "array", "items": _PERSON}}, ["id", "name", "parent", "head", "members"])},
        "unplaced": {"type": "array", "items": _PERSON, "description": "users with a manager but no department"},
    }, ["version", "departments", "unplaced"]),
    "OrgImportRequest": _obj({
        "csv": {"type": "string", "minLength": 1, "description": "the CSV text: kind,id,name,parent,head,department,manager"},
        "file": {"type": "string", "maxLength": 200, "description": "a name for messages (default org.csv)"},
    }, ["csv"], extra=False),
    "OrgImported": _obj({"departments": INT, "users": INT, "version": INT},
                        ["departments", "users", "version"]),
}

NOTIFICATION_SCHEMAS: dict[str, Any] = {
    "Notification": _obj({
        "id": INT, "kind": {"type": "string", "enum": ["assigned", "reminder", "missed", "escalated", "completed",
                                                       "transferred", "returned", "urged", "cc",
                                                       "sign_in_failed", "locked_out"]},
        "instance": NSTR, "task": NSTR, "text": {"type": "string", "description": "one line in the caller's language"},
        "data": ANY_OBJ, "created_at": TIME, "read_at": NTIME,
    }, ["id", "kind", "instance", "task", "text", "data", "created_at", "read_at"]),
    "NotificationList": _obj({"items": {"type": "array", "items": _ref("Notification")},
                              "unread": {"type": "integer", "minimum": 0}}, ["items", "unread"]),
    "MarkReadRequest": _obj({"ids": {"type": "array", "items": {"type": "integer"},
                                     "description": "notification ids; leave out to mark all read"}}, extra=False),
    "MarkReadResult": _obj({"marked": {"type": "integer", "minimum": 0},
                            "unread": {"type": "integer", "minimum": 0}}, ["marked", "unread"]),
}

# Task actions (转交、退回、收回、催办、撤回、抄送): kept apart from the other schemas.
TASK_ACTION_SCHEMAS: dict[str, Any] = {
    "TransferRequest": _obj({
        "to_user": {"type": "string", "minLength": 1, "description": "user name of the new holder; they "
                    "must hold the task's role (or a role it was escalated to)"},
        "reason": {"type": "string", "minLength": 1, "description": "why (recorded in the audit trail)"},
    }, ["to_user", "reason"], extra=False),
    "ReturnRequest": _obj({
        "to_step": {"type": "string", "minLength": 1, "description": "an earlier step the task's step lists "
                    "in return_to and this instance has passed"},
        "reason": {"type": "string", "minLength": 1, "description": "why, and what must change"},
        "resume": {"type": "string", "enum": ["here", "again"], "description": "only where the step declares "
                   "'resume: choose': come straight back here, or walk the path again"},
    }, ["to_step", "reason"], extra=False),
    "UrgeRequest": _obj({"note": {"type": "string", "maxLength": 500}}, extra=False),
    "WithdrawRequest": _obj({"reason": {"type": "string", "minLength": 1}}, ["reason"], extra=False),
    "CcRequest": _obj({
        # the server refuses a recipient of spaces only: so does the schema (and NUL, as every text)
        "recipients": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1,
                                                                 "pattern": "^[^\u0000]*[^\u0000\\s][^\u0000]*$"},
                       "description": "role ids of the procedure and 'user:NAME'"},
        "note": {"type": "string", "maxLength": 500},
    }, ["recipients"], extra=False),
    "CcItem": _obj({
        "instance": STR, "procedure_title": STR, "text": STR, "by": STR, "note": STR, "at": TIME,
        "unread": {"type": "boolean", "description": "not yet marked read (已阅)"},
    }, ["instance", "procedure_title", "text", "by", "note", "at", "unread"]),
    "CcList": _obj({"items": {"type": "array", "items": _ref("CcItem")},
                    "unread": {"type": "integer", "minimum": 0}}, ["items", "unread"]),
}


def _task_action_paths() -> dict[str, Any]:
    """The task actions' endpoints (docs/api.md, "Task actions")."""
    return {
        "/tasks/{task_id}/transfer": {"post": _op(
            "transferTask", "转交: give an open task to another person who may hold it (its holder or an "
            "admin; steps with 'transfer: false' refuse); an admin also hands on a named approval whose "
            "approver is deactivated or out of its role", "the instance", "Instance", WRITE, tags=["tasks"],
            body="TransferRequest", params=[TASK])},
        "/tasks/{task_id}/return": {"post": _op(
            "returnTask", "退回: close the open tasks and re-open an earlier step the step declares in "
            "'return_to', with the reason", "the instance", "Instance", WRITE, tags=["tasks"],
            body="ReturnRequest", params=[TASK])},
        "/tasks/{task_id}/recall": {"post": _op(
            "recallTask", "收回: the person who completed this task takes it back while the tasks it opened "
            "are untouched (steps with 'recall: true')", "the instance", "Instance", WRITE, tags=["tasks"],
            body="Empty", params=[TASK])},
        "/tasks/{task_id}/urge": {"post": _op(
            "urgeTask", "催办: remind the holders of an open task (the starter or someone who did a step; "
            "once an hour per task, else 429 with Retry-After)", "the instance", "Instance",
            [*WRITE, "429"], tags=["tasks"], body="UrgeRequest", params=[TASK])},
        "/tasks/{task_id}/cc": {"post": _op(
            "ccTask", "抄送: send the instance to roles and users to read, from an open task of a step with "
            "'cc_add: true'", "the instance", "Instance", WRITE, tags=["tasks"], body="CcRequest",
            params=[TASK])},
        "/instances/{instance_id}/withdraw": {"post": _op(
            "withdrawInstance", "撤回: the starter ends the instance (outcome 'withdrawn') before anyone else "
            "has done a step", "the instance", "Instance", WRITE, tags=["instances"], body="WithdrawRequest",
            params=[INST])},
        "/cc": {"get": _op(
            "listCc", "Instances sent to the caller (抄送), newest first, one per instance, with unread marks",
            "the instances", "CcList", ["400"], tags=["cc"],
            params=[{"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 200}}])},
        "/cc/{instance_id}/read": {"post": _op(
            "markCcRead", "已阅: record that the caller read an instance sent to them", "the instance",
            "Instance", WRITE, tags=["cc"], body="Empty", params=[INST])},
    }


SCHEMAS: dict[str, Any] = {
    "Error": _obj({
        "code": {"type": "string", "description": "stable machine-readable code, e.g. invalid_form, conflict"},
        "message": {"type": "string", "description": "what went wrong and how to fix it, for people"},
        "errors": {"type": "array", "items": _obj(
            {"field": STR, "message": STR}, ["field", "message"])},
    }, ["code", "message", "errors"]),
    "TokenRequest": _obj({"username": {"type": "string", "minLength": 1},
                          "password": {"type": "string", "minLength": 1, "writeOnly": True}},
                         ["username", "password"], extra=False),
    "PasswordChangeRequest": _obj({"username": {"type": "string", "minLength": 1},
                            "password": {"type": "string", "minLength": 1, "writeOnly": True},
                            "new_password": {"type": "string", "minLength": 1, "writeOnly": True}},
                           ["username", "password", "new_password"], extra=False),
    "Token": _obj({"token": STR, "token_type": {"const": "Bearer"}, "expires_at": TIME},
                  ["token", "token_type", "expires_at"]),
    "Version": _obj({"id": INT, "hash": {"type": "string", "description": "SHA-256 of the procedure and its forms"}},
                    ["id"]),
    "Role": _obj({"id": STR, "title": STR, "groups": {"type": "array", "items": STR}},
                 ["id", "title", "groups"]),
    "Procedure": _obj({
        "id": STR, "title": STR, "description": STR, "version": _ref("Version"),
        "roles": {"type": "array", "items": _ref("Role")},
        "start_roles": {"type": "array", "items": STR},
        "my_roles": {"type": "array", "items": STR, "description": "the roles the caller holds"},
        "can_start": {"type": "boolean", "description": "whether the caller may start an instance"},
    }, ["id", "title", "version", "roles", "start_roles", "my_roles", "can_start"]),
    "Step": _obj({
        "id": STR, "title": STR,
        "type": {"type": "string", "enum": ["task", "approval", "decision", "parallel", "join",
                                            "wait", "spawn", "end"]},
        "role": NSTR, "form": NSTR,
        "signature": {"type": ["string", "null"], "description": "meaning of the electronic signature, e.g. 审核"},
        "deadline": {"type": ["string", "null"], "description": "the deadline as written, e.g. 'within 2wd, remind 4wh before'"},
        "next": {"type": "array", "items": STR},
    }, ["id", "title", "type", "role", "form", "signature", "deadline", "next"]),
    "ProcedureDetail": {"allOf": [_ref("Procedure"), _obj({
        "start_step": STR,
        "start_form": {"oneOf": [{"type": "null"}, _obj(
            {"id": STR, "title": STR, "schema": JSON_SCHEMA}, ["id", "title", "schema"])]},
        "steps": {"type": "array", "items": _ref("Step")},
    }, ["start_step", "start_form", "steps"])]},
    "ProcedureList": _obj({"items": {"type": "array", "items": _ref("Procedure")}}, ["items"]),
    "StartRequest": _obj({"data": {**ANY_OBJ, "description": "values of the procedure's start form; a file "
                                   "or signature field holds ids from POST /uploads (the caller's own)"}},
                         extra=False),
    "Upload": _obj({
        "id": {"type": "string", "pattern": ATTACHMENT_ID, "description": "put it in a file field's value "
               "(a list for a field of several files) of a start, a task or a correction of yours; that "
               "submission binds the file to its record (an upload no submission records is removed after a day)"},
        "filename": STR, "size": {"type": "integer", "minimum": 0, "description": "bytes"},
        "content_type": {"type": "string", "description": "from the file name, checked against the first bytes"},
    }, ["id", "filename", "size", "content_type"]),
    "UploadBody": _obj({"file": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream",
                                    "description": "the file, with its name (the type is taken from it)"}},
                          ["file"]),
    "InstanceTask": _obj({
        "id": {"type": "string", "pattern": TASK_ID, "description": "global task id: instance.tN"},
        "local_id": STR, "step": STR, "title": STR,
        "kind": {"type": "string", "enum": ["task", "approval", "wait"]},
        "role": NSTR, "status": {"type": "string", "enum": ["open", "done", "cancelled"]},
        "assignee": NSTR, "created_at": NTIME, "due_at": NTIME, "completed_at": NTIME,
        "completed_by": NSTR, "signature": {**NSTR, "description": "the meaning the step's signature carries"},
        "signed": {"type": ["object", "null"], "description": "the signature given: user, name, meaning, "
                   "at, data_hash (SHA-256 of the record's data as signed)"},
        "signed_before_correction": {"type": "array", "items": {"type": "object"},
                                     "description": "corrections made after this signature to values it "
                                     "covered (correction number, step, field, by, at, reason)"},
    }, ["id", "local_id", "step", "title", "kind", "status", "assignee", "due_at"]),
    "HistoryEntry": _obj({
        "seq": INT, "type": {"type": "string", "description": "e.g. task:completed, task:approved, instance:completed"},
        "step": NSTR, "task": NSTR, "actor": STR, "at": TIME,
        "data": {**ANY_OBJ, "description": "the event's data; sensitive form values read '●●●●' "
                 "unless the caller has clearance"},
    }, ["seq", "type", "step", "task", "actor", "at", "data"]),
    "Event": {"allOf": [_ref("HistoryEntry"), _obj(
        {"hash": STR, "prev_hash": STR}, ["hash", "prev_hash"])]},
    "EventList": _obj({"instance": STR, "items": {"type": "array", "items": _ref("Event")}},
                      ["instance", "items"]),
    "Instance": _obj({
        "id": {"type": "string", "pattern": INSTANCE_ID},
        "serial": {**NSTR, "description": "the readable record number (流水号) such as ASI-202612-0007; "
                   "null for instances started before numbers were given"},
        "procedure": STR, "title": STR,
        "version": _ref("Version"),
        "status": {"type": "string", "enum": ["running", "completed", "cancelled"]},
        "outcome": NSTR, "rev": {"type": "integer", "description": "send as expected_rev to detect concurrent changes"},
        "started_at": TIME, "started_by": STR, "ended_at": NTIME,
        "origin": {"type": ["object", "null"]},
        "data": {**ANY_OBJ, "description": "recorded values by step id ('start' for the start form); "
                 "filled sensitive fields (x-sensitive) read '●●●●' unless the caller has clearance "
                 "(views in clear are logged); '●●●●' is refused as a sensitive value in submissions"},
        "corrections": {**ANY_OBJ, "description": "'step.field' -> list of corrections, oldest first "
                        "(old and new values of sensitive fields masked like data)"},
        "path": {"type": "array", "items": STR},
        "tasks": {"type": "array", "items": _ref("InstanceTask")},
        "links": {"type": "array", "description": "instances spawned: procedure, step, the data "
                  "handed over (values taken from sensitive fields masked like data), and the id "
                  "('instance') and status of the instance opened"},
        "history": {"type": "array", "items": _ref("HistoryEntry"),
                    "description": "the events, oldest first; left out when the request says history=false"},
        "cc": {"type": "array", "description": "抄送: each {to: [role ids and user:NAME], step, by, at, note}"},
        "cc_read": {**ANY_OBJ, "description": "已阅: user name -> when they marked it read"},
        "integrity": {**_ref("Integrity"),
                      "description": "GET /instances/{id} only: whether the stored record is what its audit "
                      "trail proves (the record page's and the dossier's check)"},
    }, ["id", "procedure", "title", "version", "status", "outcome", "rev", "started_at",
        "started_by", "ended_at", "data", "corrections", "path", "tasks"]),
    "Integrity": _obj({
        "ok": {**BOOL, "description": "true only when the check ran and found the record intact"},
        "checked": {**BOOL, "description": "false when the check could not run (the server logs why): then "
                    "ok is false and nothing is known about the record"},
        "events": {"type": ["integer", "null"], "description": "events in the record's audit trail; null when "
                   "not checked"},
        "record": {"type": ["boolean", "null"], "description": "when not ok: true if the trail is intact and the "
                   "stored record differs from it (go by history), false if the trail itself is broken; null "
                   "when not checked"},
        "message": {**STR, "description": "when not ok: what differs, where, and what to do (or that it could "
                    "not be checked), in the caller's language (Accept-Language); masked values stay masked"},
    }, ["ok", "checked", "events"]),
    "InstanceSummary": _obj({
        "id": STR, "serial": NSTR, "procedure": STR, "version": _obj({"id": INT}, ["id"]),
        "status": {"type": "string", "enum": ["running", "completed", "cancelled"]},
        "outcome": NSTR, "rev": INT, "started_at": TIME, "started_by": STR, "ended_at": NTIME,
    }, ["id", "procedure", "version", "status", "outcome", "rev", "started_at", "started_by", "ended_at"]),
    "SearchResult": _obj({"q": STR, "items": {"type": "array", "items": _obj({
        "instance": STR, "serial": NSTR, "procedure": STR, "title": STR, "status": STR, "started_at": TIME,
        "matched": {**STR, "description": "what matched, as people name it: the record number, or step · field"},
        "value": STR}, ["instance", "serial", "procedure", "title", "status", "started_at", "matched", "value"])}},
        ["q", "items"]),
    "InstanceList": _obj({"items": {"type": "array", "items": _ref("InstanceSummary")},
                          "total": INT, "limit": INT, "offset": INT},
                         ["items", "total", "limit", "offset"]),
    "Task": _obj({
        "id": {"type": "string", "pattern": TASK_ID}, "instance": STR, "procedure": STR,
        "procedure_title": STR, "step": STR, "title": STR, "role": NSTR,
        "kind": {"type": "string", "enum": ["task", "approval"]}, "status": {"const": "open"},
        "due_at": NTIME, "created_at": NTIME, "assignee": NSTR,
        "signature": {"type": ["string", "null"], "description": "when set, completing needs the password"},
        "form_id": NSTR,
        "form": {"oneOf": [{"type": "null"}, JSON_SCHEMA],
                 "description": "what to send as data; for approvals: decision, comment, password"},
    }, ["id", "instance", "procedure", "step", "title", "role", "kind", "due_at", "assignee",
        "signature", "form"]),
    "TaskList": _obj({"items": {"type": "array", "items": _ref("Task")}}, ["items"]),
    "TaskView": _obj({
        "id": {"type": "string", "pattern": TASK_ID}, "instance": STR, "procedure": STR, "step": STR,
        "title": STR, "kind": STR, "status": STR, "closed": {"type": "boolean"}, "rev": INT,
        "signature": NSTR, "form": {"oneOf": [{"type": "null"}, JSON_SCHEMA]},
        "data": {**ANY_OBJ, "description": "what the form starts with (a draft, or the data of an earlier pass)"},
        "earlier": {"type": "array", "items": _obj({"step": STR, "title": STR, "data": ANY_OBJ,
                                                    "corrections": ANY_OBJ}),
                    "description": "earlier steps' data as this step shows it: without the fields its 'hide' lists"},
        "editable": {"type": "array", "items": _obj({"field": STR, "title": STR, "value": {},
                                                     "schema": ANY_OBJ, "signed": {"type": "boolean"}}),
                     "description": "earlier values the step's 'edit' lets the caller change (send them in 'edits')"},
    }, ["id", "instance", "step", "kind", "status", "closed", "form", "earlier", "editable"]),
    "ComputeRequest": _obj({
        "data": {**ANY_OBJ, "description": "the form's values as typed so far"},
    }, extra=False),
    "ComputeResult": _obj({
        "values": {**ANY_OBJ, "description": "computed field -> the value a submission of this data would record "
                                             "(null when it cannot be computed yet)"},
    }, ["values"]),
    "CompleteRequest": _obj({
        "data": {**ANY_OBJ, "description": "form values; approvals: {decision: approve|reject, comment, password}"},
        "edits": {**ANY_OBJ, "description": "STEP.FIELD -> new value, for the earlier fields the step's 'edit' "
                                            "lists; each change is recorded as a correction"},
        "edit_reason": {"type": "string", "description": "why the earlier values are changed (required with a change)"},
        "expected_rev": {"type": ["integer", "null"], "description": "the rev you loaded; 409 if it changed"},
        "password": {"type": "string", "writeOnly": True, "description": "signature password (task steps with a signature)"},
    }, extra=False),
    "CancelRequest": _obj({"reason": {"type": "string", "minLength": 1}}, ["reason"], extra=False),
    "CorrectionRequest": _obj({
        "step": {"type": "string", "minLength": 1}, "field": {"type": "string", "minLength": 1},
        "value": {"description": "the corrected value (any JSON)"},
        "reason": {"type": "string", "minLength": 1},
        "password": {"type": "string", "description": "re-enter your password to sign the correction "
                     "(更正); required when a signature covers the value"},
        "expected_rev": {"type": ["integer", "null"], "description": "the rev of the instance you read the "
                         "value in; 409 if it changed since (another correction or step came first)"},
    }, ["step", "field", "value", "reason"], extra=False),
    "Empty": _obj({}, extra=False),
    # 加签 (issue 17): its own schema and path, apart from the other task actions.
    "AddApproverRequest": _obj({
        "user": {"type": "string", "minLength": 1, "description": "the user name of the approver to add; "
                 "they must hold the step's add_approver role"},
        "position": {"type": "string", "enum": ["before", "after"],
                     "description": "before: they decide first and your task waits; after: they are asked once "
                                    "you have decided"},
        "reason": {"type": "string", "minLength": 1, "description": "why (recorded in the audit trail)"},
    }, ["user", "position", "reason"], extra=False),
    "AuditEvent": _obj({
        "id": INT, "instance": STR, "procedure": STR, "seq": INT, "at": TIME, "type": STR,
        "step": NSTR, "actor": STR,
        "summary": {"type": "string", "description": "the event's data in short; sensitive values masked without clearance"},
        "hash": STR, "links": _obj({"dossier": STR, "instance": STR}),
    }, ["id", "instance", "procedure", "seq", "at", "type", "step", "actor", "summary", "hash"]),
    "AuditEventList": _obj({"items": {"type": "array", "items": _ref("AuditEvent")},
                            "limit": INT, "offset": INT,
                            "more": {"type": "boolean", "description": "a next page exists"}},
                           ["items", "limit", "offset", "more"]),
}

ERRORS = {
    "400": "malformed JSON, a body or query of the wrong shape",
    "401": "no, a forged or an expired bearer token",
    "403": "the caller does not hold the role this needs",
    "404": "no such procedure, instance or task",
    "409": "stale expected_rev, a task already completed (duplicate submission), a closed instance",
    "413": "the request body is larger than the server accepts",
    "422": "the data fails the form (errors lists each field: also a file id that is not the caller's "
           "own upload nor a file of this record) or the signature password is wrong",
    "429": "too many failed log-ins for this user name, or a second urge (催办) of a task within the "
           "hour; wait Retry-After seconds",
}


def _error(status: str) -> dict[str, Any]:
    out: dict[str, Any] = {"description": ERRORS[status], "content": {JSON: {"schema": _ref("Error")}}}
    if status == "401":
        out["headers"] = {"WWW-Authenticate": {"schema": STR}}
    if status == "429":
        out["headers"] = {"Retry-After": {"schema": INT}}
    return out


def _op(op_id: str, summary: str, ok: str, schema: str, errors: list[str], *, tags: list[str],
        body: str | None = None, params: list[dict] | None = None, public: bool = False,
        status: str = "200", headers: dict | None = None, example: Any = None) -> dict[str, Any]:
    ok_response: dict[str, Any] = {"description": ok, "content": {JSON: {"schema": _ref(schema)}}}
    if headers:
        ok_response["headers"] = headers
    op: dict[str, Any] = {
        "operationId": op_id, "summary": summary, "tags": tags,
        "responses": {status: ok_response, **{s: _error(s) for s in errors}},
    }
    if not public:
        op["responses"].setdefault("401", _error("401"))
    else:
        op["security"] = []
    if body:
        op["requestBody"] = {"required": body not in ("Empty", "StartRequest", "CompleteRequest", "MarkReadRequest",
                                                      "UrgeRequest", "ComputeRequest"),
                             "content": {JSON: {"schema": _ref(body)}}}
        if example is not None:
            op["requestBody"]["content"][JSON]["example"] = example
    if schema == "Instance":
        params = [*(params or []), HISTORY]
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str, pattern: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


PROC = _path_param("procedure_id", PROCEDURE_ID, "procedure id, e.g. after-sales-inspection")
INST = _path_param("instance_id", INSTANCE_ID, "instance id (26 characters)")
TASK = _path_param("task_id", TASK_ID, "global task id: instance id, '.', local task id")
FILE = _path_param("attachment_id", ATTACHMENT_ID, "file id (26 characters), from POST /uploads or a record's data")
WRITE = ["400", "403", "404", "409", "413"]

# A start form with a file field "photos": its value lists ids from POST /uploads.
START_WITH_PHOTO = {"data": {"customer": "某市人民医院", "photos": ["01JD3Q8V9W6M2T4K7X5N0R1B8C"]}}


def _upload_op() -> dict[str, Any]:
    """POST /uploads: multipart, so not built by ``_op`` (whose bodies are JSON)."""
    return {
        "operationId": "uploadFile", "tags": ["uploads"],
        "summary": "Upload one file for a file or signature field (checked as the pages check one: size "
                   "uploads.max_bytes, type by its first bytes, uploads.allowed_types); then send its id in "
                   "the field, e.g. startInstance with {\"data\": {..., \"photos\": [ID]}}",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _ref("UploadBody")}}},
        "responses": {"201": {"description": "the stored file", "content": {JSON: {"schema": _ref("Upload")}},
                              "headers": {"Location": {"schema": STR, "description": "URL to download it"}}},
                      "400": _error("400"), "401": _error("401"), "403": _error("403"),
                      "413": {**_error("413"), "description": "the file is larger than uploads.max_bytes"},
                      "422": {**_error("422"), "description": "a type not allowed, or one the first bytes "
                                                              "belie (errors: field 'file')"}},
    }

# Every endpoint answering with an instance takes it (web.api.v1._history).
HISTORY = {"name": "history", "in": "query", "schema": {"type": "string", "enum": ["true", "false", "1", "0"],
                                                          "default": "true"},
           "description": "false: the instance comes without its history (the events), which saves "
                          "reading and sending the whole trail with every step"}
_TEXT_Q = {"type": "string", "maxLength": 200, "pattern": "^[^\u0000-\u001f]*$"}  # as web.html.audit.text_arg
AUDIT_FILTERS = [
    {"name": "procedure", "in": "query", "schema": {"type": "string", "pattern": PROCEDURE_ID}},
    {"name": "step", "in": "query", "schema": _TEXT_Q},
    {"name": "actor", "in": "query", "schema": _TEXT_Q, "description": "user name"},
    {"name": "type", "in": "query", "schema": _TEXT_Q, "description": "event type, e.g. task:approved"},
    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}, "description": "first day, cut at local midnight of the configured time zone"},
    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}, "description": "last day, inclusive, cut at local midnight of the configured time zone"},
    {"name": "field", "in": "query", "schema": _TEXT_Q, "description": "searchable field STEP.FIELD, e.g. start.serial_no"},
    {"name": "value", "in": "query", "schema": _TEXT_Q, "description": "exact value of a searchable field, e.g. a serial number"},
    {"name": "instance", "in": "query", "schema": _TEXT_Q},
]


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once per process)."""
    paths = {
        "/auth/token": {"post": _op(
            "createToken", "Exchange user name and password for a bearer token (valid 8 h by default, config auth.token_hours)",
            "a token", "Token", ["400", "401", "413", "429"], tags=["auth"], body="TokenRequest",
            public=True)},
        "/auth/password": {"post": _op(
            "changePassword", "Change one's own password (also once it has expired; policy auth.password); "
            "every earlier token of the user ends and a new one is returned",
            "a new token", "Token", ["400", "403", "413", "422"], tags=["auth"], body="PasswordChangeRequest",
            public=True)},
        "/procedures": {"get": _op(
            "listProcedures", "Installed procedures with their roles and the groups that hold them",
            "the procedures", "ProcedureList", ["403"], tags=["procedures"])},
        "/procedures/{procedure_id}": {"get": _op(
            "getProcedure", "One procedure with its steps and start form", "the procedure",
            "ProcedureDetail", ["403", "404"], tags=["procedures"], params=[PROC])},
        "/procedures/{procedure_id}/instances": {"post": _op(
            "startInstance", "Start an instance of the current version", "the new instance",
            "Instance", [*WRITE, "422"], tags=["instances"], body="StartRequest", params=[PROC],
            status="201", headers={"Location": {"schema": STR, "description": "URL of the instance"}},
            example=START_WITH_PHOTO)},
        "/uploads": {"post": _upload_op()},
        "/uploads/{attachment_id}": {"get": {
            "operationId": "downloadUpload", "tags": ["uploads"],
            "summary": "A file: for its uploader, and for whoever may read the record holding it (403 otherwise)",
            "parameters": [FILE],
            "responses": {"200": {"description": "the file as uploaded (Content-Type its type, as an attachment)",
                                  "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
                          **{st: _error(st) for st in ("401", "403", "404")}}}},
        "/instances": {"get": _op(
            "listInstances", "Instances of procedures the caller holds a role in, newest first",
            "a page of instances", "InstanceList", ["400", "403", "404"], tags=["instances"],
            params=[
                {"name": "procedure", "in": "query", "schema": {"type": "string", "pattern": PROCEDURE_ID}},
                {"name": "status", "in": "query",
                 "schema": {"type": "string", "enum": ["running", "completed", "cancelled"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0}},
            ])},
        "/search": {"get": _op(
            "search", "Records the caller may read whose number (流水号) starts with q, or whose indexed, "
            "non-sensitive field values contain q (customer, serial number...), newest first",
            "the records found", "SearchResult", ["400", "403"], tags=["instances"],
            params=[{"name": "q", "in": "query", "required": True,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 100}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}}])},
        "/instances/{instance_id}": {"get": _op(
            "getInstance", "An instance with its tasks and history", "the instance", "Instance",
            ["403", "404"], tags=["instances"], params=[INST])},
        "/instances/{instance_id}/events": {"get": _op(
            "listEvents", "The instance's audit events, hash-chained", "the events", "EventList",
            ["403", "404"], tags=["instances"], params=[INST])},
        "/instances/{instance_id}/cancel": {"post": _op(
            "cancelInstance", "Cancel a running instance (starters and admins)", "the instance",
            "Instance", WRITE, tags=["instances"], body="CancelRequest", params=[INST])},
        "/instances/{instance_id}/corrections": {"post": _op(
            "correctValue", "Correct a recorded value; the original stays in the record",
            "the instance", "Instance", [*WRITE, "422"], tags=["instances"],
            body="CorrectionRequest", params=[INST])},
        "/tasks": {"get": _op(
            "listMyTasks", "Open tasks the caller may act on, with the form to fill",
            "the tasks", "TaskList", ["400"], tags=["tasks"],
            params=[{"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 200}}])},
        "/tasks/{task_id}": {"get": _op(
            "getTask", "A task as its page shows it: form, earlier data (without hidden fields), editable values",
            "the task", "TaskView", ["403", "404"], tags=["tasks"], params=[TASK])},
        "/tasks/{task_id}/compute": {"post": _op(
            "computeTaskForm", "The computed fields of the task's form for the data typed so far",
            "the computed values", "ComputeResult", ["400", "403", "404", "409", "413", "422"], tags=["tasks"],
            body="ComputeRequest", params=[TASK])},
        "/tasks/{task_id}/complete": {"post": _op(
            "completeTask", "Complete a task, or approve/reject an approval", "the instance",
            "Instance", [*WRITE, "422"], tags=["tasks"], body="CompleteRequest", params=[TASK])},
        "/tasks/{task_id}/claim": {"post": _op(
            "claimTask", "Claim a task so only the caller can act on it", "the instance",
            "Instance", WRITE, tags=["tasks"], body="Empty", params=[TASK])},
        "/tasks/{task_id}/release": {"post": _op(
            "releaseTask", "Release a task the caller claimed", "the instance", "Instance",
            WRITE, tags=["tasks"], body="Empty", params=[TASK])},
        "/tasks/{task_id}/add-approver": {"post": _op(
            "addApprover", "加签: add an approver before or after yourself on a multi-party approval "
            "that declares add_approver", "the instance", "Instance", [*WRITE, "422"], tags=["tasks"],
            body="AddApproverRequest", params=[TASK])},
        "/notifications": {"get": _op(
            "listNotifications", "The caller's notifications (assignment, reminder, miss, escalation, "
            "completion), unread first", "the notifications", "NotificationList", ["400"],
            tags=["notifications"], params=[
                {"name": "unread", "in": "query", "schema": {"type": "string", "enum": ["true", "false"], "default": "false"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
            ])},
        "/notifications/read": {"post": _op(
            "markNotificationsRead", "Mark the given notifications (or, without ids, all) read",
            "how many were marked", "MarkReadResult", ["400", "413"], tags=["notifications"],
            body="MarkReadRequest")},
        "/audit/events": {"get": _op(
            "searchAuditEvents", "Audit search: events by procedure, step, user, dates, type or "
            "a field's value (auditors, administrators, data officers)", "a page of events, newest first",
            "AuditEventList", ["400", "403", "404"], tags=["audit"], params=[
                *AUDIT_FILTERS,
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0}},
            ])},
        "/audit/export": {"get": {
            "operationId": "exportAudit", "tags": ["audit"],
            "summary": "The event trail as JSON Lines with the hashes (auditors with clearance, "
                       "administrators); check it offline with `wf audit verify --file`",
            "parameters": AUDIT_FILTERS,
            "responses": {"200": {"description": "header line, one line per event, footer with count and digest",
                                  "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                          **{st: _error(st) for st in ("400", "401", "403", "404")}}}},
        "/org": {"get": _op(
            "getOrgChart", "The organisation chart: departments (parents first) with their head and "
            "members, each member's recorded manager and whom they report to (OrgChart.manager_of)",
            "the chart", "OrgChart", [], tags=["org"])},
        "/org/import": {"post": _op(
            "importOrgChart", "Replace the whole chart with a CSV text (administrators; docs/org-chart.md). "
            "A text with any bad line imports nothing; errors lists every bad line as FILE:LINE:COL",
            "what was imported", "OrgImported", ["400", "403", "413", "422"], tags=["org"],
            body="OrgImportRequest")},
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document", "tags": ["meta"], "security": [],
            "responses": {"200": {"description": "the OpenAPI document",
                                  "content": {JSON: {"schema": {"type": "object"}}}}}}},
        **_task_action_paths(),
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "QualityFlow workflow API", "version": "1.0.0",
            "description": "Procedures, instances and tasks of the quality workflow server. "
                           "Get a token from POST /auth/token and send it as "
                           "'Authorization: Bearer <token>'. Errors are {code, message, errors}. "
                           "See docs/api.md.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": n} for n in ("auth", "procedures", "instances", "tasks", "uploads", "notifications",
                                       "cc", "audit", "org", "meta")],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer", "bearerFormat": "itsdangerous signed token",
                "description": "from POST /api/v1/auth/token; valid for auth.token_hours (default 8)"}},
            "schemas": {**{name: (_without_nul(schema) if name.endswith("Request") else schema)
                           for name, schema in {**SCHEMAS, **NOTIFICATION_SCHEMAS, **ORG_SCHEMAS,
                                                **TASK_ACTION_SCHEMAS}.items()},
                        "FreeValue": FREE_VALUE},
        },
    }


# Text the API reads may hold any character but NUL, which no stored text can hold (the API
# answers 400 for it): the request schemas say so, so that clients and schemathesis agree.
NO_NUL = "^[^\u0000]*$"


def _without_nul(schema: Any) -> Any:
    """``schema`` with every string of it (at any depth, arbitrary values included) refusing NUL."""
    if isinstance(schema, list):
        return [_without_nul(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _without_nul(v) for k, v in schema.items()}
    types = out.get("type")
    if types == "string" or (isinstance(types, list) and "string" in types):
        out.setdefault("pattern", NO_NUL)
    if out.get("additionalProperties") is True:  # free data: its strings and keys, at any depth
        out["additionalProperties"] = _ref("FreeValue")
        out["propertyNames"] = {"pattern": NO_NUL}
    return out


#: Any JSON value without NUL in its texts and keys, at any depth (form data is free JSON).
FREE_VALUE: dict[str, Any] = {"anyOf": [
    {"type": ["number", "boolean", "null"]},
    {"type": "string", "pattern": NO_NUL},
    {"type": "array", "items": _ref("FreeValue")},
    {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": _ref("FreeValue")},
]}
