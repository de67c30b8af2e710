"""Commands the runtime accepts, and the actor who gives them. Plain frozen data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Actor:
    """Who acts. ``roles`` are the procedure roles the user holds (resolved from groups by the
    service layer); ``system`` marks the clock/worker, which may tick but not fill forms."""

    user: str
    roles: frozenset[str] = frozenset()
    name: str = ""
    system: bool = False

    @property
    def display(self) -> str:
        return self.name or self.user


SYSTEM = Actor(user="system", name="系统", system=True)


@dataclass(frozen=True)
class Signature:
    """An electronic signature. The service layer checks the password before building one."""

    meaning: str
    user: str = ""
    name: str = ""


@dataclass(frozen=True)
class Start:
    actor: Actor
    data: dict[str, Any] = field(default_factory=dict)
    instance_id: str = ""
    origin: dict[str, Any] | None = None  # {procedure, instance, step} when spawned by another
    locale: str = "zh"
    # Deadline of the tasks opened by the start itself (a schedule's ``due``), ISO text.
    due_at: str | None = None
    # The readable record number (流水号) the application layer took for this instance.
    serial: str | None = None


@dataclass(frozen=True)
class CompleteTask:
    task_id: str
    actor: Actor
    data: dict[str, Any] = field(default_factory=dict)
    signature: Signature | None = None
    locale: str = "zh"
    # ``edit:`` of the step: STEP.FIELD -> new value, changed as corrections with this reason
    # (and this signature, meaning 更正, where a signature covers the value).
    edits: Mapping[str, Any] = field(default_factory=dict)
    edit_reason: str = ""
    edit_signature: Signature | None = None


@dataclass(frozen=True)
class Approve:
    task_id: str
    actor: Actor
    comment: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    signature: Signature | None = None
    locale: str = "zh"
    # ``edit:`` of the step: STEP.FIELD -> new value, changed as corrections with this reason
    # (and this signature, meaning 更正, where a signature covers the value).
    edits: Mapping[str, Any] = field(default_factory=dict)
    edit_reason: str = ""
    edit_signature: Signature | None = None


@dataclass(frozen=True)
class Reject:
    task_id: str
    actor: Actor
    comment: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    signature: Signature | None = None
    locale: str = "zh"
    # ``edit:`` of the step: STEP.FIELD -> new value, changed as corrections with this reason
    # (and this signature, meaning 更正, where a signature covers the value).
    edits: Mapping[str, Any] = field(default_factory=dict)
    edit_reason: str = ""
    edit_signature: Signature | None = None


@dataclass(frozen=True)
class Claim:
    task_id: str
    actor: Actor


@dataclass(frozen=True)
class Release:
    task_id: str
    actor: Actor


@dataclass(frozen=True)
class Reassign:
    task_id: str
    actor: Actor
    to_user: str
    reason: str = ""


@dataclass(frozen=True)
class AddApprover:
    """加签: the approver of ``task_id`` adds ``user`` (holding ``roles`` in the procedure, as
    the application layer resolved them) ``before`` themselves (they decide first) or
    ``after`` (asked once this task is decided)."""

    task_id: str
    actor: Actor
    user: str
    roles: frozenset[str] = frozenset()
    position: str = "after"
    reason: str = ""


@dataclass(frozen=True)
class Cancel:
    actor: Actor
    reason: str = ""


@dataclass(frozen=True)
class Correct:
    """Correct one recorded field of a finished step. The old value stays in the record.
    ``signature`` (meaning 更正) is required when a signature covers the value."""

    actor: Actor
    step: str
    field: str
    value: Any
    reason: str
    locale: str = "zh"
    signature: Signature | None = None


@dataclass(frozen=True)
class Tick:
    """Let time pass: fire reminders, deadline misses, escalations and wait wake-ups due by now."""

    actor: Actor = SYSTEM
    # user -> their manager, for escalation levels ``to: manager`` (looked up by the caller).
    managers: Mapping[str, str] = field(default_factory=dict)


# -- task actions (转交、退回、撤回、收回、催办、抄送); handled in ``engine.runtime.actions`` --


@dataclass(frozen=True)
class Transfer:
    """转交: give an open task to ``to_user``, who must be able to hold it. ``to_roles`` are
    the target's procedure roles, resolved by the application layer like ``Actor.roles``."""

    task_id: str
    actor: Actor
    to_user: str
    to_roles: frozenset[str]
    reason: str


@dataclass(frozen=True)
class Return:
    """退回: close the open tasks and enter ``to_step`` again, an earlier step the task's step
    declares in ``return_to``. ``resume``: ``here`` (the returned step's next submission comes
    straight back to this step) or ``again`` (the path is walked again); empty for the
    step's declared default."""

    task_id: str
    actor: Actor
    to_step: str
    reason: str
    resume: str = ""


@dataclass(frozen=True)
class Withdraw:
    """撤回: the starter takes the instance back before anyone else has done a step."""

    actor: Actor
    reason: str


@dataclass(frozen=True)
class Recall:
    """收回: the person who completed ``task_id`` takes their submission back while the tasks
    it opened are untouched; ``drafts`` is whether anyone saved a draft on them (the drafts
    live in the store, so the application layer says)."""

    task_id: str
    actor: Actor
    drafts: bool = False


@dataclass(frozen=True)
class Urge:
    """催办: remind the holders of an open task; once an hour per task."""

    task_id: str
    actor: Actor
    note: str = ""


@dataclass(frozen=True)
class Cc:
    """抄送: send the instance to ``recipients`` (role ids or ``user:NAME``) for reading, from
    the open task ``task_id`` of a step that allows it (``cc_add: true``)."""

    task_id: str
    actor: Actor
    recipients: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class CcRead:
    """已阅: a recipient of a CC records that they read the instance."""

    actor: Actor


Command = (Start | CompleteTask | Approve | Reject | Claim | Release | Reassign | Cancel | Correct | Tick
           | AddApprover | Transfer | Return | Withdraw | Recall | Urge | Cc | CcRead)
