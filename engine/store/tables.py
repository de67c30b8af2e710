"""Typed SQLAlchemy models: the shape of every table the engine keeps.

Times are stored as naive UTC (``UTCDateTime``) so that SQLite and PostgreSQL read back
exactly what was written; Python code always sees timezone-aware UTC datetimes.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Naive UTC in the database, aware UTC in Python. Naive input is taken to be UTC."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def bind_processor(self, dialect: Any) -> Any:
        # On SQLite the two steps (to naive UTC, then SQLAlchemy's DATETIME text) cost a step
        # about 2 % of its CPU; one call writes the same text (tests/store/test_time_texts.py).
        if dialect.name == "sqlite":
            return _sqlite_datetime_text
        return super().bind_processor(dialect)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _sqlite_datetime_text(value: datetime | None) -> str | None:
    """What SQLAlchemy's SQLite DATETIME stores for ``UTCDateTime``: naive UTC as
    ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


# JSON kept verbatim (events must hash the same after a round trip) ...
ExactJSON = JSON()
# ... and JSON that may be queried (instance state, for reports).
QueryJSON = JSON().with_variant(JSONB(), "postgresql")
# BIGINT autoincrement everywhere; SQLite only autoincrements INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

intpk = Annotated[int, mapped_column(primary_key=True)]
utc = Annotated[datetime, mapped_column(UTCDateTime())]
str20 = Annotated[str, mapped_column(String(20))]
str64 = Annotated[str, mapped_column(String(64))]
str100 = Annotated[str, mapped_column(String(100))]
str200 = Annotated[str, mapped_column(String(200))]


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class TaskKind(enum.StrEnum):
    TASK = "task"
    APPROVAL = "approval"
    WAIT = "wait"


def _by_value(enum_cls: type[enum.Enum]) -> Enum:
    # Stored by value in a VARCHAR (no native enum, no CHECK): adding a value is code-only.
    return Enum(enum_cls, values_callable=lambda e: [m.value for m in e], native_enum=False,
                create_constraint=False, length=20, validate_strings=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: ExactJSON,
        InstanceStatus: _by_value(InstanceStatus),
        TaskStatus: _by_value(TaskStatus),
        TaskKind: _by_value(TaskKind),
    }


class ProcedureVersion(Base):
    """One immutable text of a procedure and its forms, found by its definition hash
    (``content_hash``: ``Procedure.content_hash``, the hash its instances record and pages
    show). Several versions may share one (a restored text), so it is indexed, not unique."""

    __tablename__ = "procedure_versions"
    __table_args__ = (Index("ix_procedure_versions_procedure_id_content_hash", "procedure_id", "content_hash"),)

    id: Mapped[intpk]
    procedure_id: Mapped[str100] = mapped_column(index=True)
    content_hash: Mapped[str64]
    source: Mapped[str] = mapped_column(Text)
    forms: Mapped[dict[str, Any]]  # {form_id: yaml_text}
    title: Mapped[str200] = mapped_column(default="")
    registered_at: Mapped[utc]
    registered_by: Mapped[str100 | None]
    major: Mapped[int | None]
    minor: Mapped[int | None]
    status: Mapped[str20] = mapped_column(default="published")  # draft|in_review|published
    note: Mapped[str | None] = mapped_column(Text)  # the editor's note on a draft save
    # The same note as a stored message (engine.i18n.keep: key and params), so that each
    # reader reads it in their language; None for a note typed by a person, and for rows
    # saved before it was kept (0020), which show ``note`` as stored.
    note_message: Mapped[dict[str, Any] | None]
    change_reason: Mapped[str | None] = mapped_column(Text)  # why, as sent for approval
    change_instance: Mapped[str | None] = mapped_column(String(40))  # the change-control run


class ProcedureFile(Base):
    """Per procedure, the version that its file (with its forms) was last loaded as
    (migration 0025). Loading a text other than this one is a change made on purpose in the
    files, and that text becomes current, even when it is an earlier version's text (a file
    put back); loading this same text again changes nothing, so a version published in the
    editor since stays current across restarts. No row: the files were never loaded since
    the upgrade, and the first load finds the version by its text as before."""

    __tablename__ = "procedure_files"

    procedure_id: Mapped[str100] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("procedure_versions.id"))
    loaded_at: Mapped[utc]


class Instance(Base):
    """A running or ended procedure instance; ``state`` is the runtime's dict, kept whole."""

    __tablename__ = "instances"
    __table_args__ = (
        Index("ix_instances_procedure_id_status", "procedure_id", "status"),
        Index("ix_instances_procedure_status_started", "procedure_id", "status", "started_at"),
        # KPIs (0005): covering, so a dashboard reads the index only.
        Index("ix_instances_procedure_started", "procedure_id", "started_at", "status", "ended_at"),
        Index("ix_instances_origin_instance", "origin_instance"),  # spawned instances (0005)
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    procedure_id: Mapped[str100] = mapped_column(index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("procedure_versions.id"))
    status: Mapped[InstanceStatus]
    outcome: Mapped[str100 | None]
    started_at: Mapped[utc]
    started_by: Mapped[str100]
    ended_at: Mapped[utc | None]
    state: Mapped[dict[str, Any]] = mapped_column(QueryJSON)
    rev: Mapped[int] = mapped_column(default=0)
    next_timer_at: Mapped[utc | None] = mapped_column(index=True)
    origin_instance: Mapped[str | None] = mapped_column(String(40))
    origin_step: Mapped[str100 | None]
    updated_at: Mapped[utc]
    # The chain head: seq and hash of the instance's last event.
    event_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    event_hash: Mapped[str64 | None]
    # The readable record number (流水号, ASI-202612-0007), from ``state["serial"]``; None for
    # instances started before numbers were given (0017).
    serial: Mapped[str | None] = mapped_column(String(40), index=True, unique=True)

    version: Mapped[ProcedureVersion] = relationship(lazy="raise")


class SerialCounter(Base):
    """The last record number given per prefix and local month (``engine.store.serials``)."""

    __tablename__ = "serial_counters"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int]


class Task(Base):
    """A row per runtime task, mirrored from ``state["tasks"]`` for inbox queries."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("instance_id", "task_id"),
        Index("ix_tasks_status_role", "status", "role"),
        Index("ix_tasks_assignee_status", "assignee", "status"),
        # KPIs (0005): covering, so a dashboard reads the index only.
        Index("ix_tasks_procedure_created", "procedure_id", "created_at", "step", "status",
              "due_at", "completed_at"),
        # "Overdue now" of the dashboard (0008): the open tasks of a procedure by deadline.
        Index("ix_tasks_procedure_status_due", "procedure_id", "status", "due_at", "created_at", "step"),
    )

    id: Mapped[str] = mapped_column(String(60), primary_key=True)  # f"{instance_id}.{task_id}"
    instance_id: Mapped[str] = mapped_column(String(40), ForeignKey("instances.id"))
    task_id: Mapped[str20]
    procedure_id: Mapped[str100]
    step: Mapped[str100]
    kind: Mapped[TaskKind]
    role: Mapped[str100 | None]
    status: Mapped[TaskStatus]
    assignee: Mapped[str100 | None]
    created_at: Mapped[utc]
    due_at: Mapped[utc | None]
    completed_at: Mapped[utc | None]
    completed_by: Mapped[str100 | None]
    # " role user:NAME " (space-delimited, spaces around): who the deadline escalated to
    escalated_to: Mapped[str | None] = mapped_column(String(500))


class Event(Base):
    """One audit event. Append-only; chained per instance by ``prev_hash`` -> ``hash``."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("instance_id", "seq"),
        # For the audit search (migration 0005): by time, by actor, by type.
        Index("ix_events_at", "at"),
        Index("ix_events_actor_at", "actor", "at"),
        Index("ix_events_type_at", "type", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(40))  # the chain key (an instance id)
    seq: Mapped[int]
    type: Mapped[str100]
    step: Mapped[str100 | None]
    task_id: Mapped[str20 | None]
    actor: Mapped[str100]
    at: Mapped[utc]
    data: Mapped[dict[str, Any]]
    prev_hash: Mapped[str64]
    hash: Mapped[str64]

    def to_dict(self) -> dict[str, Any]:
        """The event as the runtime wrote it, plus its place in the chain."""
        from engine.store.audit import format_time

        return {"type": self.type, "at": format_time(self.at), "actor": self.actor,
                "step": self.step, "task": self.task_id, "data": self.data,
                "id": self.id, "seq": self.seq, "hash": self.hash}


user_groups = Table(
    "user_groups",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    # Who is in a group: every step that opens a task notifies its role's groups. The key
    # (user_id, group_id) cannot answer that; without this, each step read all of the table
    # (1.1 ms of a step with 5,000 users on SQLite, issue 20).
    Index("ix_user_groups_group_id", "group_id"),
)


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[intpk]
    name: Mapped[str100] = mapped_column(unique=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[intpk]
    username: Mapped[str100] = mapped_column(unique=True)
    full_name: Mapped[str200] = mapped_column(default="")
    password_hash: Mapped[str200]
    email: Mapped[str200 | None]
    locale: Mapped[str | None] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[utc]
    # Carried by every session cookie and API token issued to the user; bumping it ends
    # them all (sign-out, password change, deactivation, ``wf user tokens --revoke``).
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # When the password was last set (the optional maximum age counts from it; None: never
    # recorded, before migration 0012_access15 — counted as set at the upgrade).
    password_changed_at: Mapped[utc | None]
    # Set by an administrator's reset (or a user added in the browser): the password is
    # temporary and must be changed at the next sign-in; a change clears it (0021).
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # User name of this user's manager: the target of ``escalate: {to: manager}``.
    manager: Mapped[str100 | None]
    # Id of the user's department (``departments.id``; 0014_org17); the organisation chart.
    department: Mapped[str64 | None]

    groups: Mapped[list[Group]] = relationship(secondary=user_groups, lazy="selectin",
                                               order_by=Group.name)


class Attachment(Base):
    """An uploaded file; ``instance_id`` stays empty until the form it belongs to is submitted."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    instance_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("instances.id"),
                                                    index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str100]
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str64]
    storage_path: Mapped[str] = mapped_column(String(500))
    uploaded_by: Mapped[str100]
    uploaded_at: Mapped[utc]


class Draft(Base):
    """Form data a user typed into a task and saved without submitting (one per user and task)."""

    __tablename__ = "drafts"

    username: Mapped[str100] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(String(60), primary_key=True)  # the global task id
    data: Mapped[dict[str, Any]]
    saved_at: Mapped[utc]


class StartRule(Base):
    """An automatic start (``starts:`` entry) first seen by a worker; ``since`` bounds catch-up,
    so installing a schedule or trigger never fires what fell due before it existed."""

    __tablename__ = "start_rules"

    procedure_id: Mapped[str100] = mapped_column(primary_key=True)
    rule: Mapped[str64] = mapped_column(primary_key=True)  # hash of the rule's definition
    kind: Mapped[str20]
    since: Mapped[utc]


class StartFiring(Base):
    """One fired schedule occurrence or (trigger, watched instance): the unique key is the
    idempotency backstop when several workers fire at once."""

    __tablename__ = "start_firings"
    # The instance page asks for its failed spawns and its stall (by rule and subject, without
    # the procedure), and each worker pass clears the stalls of the instances it ticked: a
    # table that keeps one row per fired schedule occurrence and triggered record.
    __table_args__ = (UniqueConstraint("procedure_id", "rule", "subject"),
                      Index("ix_start_firings_rule_subject", "rule", "subject"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    procedure_id: Mapped[str100]
    rule: Mapped[str64]
    subject: Mapped[str100]  # the occurrence (ISO time) or the watched instance id
    due_at: Mapped[utc]
    fired_at: Mapped[utc]
    instance_id: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)  # why no instance was started


class Notification(Base):
    """An in-app notification for one user (assignment, reminder, miss, escalation, completion)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_username_read_at", "username", "read_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    username: Mapped[str100]
    kind: Mapped[str20]
    instance_id: Mapped[str | None] = mapped_column(String(40))
    task_id: Mapped[str | None] = mapped_column(String(60))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[utc]
    read_at: Mapped[utc | None]


class Delivery(Base):
    """One e-mail or webhook call to make; retried with back-off until sent or given up.
    A given-up delivery stays (status ``failed``) and is listed, never dropped."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    channel: Mapped[str20]  # email | webhook
    target: Mapped[str] = mapped_column(String(500))  # address or URL
    kind: Mapped[str20]
    payload: Mapped[dict[str, Any]]
    status: Mapped[str20]  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[utc | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[utc]
    sent_at: Mapped[utc | None]


class DeliveryAttempt(Base):
    """The delivery log: every try, its time and what came back."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[utc]
    ok: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text, default="")
class FieldIndex(Base):
    """The searchable form values of an instance, one row per ``STEP.FIELD`` the procedure
    declares (ledger columns, ``index``, KPI fields): search, ledgers and KPIs read this
    small table instead of the instance JSON. Kept in the same transaction as the step."""

    __tablename__ = "field_index"
    __table_args__ = (
        Index("ix_field_index_procedure_key_value", "procedure_id", "key", "value"),
        Index("ix_field_index_value", "value"),
    )

    instance_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(150), primary_key=True)
    procedure_id: Mapped[str100]
    value: Mapped[str200]


class AccessLog(Base):
    """Who saw which sensitive fields of which instance unmasked, when and where (X.4)."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_at", "at"), Index("ix_access_log_instance", "instance_id"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[utc]
    username: Mapped[str100]
    instance_id: Mapped[str] = mapped_column(String(40))
    procedure_id: Mapped[str100]
    fields: Mapped[str] = mapped_column(Text)  # comma-separated STEP.FIELD
    view: Mapped[str] = mapped_column(String(40))  # dossier, pdf, ledger, search, export...


class KpiCount(Base):
    """Pre-aggregated dashboard figures (0008): per procedure and local day, counters and
    duration histograms recomputed from the instances, tasks and field index whenever an
    instance of that day changes (``engine/store/kpi_rollup.py``). ``total`` is the sum of
    the seconds in a histogram bucket, so a bucket of equal durations reads back exactly."""

    __tablename__ = "kpi_counts"

    procedure_id: Mapped[str100] = mapped_column(primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, local (kpi_sources.zone)
    metric: Mapped[str20] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(150), primary_key=True)  # a step or STEP.FIELD; "" for none
    value: Mapped[str200] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[float | None] = mapped_column(Float)


class KpiPending(Base):
    """UTC days whose figures are out of date: appended by every write of an instance (its
    start day and the creation days of the tasks it changed), consumed by the rollup, which
    recounts the local days they overlap."""

    __tablename__ = "kpi_pending"
    # No index besides the key: every step appends here, and the rollup empties the table
    # every few seconds, so a scan of it is cheaper than keeping an index on the hot path.

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    procedure_id: Mapped[str100]
    day: Mapped[str] = mapped_column(String(10))


class KpiSource(Base):
    """Per procedure, the field keys and the time zone its ``kpi_counts`` were computed
    with; when the procedure declares other KPI fields or the zone changes, every day of it
    is recomputed."""

    __tablename__ = "kpi_sources"

    procedure_id: Mapped[str100] = mapped_column(primary_key=True)
    keys: Mapped[str] = mapped_column(Text)  # sorted STEP.FIELD keys, one per line
    version_id: Mapped[int]  # the newest version registered when counted
    refreshed_at: Mapped[utc]
    # The IANA zone whose midnights cut the days (0016); NULL: counted in UTC days before.
    zone: Mapped[str | None] = mapped_column(String(64))


class SignInFailure(Base):
    """Recent failed sign-ins per key (web: user name and address; API: user name), shared
    by every server process so that a lock-out holds across gunicorn workers (0009)."""

    __tablename__ = "sign_in_failures"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int]
    last_at: Mapped[utc]


class PasswordHistory(Base):
    """The hashes of a user's earlier passwords, so a new one cannot repeat the last few
    (the password policy, ``engine.app.people``)."""

    __tablename__ = "password_history"
    __table_args__ = (Index("ix_password_history_username", "username", "id"),)

    id: Mapped[intpk]
    username: Mapped[str100]
    password_hash: Mapped[str200]
    replaced_at: Mapped[utc]


class Department(Base):
    """One department of the organisation chart (0014_org17): a tree by ``parent``, each with
    a head (a user name). The id is stable (procedures and CSV files name it); the name is
    what people read and may change."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str200]
    parent: Mapped[str64 | None]
    head: Mapped[str100 | None]


class DatabaseIdentity(Base):
    """The one row (id 1) naming this database: a random id drawn when its schema was made
    (migration 0023). It travels with the data (a backup restored keeps it), so an anchor
    file (``engine.store.anchor``) can say which database it anchors."""

    __tablename__ = "database_identity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str64]
    created_at: Mapped[utc]


class OrgState(Base):
    """The one row (id 1) that says which organisation chart is current: ``version`` rises
    and ``stamp`` (random, unique across databases) changes with every change of departments,
    users' departments and managers, or users' activity, so a process caches its snapshot and
    re-reads it only when the stamp differs. It also holds the head of the chart's audit
    chain (chain key ``org`` in ``events``), as an instance row does for its own."""

    __tablename__ = "org_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    stamp: Mapped[str64]
    updated_at: Mapped[utc | None]
    event_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    event_hash: Mapped[str64 | None]

