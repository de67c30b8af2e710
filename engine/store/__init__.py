"""Storage: SQLAlchemy tables and repositories; the only part of the engine that knows SQL.

Functions take the caller's ``Session``; the caller (service layer, CLI) owns the transaction.
"""

from __future__ import annotations

from engine.store.audit import Break, Report, last_event_at, verify, verify_chains
from engine.store.db import (
    create_schema,
    current_revision,
    head_revision,
    make_engine,
    session_factory,
    upgrade,
)
from engine.store.repo import (
    EventRow,
    RecordRow,
    StepRow,
    TaskRef,
    add_attachment,
    append_events,
    attach,
    attachments_beside,
    attachments_named,
    bound_attachments,
    content_hash,
    count_instances,
    create_instance,
    due_instances,
    event_rows,
    events_of,
    get_attachment,
    get_task,
    get_version,
    instance_heads,
    instance_states,
    latest_version,
    latest_version_id,
    latest_version_ids,
    list_instances,
    load_for_step,
    load_instance,
    load_record,
    new_id,
    open_tasks_for,
    postpone_timers,
    procedure_ids,
    register_procedure_version,
    save_step,
    save_steps,
    spawned_from,
    task_ref,
    task_route,
    tasks_of,
    version_by_hash,
    version_of,
    versions_of,
)
from engine.store.tables import (
    Attachment,
    Base,
    Event,
    Group,
    Instance,
    InstanceStatus,
    ProcedureVersion,
    Task,
    TaskKind,
    TaskStatus,
    User,
)
from engine.store.users import (
    add_user,
    check_password,
    get_user,
    groups_of,
    list_users,
    set_groups,
    set_password,
)

__all__ = [
    "version_of",
    "Attachment", "Base", "Break", "Event", "EventRow", "Group", "Instance", "InstanceStatus",
    "ProcedureVersion", "RecordRow", "Report", "StepRow", "Task", "TaskKind", "TaskRef",
    "TaskStatus", "User", "add_attachment", "add_user", "attach",
    "check_password", "content_hash", "count_instances", "create_instance", "create_schema",
    "current_revision", "due_instances", "event_rows", "events_of", "attachments_beside", "append_events", "attachments_named", "bound_attachments", "get_attachment",
    "get_task", "get_user",
    "get_version", "groups_of", "head_revision", "latest_version",
    "latest_version_id", "latest_version_ids", "list_instances", "list_users", "load_for_step", "load_instance",
    "instance_heads", "instance_states",
    "load_record", "make_engine", "new_id", "open_tasks_for", "postpone_timers", "procedure_ids",
    "register_procedure_version", "save_step", "save_steps", "session_factory", "set_groups", "set_password",
    "spawned_from", "task_ref", "task_route", "tasks_of", "upgrade", "verify",
    "verify_chains", "version_by_hash", "versions_of", "last_event_at",
]
