"""Transactions for use cases: one write transaction or one read session per use case.

Writes to SQLite queue for its single write lock in ``WriteQueue`` (threads of this process,
then other processes such as gunicorn workers): without it, waiting writers poll in SQLite's
busy handler, which sleeps 1, 2, 5, 10 ... 100 ms between tries, so latency jumps under load.
A blocked ``flock`` wakes the moment the lock is released.

The worker loop writes through the same queue in short transactions, so a web write waits
for at most one of its batches. A write that still cannot have the lock within
``WRITE_WAIT`` seconds raises ``Busy`` (HTTP 503 with ``Retry-After``) instead of hanging
until the web worker is killed, or failing with SQLite's bare "database is locked".
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

try:
    import fcntl
except ImportError:  # not on Windows: SQLite's own busy handler queues the writers there
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import Busy, StorageFull
from engine.i18n import _
from engine.store import maintenance, session_factory

# What worker connections call themselves on PostgreSQL (``pg_stat_activity``), where
# ``/readyz`` looks for a worker's last transaction without a table of its own.
WORKER_NAME = "qualityflow-worker"

log = logging.getLogger(__name__)

# Longest wait for the write queue; SQLite's own busy timeout (5 s) comes after it.
WRITE_WAIT = 10.0


def busy() -> Busy:
    """The error of a write that did not get the lock in time, in the reader's language."""
    return Busy(_("The server is busy and did not record this; nothing was lost. "
                  "Try again in a few seconds."), retry_after=2)


def storage_full() -> StorageFull:
    """The error of a write the storage refused, in the reader's language."""
    return StorageFull(_("The server could not store this: its disk is full or refused the write. Nothing "
                         "was recorded and nothing recorded before is lost. Tell your administrator, then "
                         "try again."), retry_after=60)


# SQLite's words for a write its file cannot take (SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY):
# the transaction is rolled back whole, as for a lock that could not be had.
_SQLITE_STORAGE = ("database or disk is full", "disk i/o error", "attempt to write a readonly database")
# PostgreSQL's SQLSTATEs of the same (disk_full), and of a server that takes no connection now
# (too_many_connections, cannot_connect_now): both refuse before anything is written.
_PG_STORAGE = {"53100"}
_PG_BUSY = {"53300", "57P03"}


def refusal(exc: Exception) -> Busy | None:
    """``Busy`` or ``StorageFull`` for a database error that says it wrote nothing and may be
    retried later, else None (a defect: it goes on up as it is)."""
    orig = getattr(exc, "orig", exc)
    words = str(orig).lower()
    state = getattr(orig, "sqlstate", None)
    if "database is locked" in words or "database table is locked" in words or state in _PG_BUSY:
        return busy()
    if state in _PG_STORAGE or (isinstance(orig, sqlite3.OperationalError)
                                and any(w in words for w in _SQLITE_STORAGE)):
        return storage_full()
    return None


class WriteQueue:
    """A thread lock inside this process and an ``flock`` on ``<database>.writers`` between
    processes."""

    def __init__(self, path: str) -> None:
        self.path = path + ".writers"
        self._thread_lock = threading.Lock()
        self._fd: tuple[int, int] | None = None  # (pid, fd): opened after a fork, never shared

    @contextmanager
    def hold(self, wait: float = WRITE_WAIT) -> Iterator[None]:
        """Hold the queue for the block; ``Busy`` when it is not ours within ``wait`` seconds."""
        deadline = time.monotonic() + wait
        if not self._thread_lock.acquire(timeout=wait):
            raise busy()
        try:
            if self._fd is None or self._fd[0] != os.getpid():
                self._fd = (os.getpid(), os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            fd = self._fd[1]
            self._flock(fd, deadline)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    @staticmethod
    def _flock(fd: int, deadline: float) -> None:
        # flock has no timeout: poll, every millisecond or two, and only while another
        # process holds it (threads of this process queue on the thread lock above).
        pause = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise busy() from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)


class Database:
    """The engine with its write queue (SQLite files) and a reader that never takes the
    write lock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.write_wait = WRITE_WAIT
        self.sessions: sessionmaker[Session] = session_factory(engine)
        url = engine.url
        self.queue: WriteQueue | None = None
        if fcntl is not None and url.get_backend_name() == "sqlite" \
                and url.database not in (None, "", ":memory:"):
            self.queue = WriteQueue(url.database)
        self._reader = engine.execution_options(sqlite_begin="DEFERRED")
        # ``reading(snapshot=True)``: several statements checked against each other (a record
        # with its events, task rows and files) see one snapshot. On PostgreSQL's default READ
        # COMMITTED each statement saw its own, and a step committed in between made an intact
        # record read as broken. Only there: a long read at REPEATABLE READ (wf audit verify)
        # would hold back vacuum for as long as it runs. SQLite's read transaction is one
        # snapshot already.
        self._snapshot = (engine.execution_options(isolation_level="REPEATABLE READ")
                          if url.get_backend_name() == "postgresql" else self._reader)

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """Commit when the block succeeds, roll back when it raises (the error goes on up).
        On SQLite the block waits its turn in the write queue first; ``Busy`` when the lock
        cannot be had in time (nothing was written)."""
        try:
            with self.queue.hold(self.write_wait) if self.queue is not None else nullcontext(), \
                    self.sessions.begin() as session:
                yield session
        # BEGIN IMMEDIATE runs in an engine event, so its failure reaches here unwrapped.
        except (OperationalError, sqlite3.OperationalError) as exc:
            refused = refusal(exc)
            if isinstance(refused, StorageFull):
                log.error("the database refused a write (%s): make room on its disk; nothing was recorded "
                          "and users keep what they typed", getattr(exc, "orig", exc))
            if refused is not None:
                raise refused from exc
            raise

    @contextmanager
    def reading(self, *, snapshot: bool = False) -> Iterator[Session]:
        """A session for reads only; nothing is committed. On SQLite it begins DEFERRED, so
        a use case that only reads never takes the write lock. ``snapshot``: its statements
        see one snapshot (PostgreSQL: REPEATABLE READ), for a short read whose parts are
        compared with each other."""
        session = Session(bind=self._snapshot if snapshot else self._reader, expire_on_commit=False)
        try:
            yield session
        except OperationalError as exc:  # a server that takes no connection now: 503, not 500
            refused = refusal(exc)
            if type(refused) is Busy:  # a read's storage error is no full disk: a defect, 500
                raise refused from exc
            raise
        finally:
            # close() ends the transaction (the connection rolls it back as it returns to
            # the pool) without an ORM rollback first, which expired every object read only
            # to detach it: about 20 µs of each API request's token check.
            session.close()

    def beat(self) -> None:
        """A worker pass ended (SQLite: a file beside the database, touched; PostgreSQL needs
        nothing, its connections carry ``WORKER_NAME``)."""
        if self.queue is not None:
            path = self.queue.path.removesuffix(".writers") + ".worker"
            with open(path, "a"):
                os.utime(path)

    def worker_seen(self) -> float | None:
        """Seconds since a worker last finished a pass (SQLite) or a transaction (PostgreSQL);
        None when none has been seen."""
        url = self.engine.url
        if self.queue is not None:
            path = self.queue.path.removesuffix(".writers") + ".worker"
            try:
                return max(0.0, time.time() - os.path.getmtime(path))
            except OSError:
                return None
        if url.get_backend_name() == "postgresql":
            with self.reading() as session:
                return maintenance.seconds_since_named_activity(session, WORKER_NAME)
        return None

    def ping(self) -> str | None:
        """None when the database answers; else the kind of failure (for a health check)."""
        try:
            with self.reading() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # any database failure means "not ready"
            return type(exc).__name__
        return None
