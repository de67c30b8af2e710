"""The events ``Runtime.apply`` returns: what the store appends to the audit chain.

Every event is ``{type, at, actor, step, task, data}``; ``data`` depends on ``type`` and
``EVENT_DATA`` names its shape for each type. The audit trail, notifications, the field
index, KPIs and the coverage of answer files read these payloads, so a key renamed here
changes what stored events mean: add keys, never rename them.
"""

# No ``from __future__ import annotations``: with it, Python 3.11 cannot see NotRequired and
# reports every key as required in ``__required_keys__`` (which the tests compare states with).

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from engine.runtime.state import SignatureRecord

EventType = Literal[
    "instance:started", "instance:completed", "instance:cancelled",
    "task:created", "task:completed", "task:approved", "task:rejected", "task:cancelled",
    "task:claimed", "task:released", "task:reassigned",
    "data:corrected", "route:taken", "join:completed", "spawn:requested", "wait:woken",
    "deadline:reminder", "deadline:missed", "deadline:escalated",
]


class InstanceStarted(TypedDict):
    procedure: str
    version: str  # the procedure's definition hash
    data: dict[str, Any]  # the start form, as recorded
    origin: dict[str, Any] | None
    serial: NotRequired[str]  # the readable record number (流水号)


class InstanceCompleted(TypedDict):
    outcome: str


class InstanceCancelled(TypedDict):
    reason: str


class TaskCreated(TypedDict):
    role: str | None
    due_at: NotRequired[str | None]  # a person's task
    wake_at: NotRequired[str]  # a wait
    problem: NotRequired[str]  # why the deadline could not be computed (the task has none)
    reapproval: NotRequired[int]  # the correction a re-approval answers


class TaskFinished(TypedDict):
    """``task:completed``, ``task:approved`` and ``task:rejected``."""

    data: dict[str, Any]  # an approval's includes ``decision`` and ``comment``
    signature: NotRequired[SignatureRecord]
    on_time: NotRequired[bool]  # when the task had a deadline


class NoData(TypedDict):
    """``task:cancelled`` and ``task:released``."""


class TaskClaimed(TypedDict):
    assignee: str


# "from" is a keyword, hence the functional form.
TaskReassigned = TypedDict("TaskReassigned", {"from": str | None, "to": str, "reason": str})


class DataCorrected(TypedDict):
    field: str
    old: Any
    new: Any
    reason: str
    signature: NotRequired[SignatureRecord]  # the corrector's, meaning 更正
    signed_before: NotRequired[list[str]]  # tasks whose signatures covered the old value


class RouteTaken(TypedDict):
    to: str


class JoinCompleted(TypedDict):
    branches: int


class SpawnRequested(TypedDict):
    procedure: str
    data: dict[str, Any]


class WaitWoken(TypedDict):
    wake_at: str


class DeadlineNotice(TypedDict):
    """``deadline:reminder`` and ``deadline:missed``."""

    due_at: str | None
    role: str | None
    assignee: str | None


class DeadlineEscalated(TypedDict):
    level: int  # 1 for the first escalation of the deadline
    to: str  # a role, or "manager"
    due_at: str | None
    user: NotRequired[str]  # to a manager: who
    of: NotRequired[str]  # ... and whose manager
    fallback: NotRequired[Literal["manager"]]  # no manager found: ``to`` is the role used instead
    reason: NotRequired[str]


EventData = (InstanceStarted | InstanceCompleted | InstanceCancelled | TaskCreated | TaskFinished
             | NoData | TaskClaimed | TaskReassigned | DataCorrected | RouteTaken | JoinCompleted
             | SpawnRequested | WaitWoken | DeadlineNotice | DeadlineEscalated)


class Event(TypedDict):
    type: EventType
    at: str  # ISO 8601, UTC
    actor: str  # the user name; "system" for the clock
    step: str | None
    task: str | None  # the task id within the instance (``t3``)
    data: EventData


#: The payload of each event type.
EVENT_DATA: Mapping[EventType, type] = {
    "instance:started": InstanceStarted,
    "instance:completed": InstanceCompleted,
    "instance:cancelled": InstanceCancelled,
    "task:created": TaskCreated,
    "task:completed": TaskFinished,
    "task:approved": TaskFinished,
    "task:rejected": TaskFinished,
    "task:cancelled": NoData,
    "task:claimed": TaskClaimed,
    "task:released": NoData,
    "task:reassigned": TaskReassigned,
    "data:corrected": DataCorrected,
    "route:taken": RouteTaken,
    "join:completed": JoinCompleted,
    "spawn:requested": SpawnRequested,
    "wait:woken": WaitWoken,
    "deadline:reminder": DeadlineNotice,
    "deadline:missed": DeadlineNotice,
    "deadline:escalated": DeadlineEscalated,
}
