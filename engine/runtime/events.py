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

from engine.i18n import StoredMessage
from engine.runtime.state import SignatureRecord

EventType = Literal[
    "instance:started", "instance:completed", "instance:cancelled",
    "task:created", "task:completed", "task:approved", "task:rejected", "task:cancelled",
    "task:claimed", "task:released", "task:reassigned",
    "approval:opened", "approval:added", "approval:decided",
    "data:corrected", "route:taken", "join:completed", "spawn:requested", "wait:woken",
    "deadline:reminder", "deadline:missed", "deadline:escalated",
    # task actions (engine.runtime.actions)
    "task:transferred", "task:returned", "task:recalled", "task:urged", "instance:withdrawn",
    "cc:sent", "cc:read",
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
    assignee: NotRequired[str]  # a named approver of a multi-party approval
    due_at: NotRequired[str | None]  # a person's task
    wake_at: NotRequired[str]  # a wait
    problem: NotRequired[str]  # why the deadline could not be computed (the task has none)
    problem_message: NotRequired[StoredMessage]  # the same, for each reader's language
    reapproval: NotRequired[int]  # the correction a re-approval answers


class TaskFinished(TypedDict):
    """``task:completed``, ``task:approved`` and ``task:rejected``."""

    data: dict[str, Any]  # an approval's includes ``decision`` and ``comment``
    signature: NotRequired[SignatureRecord]
    on_time: NotRequired[bool]  # when the task had a deadline
    # One approver's decision in a multi-party approval: it is not the step's data (that is
    # ``approval:decided``'s); a signature binds it with the data recorded before.
    party: NotRequired[bool]


class NoData(TypedDict):
    """``task:released``."""


class TaskCancelled(TypedDict):
    # Why, when the instance goes on: a multi-party approval decided before this approver.
    reason: NotRequired[str]
    reason_message: NotRequired[StoredMessage]  # the same, for each reader's language


class ApprovalOpened(TypedDict):
    """A multi-party approval entered: its approvers as resolved, those found nobody (and
    where they went), those skipped (already approved), and the approvals needed."""

    mode: str
    need: int
    approvers: list[dict[str, Any]]  # {source, role} or {source, user}
    nobody: list[dict[str, Any]]  # {source, to, reason}: to a role, "admin" or "approve"
    skipped: list[dict[str, Any]]  # {source, user, reason}


class ApprovalAdded(TypedDict):
    """加签: ``user`` added ``before`` or ``after`` the acting approver (the event's task)."""

    user: str
    position: str
    reason: str
    task: str | None  # the task opened for them now (before), None while queued (after)


class ApprovalDecided(TypedDict):
    """The outcome of a multi-party approval; ``data`` is what ``STEP.*`` reads from then on."""

    decision: str
    approvals: int
    rejections: int
    need: int
    data: dict[str, Any]


class TaskClaimed(TypedDict):
    assignee: str


# "from" is a keyword, hence the functional form.
TaskReassigned = TypedDict("TaskReassigned", {"from": str | None, "to": str, "reason": str})


class DataCorrected(TypedDict):
    field: str
    old: Any
    new: Any
    reason: str
    reason_message: NotRequired[StoredMessage]  # a computed field's: why it was recomputed
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
    reason_message: NotRequired[StoredMessage]


TaskTransferred = TypedDict("TaskTransferred", {"from": str | None, "to": str, "reason": str})


class TaskReturned(TypedDict):
    to: str  # the earlier step entered again
    reason: str
    resume: Literal["here", "again"]


class TaskRecalled(TypedDict):
    cancelled: list[str]  # the following tasks closed by the recall


class TaskUrged(TypedDict):
    note: str
    holders: list[str]  # the assignee; while unclaimed ``role:ID`` and ``user:NAME`` (escalated to a manager)


class InstanceWithdrawn(TypedDict):
    reason: str


class CcSent(TypedDict):
    to: list[str]  # role ids and ``user:NAME``
    note: str
    auto: bool  # declared on the step (``cc:``), not added by a person


EventData = (InstanceStarted | InstanceCompleted | InstanceCancelled | TaskCreated | TaskFinished
             | NoData | TaskCancelled | ApprovalOpened | ApprovalAdded | ApprovalDecided | TaskClaimed | TaskReassigned | DataCorrected | RouteTaken | JoinCompleted
             | SpawnRequested | WaitWoken | DeadlineNotice | DeadlineEscalated | TaskTransferred
             | TaskReturned | TaskRecalled | TaskUrged | InstanceWithdrawn | CcSent)


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
    "task:cancelled": TaskCancelled,
    "task:claimed": TaskClaimed,
    "task:released": NoData,
    "task:reassigned": TaskReassigned,
    "approval:opened": ApprovalOpened,
    "approval:added": ApprovalAdded,
    "approval:decided": ApprovalDecided,
    "data:corrected": DataCorrected,
    "route:taken": RouteTaken,
    "join:completed": JoinCompleted,
    "spawn:requested": SpawnRequested,
    "wait:woken": WaitWoken,
    "deadline:reminder": DeadlineNotice,
    "deadline:missed": DeadlineNotice,
    "deadline:escalated": DeadlineEscalated,
    "task:transferred": TaskTransferred,
    "task:returned": TaskReturned,
    "task:recalled": TaskRecalled,
    "task:urged": TaskUrged,
    "instance:withdrawn": InstanceWithdrawn,
    "cc:sent": CcSent,
    "cc:read": NoData,
}
