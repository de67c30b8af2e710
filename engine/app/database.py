"""Transactions for use cases: one write transaction or one read session per use case.

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

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from engine.store import session_factory


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


class Database:
    """The engine with its write queue (SQLite files) and a reader that never takes the
    write lock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = session_factory(engine)
        url = engine.url
        self.queue: WriteQueue | None = None
        if fcntl is not None and url.get_backend_name() == "sqlite" \
                and url.database not in (None, "", ":memory:"):
            self.queue = WriteQueue(url.database)
        self._reader = engine.execution_options(sqlite_begin="DEFERRED")

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """Commit when the block succeeds, roll back when it raises (the error goes on up).
        On SQLite the block waits its turn in the write queue first."""
        with self.queue.hold() if self.queue is not None else nullcontext(), \
                self.sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only; nothing is committed. On SQLite it begins DEFERRED, so
        a use case that only reads never takes the write lock."""
        session = Session(bind=self._reader, expire_on_commit=False)
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def ping(self) -> str | None:
        """None when the database answers; else the kind of failure (for a health check)."""
        try:
            with self.reading() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # any database failure means "not ready"
            return type(exc).__name__
        return None
