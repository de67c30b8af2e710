"""Shared fixtures: a migrated database per test, on SQLite and (when configured) PostgreSQL.

Migrating takes Alembic about half a second; copying a migrated database takes a few
milliseconds. So each backend is migrated once per session into a template, and every test
gets its own copy of it:

- SQLite: the template file is copied into the test's temporary directory;
- PostgreSQL (``WF_TEST_DATABASE_URL``): ``CREATE DATABASE t_<random> TEMPLATE <template>``,
  dropped after the test; the template is dropped at the end of the session.

``db_url`` is a complete URL for a migrated database private to the test, so it can be
handed to ``WF_DATABASE_URL``, the CLI or the app. ``unmigrated_db_url`` is an empty one, for
the tests of migrations and of ``wf db upgrade`` themselves.

Password hashing is made cheap for the whole session (see ``_cheap_password_hashes``).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
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
        name = f"t_{secrets.token_hex(6)}"
        template = f' TEMPLATE "{self._pg_migrated()}"' if migrated else ""
        self._pg(f'CREATE DATABASE "{name}"{template}')
        return self._pg_url(name)

    def drop(self, url: str) -> None:
        self._pg(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

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
        if self._admin is None:
            assert PG_URL is not None
            # CREATE/DROP DATABASE cannot run inside a transaction.
            self._admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(text(sql))

    def close(self) -> None:
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
