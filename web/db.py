"""Database sessions for requests: one transaction per use case, owned by the web layer.

Writes to SQLite queue for its single write lock in ``WriteQueue`` (threads of this process,
then other processes such as gunicorn workers): without it, waiting writers poll in SQLite's
busy handler, which sleeps 1, 2, 5, 10 ... 100 ms between tries, so latency jumps under load.
A blocked ``flock`` wakes the moment the lock is released.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

try:
    import fcntl
except ImportError:  # not on Windows: SQLite's own busy handler queues the writers there
    fcntl = None  # type: ignore[assignment]

from flask import Flask, current_app
from sqlalchemy.orm import Session

from engine.app.service import VerifiedPassword, Workflow


class WriteQueue:
    """A thread lock inside this process and an ``flock`` on ``<database>.writers`` between
    processes."""

    def __init__(self, path: str) -> None:
        self.path = path + ".writers"
        self._thread_lock = threading.Lock()
        self._fd: tuple[int, int] | None = None  # (pid, fd): opened after a fork, never shared

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._thread_lock:
            if self._fd is None or self._fd[0] != os.getpid():
                self._fd = (os.getpid(), os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            fd = self._fd[1]
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)


def init_app(app: Flask) -> None:
    url = app.extensions["db_engine"].url
    queue = None
    if fcntl is not None and url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        queue = WriteQueue(url.database)
    app.extensions["write_queue"] = queue
    app.extensions["db_reader"] = app.extensions["db_engine"].execution_options(
        sqlite_begin="DEFERRED")


def workflow() -> Workflow:
    return current_app.extensions["workflow"]


@contextmanager
def transaction() -> Iterator[Session]:
    """Commit when the block succeeds, roll back when it raises (the error goes on up).
    On SQLite the block waits its turn in the write queue first."""
    queue: WriteQueue | None = current_app.extensions.get("write_queue")
    with queue.hold() if queue is not None else nullcontext(), \
            current_app.extensions["sessions"].begin() as session:
        yield session


@contextmanager
def reading() -> Iterator[Session]:
    """A session for reads only; nothing is committed. On SQLite it begins DEFERRED, so a
    page that only reads never takes the write lock."""
    session = Session(bind=current_app.extensions["db_reader"], expire_on_commit=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def signature_password(username: str, password: str | None) -> VerifiedPassword | None:
    """A signature password checked before the write transaction (see
    ``Workflow.verify_password``); None when none was given."""
    if password is None:
        return None
    with reading() as session:
        return workflow().verify_password(session, username, password)
