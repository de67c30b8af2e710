"""Shared fixtures: a migrated database per test, on SQLite and (when configured) PostgreSQL.

``db_url`` is a complete URL for an empty, private database: a SQLite file in the test's
temporary directory, or, when ``WF_TEST_DATABASE_URL`` is set, also a fresh PostgreSQL schema
(``t_<random>``, selected through ``search_path`` in the URL itself and dropped afterwards).
Because the URL alone is enough, it can be handed to ``WF_DATABASE_URL``, the CLI or the app.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from engine.store.db import make_engine, session_factory, upgrade

PG_URL = os.environ.get("WF_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(backend: str, tmp_path) -> Iterator[str]:
    """URL of an empty database private to this test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'workflow.db'}"
        return
    assert PG_URL is not None
    schema = f"t_{secrets.token_hex(6)}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url`` with the schema migrated to head by Alembic."""
    eng = make_engine(db_url)
    upgrade(eng)
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
