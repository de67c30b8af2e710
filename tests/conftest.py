"""Shared fixtures: a migrated database per test, on SQLite and (when configured) PostgreSQL.

Migrating takes Alembic about half a second; copying a migrated database takes a few
milliseconds. So each backend is migrated once per session into a template, and every test
gets its own copy of it:

- SQLite: the template file is copied into the test's temporary directory;
- PostgreSQL (``WF_TEST_DATABASE_URL``): ``CREATE DATABASE t_<random> TEMPLATE <template>``,
  dropped after the test; the template is dropped at the end of the session. Creating and
  dropping a database each take the server a few hundred milliseconds of writes and fsyncs,
  so a thread of the test process does both out of the test's way: the next test's copy is
  made while a test runs (each test still gets a database no other test has used) and a
  used one is dropped after its test has ended.

``db_url`` is a complete URL for a migrated database private to the test, so it can be
handed to ``WF_DATABASE_URL``, the CLI or the app. ``unmigrated_db_url`` is an empty one, for
the tests of migrations and of ``wf db upgrade`` themselves.

Password hashing is made cheap for the whole session (see ``_cheap_password_hashes``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from engine.store import users
from engine.store.db import make_engine, session_factory, upgrade

# The wf command speaks the shell's language (LANG); the tests read its English unless a test
# asks for another (tests/cli/test_cli_language.py).
os.environ.setdefault("WF_LANG", "en")

PG_URL = os.environ.get("WF_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    """scrypt at its production cost takes about 0.1 s a hash, and most database tests add
    several users. Tests hash with a 32 times smaller work factor; the hashes are still
    werkzeug scrypt hashes, checked by the same code."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users, "PASSWORD_METHOD", "scrypt:1024:8:1")
        yield


class _Databases:
    """Hands out private databases, migrated from a per-session template or empty."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None
        self._admin: Engine | None = None
        self._admin_made = threading.Lock()
        # A thread makes the next test's copy, another drops the used ones (a drop mostly
        # waits for the server, and the next copy should not wait behind it).
        self._pg_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases")
        self._pg_dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases-drop")
        self._pg_next: Future[str] | None = None
        self._pg_drops: list[Future[None]] = []

    # -- SQLite ----------------------------------------------------------------------------

    def sqlite(self, where: Path, *, migrated: bool) -> str:
        target = where / "var" / "workflow.db"
        if migrated:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._sqlite_migrated(), target)
        return f"sqlite:///{target}"

    def _sqlite_migrated(self) -> Path:
        if self._sqlite_template is None:
            path = self.tmp / "template.db"
            eng = make_engine(f"sqlite:///{path}")
            try:
                upgrade(eng)
                raw = eng.raw_connection()  # outside a transaction: a checkpoint cannot run in one
                try:  # everything into the main file: only it is copied
                    raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    raw.close()
            finally:
                eng.dispose()
            self._sqlite_template = path
        return self._sqlite_template

    # -- PostgreSQL ------------------------------------------------------------------------

    def postgresql(self, *, migrated: bool) -> str:
        if not migrated:
            return self._pg_url(self._pg_create(None))
        template = self._pg_migrated()
        ready = self._pg_next or self._pg_thread.submit(self._pg_create, template)
        name = ready.result()
        self._pg_next = self._pg_thread.submit(self._pg_create, template)  # for the next test
        return self._pg_url(name)

    def _pg_create(self, template: str | None) -> str:
        name = f"t_{secrets.token_hex(6)}"
        self._pg(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop(self, url: str) -> None:
        """Drop a test's database once its test is over (in the background: no test waits)."""
        self._pg_drops.append(self._pg_dropper.submit(self._pg_drop, make_url(url).database))

    def _pg_drop(self, name: str | None) -> None:
        self._pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _pg_migrated(self) -> str:
        if self._pg_template is None:
            # Unique per session: other sessions may share the server.
            name = f"tpl_{secrets.token_hex(6)}"
            self._pg(f'CREATE DATABASE "{name}"')
            self._pg_template = name
            upgrade(self._pg_url(name))  # disposes its engine: a template must have no sessions
        return self._pg_template

    def _pg_url(self, name: str) -> str:
        assert PG_URL is not None
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def _pg(self, sql: str) -> None:
        with self._admin_made:  # the test's thread and the background one share it
            if self._admin is None:
                assert PG_URL is not None
                # CREATE/DROP DATABASE cannot run inside a transaction.
                self._admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(text(sql))

    def close(self) -> None:
        if self._pg_next is not None:  # made for a test that never came
            self.drop(self._pg_url(self._pg_next.result()))
        self._pg_thread.shutdown(wait=True)
        self._pg_dropper.shutdown(wait=True)
        for done in self._pg_drops:
            done.result()  # a drop that failed fails the session here
        if self._pg_template is not None:
            self._pg(f'DROP DATABASE IF EXISTS "{self._pg_template}" WITH (FORCE)')
        if self._admin is not None:
            self._admin.dispose()


@pytest.fixture(scope="session")
def _databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Databases]:
    pool = _Databases(tmp_path_factory.mktemp("db-templates"))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _private_db(backend: str, tmp_path: Path, databases: _Databases, *, migrated: bool) -> Iterator[str]:
    if backend == "sqlite":
        yield databases.sqlite(tmp_path, migrated=migrated)
        return
    url = databases.postgresql(migrated=migrated)
    try:
        yield url
    finally:
        databases.drop(url)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, _databases: _Databases) -> Iterator[str]:
    """URL of a database private to this test, migrated to head."""
    yield from _private_db(backend, tmp_path, _databases, migrated=True)


@pytest.fixture
def unmigrated_db_url(backend: str, tmp_path: Path, _databases: _Databases) -> Iterator[str]:
    """URL of an empty database private to this test (never migrated)."""
    yield from _private_db(backend, tmp_path, _databases, migrated=False)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url`` (migrated to head)."""
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory, for tests that need more than one session (concurrency)."""
    return session_factory(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session on the migrated database; whatever the test left uncommitted is rolled back."""
    with sessions() as s:
        yield s
        s.rollback()


@pytest.fixture(autouse=True)
def _english_outside_requests() -> Iterator[None]:
    """Each test starts in the engine's default locale: a request that ended abnormally (or a
    test that set one) must not make the next test in this process speak Chinese."""
    from engine import i18n

    i18n.reset()
    yield
