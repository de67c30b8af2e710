"""The stored shape of one instance: what ``Runtime.apply`` takes and returns.

The state is kept as JSON (the ``instances.state`` column), so its types are ``TypedDict``s
over plain dicts, lists, strings and numbers: nothing to convert on load or save, and mypy
checks every key the runtime writes. ``format`` names the shape; a stored state of an
earlier format is brought up to this one by ``engine.runtime.upgrade.upgrade``.

Keys that other packages read (the store mirrors tasks into rows, the application layer
and the pages show data, corrections, links and times) must keep their names: rename one
only with a new format and an upgrade function.
"""

# No ``from __future__ import annotations``: with it, Python 3.11 cannot see NotRequired and
# reports every key as required in ``__required_keys__`` (which the tests compare states with).

from typing import Any, Literal, NotRequired, TypedDict

from engine.i18n import StoredMessage

#: The shape ``new_state`` builds and ``Runtime.apply`` returns. Raise it (and add an upgrade
#: function in ``engine.runtime.upgrade``) whenever a stored state would be read differently.
STATE_FORMAT = 2

InstanceStatus = Literal["running", "completed", "cancelled"]
TaskStatus = Literal["open", "done", "cancelled"]
TaskKind = Literal["task", "approval", "wait"]
Decision = Literal["approve", "reject"]


class SignatureRecord(TypedDict):
    """An electronic signature as recorded on its task and in its event."""

    user: str
    name: str
    meaning: str
    at: str
    # SHA-256 of the instance's data as signed (``engine.runtime.signing``); absent on
    # signatures recorded before it was kept.
    data_hash: NotRequired[str]
    # On a correction's signature: the hash covers the computed fields recomputed after it
    # (the ``data:corrected`` events that follow it); absent before they were covered.
    covers_recomputed: NotRequired[bool]


class Task(TypedDict):
    """One task of an instance, keyed by its id (``t1``, ``t2``...) in ``InstanceState.tasks``.
    Times are ISO 8601 text in UTC."""

    id: str
    step: str
    kind: TaskKind
    role: str | None
    status: TaskStatus
    assignee: str | None
    created_at: str
    due_at: str | None
    completed_at: str | None
    completed_by: str | None
    # A task with a deadline (of its step, or of a scheduled start):
    missed: NotRequired[bool]
    # Roles, and ``user:NAME`` for a manager, that the task was escalated to, one per level fired.
    escalated_to: NotRequired[list[str]]
    remind_at: NotRequired[str]
    reminded: NotRequired[bool]
    # A wait task: when the clock wakes it.
    wake_at: NotRequired[str]
    # Why the step's deadline could not be computed from the data (an empty date field): the
    # task stays open without a due time instead of refusing the previous person's submission.
    problem: NotRequired[str]  # in English, as older readers and the API show it
    problem_message: NotRequired[StoredMessage]  # its key: shown in each reader's language
    # Who held it before releasing it: whose manager hears of an escalation.
    last_assignee: NotRequired[str]
    # Set when the task is done:
    signature: NotRequired[SignatureRecord]
    decision: NotRequired[Decision]
    # A re-approval (``on_correction: reapprove``): the number of the correction it answers.
    # It is decided on a closed instance too, and moves the instance nowhere.
    reapproval: NotRequired[int]
    # A multi-party approval (``engine.runtime.approvals``): a task for one named person
    # (``assignee``), who cannot release it to a pool; with ``role`` too (a pick), they act
    # while they hold that role.
    named: NotRequired[bool]
    # 加签 before: the task added before this one, whose decision comes first.
    waiting_on: NotRequired[str]
    # The approver's comment, kept on a multi-party task so the others see it.
    comment: NotRequired[str]
    # 催办: when the task was last urged (one urge an hour).
    urged_at: NotRequired[str]
    # 退回: why the task was closed by a return (its status is ``cancelled``).
    returned: NotRequired[str]


class Slot(TypedDict):
    """One approver of a multi-party approval still to be asked (a ``sequence``, or an
    approver added after another, 加签)."""

    source: str  # the ``approvers`` entry it comes from, e.g. "manager: starter", "add_approver"
    role: NotRequired[str]
    user: NotRequired[str]
    after: NotRequired[str]  # opened once this task is decided
    added_by: NotRequired[str]


class PartyRound(TypedDict):
    """A multi-party approval in progress: its tasks, the approvers still to ask, how many
    approvers count (tasks, queued and ``auto``), and the approvals given without a task
    (``if_nobody: approve``, ``skip_repeated``)."""

    tasks: list[str]
    queue: list[Slot]
    total: int
    auto: int


class Join(TypedDict):
    """A join waiting for the branches of its parallel step."""

    expected: int
    arrived: int


class Link(TypedDict):
    """An instance a spawn step asked for, with the values it passed on."""

    procedure: str
    step: str
    data: dict[str, Any]


class Correction(TypedDict):
    """A corrected field: the step's data holds ``new``; ``old`` stays here."""

    step: str
    field: str
    old: Any
    new: Any
    by: str
    at: str
    reason: str
    reason_message: NotRequired[StoredMessage]  # a computed field's: why it was recomputed
    # The corrector's signature (meaning 更正), when earlier signatures covered the value.
    signature: NotRequired[SignatureRecord]
    # The tasks whose signatures were given before this correction and covered the value.
    signed_before: NotRequired[list[str]]


class CcRecord(TypedDict):
    """One 抄送: who it went to (role ids and ``user:NAME``), from which step, by whom."""

    to: list[str]
    step: str | None
    by: str
    at: str
    note: str


class LastDone(TypedDict):
    """The last task completed or decided, and what the instance looked like before its
    completion moved it on: what a 收回 (recall) restores."""

    task: str
    by: str
    at: str
    seq: int  # tasks numbered above this were opened by the completion
    path: int  # the length of ``path`` before
    links: int  # the number of ``links`` before (a spawn cannot be taken back)
    joins: dict[str, Join]
    resume: NotRequired[dict[str, str]]  # ``InstanceState.resume`` before
    # ``InstanceState.approvals`` before ({}: none); absent on what was recorded before it
    # was kept, when a recall leaves the rounds as they are.
    approvals: NotRequired[dict[str, PartyRound]]


class InstanceState(TypedDict):
    """One instance of a procedure (format ``STATE_FORMAT``)."""

    format: int
    id: str
    procedure: str
    status: InstanceStatus
    # The outcome of the end step reached ("rejected" when an approval without on_reject rejects).
    outcome: str | None
    started_at: str
    started_by: str
    ended_at: str | None
    # Who asked for the instance when a person did not start it: a spawn step, a schedule, a trigger.
    origin: dict[str, Any] | None
    # Recorded form data by step id; the start form's under "start".
    data: dict[str, dict[str, Any]]
    tasks: dict[str, Task]
    joins: dict[str, Join]
    links: list[Link]
    # Steps entered, in order.
    path: list[str]
    # The number of the last task created (task ids are ``t{seq}``).
    seq: int
    # Raised by every command that records events; the store's optimistic version.
    rev: int
    # The earliest moment a Tick has something to do; None when nothing waits on the clock.
    timer_at: str | None
    corrections: list[Correction]
    # Multi-party approvals in progress, by step id (absent until the first one).
    approvals: NotRequired[dict[str, PartyRound]]
    # The readable record number (流水号, ``ASI-202612-0007``), recorded in the start event;
    # absent on instances started before numbers were given, and in simulations.
    serial: NotRequired[str]
    # Task actions (absent until the first one; the stored format is unchanged):
    # 抄送 sent, and who recorded 已阅 when.
    cc: NotRequired[list[CcRecord]]
    cc_read: NotRequired[dict[str, str]]
    # 退回 with ``resume: here``: returned step -> the step its next submission comes back to.
    resume: NotRequired[dict[str, str]]
    last_done: NotRequired[LastDone]


def new_state(instance_id: str, procedure_id: str, started_at: str, started_by: str,
              origin: dict[str, Any] | None = None) -> InstanceState:
    """An empty instance of format ``STATE_FORMAT``; ``Start`` fills it."""
    return {
        "format": STATE_FORMAT, "id": instance_id, "procedure": procedure_id,
        "status": "running", "outcome": None, "started_at": started_at,
        "started_by": started_by, "ended_at": None, "origin": origin,
        "data": {}, "tasks": {}, "joins": {}, "links": [], "path": [], "seq": 0,
        "rev": 0, "timer_at": None, "corrections": [],
    }
