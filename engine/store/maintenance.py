"""SQL of operations (backups, the restore drill, readiness): kept here, the one package that
writes SQL, so the application layer only asks questions."""

from __future__ import annotations

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from engine.store.tables import Delivery, Instance, InstanceStatus, Task, TaskStatus


def has_tables(url: URL) -> bool:
    """Whether the database at ``url`` has any table in its current schema (PostgreSQL)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()")).scalar())
    finally:
        engine.dispose()


def other_sessions(url: URL) -> int:
    """How many other connections have the PostgreSQL database at ``url`` open (a server, a
    worker, someone's psql); ``pg_stat_activity`` shows every role which database each
    connection is on."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")).scalar() or 0)
    finally:
        engine.dispose()


def sqlite_in_use(path: Path) -> bool:
    """Whether another process has the SQLite database at ``path`` open: in WAL mode each
    process with an open connection holds a shared lock on the "DMS" byte (offset 128) of
    the ``-shm`` file for as long as it stays open (SQLite's unix VFS), so an exclusive
    lock on it is refused while any does. The caller must not have the file open itself
    (POSIX locks are per process, and closing any descriptor of the file drops them)."""
    shm = Path(f"{path}-shm")
    if fcntl is None or not shm.exists():
        return False
    with shm.open("r+b") as f:
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)
        except OSError:
            return True
        fcntl.lockf(f, fcntl.LOCK_UN, 1, 128)
    return False


@contextmanager
def scratch_database(url: URL, prefix: str) -> Iterator[URL]:
    """A new, empty PostgreSQL database beside ``url``'s, dropped (connections and all)
    when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def seconds_since_named_activity(session: Session, application_name: str) -> float | None:
    """Seconds since a PostgreSQL connection named ``application_name`` last changed state
    (ended a transaction, say); None when there is none."""
    age = session.execute(text(
        "SELECT extract(epoch FROM now() - max(state_change)) FROM pg_stat_activity "
        "WHERE application_name = :name"), {"name": application_name}).scalar()
    return None if age is None else max(0.0, float(age))


@dataclass(frozen=True)
class Figures:
    """What the operators' dashboard (``/metrics``) shows of the database at one moment."""

    open_tasks: int
    overdue_tasks: int
    oldest_due_timer: datetime | None  # the timer the worker is furthest behind on
    deliveries: dict[str, int]  # by status: pending, sent, failed (given up)


def figures(session: Session, now: datetime) -> Figures:
    """Counts from indexed columns only (tasks by status and due time, instances by next timer,
    deliveries by status): cheap enough for a scrape every few seconds."""
    open_tasks, overdue = session.execute(
        select(func.count(), func.count().filter(Task.due_at < now)).where(Task.status == TaskStatus.OPEN)).one()
    oldest = session.scalar(select(func.min(Instance.next_timer_at)).where(
        Instance.status == InstanceStatus.RUNNING, Instance.next_timer_at <= now))
    deliveries = {row[0]: row[1] for row in session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))}
    return Figures(int(open_tasks), int(overdue), oldest, {str(k): int(v) for k, v in deliveries.items()})
